// Package stream holds flowhose's record model and the pipeline that moves
// batches of records from sources through enrichment to sinks, with one
// acknowledgement per batch flowing back.
package stream

import "net/netip"

// Field identifies one flow-log field (versions 2 to 8). The zero value is
// FieldUnknown, used for names flowhose does not model (newer AWS fields).
type Field uint8

// Flow-log fields in the order of the AWS field table.
const (
	FieldUnknown Field = iota
	FieldVersion
	FieldAccountID
	FieldInterfaceID
	FieldSrcAddr
	FieldDstAddr
	FieldSrcPort
	FieldDstPort
	FieldProtocol
	FieldPackets
	FieldBytes
	FieldStart
	FieldEnd
	FieldAction
	FieldLogStatus
	FieldVPCID
	FieldSubnetID
	FieldInstanceID
	FieldTCPFlags
	FieldType
	FieldPktSrcAddr
	FieldPktDstAddr
	FieldRegion
	FieldAZID
	FieldSublocationType
	FieldSublocationID
	FieldPktSrcAWSService
	FieldPktDstAWSService
	FieldFlowDirection
	FieldTrafficPath
	FieldECSClusterARN
	FieldECSClusterName
	FieldECSContainerInstanceARN
	FieldECSContainerInstanceID
	FieldECSContainerID
	FieldECSSecondContainerID
	FieldECSServiceName
	FieldECSTaskDefinitionARN
	FieldECSTaskARN
	FieldECSTaskID
	FieldRejectReason
	numFields
)

// FieldInfo describes one field: its name in a format string (`${name}`),
// its key under aws.vpcflow in documents, and the version that introduced it.
type FieldInfo struct {
	Name    string // hyphenated, as in format strings and S3 header lines
	Key     string // underscored, as under aws.vpcflow.*
	Version int
}

var fieldInfo = [numFields]FieldInfo{
	FieldUnknown:                 {"", "", 0},
	FieldVersion:                 {"version", "version", 2},
	FieldAccountID:               {"account-id", "account_id", 2},
	FieldInterfaceID:             {"interface-id", "interface_id", 2},
	FieldSrcAddr:                 {"srcaddr", "srcaddr", 2},
	FieldDstAddr:                 {"dstaddr", "dstaddr", 2},
	FieldSrcPort:                 {"srcport", "srcport", 2},
	FieldDstPort:                 {"dstport", "dstport", 2},
	FieldProtocol:                {"protocol", "protocol", 2},
	FieldPackets:                 {"packets", "packets", 2},
	FieldBytes:                   {"bytes", "bytes", 2},
	FieldStart:                   {"start", "start", 2},
	FieldEnd:                     {"end", "end", 2},
	FieldAction:                  {"action", "action", 2},
	FieldLogStatus:               {"log-status", "log_status", 2},
	FieldVPCID:                   {"vpc-id", "vpc_id", 3},
	FieldSubnetID:                {"subnet-id", "subnet_id", 3},
	FieldInstanceID:              {"instance-id", "instance_id", 3},
	FieldTCPFlags:                {"tcp-flags", "tcp_flags", 3},
	FieldType:                    {"type", "type", 3},
	FieldPktSrcAddr:              {"pkt-srcaddr", "pkt_srcaddr", 3},
	FieldPktDstAddr:              {"pkt-dstaddr", "pkt_dstaddr", 3},
	FieldRegion:                  {"region", "region", 4},
	FieldAZID:                    {"az-id", "az_id", 4},
	FieldSublocationType:         {"sublocation-type", "sublocation_type", 4},
	FieldSublocationID:           {"sublocation-id", "sublocation_id", 4},
	FieldPktSrcAWSService:        {"pkt-src-aws-service", "pkt_src_aws_service", 5},
	FieldPktDstAWSService:        {"pkt-dst-aws-service", "pkt_dst_aws_service", 5},
	FieldFlowDirection:           {"flow-direction", "flow_direction", 5},
	FieldTrafficPath:             {"traffic-path", "traffic_path", 5},
	FieldECSClusterARN:           {"ecs-cluster-arn", "ecs_cluster_arn", 7},
	FieldECSClusterName:          {"ecs-cluster-name", "ecs_cluster_name", 7},
	FieldECSContainerInstanceARN: {"ecs-container-instance-arn", "ecs_container_instance_arn", 7},
	FieldECSContainerInstanceID:  {"ecs-container-instance-id", "ecs_container_instance_id", 7},
	FieldECSContainerID:          {"ecs-container-id", "ecs_container_id", 7},
	FieldECSSecondContainerID:    {"ecs-second-container-id", "ecs_second_container_id", 7},
	FieldECSServiceName:          {"ecs-service-name", "ecs_service_name", 7},
	FieldECSTaskDefinitionARN:    {"ecs-task-definition-arn", "ecs_task_definition_arn", 7},
	FieldECSTaskARN:              {"ecs-task-arn", "ecs_task_arn", 7},
	FieldECSTaskID:               {"ecs-task-id", "ecs_task_id", 7},
	FieldRejectReason:            {"reject-reason", "reject_reason", 8},
}

// NumFields is the number of modelled fields; valid Field values are 1 to NumFields-1.
const NumFields = int(numFields)

// Info returns the field's description.
func (f Field) Info() FieldInfo {
	if f >= numFields {
		return FieldInfo{}
	}
	return fieldInfo[f]
}

// String returns the hyphenated field name.
func (f Field) String() string { return f.Info().Name }

// LookupField finds a field by its hyphenated or underscored name.
// It returns FieldUnknown for names flowhose does not model.
func LookupField(name string) Field {
	for f := Field(1); f < numFields; f++ {
		if fieldInfo[f].Name == name || fieldInfo[f].Key == name {
			return f
		}
	}
	return FieldUnknown
}

// FieldSet is a bit set of Fields: the fields a record actually carries.
// A field in a format whose value was `-` is absent, not zero.
type FieldSet uint64

// Has reports whether f is in the set.
func (s FieldSet) Has(f Field) bool { return s&(1<<f) != 0 }

// Add puts f in the set.
func (s *FieldSet) Add(f Field) { *s |= 1 << f }

// ExtraField is a field whose name flowhose does not model (for example a
// field AWS added after version 8), kept verbatim so nothing is lost.
type ExtraField struct {
	Name  string
	Value string
}

// Record is one flow-log record. String fields are usually sub-slices of
// Raw, so a record costs no allocation beyond its line. A field is
// meaningful only when Present has it.
type Record struct {
	// Raw is the original flow-log line, exactly as received.
	Raw string
	// Present lists the fields that had a value other than `-`.
	Present FieldSet

	Version     int
	AccountID   string
	InterfaceID string
	SrcAddr     netip.Addr
	DstAddr     netip.Addr
	SrcPort     uint16
	DstPort     uint16
	Protocol    uint8
	Packets     uint64
	Bytes       uint64
	Start       int64 // Unix seconds
	End         int64 // Unix seconds
	Action      string
	LogStatus   string

	VPCID      string
	SubnetID   string
	InstanceID string
	TCPFlags   uint16
	Type       string
	PktSrcAddr netip.Addr
	PktDstAddr netip.Addr

	Region          string
	AZID            string
	SublocationType string
	SublocationID   string

	PktSrcAWSService string
	PktDstAWSService string
	FlowDirection    string
	TrafficPath      uint8

	ECSClusterARN           string
	ECSClusterName          string
	ECSContainerInstanceARN string
	ECSContainerInstanceID  string
	ECSContainerID          string
	ECSSecondContainerID    string
	ECSServiceName          string
	ECSTaskDefinitionARN    string
	ECSTaskARN              string
	ECSTaskID               string

	RejectReason string

	// Extra holds fields with names flowhose does not model, in format order.
	Extra []ExtraField

	// Enrichment is filled in by enrichers after decoding.
	Enrichment Enrichment

	// Origin says where the record came from (CloudWatch Logs group and
	// stream, for example); empty when the envelope carried nothing.
	Origin Origin
}

// Origin is what the envelope said about a record's provenance.
type Origin struct {
	LogGroup  string // CloudWatch Logs group, when delivered through a subscription
	LogStream string // CloudWatch Logs stream
	Owner     string // account that owns the log group
}

// Has reports whether the record carries field f.
func (r *Record) Has(f Field) bool { return r.Present.Has(f) }
