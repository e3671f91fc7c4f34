package config

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"
)

// TestDeployManifests checks the deployment examples against the code:
// the Kubernetes ConfigMap's flowhose.yaml loads and validates, and every
// FLOWHOSE_* variable they set exists, so a typo cannot sit unnoticed in
// an example people copy.
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
	if _, err := load(path, secret.StringData); err != nil {
		t.Errorf("kubernetes/configmap.yaml flowhose.yaml: %v", err)
	}

	var deploy struct {
		Spec struct {
			Template struct {
				Spec struct {
					Containers []struct {
						Env []struct{ Name string } `yaml:"env"`
					} `yaml:"containers"`
				} `yaml:"spec"`
			} `yaml:"template"`
		} `yaml:"spec"`
	}
	readYAML(t, "kubernetes/deployment.yaml", &deploy)
	for _, c := range deploy.Spec.Template.Spec.Containers {
		for _, e := range c.Env {
			set[e.Name] = "kubernetes/deployment.yaml"
		}
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
