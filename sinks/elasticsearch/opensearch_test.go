package elasticsearch

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/flowhose/flowhose/internal/servicetest"
	"github.com/flowhose/flowhose/stream/sinktest"
)

// TestSetupPicksTemplateByDistribution answers GET / as each distribution
// would and checks which tags type the installed template asks for.
func TestSetupPicksTemplateByDistribution(t *testing.T) {
	for _, tc := range []struct {
		name     string
		status   int
		info     string
		tagsType string
	}{
		{"elasticsearch", 200, `{"version":{"number":"8.19.7","build_flavor":"default"}}`, "flattened"},
		{"opensearch", 200, `{"version":{"distribution":"opensearch","number":"2.19.6"}}`, "flat_object"},
		{"info forbidden", 403, `{"error":"forbidden"}`, "flattened"},
		{"another product", 200, `{"version":{"number":"1.0"}}`, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var mu sync.Mutex
			var tmpl string
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Content-Type", "application/json")
				switch {
				case r.Method == "GET" && r.URL.Path == "/":
					if tc.name == "elasticsearch" {
						w.Header().Set("X-Elastic-Product", "Elasticsearch")
					}
					w.WriteHeader(tc.status)
					io.WriteString(w, tc.info)
				case r.Method == "PUT" && strings.HasPrefix(r.URL.Path, "/_index_template/"):
					if tc.tagsType == "flattened" {
						w.Header().Set("X-Elastic-Product", "Elasticsearch")
					}
					b, _ := io.ReadAll(r.Body)
					mu.Lock()
					tmpl = string(b)
					mu.Unlock()
					io.WriteString(w, `{"acknowledged":true}`)
				default:
					w.WriteHeader(404)
				}
			}))
			defer srv.Close()
			cfg := DefaultConfig()
			cfg.URLs = []string{srv.URL}
			cfg.Compress = false
			s, err := newSink(cfg, &sinktest.DeadLetter{}, nil, quiet)
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close(context.Background())
			err = s.Setup(context.Background())
			if tc.tagsType == "" {
				if err == nil || !strings.Contains(err.Error(), "not an Elasticsearch or OpenSearch node") {
					t.Fatalf("Setup against another product: %v", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			mu.Lock()
			defer mu.Unlock()
			var body struct {
				Template struct{ Mappings json.RawMessage }
			}
			if err := json.Unmarshal([]byte(tmpl), &body); err != nil {
				t.Fatalf("template %q: %v", tmpl, err)
			}
			for _, f := range []string{"flowhose.interface.tags", "flowhose.interface.instance.tags"} {
				if got := fieldType(body.Template.Mappings, f); got != tc.tagsType {
					t.Errorf("%s mapped as %q, want %q", f, got, tc.tagsType)
				}
			}
		})
	}
}

// TestOpenSearchIntegration runs the sink's integration checks against a
// real OpenSearch node (FLOWHOSE_TEST_OPENSEARCH_URL): the template with
// flat_object tags, documents and their types in a data stream, redelivery
// without duplicates (409s), daily indices, and a refused document's item
// error reaching the dead-letter writer.
func TestOpenSearchIntegration(t *testing.T) {
	base := servicetest.Env(t, "FLOWHOSE_TEST_OPENSEARCH_URL")
	t.Run("Template", func(t *testing.T) {
		cfg := integrationConfig(t, base)
		setupSink(t, cfg, &sinktest.DeadLetter{})
		var res struct {
			IndexTemplates []struct {
				IndexTemplate struct {
					DataStream *struct{} `json:"data_stream"`
					Template   struct{ Mappings json.RawMessage }
				} `json:"index_template"`
			} `json:"index_templates"`
		}
		esJSON(t, "GET", base+"/_index_template/"+cfg.TemplateName, nil, &res)
		if len(res.IndexTemplates) != 1 {
			t.Fatalf("%d templates named %s", len(res.IndexTemplates), cfg.TemplateName)
		}
		it := res.IndexTemplates[0].IndexTemplate
		if it.DataStream == nil {
			t.Error("template does not create data streams")
		}
		if got := fieldType(it.Template.Mappings, "flowhose.interface.tags"); got != "flat_object" {
			t.Errorf("tags mapped as %q, want flat_object", got)
		}
	})
	t.Run("DocumentsAndMappings", func(t *testing.T) { checkDocumentsAndMappings(t, base) })
	t.Run("EnrichedDocuments", func(t *testing.T) { checkEnrichedDocuments(t, base, "flat_object") })
	t.Run("Redelivery", func(t *testing.T) { checkRedelivery(t, base) })
	t.Run("DailyIndices", func(t *testing.T) { checkDailyIndices(t, base) })
	t.Run("UnindexableDocument", func(t *testing.T) { checkUnindexableDocument(t, base) })
	t.Run("WithoutSetup", func(t *testing.T) {
		// Without the template nothing asks at start-up: the first answer
		// without the Elasticsearch header makes the sink ask then.
		cfg := integrationConfig(t, base)
		s, err := newSink(cfg, &sinktest.DeadLetter{}, nil, quiet)
		if err != nil {
			t.Fatal(err)
		}
		defer s.Close(context.Background())
		recs := sampleRecords(t, 30)
		if errs := ingest(t, s, recs, 10); len(errs) > 0 {
			t.Fatal(errs[0])
		}
		if got, want := esCount(t, base, cfg.dataStream()), distinct(recs); got != want {
			t.Fatalf("count %d, want %d", got, want)
		}
	})
}
