package deploy

import (
	"encoding/json"
	"go/ast"
	"go/parser"
	"go/token"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"gopkg.in/yaml.v3"
)

// exportedMetrics returns the series names flowhose's code can export: the
// Name of every prometheus.*Opts literal in the module's non-test sources,
// with _bucket, _sum and _count for histograms and _sum and _count for
// summaries. Reading the sources rather than a live registry also finds
// vectors that have no label values yet, which a registry does not gather.
func exportedMetrics(t *testing.T) map[string]bool {
	t.Helper()
	names := map[string]bool{}
	fset := token.NewFileSet()
	err := filepath.WalkDir("..", func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			if path != ".." && (strings.HasPrefix(d.Name(), ".") || d.Name() == "testdata" || d.Name() == "deploy") {
				return filepath.SkipDir
			}
			return nil
		}
		if !strings.HasSuffix(path, ".go") || strings.HasSuffix(path, "_test.go") {
			return nil
		}
		f, err := parser.ParseFile(fset, path, nil, parser.SkipObjectResolution)
		if err != nil {
			return err
		}
		ast.Inspect(f, func(n ast.Node) bool {
			lit, ok := n.(*ast.CompositeLit)
			if !ok {
				return true
			}
			sel, ok := lit.Type.(*ast.SelectorExpr)
			if !ok || !strings.HasSuffix(sel.Sel.Name, "Opts") {
				return true
			}
			if pkg, ok := sel.X.(*ast.Ident); !ok || pkg.Name != "prometheus" {
				return true
			}
			for _, e := range lit.Elts {
				kv, ok := e.(*ast.KeyValueExpr)
				if !ok {
					continue
				}
				key, ok := kv.Key.(*ast.Ident)
				val, isLit := kv.Value.(*ast.BasicLit)
				if !ok || key.Name != "Name" || !isLit {
					continue
				}
				name, err := strconv.Unquote(val.Value)
				if err != nil {
					continue
				}
				switch sel.Sel.Name {
				case "HistogramOpts":
					names[name+"_bucket"], names[name+"_sum"], names[name+"_count"] = true, true, true
				case "SummaryOpts":
					names[name], names[name+"_sum"], names[name+"_count"] = true, true, true
				default:
					names[name] = true
				}
			}
			return true
		})
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	// Guard against the walk silently finding nothing.
	for _, must := range []string{"flowhose_pipeline_records_total", "flowhose_pipeline_dispatch_seconds_bucket"} {
		if !names[must] {
			t.Fatalf("found %d metrics, not %s: did the metric definitions change shape?", len(names), must)
		}
	}
	return names
}

var metricName = regexp.MustCompile(`flowhose_[A-Za-z0-9_:]*`)

// checkQueries fails the test for every query that names no flowhose
// metric or names one the code does not export. where says where each
// query was found.
func checkQueries(t *testing.T, exported map[string]bool, where string, queries []string) {
	t.Helper()
	if len(queries) == 0 {
		t.Errorf("%s: no queries found", where)
	}
	for _, q := range queries {
		names := metricName.FindAllString(q, -1)
		if len(names) == 0 {
			t.Errorf("%s: query names no flowhose metric: %s", where, q)
		}
		for _, n := range names {
			if !exported[n] {
				t.Errorf("%s: %s is not a metric flowhose exports (query %s)", where, n, q)
			}
		}
	}
}

// TestGrafanaDashboard checks that every panel query and template variable
// of the dashboard asks for metrics flowhose exports.
func TestGrafanaDashboard(t *testing.T) {
	data, err := os.ReadFile("grafana/flowhose.json")
	if err != nil {
		t.Fatal(err)
	}
	type panel struct {
		ID      int     `json:"id"`
		Type    string  `json:"type"`
		Title   string  `json:"title"`
		Panels  []panel `json:"panels"`
		Targets []struct {
			Expr string `json:"expr"`
		} `json:"targets"`
	}
	var dash struct {
		UID        string  `json:"uid"`
		Panels     []panel `json:"panels"`
		Templating struct {
			List []struct {
				Name  string          `json:"name"`
				Type  string          `json:"type"`
				Query json.RawMessage `json:"query"`
			} `json:"list"`
		} `json:"templating"`
	}
	if err := json.Unmarshal(data, &dash); err != nil {
		t.Fatalf("grafana/flowhose.json: %v", err)
	}
	exported := exportedMetrics(t)
	ids := map[int]bool{}
	var walk func([]panel)
	walk = func(ps []panel) {
		for _, p := range ps {
			if ids[p.ID] {
				t.Errorf("panel id %d used twice", p.ID)
			}
			ids[p.ID] = true
			if p.Type == "row" {
				walk(p.Panels)
				continue
			}
			var exprs []string
			for _, tg := range p.Targets {
				exprs = append(exprs, tg.Expr)
			}
			checkQueries(t, exported, "panel "+strconv.Quote(p.Title), exprs)
		}
	}
	walk(dash.Panels)
	if len(ids) < 10 {
		t.Errorf("only %d panels: did the dashboard's shape change?", len(ids))
	}
	for _, v := range dash.Templating.List {
		if v.Type != "query" {
			continue
		}
		// Grafana stores a variable's query as a string or as an object.
		var q struct {
			Query string `json:"query"`
		}
		if err := json.Unmarshal(v.Query, &q.Query); err != nil {
			if err := json.Unmarshal(v.Query, &q); err != nil {
				t.Errorf("variable %s: query: %v", v.Name, err)
			}
		}
		checkQueries(t, exported, "variable "+v.Name, []string{q.Query})
	}
}

// object is the part every Kubernetes manifest has.
type object struct {
	APIVersion string `yaml:"apiVersion"`
	Kind       string `yaml:"kind"`
	Metadata   struct {
		Name   string            `yaml:"name"`
		Labels map[string]string `yaml:"labels"`
	} `yaml:"metadata"`
}

// want fails the test unless o is of the given apiVersion and kind.
func (o object) want(t *testing.T, apiVersion, kind string) {
	t.Helper()
	if o.APIVersion != apiVersion || o.Kind != kind {
		t.Errorf("apiVersion %q kind %q, want %s %s", o.APIVersion, o.Kind, apiVersion, kind)
	}
}

// TestPrometheusRule checks the alerting rules' structure (kubernetes-validate
// has no schema for the Prometheus Operator's kinds) and that every
// expression asks for metrics flowhose exports.
func TestPrometheusRule(t *testing.T) {
	var rule struct {
		object `yaml:",inline"`
		Spec   struct {
			Groups []struct {
				Name  string `yaml:"name"`
				Rules []struct {
					Alert       string            `yaml:"alert"`
					Expr        string            `yaml:"expr"`
					For         string            `yaml:"for"`
					Labels      map[string]string `yaml:"labels"`
					Annotations map[string]string `yaml:"annotations"`
				} `yaml:"rules"`
			} `yaml:"groups"`
		} `yaml:"spec"`
	}
	readYAML(t, "kubernetes/prometheusrule.yaml", &rule, true)
	rule.want(t, "monitoring.coreos.com/v1", "PrometheusRule")
	exported := exportedMetrics(t)
	alerts := map[string]bool{}
	for _, g := range rule.Spec.Groups {
		if g.Name == "" || len(g.Rules) == 0 {
			t.Errorf("group %q: needs a name and rules", g.Name)
		}
		for _, r := range g.Rules {
			if r.Alert == "" || alerts[r.Alert] {
				t.Errorf("alert name %q missing or repeated", r.Alert)
			}
			alerts[r.Alert] = true
			if _, err := time.ParseDuration(r.For); err != nil {
				t.Errorf("alert %s: for: %v", r.Alert, err)
			}
			if s := r.Labels["severity"]; s != "warning" && s != "critical" {
				t.Errorf("alert %s: severity %q, want warning or critical", r.Alert, s)
			}
			if r.Annotations["summary"] == "" || r.Annotations["description"] == "" {
				t.Errorf("alert %s: needs a summary and a description", r.Alert)
			}
			checkQueries(t, exported, "alert "+r.Alert, []string{r.Expr})
		}
	}
	if len(alerts) < 5 {
		t.Errorf("only %d alerts: did the file's shape change?", len(alerts))
	}
}

// TestServiceMonitor checks that the ServiceMonitor selects the Service
// and scrapes /metrics on one of its named ports.
func TestServiceMonitor(t *testing.T) {
	var sm struct {
		object `yaml:",inline"`
		Spec   struct {
			Selector struct {
				MatchLabels map[string]string `yaml:"matchLabels"`
			} `yaml:"selector"`
			Endpoints []struct {
				Port     string `yaml:"port"`
				Path     string `yaml:"path"`
				Interval string `yaml:"interval"`
			} `yaml:"endpoints"`
		} `yaml:"spec"`
	}
	readYAML(t, "kubernetes/servicemonitor.yaml", &sm, true)
	sm.want(t, "monitoring.coreos.com/v1", "ServiceMonitor")
	var svc struct {
		Metadata struct {
			Labels map[string]string `yaml:"labels"`
		} `yaml:"metadata"`
		Spec struct {
			Ports []struct {
				Name string `yaml:"name"`
			} `yaml:"ports"`
		} `yaml:"spec"`
	}
	readYAML(t, "kubernetes/service.yaml", &svc, false)
	if len(sm.Spec.Selector.MatchLabels) == 0 {
		t.Error("selector matches every Service")
	}
	for k, v := range sm.Spec.Selector.MatchLabels {
		if svc.Metadata.Labels[k] != v {
			t.Errorf("selector %s=%s does not match the Service's labels %v", k, v, svc.Metadata.Labels)
		}
	}
	if len(sm.Spec.Endpoints) == 0 {
		t.Error("no endpoints")
	}
	ports := map[string]bool{}
	for _, p := range svc.Spec.Ports {
		ports[p.Name] = true
	}
	for _, e := range sm.Spec.Endpoints {
		if !ports[e.Port] {
			t.Errorf("endpoint port %q is not a named port of the Service", e.Port)
		}
		if e.Path != "/metrics" {
			t.Errorf("endpoint path %q, want /metrics", e.Path)
		}
		if _, err := time.ParseDuration(e.Interval); err != nil {
			t.Errorf("endpoint interval: %v", err)
		}
	}
}

// TestKustomization checks that kustomization.yaml lists every manifest in
// the directory, so none is forgotten by kubectl apply -k.
func TestKustomization(t *testing.T) {
	var k struct {
		Resources []string `yaml:"resources"`
	}
	readYAML(t, "kubernetes/kustomization.yaml", &k, false)
	var files []string
	for _, f := range glob(t, "kubernetes/*.yaml") {
		if base := filepath.Base(f); base != "kustomization.yaml" {
			files = append(files, base)
		}
	}
	slices.Sort(k.Resources)
	if !slices.Equal(k.Resources, files) {
		t.Errorf("kustomization resources %v, want the directory's manifests %v", k.Resources, files)
	}
}

// readYAML decodes the YAML file path into into. strict refuses unknown
// fields: for the custom resources no schema validator sees, a misspelt
// field must not pass.
func readYAML(t *testing.T, path string, into any, strict bool) {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	dec := yaml.NewDecoder(f)
	dec.KnownFields(strict)
	if err := dec.Decode(into); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
}
