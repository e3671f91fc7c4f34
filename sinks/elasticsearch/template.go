package elasticsearch

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"strings"

	"github.com/elastic/go-elasticsearch/v8/esapi"
)

// mappings types every field the ecs encoder writes (ECS 8.11 types, and
// the raw flow-log fields under aws.vpcflow as Elastic's AWS integration
// maps them, except that addresses are ip and counters long so they can
// be searched by range and summed), enrichment included. Resource tags are
// flattened: their keys are free text, and dynamic mapping would turn a
// key like "kubernetes.io/role" into objects that clash with a "kubernetes"
// tag and get documents rejected. Strings nobody listed, such as
// unmodelled flow-log fields, become keywords.
const mappings = `{
  "dynamic_templates": [
    {"strings_as_keyword": {"match_mapping_type": "string", "mapping": {"type": "keyword", "ignore_above": 1024}}}
  ],
  "properties": {
    "@timestamp": {"type": "date"},
    "ecs": {"properties": {"version": {"type": "keyword"}}},
    "data_stream": {"properties": {
      "type": {"type": "keyword"}, "dataset": {"type": "keyword"}, "namespace": {"type": "keyword"}}},
    "event": {"properties": {
      "kind": {"type": "keyword"}, "category": {"type": "keyword"}, "type": {"type": "keyword"},
      "action": {"type": "keyword"}, "outcome": {"type": "keyword"}, "reason": {"type": "keyword"},
      "dataset": {"type": "keyword"}, "module": {"type": "keyword"},
      "start": {"type": "date"}, "end": {"type": "date"}, "ingested": {"type": "date"},
      "duration": {"type": "long"},
      "original": {"type": "keyword", "index": false, "doc_values": false}}},
    "source": {"properties": ` + endpointMapping + `},
    "destination": {"properties": ` + endpointMapping + `},
    "network": {"properties": {
      "transport": {"type": "keyword"}, "iana_number": {"type": "keyword"}, "type": {"type": "keyword"},
      "direction": {"type": "keyword"}, "community_id": {"type": "keyword"},
      "bytes": {"type": "long"}, "packets": {"type": "long"}}},
    "cloud": {"properties": {
      "provider": {"type": "keyword"}, "region": {"type": "keyword"}, "availability_zone": {"type": "keyword"},
      "account": {"properties": {"id": {"type": "keyword"}}},
      "instance": {"properties": {"id": {"type": "keyword"}, "name": {"type": "keyword"}}},
      "machine": {"properties": {"type": {"type": "keyword"}}}}},
    "orchestrator": {"properties": {
      "type": {"type": "keyword"},
      "cluster": {"properties": {"id": {"type": "keyword"}, "name": {"type": "keyword"}}},
      "resource": {"properties": {"id": {"type": "keyword"}, "name": {"type": "keyword"}, "type": {"type": "keyword"}}}}},
    "container": {"properties": {"id": {"type": "keyword"}}},
    "service": {"properties": {"name": {"type": "keyword"}}},
    "related": {"properties": {"ip": {"type": "ip"}}},
    "aws": {"properties": {
      "cloudwatch": {"properties": {
        "log_group": {"type": "keyword"}, "log_stream": {"type": "keyword"}, "owner": {"type": "keyword"}}},
      "vpcflow": {"properties": {
        "version": {"type": "keyword"}, "account_id": {"type": "keyword"}, "interface_id": {"type": "keyword"},
        "srcaddr": {"type": "ip"}, "dstaddr": {"type": "ip"},
        "srcport": {"type": "long"}, "dstport": {"type": "long"}, "protocol": {"type": "long"},
        "packets": {"type": "long"}, "bytes": {"type": "long"},
        "start": {"type": "long"}, "end": {"type": "long"},
        "action": {"type": "keyword"}, "log_status": {"type": "keyword"},
        "vpc_id": {"type": "keyword"}, "subnet_id": {"type": "keyword"}, "instance_id": {"type": "keyword"},
        "tcp_flags": {"type": "keyword"}, "tcp_flags_array": {"type": "keyword"}, "type": {"type": "keyword"},
        "pkt_srcaddr": {"type": "ip"}, "pkt_dstaddr": {"type": "ip"},
        "region": {"type": "keyword"}, "az_id": {"type": "keyword"},
        "sublocation_type": {"type": "keyword"}, "sublocation_id": {"type": "keyword"},
        "pkt_src_aws_service": {"type": "keyword"}, "pkt_dst_aws_service": {"type": "keyword"},
        "flow_direction": {"type": "keyword"}, "traffic_path": {"type": "keyword"},
        "reject_reason": {"type": "keyword"}}}}},
    "flowhose": {"properties": {
      "cost_class": {"type": "keyword"}, "nat_gateway": {"type": "boolean"},
      "gateway_endpoint_eligible": {"type": "boolean"},
      "direction": {"type": "keyword"}, "direction_source": {"type": "keyword"},
      "perimeter_direction": {"type": "keyword"},
      "interface": {"properties": {
        "requester_managed": {"type": "boolean"},
        "tags": {"type": "flattened"},
        "instance": {"properties": {"launch_time": {"type": "date"}, "tags": {"type": "flattened"}}}}}}}
  }
}`

const endpointMapping = `{
      "address": {"type": "keyword"}, "ip": {"type": "ip"}, "port": {"type": "long"},
      "bytes": {"type": "long"}, "packets": {"type": "long"},
      "as": {"properties": {"number": {"type": "long"}, "organization": {"properties": {"name": {"type": "keyword"}}}}},
      "geo": {"properties": {
        "location": {"type": "geo_point"},
        "continent_name": {"type": "keyword"}, "continent_code": {"type": "keyword"}, "country_name": {"type": "keyword"}, "country_iso_code": {"type": "keyword"},
        "region_name": {"type": "keyword"}, "region_iso_code": {"type": "keyword"}, "city_name": {"type": "keyword"}}}}`

// openSearchMappings is mappings for OpenSearch, which has no flattened
// type: its flat_object (2.7+) is the same idea, a whole object as one
// field whose leaves are searchable by their full dotted key
// (flowhose.interface.tags.kubernetes.io/cluster/prod), so the tag
// queries the README promises work on both.
var openSearchMappings = strings.ReplaceAll(mappings, `{"type": "flattened"}`, `{"type": "flat_object"}`)

// TemplateBody returns the composable index template Setup installs, for
// OpenSearch when openSearch is set. Everything but the tags' field type
// is the same for both.
func (c Config) TemplateBody(openSearch bool) ([]byte, error) {
	m := mappings
	if openSearch {
		m = openSearchMappings
	}
	tmpl := map[string]any{
		"index_patterns": []string{c.indexPattern()},
		"priority":       c.TemplatePriority,
		"template": map[string]any{
			"settings": map[string]any{
				"number_of_shards":   c.Shards,
				"number_of_replicas": c.Replicas,
			},
			"mappings": json.RawMessage(m),
		},
		"_meta": map[string]any{"managed_by": "flowhose"},
	}
	if c.Target == TargetDataStream {
		tmpl["data_stream"] = map[string]any{}
	}
	b, err := json.Marshal(tmpl)
	if err != nil {
		return nil, fmt.Errorf("index template: %w", err)
	}
	return b, nil
}

// Setup installs the index template if configured to, after asking the
// cluster whether it runs Elasticsearch or OpenSearch, whose templates
// differ. It never deletes or rewrites data; an existing template is left
// alone unless template_overwrite is set.
func (s *Sink) Setup(ctx context.Context) error {
	if !s.cfg.Template {
		return nil
	}
	openSearch, err := s.client.isOpenSearch(ctx)
	if err != nil {
		return err
	}
	body, err := s.cfg.TemplateBody(openSearch)
	if err != nil {
		return err
	}
	create := !s.cfg.TemplateOverwrite
	res, err := esapi.IndicesPutIndexTemplateRequest{
		Name:   s.cfg.TemplateName,
		Body:   bytes.NewReader(body),
		Create: &create,
	}.Do(ctx, s.client)
	if err != nil {
		return fmt.Errorf("put index template %s: %w", s.cfg.TemplateName, err)
	}
	defer res.Body.Close()
	msg, _ := io.ReadAll(io.LimitReader(res.Body, 4096))
	if res.IsError() {
		if create && res.StatusCode == 400 && strings.Contains(string(msg), "already exists") {
			return nil
		}
		return fmt.Errorf("put index template %s: %s: %s", s.cfg.TemplateName, res.Status(), msg)
	}
	return nil
}

// isOpenSearch asks the cluster's root endpoint which product it is,
// bypassing the product check: Elasticsearch by its X-Elastic-Product
// header, OpenSearch by version.distribution, which it remembers so that
// later answers without the header pass. A cluster that does not let us
// ask (401/403: credentials limited to indices and templates) is taken to
// be Elasticsearch, as before OpenSearch was supported. Anything else
// answering is an error.
func (p *productCheck) isOpenSearch(ctx context.Context) (bool, error) {
	res, err := esapi.InfoRequest{}.Do(ctx, p.t)
	if err != nil {
		return false, fmt.Errorf("cluster info: %w", err)
	}
	defer res.Body.Close()
	if isElasticsearch(res.Header) || res.StatusCode == 401 || res.StatusCode == 403 {
		return false, nil
	}
	body, _ := io.ReadAll(io.LimitReader(res.Body, 64<<10))
	if res.IsError() {
		return false, fmt.Errorf("cluster info: %s: %s", res.Status(), truncate(body, 512))
	}
	var info struct {
		Version struct {
			Distribution string `json:"distribution"`
		} `json:"version"`
	}
	if json.Unmarshal(body, &info) != nil || info.Version.Distribution != "opensearch" {
		return false, fmt.Errorf("cluster info: answered %s without the header X-Elastic-Product: Elasticsearch nor version.distribution opensearch: not an Elasticsearch or OpenSearch node: %s",
			res.Status(), truncate(body, 256))
	}
	p.openSearch.Store(true)
	return true, nil
}
