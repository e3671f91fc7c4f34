package inventory

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/flowhose/flowhose/stream"
)

// throttlingEC2 answers RequestLimitExceeded to the first `throttle`
// calls of each action, then a fixed inventory, and counts calls.
type throttlingEC2 struct {
	throttle int
	mu       sync.Mutex
	calls    map[string]int
}

const eniXML = `<DescribeNetworkInterfacesResponse xmlns="http://ec2.amazonaws.com/doc/2016-11-15/"><requestId>r</requestId>
<networkInterfaceSet><item><networkInterfaceId>eni-0a1b2c3d4e5f60718</networkInterfaceId><subnetId>subnet-1</subnetId><vpcId>vpc-1</vpcId>
<availabilityZone>us-east-1a</availabilityZone><availabilityZoneId>use1-az4</availabilityZoneId><ownerId>111122223333</ownerId>
<interfaceType>nat_gateway</interfaceType><requesterManaged>true</requesterManaged><description>Interface for NAT Gateway nat-1</description>
<status>in-use</status><privateIpAddress>10.0.0.220</privateIpAddress>
<privateIpAddressesSet><item><privateIpAddress>10.0.0.220</privateIpAddress><primary>true</primary>
<association><publicIp>203.0.113.9</publicIp></association></item></privateIpAddressesSet>
<association><publicIp>203.0.113.9</publicIp></association>
<groupSet><item><groupId>sg-1</groupId><groupName>default</groupName></item></groupSet>
<tagSet><item><key>Name</key><value>natgw</value></item></tagSet>
</item></networkInterfaceSet></DescribeNetworkInterfacesResponse>`

const subnetXML = `<DescribeSubnetsResponse xmlns="http://ec2.amazonaws.com/doc/2016-11-15/"><requestId>r</requestId><subnetSet><item>
<subnetId>subnet-1</subnetId><vpcId>vpc-1</vpcId><cidrBlock>10.0.0.0/24</cidrBlock><tagSet><item><key>Name</key><value>public-a</value></item></tagSet>
</item></subnetSet></DescribeSubnetsResponse>`

const vpcXML = `<DescribeVpcsResponse xmlns="http://ec2.amazonaws.com/doc/2016-11-15/"><requestId>r</requestId><vpcSet><item>
<vpcId>vpc-1</vpcId><cidrBlock>10.0.0.0/16</cidrBlock></item></vpcSet></DescribeVpcsResponse>`

func (s *throttlingEC2) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	form, _ := url.ParseQuery(string(body))
	action := form.Get("Action")
	s.mu.Lock()
	s.calls[action]++
	n := s.calls[action]
	s.mu.Unlock()
	w.Header().Set("Content-Type", "text/xml")
	if n <= s.throttle {
		w.WriteHeader(http.StatusServiceUnavailable)
		io.WriteString(w, `<Response><Errors><Error><Code>RequestLimitExceeded</Code><Message>Request limit exceeded.</Message></Error></Errors><RequestID>req-1</RequestID></Response>`)
		return
	}
	switch action {
	case "DescribeNetworkInterfaces":
		io.WriteString(w, eniXML)
	case "DescribeSubnets":
		io.WriteString(w, subnetXML)
	case "DescribeVpcs":
		io.WriteString(w, vpcXML)
	default:
		w.WriteHeader(http.StatusBadRequest)
		io.WriteString(w, `<Response><Errors><Error><Code>InvalidAction</Code><Message>no</Message></Error></Errors><RequestID>r</RequestID></Response>`)
	}
}

func TestEC2ThrottlingBacksOffAndLosesNothing(t *testing.T) {
	fake := &throttlingEC2{throttle: 3, calls: map[string]int{}}
	srv := httptest.NewServer(fake)
	defer srv.Close()

	ecfg := DefaultEC2Config()
	ecfg.Regions = []string{"us-east-1"}
	ecfg.Endpoint = srv.URL
	ecfg.MaxBackoff = 5 * time.Millisecond
	ecfg.RateLimit, ecfg.Burst = 100, 100
	src, err := NewEC2(context.Background(), ecfg, staticCreds("us-east-1")...)
	if err != nil {
		t.Fatal(err)
	}
	cache := DefaultCache()
	cache.FullSync = false
	cache.WaitBudget = 10 * time.Second
	inv, err := New(cache, src, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { inv.Run(ctx); close(done) }()
	defer func() { cancel(); <-done }()

	recs := make([]stream.Record, 50)
	for i := range recs {
		recs[i] = record("eni-0a1b2c3d4e5f60718", netip.MustParseAddr("10.0.0.220"), netip.MustParseAddr("52.95.128.179"))
	}
	inv.Enrich(ctx, recs)
	for i := range recs {
		e := recs[i].Enrichment
		if e.Interface == nil || e.Interface.Type != "nat_gateway" || e.Interface.SubnetName != "public-a" || e.Interface.AZID != "use1-az4" {
			t.Fatalf("record %d not enriched after throttling: %+v", i, e.Interface)
		}
		if e.Src.Interface != e.Interface {
			t.Fatalf("record %d: source address not resolved", i)
		}
	}
	fake.mu.Lock()
	defer fake.mu.Unlock()
	// Three throttled attempts, then one success: the retryer backed off
	// and retried, and 50 records for one ENI cost one lookup.
	if got := fake.calls["DescribeNetworkInterfaces"]; got != 4 {
		t.Errorf("DescribeNetworkInterfaces calls = %d, want 4", got)
	}
	if got := fake.calls["DescribeSubnets"]; got != 4 {
		t.Errorf("DescribeSubnets calls = %d, want 4", got)
	}
	i := recs[0].Enrichment.Interface
	if !i.RequesterManaged || len(i.PublicIPs) != 1 || i.PublicIPs[0].String() != "203.0.113.9" || strings.Join(i.SecurityGroups, ",") != "sg-1" || i.AccountID != "111122223333" {
		t.Errorf("interface = %+v", i)
	}
}

func TestEC2ThrottlingGivesUpAfterMaxAttempts(t *testing.T) {
	fake := &throttlingEC2{throttle: 1000, calls: map[string]int{}}
	srv := httptest.NewServer(fake)
	defer srv.Close()
	ecfg := DefaultEC2Config()
	ecfg.Regions = []string{"us-east-1"}
	ecfg.Endpoint = srv.URL
	ecfg.MaxBackoff = time.Millisecond
	ecfg.MaxAttempts = 3
	src, err := NewEC2(context.Background(), ecfg, staticCreds("us-east-1")...)
	if err != nil {
		t.Fatal(err)
	}
	_, err = src.Interfaces(context.Background(), []string{"eni-1"})
	if err == nil || !strings.Contains(err.Error(), "RequestLimitExceeded") {
		t.Fatalf("err = %v, want RequestLimitExceeded", err)
	}
	if got := fake.calls["DescribeNetworkInterfaces"]; got != 3 {
		t.Errorf("attempts = %d, want 3", got)
	}
}
