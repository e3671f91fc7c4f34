package config

import (
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"

	"github.com/flowhose/flowhose/stream"
)

// TestDeployManifests checks the deployment examples against the code:
// the Kubernetes ConfigMap's flowhose.yaml loads and validates and puts the
// dead-letter file on a writable volume, the CloudFormation templates'
// default flow-log format decodes, and every FLOWHOSE_* variable they set
// exists, so a typo cannot sit unnoticed in an example people copy.
func TestDeployManifests(t *testing.T) {
	known := map[string]bool{"FLOWHOSE_CONFIG": true}
	for _, v := range EnvVars() {
		known[v.Name] = true
	}
	set := map[string]string{} // variable -> file that sets it

	var secret struct {
		StringData map[string]string `yaml:"stringData"`
	}
	readYAML(t, "kubernetes/secret.yaml", &secret)
	for k := range secret.StringData {
		set[k] = "kubernetes/secret.yaml"
	}
	var cm struct {
		Data map[string]string `yaml:"data"`
	}
	readYAML(t, "kubernetes/configmap.yaml", &cm)
	path := filepath.Join(t.TempDir(), "flowhose.yaml")
	if err := os.WriteFile(path, []byte(cm.Data["flowhose.yaml"]), 0o600); err != nil {
		t.Fatal(err)
	}
	// The Deployment adds the Secret to the environment.
	cfg, err := load(path, secret.StringData)
	if err != nil {
		t.Errorf("kubernetes/configmap.yaml flowhose.yaml: %v", err)
	}

	var deploy struct {
		Spec struct {
			Template struct {
				Spec struct {
					Containers []struct {
						Env          []struct{ Name string } `yaml:"env"`
						VolumeMounts []struct {
							MountPath string `yaml:"mountPath"`
							ReadOnly  bool   `yaml:"readOnly"`
						} `yaml:"volumeMounts"`
					} `yaml:"containers"`
				} `yaml:"spec"`
			} `yaml:"template"`
		} `yaml:"spec"`
	}
	readYAML(t, "kubernetes/deployment.yaml", &deploy)
	// The root file system is read-only: the dead-letter file must be on
	// a writable volume.
	dlDir := filepath.Dir(cfg.Sinks.DeadLetter.Path)
	dlWritable := false
	for _, c := range deploy.Spec.Template.Spec.Containers {
		for _, e := range c.Env {
			set[e.Name] = "kubernetes/deployment.yaml"
		}
		for _, m := range c.VolumeMounts {
			dlWritable = dlWritable || (m.MountPath == dlDir && !m.ReadOnly)
		}
	}
	if !dlWritable {
		t.Errorf("kubernetes/deployment.yaml mounts no writable volume at %s, where sinks.dead_letter.path %s is", dlDir, cfg.Sinks.DeadLetter.Path)
	}

	data, err := os.ReadFile(filepath.Join("..", "deploy", "ecs", "task-definition.json"))
	if err != nil {
		t.Fatal(err)
	}
	var td struct {
		ContainerDefinitions []struct {
			Environment []struct{ Name, Value string }
			Secrets     []struct{ Name string }
		}
	}
	if err := json.Unmarshal(data, &td); err != nil {
		t.Fatalf("ecs/task-definition.json: %v", err)
	}
	env := map[string]string{}
	for _, c := range td.ContainerDefinitions {
		for _, e := range c.Environment {
			set[e.Name] = "ecs/task-definition.json"
			env[e.Name] = e.Value
		}
		for _, s := range c.Secrets {
			set[s.Name] = "ecs/task-definition.json"
			env[s.Name] = "secret-value"
		}
	}
	// The CloudFormation templates set variables in several shapes (ECS
	// Environment and Secrets, Lambda Variables, under conditions): every
	// name they mention must exist, and the flow-log format they hand
	// flowhose by default must be one it accepts.
	templates, err := filepath.Glob(filepath.Join("..", "deploy", "aws", "*.yaml"))
	if err != nil || len(templates) == 0 {
		t.Fatalf("no CloudFormation templates in deploy/aws (%v)", err)
	}
	for _, file := range templates {
		rel, _ := filepath.Rel(filepath.Join("..", "deploy"), file)
		data, err := os.ReadFile(file)
		if err != nil {
			t.Fatal(err)
		}
		for _, name := range envVarRE.FindAllString(string(data), -1) {
			set[name] = rel
		}
		var tmpl struct {
			Parameters struct {
				LogFormat struct {
					Default string `yaml:"Default"`
				} `yaml:"LogFormat"`
			} `yaml:"Parameters"`
		}
		if err := yaml.Unmarshal(data, &tmpl); err != nil {
			t.Fatalf("%s: %v", rel, err)
		}
		format := tmpl.Parameters.LogFormat.Default
		if format == "" {
			t.Errorf("%s: no LogFormat parameter default", rel)
		}
		// Unknown fields are decoded as extras; the default must need none.
		for tok := range strings.FieldsSeq(format) {
			if stream.LookupField(strings.TrimSuffix(strings.TrimPrefix(tok, "${"), "}")) == stream.FieldUnknown {
				t.Errorf("%s: LogFormat default has %s, a field flowhose does not know", rel, tok)
			}
		}
		env := map[string]string{EnvPrefix + "DECODE_FORMATS": format}
		if _, err := load("", env); err != nil {
			t.Errorf("%s: LogFormat default as decode.formats: %v", rel, err)
		}
	}
	if len(set) < 5 {
		t.Fatalf("found only %d variables; did the manifests' shape change?", len(set))
	}
	for name, file := range set {
		if strings.HasPrefix(name, EnvPrefix) && !known[name] {
			t.Errorf("deploy/%s sets %s, which no setting reads", file, name)
		}
	}
	// The task definition configures by environment alone.
	if _, err := load("", env); err != nil {
		t.Errorf("ecs/task-definition.json environment: %v", err)
	}
}

var envVarRE = regexp.MustCompile(EnvPrefix + `[A-Z0-9_]+`)

func readYAML(t *testing.T, rel string, into any) {
	t.Helper()
	data, err := os.ReadFile(filepath.Join("..", "deploy", rel))
	if err != nil {
		t.Fatal(err)
	}
	if err := yaml.Unmarshal(data, into); err != nil {
		t.Fatalf("deploy/%s: %v", rel, err)
	}
}
