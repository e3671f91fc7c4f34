// Package deploy holds no code: its tests check the deployment files next
// to them (CloudFormation, Kubernetes, Grafana) with the validators
// scripts/validators installs and against the metrics the code exports.
package deploy

import (
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"testing"
)

// kubernetesVersion is the Kubernetes release the manifests are validated
// against; kubernetes-validate ships the schemas of its own release and the
// ones before.
const kubernetesVersion = "1.37.0"

// validator returns the executable named by the environment variable env
// (scripts/test sets it from scripts/validators). Without it the test
// skips, or fails when FLOWHOSE_REQUIRE_SERVICES=1 says every external
// check must run.
func validator(t *testing.T, env string) string {
	t.Helper()
	path := os.Getenv(env)
	if path == "" {
		if os.Getenv("FLOWHOSE_REQUIRE_SERVICES") == "1" {
			t.Fatalf("%s is not set; run scripts/validators and export it", env)
		}
		t.Skipf("%s is not set; scripts/test sets it from scripts/validators", env)
	}
	return path
}

// run runs a validator and returns its combined output, failing the test
// when it exits non-zero.
func run(t *testing.T, name string, args ...string) []byte {
	t.Helper()
	out, err := exec.CommandContext(t.Context(), name, args...).CombinedOutput()
	if err != nil {
		t.Errorf("%s %v: %v\n%s", filepath.Base(name), args, err, out)
	}
	return out
}

func glob(t *testing.T, pattern string) []string {
	t.Helper()
	files, err := filepath.Glob(pattern)
	if err != nil || len(files) == 0 {
		t.Fatalf("no files match %s (%v)", pattern, err)
	}
	return files
}

// TestCloudFormationLint lints every template with cfn-lint, whose
// resource schemas catch unknown properties, wrong types and enum values,
// and whose rules catch broken references and IAM mistakes. Informational
// findings count too.
func TestCloudFormationLint(t *testing.T) {
	lint := validator(t, "FLOWHOSE_TEST_CFN_LINT")
	args := append([]string{"--include-checks", "I", "--non-zero-exit-code", "informational", "--"}, glob(t, "aws/*.yaml")...)
	run(t, lint, args...)
}

// skippedKind matches kubernetes-validate's warning for a kind it has no
// schema for (custom resources); it still exits 0 for those.
var skippedKind = regexp.MustCompile(`Couldn't find schema for kind (\S+) with api version (\S+)`)

// TestKubernetesValidate validates every manifest, strictly (unknown
// fields are errors), against kubernetesVersion's schemas. Only the kinds
// that have no built-in schema may be skipped; the Prometheus Operator's
// two are checked by TestServiceMonitor and TestPrometheusRule instead.
func TestKubernetesValidate(t *testing.T) {
	kv := validator(t, "FLOWHOSE_TEST_KUBERNETES_VALIDATE")
	args := append([]string{"--strict", "--kubernetes-version", kubernetesVersion}, glob(t, "kubernetes/*.yaml")...)
	out := run(t, kv, args...)
	var skipped []string
	for _, m := range skippedKind.FindAllSubmatch(out, -1) {
		skipped = append(skipped, string(m[2])+"/"+string(m[1]))
	}
	slices.Sort(skipped)
	want := []string{
		"kustomize.config.k8s.io/v1beta1/Kustomization",
		"monitoring.coreos.com/v1/PrometheusRule",
		"monitoring.coreos.com/v1/ServiceMonitor",
	}
	if !slices.Equal(skipped, want) {
		t.Errorf("kubernetes-validate had no schema for %v, want exactly %v (a mistyped apiVersion or kind?)\n%s", skipped, want, out)
	}
}
