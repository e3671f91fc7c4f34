# shellcheck shell=bash
# A real single-node OpenSearch on loopback, from the integration-test
# distribution published to Maven Central (no bundled JDK, no security
# plugin: plain HTTP, no Docker).
#
# Knobs (environment):
#   FLOWHOSE_OPENSEARCH_VERSION     distribution version (default 2.19.6; 2.x runs on Java 17)
#   FLOWHOSE_OPENSEARCH_PORT        preferred HTTP port (default 9260; the next free one is used if taken)
#   FLOWHOSE_OPENSEARCH_HEAP        JVM heap (default 384m)
#   FLOWHOSE_OPENSEARCH_JAVA_HOME   Java 17+ home (default: the machine's Java 17, else `java` on PATH)
#   FLOWHOSE_OPENSEARCH_USER        unprivileged user it runs as when started by root (default flowhose-os)
#
# Exports FLOWHOSE_TEST_OPENSEARCH_URL.

os_version() { printf '%s\n' "${FLOWHOSE_OPENSEARCH_VERSION:-2.19.6}"; }
os_user() { printf '%s\n' "${FLOWHOSE_OPENSEARCH_USER:-flowhose-os}"; }
os_state() { printf '%s/opensearch.%s\n' "$(svc_dir)" "$1"; }

# os_dist prints the unpacked distribution in the cache, fetching it first.
os_dist() { svc_maven_zip opensearch org.opensearch.distribution.integ-test-zip opensearch "$(os_version)"; }

os_url() { printf 'http://127.0.0.1:%s\n' "$(<"$(os_state port)")"; }

status_opensearch() {
	local run
	[[ -f $(os_state rundir) ]] || return 1
	run=$(<"$(os_state rundir)")
	svc_pid_alive "$run/os.pid" && curl -fsS -o /dev/null --max-time 5 "$(os_url)/_cluster/health"
}

start_opensearch() {
	if status_opensearch; then
		os_export
		return 0
	fi
	stop_opensearch

	local dist run port tport java_home log
	log=$(svc_log opensearch)
	: >"$log"
	dist=$(os_dist) || return 1
	port=$(svc_free_port "${FLOWHOSE_OPENSEARCH_PORT:-9260}") || return 1
	tport=$(svc_free_port $((port + 100))) || return 1
	java_home=$(svc_java_home "${FLOWHOSE_OPENSEARCH_JAVA_HOME:-}") || { svc_fail opensearch "no Java found"; return 1; }

	# OpenSearch writes its keystore into config/, so each run gets its own
	# copy of the distribution, owned by whoever runs it.
	run=$(mktemp -d "${TMPDIR:-/tmp}/flowhose-os.XXXXXX")
	printf '%s\n' "$run" >"$(os_state rundir)"
	printf '%s\n' "$port" >"$(os_state port)"
	cp -a "$dist" "$run/os"
	mkdir -p "$run/data" "$run/logs" "$run/tmp"
	# It refuses to run as root.
	svc_give "$run" "$(os_user)" opensearch || return 1
	local -a as_user=()
	((EUID != 0)) || as_user=(runuser -u "$(os_user)" --)

	# -d returns once the node has started (or failed), so bound it too.
	timeout "${FLOWHOSE_SERVICES_TIMEOUT:-120}" env OPENSEARCH_JAVA_HOME="$java_home" OPENSEARCH_TMPDIR="$run/tmp" \
		OPENSEARCH_JAVA_OPTS="-Xms${FLOWHOSE_OPENSEARCH_HEAP:-384m} -Xmx${FLOWHOSE_OPENSEARCH_HEAP:-384m}" \
		"${as_user[@]}" "$run/os/bin/opensearch" -d -p "$run/os.pid" \
		-Ediscovery.type=single-node \
		-Enetwork.host=127.0.0.1 \
		-Ehttp.port="$port" \
		-Etransport.port="$tport" \
		-Ecluster.routing.allocation.disk.threshold_enabled=false \
		-Epath.data="$run/data" \
		-Epath.logs="$run/logs" \
		>>"$log" 2>&1 ||
		{ svc_fail opensearch "launcher failed" "$run/logs/opensearch.log"; return 1; }

	svc_wait_http opensearch "http://127.0.0.1:$port/_cluster/health?wait_for_status=yellow&timeout=5s" ||
		{ svc_fail opensearch "not healthy" "$run/logs/opensearch.log"; return 1; }
	os_export
}

os_export() { svc_export opensearch FLOWHOSE_TEST_OPENSEARCH_URL "$(os_url)"; }

stop_opensearch() {
	local run
	[[ -f $(os_state rundir) ]] || return 0
	run=$(<"$(os_state rundir)")
	svc_kill "$run/os.pid" 30
	case $run in "${TMPDIR:-/tmp}"/flowhose-os.*) rm -rf "$run" ;; esac
	rm -f "$(os_state rundir)" "$(os_state port)"
}
