package config

import (
	"path/filepath"
	"strings"
	"testing"
)

func TestSinkFilterLoads(t *testing.T) {
	c, err := load(filepath.Join("testdata", "sink_filter.yaml"), nil)
	if err != nil {
		t.Fatal(err)
	}
	f := c.Sinks.Elasticsearch.Filter
	if len(f.Keep) != 2 || f.Keep[0]["protocol"][1] != "udp" || f.Keep[1]["tags.team"][0] != "payments" || f.Sample[0].Every != 100 {
		t.Errorf("filter = %+v", f)
	}
	if !c.Sinks.NDJSON.Filter.Empty() {
		t.Errorf("ndjson filter = %+v, want empty", c.Sinks.NDJSON.Filter)
	}
}

func TestSinkFilterErrorsNameTheirKeys(t *testing.T) {
	_, err := load(filepath.Join("testdata", "bad_sink_filter.yaml"), nil)
	for _, want := range []string{
		"sinks.ndjson.filter.keep[0].acton: unknown field",
		`sinks.ndjson.filter.keep[1].destination.port: must be a port (0 to 65535) or a range like 1024-65535, got "80-20"`,
		"sinks.ndjson.filter.sample[0].every: must be between 1 and 1000000, got 0",
	} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("error %v\nlacks %q", err, want)
		}
	}
	if _, err := load(filepath.Join("testdata", "sink_filter_typo.yaml"), nil); err == nil || !strings.Contains(err.Error(), "wehn") {
		t.Errorf("unknown filter key: %v", err)
	}
}

func TestSinkFilterFromEnvironment(t *testing.T) {
	c, err := load("", map[string]string{"FLOWHOSE_SINKS_NDJSON_FILTER": "{keep: [{action: REJECT}]}"})
	if err != nil {
		t.Fatal(err)
	}
	if k := c.Sinks.NDJSON.Filter.Keep; len(k) != 1 || k[0]["action"][0] != "REJECT" {
		t.Errorf("filter = %+v", c.Sinks.NDJSON.Filter)
	}
	_, err = load("", map[string]string{"FLOWHOSE_SINKS_NDJSON_FILTER": "{keep: [{action: DENY}]}"})
	if err == nil || !strings.Contains(err.Error(), `sinks.ndjson.filter.keep[0].action: must be one of ACCEPT, REJECT, got "DENY"`) {
		t.Errorf("bad filter from the environment: %v", err)
	}
	_, err = load("", map[string]string{"FLOWHOSE_SINKS_NDJSON_FILTER": "{kepe: []}"})
	if err == nil || !strings.Contains(err.Error(), "FLOWHOSE_SINKS_NDJSON_FILTER") {
		t.Errorf("malformed filter from the environment: %v", err)
	}
}

// A disabled sink's filter is not validated, like the rest of its section.
func TestDisabledSinkFilterNotValidated(t *testing.T) {
	if _, err := load("", map[string]string{"FLOWHOSE_SINKS_ELASTICSEARCH_FILTER": "{keep: [{action: DENY}]}"}); err != nil {
		t.Errorf("disabled sink's filter rejected: %v", err)
	}
}
