# shellcheck shell=bash
# A real Apache Kafka broker on loopback: one node in KRaft mode (broker and
# controller in one process), from the kafka_2.13 jars published to Maven
# Central and their dependencies, run with the machine's Java 17.
#
# Knobs (environment):
#   FLOWHOSE_KAFKA_VERSION   kafka_2.13 version (default 4.1.1)
#   FLOWHOSE_KAFKA_PORT      preferred client port (default 9392; the next free
#                            one is used if taken; the controller takes another)
#   FLOWHOSE_KAFKA_HEAP      JVM heap (default 384m)
#   FLOWHOSE_KAFKA_JAVA_HOME Java 17+ home (default: the machine's Java 17)
#
# Exports FLOWHOSE_TEST_KAFKA_BROKERS (host:port) and FLOWHOSE_TEST_KAFKA_PIDFILE
# (for tests that freeze or kill the broker). `scripts/services restart kafka`
# stops the broker and starts it again on the same ports and data, for tests
# of a real broker outage.

kafka_version() { printf '%s\n' "${FLOWHOSE_KAFKA_VERSION:-4.1.1}"; }
kafka_state() { printf '%s/kafka.%s\n' "$(svc_dir)" "$1"; }

kafka_java() {
	local home
	home=$(svc_java_home "${FLOWHOSE_KAFKA_JAVA_HOME:-}") || return 1
	printf '%s/bin/java\n' "$home"
}

# kafka_lib prints a folder holding the broker's jars, fetching them first.
# Maven resolves the broker's dependency tree from a throwaway pom; one
# SLF4J binding is added, or the broker logs nothing.
kafka_lib() {
	local v cache lib tmp
	v=$(kafka_version)
	cache=$(svc_cache)/kafka
	lib=$cache/kafka-$v
	if [[ -f $lib/.complete ]]; then
		printf '%s\n' "$lib"
		return
	fi
	echo "services: kafka: fetching $v" >&2
	mkdir -p "$cache"
	rm -rf "$lib"
	tmp=$(mktemp -d "$cache/fetch.XXXXXX")
	cat >"$tmp/pom.xml" <<EOF
<project xmlns="http://maven.apache.org/POM/4.0.0">
  <modelVersion>4.0.0</modelVersion>
  <groupId>flowhose.test</groupId>
  <artifactId>kafka-broker</artifactId>
  <version>1</version>
  <dependencies>
    <dependency><groupId>org.apache.kafka</groupId><artifactId>kafka_2.13</artifactId><version>$v</version></dependency>
    <dependency><groupId>org.slf4j</groupId><artifactId>slf4j-simple</artifactId><version>2.0.17</version></dependency>
  </dependencies>
</project>
EOF
	mvn -q -B -f "$tmp/pom.xml" org.apache.maven.plugins:maven-dependency-plugin:3.11.0:copy-dependencies \
		-DincludeScope=runtime "-DoutputDirectory=$lib" >>"$(svc_log kafka)" 2>&1 ||
		{ rm -rf "$tmp" "$lib"; svc_fail kafka "could not fetch kafka_2.13 $v"; return 1; }
	rm -rf "$tmp"
	touch "$lib/.complete"
	printf '%s\n' "$lib"
}

kafka_brokers() { printf '127.0.0.1:%s\n' "$(<"$(kafka_state port)")"; }

status_kafka() {
	[[ -f $(kafka_state port) ]] || return 1
	svc_pid_alive "$(kafka_state pid)" && svc_port_busy "$(<"$(kafka_state port)")"
}

start_kafka() {
	if status_kafka; then
		kafka_export
		return 0
	fi
	stop_kafka

	local lib run port cport java id
	: >"$(svc_log kafka)"
	lib=$(kafka_lib) || return 1
	java=$(kafka_java) || { svc_fail kafka "no Java found"; return 1; }
	port=$(svc_free_port "${FLOWHOSE_KAFKA_PORT:-9392}") || return 1
	cport=$(svc_free_port $((port + 100))) || return 1
	run=$(mktemp -d "${TMPDIR:-/tmp}/flowhose-kafka.XXXXXX")
	printf '%s\n' "$run" >"$(kafka_state rundir)"
	printf '%s\n' "$port" >"$(kafka_state port)"

	# Single node: every internal topic with one replica, and no delay
	# before a new group's first rebalance (tests start consumers often).
	cat >"$run/server.properties" <<EOF
process.roles=broker,controller
node.id=1
controller.quorum.voters=1@127.0.0.1:$cport
listeners=PLAINTEXT://127.0.0.1:$port,CONTROLLER://127.0.0.1:$cport
advertised.listeners=PLAINTEXT://127.0.0.1:$port
controller.listener.names=CONTROLLER
listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT
inter.broker.listener.name=PLAINTEXT
log.dirs=$run/data
num.partitions=4
offsets.topic.replication.factor=1
offsets.topic.num.partitions=8
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
share.coordinator.state.topic.replication.factor=1
share.coordinator.state.topic.min.isr=1
group.initial.rebalance.delay.ms=0
auto.create.topics.enable=true
message.max.bytes=16777216
replica.fetch.max.bytes=16777216
EOF
	id=$("$java" -cp "$lib/*" kafka.tools.StorageTool random-uuid 2>>"$(svc_log kafka)") ||
		{ svc_fail kafka "could not make a cluster id"; return 1; }
	"$java" -cp "$lib/*" kafka.tools.StorageTool format -t "$id" -c "$run/server.properties" \
		>>"$(svc_log kafka)" 2>&1 || { svc_fail kafka "could not format $run/data"; return 1; }
	kafka_launch "$run"
}

# restart_kafka stops the broker and starts it again with the same ports and
# data, for tests of a real outage.
restart_kafka() {
	[[ -f $(kafka_state rundir) ]] || { start_kafka; return; }
	kafka_kill
	kafka_launch "$(<"$(kafka_state rundir)")"
}

# kafka_launch starts the broker of run dir $1 and waits until it answers.
kafka_launch() {
	local run=$1 java lib heap=${FLOWHOSE_KAFKA_HEAP:-384m} deadline
	java=$(kafka_java) || { svc_fail kafka "no Java found"; return 1; }
	lib=$(kafka_lib) || return 1
	# setsid detaches it from the dispatcher's process group, so it outlives
	# `scripts/services start`.
	setsid "$java" "-Xms$heap" "-Xmx$heap" -XX:+UseG1GC -Djava.awt.headless=true \
		-Dorg.slf4j.simpleLogger.defaultLogLevel=warn \
		-cp "$lib/*" kafka.Kafka "$run/server.properties" >>"$(svc_log kafka)" 2>&1 </dev/null &
	printf '%s\n' "$!" >"$(kafka_state pid)"

	# The port opens once the broker has registered with its controller;
	# a client may still see "coordinator not available" for a moment,
	# which clients retry.
	deadline=$((SECONDS + ${FLOWHOSE_SERVICES_TIMEOUT:-120}))
	until svc_port_busy "$(<"$(kafka_state port)")"; do
		svc_pid_alive "$(kafka_state pid)" || { svc_fail kafka "exited"; return 1; }
		((SECONDS < deadline)) || { svc_fail kafka "not listening"; return 1; }
		sleep 0.5
	done
	kafka_export
}

kafka_export() {
	svc_export kafka FLOWHOSE_TEST_KAFKA_BROKERS "$(kafka_brokers)"
	svc_export kafka FLOWHOSE_TEST_KAFKA_PIDFILE "$(kafka_state pid)"
}

# kafka_kill stops the broker (SIGTERM, then SIGKILL after 30 s): a clean
# shutdown keeps restarts quick.
kafka_kill() { svc_kill "$(kafka_state pid)" 30; }

stop_kafka() {
	local run
	kafka_kill
	if [[ -f $(kafka_state rundir) ]]; then
		run=$(<"$(kafka_state rundir)")
		case $run in "${TMPDIR:-/tmp}"/flowhose-kafka.*) rm -rf "$run" ;; esac
	fi
	rm -f "$(kafka_state rundir)" "$(kafka_state port)" "$(kafka_state pid)"
}
