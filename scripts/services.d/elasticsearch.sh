# shellcheck shell=bash
# A real single-node Elasticsearch on loopback, from the integration-test
# distribution published to Maven Central (no bundled JDK, no Docker).
#
# Knobs (environment):
#   FLOWHOSE_ES_VERSION     distribution version (default 8.19.7; 8.x runs on Java 17)
#   FLOWHOSE_ES_PORT        preferred HTTP port (default 9250; the next free one is used if taken)
#   FLOWHOSE_ES_HEAP        JVM heap (default 512m)
#   FLOWHOSE_ES_JAVA_HOME   Java 17+ home (default: the machine's Java 17, else `java` on PATH)
#   FLOWHOSE_ES_USER        unprivileged user it runs as when started by root (default flowhose-es)
#
# Exports FLOWHOSE_TEST_ES_URL, and FLOWHOSE_TEST_ES_PIDFILE for tests that
# freeze the node (SIGSTOP/SIGCONT) to simulate a hung cluster.

es_version() { printf '%s\n' "${FLOWHOSE_ES_VERSION:-8.19.7}"; }
es_user() { printf '%s\n' "${FLOWHOSE_ES_USER:-flowhose-es}"; }
es_state() { printf '%s/elasticsearch.%s\n' "$(svc_dir)" "$1"; }

es_java_home() { svc_java_home "${FLOWHOSE_ES_JAVA_HOME:-}"; }

# es_dist prints the unpacked distribution in the cache, fetching it first.
es_dist() { svc_maven_zip elasticsearch org.elasticsearch.distribution.integ-test-zip elasticsearch "$(es_version)"; }

es_url() {
	local port
	port=$(<"$(es_state port)")
	printf 'http://127.0.0.1:%s\n' "$port"
}

status_elasticsearch() {
	local run
	[[ -f $(es_state rundir) ]] || return 1
	run=$(<"$(es_state rundir)")
	svc_pid_alive "$run/es.pid" && curl -fsS -o /dev/null --max-time 5 "$(es_url)/_cluster/health"
}

start_elasticsearch() {
	if status_elasticsearch; then
		es_export "$(<"$(es_state rundir)")"
		return 0
	fi
	stop_elasticsearch

	local dist run port tport
	: >"$(svc_log elasticsearch)"
	dist=$(es_dist) || return 1
	port=$(svc_free_port "${FLOWHOSE_ES_PORT:-9250}") || return 1
	tport=$(svc_free_port $((port + 100))) || return 1

	# Elasticsearch writes its keystore into config/, so each run gets its own
	# copy of the distribution, owned by whoever runs it.
	run=$(mktemp -d "${TMPDIR:-/tmp}/flowhose-es.XXXXXX")
	printf '%s\n' "$run" >"$(es_state rundir)"
	printf '%s\n' "$port" >"$(es_state port)"
	printf '%s\n' "$tport" >"$(es_state tport)"
	cp -a "$dist" "$run/es"
	mkdir -p "$run/data" "$run/logs" "$run/tmp"
	svc_give "$run" "$(es_user)" elasticsearch || return 1
	es_launch "$run" "$port" "$tport"
}

# restart_elasticsearch stops the node and starts it again on the same
# ports and data, for tests of a real outage (`scripts/services restart
# elasticsearch`).
restart_elasticsearch() {
	local run
	[[ -f $(es_state rundir) ]] || { start_elasticsearch; return; }
	run=$(<"$(es_state rundir)")
	es_kill "$run"
	es_launch "$run" "$(<"$(es_state port)")" "$(<"$(es_state tport)")"
}

# es_launch starts the node in run and waits until it is healthy.
es_launch() {
	local run=$1 port=$2 tport=$3 java_home log
	local -a as_user=()
	log=$(svc_log elasticsearch)
	java_home=$(es_java_home) || { svc_fail elasticsearch "no Java found"; return 1; }
	# It refuses to run as root.
	((EUID != 0)) || as_user=(runuser -u "$(es_user)" --)

	# -d returns once the node has started (or failed), so bound it too.
	timeout "${FLOWHOSE_SERVICES_TIMEOUT:-120}" env ES_JAVA_HOME="$java_home" ES_TMPDIR="$run/tmp" \
		ES_JAVA_OPTS="-Xms${FLOWHOSE_ES_HEAP:-512m} -Xmx${FLOWHOSE_ES_HEAP:-512m}" \
		"${as_user[@]}" "$run/es/bin/elasticsearch" -d -p "$run/es.pid" \
		-Ediscovery.type=single-node \
		-Enetwork.host=127.0.0.1 \
		-Ehttp.port="$port" \
		-Etransport.port="$tport" \
		-Expack.security.enabled=false \
		-Ecluster.routing.allocation.disk.threshold_enabled=false \
		-Epath.data="$run/data" \
		-Epath.logs="$run/logs" \
		>>"$log" 2>&1 ||
		{ svc_fail elasticsearch "launcher failed" "$run/logs/elasticsearch.log"; return 1; }

	svc_wait_http elasticsearch "http://127.0.0.1:$port/_cluster/health?wait_for_status=yellow&timeout=5s" ||
		{ svc_fail elasticsearch "not healthy" "$run/logs/elasticsearch.log"; return 1; }
	es_export "$run"
}

es_export() {
	svc_export elasticsearch FLOWHOSE_TEST_ES_URL "$(es_url)"
	svc_export elasticsearch FLOWHOSE_TEST_ES_PIDFILE "$1/es.pid"
}

# es_kill stops the node of run dir $1 (SIGTERM, then SIGKILL after 30 s).
es_kill() { svc_kill "$1/es.pid" 30; }

stop_elasticsearch() {
	local run
	[[ -f $(es_state rundir) ]] || return 0
	run=$(<"$(es_state rundir)")
	es_kill "$run"
	case $run in "${TMPDIR:-/tmp}"/flowhose-es.*) rm -rf "$run" ;; esac
	rm -f "$(es_state rundir)" "$(es_state port)" "$(es_state tport)"
}
