# shellcheck shell=bash
# An independent Splunk HTTP Event Collector receiver on loopback: the
# OpenTelemetry Collector contrib splunkhecreceiver with indexer
# acknowledgement (ackextension), writing every event it receives to a file
# through the fileexporter (OTLP JSON, one request per line). The collector
# is built once, in a scratch Go module of its own (never flowhose's), and
# cached under the download cache; later starts reuse the binary.
#
# Knobs (environment):
#   FLOWHOSE_SPLUNKHEC_PORT   preferred port (default 8188; the next free one is used if taken)
#
# Exports FLOWHOSE_TEST_SPLUNK_HEC_URL (the receiver's base URL) and
# FLOWHOSE_TEST_SPLUNK_HEC_OUT (the file the exporter appends to).

# Contrib and collector versions that resolve together.
splunkhec_versions() { printf 'contrib=v0.145.0 core=v0.145.0 confmap=v1.51.0\n'; }
splunkhec_state() { printf '%s/splunkhec.%s\n' "$(svc_dir)" "$1"; }
splunkhec_bin() { printf '%s/bin/otelcol-splunkhec-v0.145.0\n' "$(svc_cache)"; }

# splunkhec_build builds the collector into splunkhec_bin unless it is there.
splunkhec_build() {
	local bin mod log contrib core confmap
	bin=$(splunkhec_bin)
	[[ -x $bin ]] && return 0
	eval "$(splunkhec_versions)"
	mod=$(svc_cache)/otelcol-splunkhec-src
	log=$(svc_log splunkhec)
	rm -rf "$mod"
	mkdir -p "$mod" "$(dirname "$bin")"
	cat >"$mod/go.mod" <<EOF
module flowhose.test/otelcol-splunkhec

go 1.25

require (
	github.com/open-telemetry/opentelemetry-collector-contrib/exporter/fileexporter $contrib
	github.com/open-telemetry/opentelemetry-collector-contrib/extension/ackextension $contrib
	github.com/open-telemetry/opentelemetry-collector-contrib/receiver/splunkhecreceiver $contrib
	go.opentelemetry.io/collector/confmap $confmap
	go.opentelemetry.io/collector/confmap/provider/envprovider $confmap
	go.opentelemetry.io/collector/confmap/provider/fileprovider $confmap
	go.opentelemetry.io/collector/confmap/provider/yamlprovider $confmap
	go.opentelemetry.io/collector/otelcol $core
	go.opentelemetry.io/collector/service $core
)
EOF
	cat >"$mod/main.go" <<'EOF'
// Command otelcol-splunkhec is a collector with what flowhose's Splunk
// tests need: the Splunk HEC receiver, the ack extension and the file
// exporter.
package main

import (
	"log"

	"github.com/open-telemetry/opentelemetry-collector-contrib/exporter/fileexporter"
	"github.com/open-telemetry/opentelemetry-collector-contrib/extension/ackextension"
	"github.com/open-telemetry/opentelemetry-collector-contrib/receiver/splunkhecreceiver"
	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/confmap"
	"go.opentelemetry.io/collector/confmap/provider/envprovider"
	"go.opentelemetry.io/collector/confmap/provider/fileprovider"
	"go.opentelemetry.io/collector/confmap/provider/yamlprovider"
	"go.opentelemetry.io/collector/otelcol"
	"go.opentelemetry.io/collector/service/telemetry/otelconftelemetry"
)

func main() {
	set := otelcol.CollectorSettings{
		BuildInfo: component.BuildInfo{Command: "otelcol-splunkhec", Description: "flowhose test HEC receiver", Version: "test"},
		Factories: factories,
		ConfigProviderSettings: otelcol.ConfigProviderSettings{
			ResolverSettings: confmap.ResolverSettings{
				ProviderFactories: []confmap.ProviderFactory{
					fileprovider.NewFactory(), envprovider.NewFactory(), yamlprovider.NewFactory(),
				},
			},
		},
	}
	if err := otelcol.NewCommand(set).Execute(); err != nil {
		log.Fatal(err)
	}
}

func factories() (otelcol.Factories, error) {
	f := otelcol.Factories{Telemetry: otelconftelemetry.NewFactory()}
	var err error
	if f.Receivers, err = otelcol.MakeFactoryMap(splunkhecreceiver.NewFactory()); err != nil {
		return f, err
	}
	if f.Extensions, err = otelcol.MakeFactoryMap(ackextension.NewFactory()); err != nil {
		return f, err
	}
	f.Exporters, err = otelcol.MakeFactoryMap(fileexporter.NewFactory())
	return f, err
}
EOF
	echo "services: splunkhec: building the collector $contrib (once)" >&2
	(cd "$mod" && GOFLAGS=-mod=mod go mod tidy && go build -trimpath -o "$bin.new" .) >>"$log" 2>&1 ||
		{ svc_fail splunkhec "the collector did not build in $mod"; return 1; }
	mv "$bin.new" "$bin"
}

splunkhec_url() { printf 'http://127.0.0.1:%s\n' "$(<"$(splunkhec_state port)")"; }

status_splunkhec() {
	[[ -f $(splunkhec_state port) ]] || return 1
	svc_pid_alive "$(splunkhec_state pid)" && curl -fsS -o /dev/null --max-time 5 "$(splunkhec_url)/services/collector/health"
}

splunkhec_exports() {
	svc_export splunkhec FLOWHOSE_TEST_SPLUNK_HEC_URL "$(splunkhec_url)"
	svc_export splunkhec FLOWHOSE_TEST_SPLUNK_HEC_OUT "$(splunkhec_state out.json)"
}

start_splunkhec() {
	if status_splunkhec; then
		splunkhec_exports
		return 0
	fi
	stop_splunkhec

	local port log cfg
	log=$(svc_log splunkhec)
	: >"$log"
	splunkhec_build || return 1
	port=$(svc_free_port "${FLOWHOSE_SPLUNKHEC_PORT:-8188}") || return 1
	printf '%s\n' "$port" >"$(splunkhec_state port)"
	cfg=$(splunkhec_state yaml)
	: >"$(splunkhec_state out.json)"
	cat >"$cfg" <<EOF
extensions:
  ack: {}
receivers:
  splunk_hec:
    endpoint: 127.0.0.1:$port
    ack:
      extension: ack
exporters:
  file:
    path: $(splunkhec_state out.json)
    flush_interval: 100ms
service:
  extensions: [ack]
  telemetry:
    metrics:
      level: none
  pipelines:
    logs:
      receivers: [splunk_hec]
      exporters: [file]
EOF
	# setsid detaches it from the dispatcher's process group, so it outlives
	# `scripts/services start`.
	setsid "$(splunkhec_bin)" --config "file:$cfg" >>"$log" 2>&1 </dev/null &
	printf '%s\n' "$!" >"$(splunkhec_state pid)"

	svc_wait_http splunkhec "http://127.0.0.1:$port/services/collector/health" ||
		{ svc_fail splunkhec "not healthy"; return 1; }
	splunkhec_exports
}

stop_splunkhec() {
	svc_kill "$(splunkhec_state pid)"
	rm -f "$(splunkhec_state pid)" "$(splunkhec_state port)"
}
