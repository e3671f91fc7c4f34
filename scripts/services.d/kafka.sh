# shellcheck shell=bash
# A real Apache Kafka broker on loopback: one node in KRaft mode (broker and
# controller in one process), from the kafka_2.13 jars published to Maven
# Central and their dependencies, run with the machine's Java 17.
#
# Knobs (environment):
#   FLOWHOSE_KAFKA_VERSION   kafka_2.13 version (default 4.1.1)
#   FLOWHOSE_KAFKA_PORT      preferred client port (default 9392; the next free
#                            one is used if taken; the secured listeners take
#                            the next free ones above it, the controller
#                            another)
#   FLOWHOSE_KAFKA_HEAP      JVM heap (default 384m)
#   FLOWHOSE_KAFKA_JAVA_HOME Java 17+ home (default: the machine's Java 17)
#
# Besides the plaintext listener the broker has secured ones on the next free
# ports: SASL_PLAINTEXT and SASL_SSL (PLAIN, SCRAM-SHA-256, SCRAM-SHA-512, one
# user with a random password), SSL, and SSL requiring a client certificate.
# A test CA, the broker's certificate and a client certificate are made at
# start-up with openssl (EC P-256, milliseconds) and given to the broker as
# PEM; the SCRAM credentials are written when the storage is formatted.
#
# Exports (host:port each):
#   FLOWHOSE_TEST_KAFKA_BROKERS           plaintext
#   FLOWHOSE_TEST_KAFKA_SASL_BROKERS      SASL_PLAINTEXT
#   FLOWHOSE_TEST_KAFKA_SASL_SSL_BROKERS  SASL_SSL
#   FLOWHOSE_TEST_KAFKA_SSL_BROKERS       SSL
#   FLOWHOSE_TEST_KAFKA_MTLS_BROKERS      SSL, client certificate required
# and FLOWHOSE_TEST_KAFKA_SASL_USERNAME, FLOWHOSE_TEST_KAFKA_SASL_PASSWORD, the
# PEM files FLOWHOSE_TEST_KAFKA_TLS_CA (the CA of the broker's and the
# client's certificates), FLOWHOSE_TEST_KAFKA_TLS_CERT and
# FLOWHOSE_TEST_KAFKA_TLS_KEY (the client's), and FLOWHOSE_TEST_KAFKA_PIDFILE
# (for tests that freeze or kill the broker). `scripts/services restart kafka`
# stops the broker and starts it again on the same ports, data, credentials
# and certificates, for tests of a real broker outage.
#
# The broker logs WARN and up, its start and every refused login or TLS
# handshake to .services/kafka.log through log4j2, the logging it is built for.
# A broker started before the secured listeners existed counts as stopped, so
# `scripts/services start` replaces it.

kafka_version() { printf '%s\n' "${FLOWHOSE_KAFKA_VERSION:-4.1.1}"; }
kafka_state() { printf '%s/kafka.%s\n' "$(svc_dir)" "$1"; }

kafka_java() {
	local home
	home=$(svc_java_home "${FLOWHOSE_KAFKA_JAVA_HOME:-}") || return 1
	printf '%s/bin/java\n' "$home"
}

# kafka_lib prints a folder holding the broker's jars, fetching them first.
# Maven resolves the broker's dependency tree from a throwaway pom. The
# broker logs through SLF4J 1.7 to log4j2 (both in that tree); the bridge
# between them, log4j-slf4j-impl, is not, and without it SLF4J drops every
# line. Its version follows the tree's log4j-core.
kafka_lib() {
	local v cache lib tmp core
	v=$(kafka_version)
	cache=$(svc_cache)/kafka
	lib=$cache/kafka-$v-log4j2
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
  </dependencies>
</project>
EOF
	mvn -q -B -f "$tmp/pom.xml" org.apache.maven.plugins:maven-dependency-plugin:3.11.0:copy-dependencies \
		-DincludeScope=runtime "-DoutputDirectory=$lib" >>"$(svc_log kafka)" 2>&1 ||
		{ rm -rf "$tmp" "$lib"; svc_fail kafka "could not fetch kafka_2.13 $v"; return 1; }
	core=$(cd "$lib" && ls log4j-core-*.jar 2>/dev/null) ||
		{ rm -rf "$tmp" "$lib"; svc_fail kafka "kafka_2.13 $v brought no log4j-core"; return 1; }
	core=${core#log4j-core-}
	mvn -q -B -f "$tmp/pom.xml" org.apache.maven.plugins:maven-dependency-plugin:3.11.0:copy \
		"-Dartifact=org.apache.logging.log4j:log4j-slf4j-impl:${core%.jar}" "-DoutputDirectory=$lib" \
		>>"$(svc_log kafka)" 2>&1 ||
		{ rm -rf "$tmp" "$lib"; svc_fail kafka "could not fetch log4j-slf4j-impl ${core%.jar}"; return 1; }
	rm -rf "$tmp"
	touch "$lib/.complete"
	printf '%s\n' "$lib"
}

kafka_brokers() { printf '127.0.0.1:%s\n' "$(<"$(kafka_state port)")"; }

# A broker without $run/exports predates the secured listeners: it counts as
# stopped, so that start replaces it.
status_kafka() {
	[[ -f $(kafka_state port) && -f $(kafka_state rundir) ]] || return 1
	[[ -f $(<"$(kafka_state rundir)")/exports ]] || return 1
	svc_pid_alive "$(kafka_state pid)" && svc_port_busy "$(<"$(kafka_state port)")"
}

# kafka_pki makes, in folder $1, a test CA (ca.pem), the broker's key and
# certificate for 127.0.0.1 and localhost in one PEM file (broker.pem, a
# PEM keystore) and a client key and certificate (client.key, client.pem).
kafka_pki() {
	local d=$1
	mkdir -p "$d"
	openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 3650 \
		-subj "/CN=flowhose test CA" -keyout "$d/ca.key" -out "$d/ca.pem" || return 1
	kafka_issue "$d" broker "subjectAltName=IP:127.0.0.1,DNS:localhost
extendedKeyUsage=serverAuth" || return 1
	kafka_issue "$d" client "extendedKeyUsage=clientAuth" || return 1
	cat "$d/broker.key" "$d/broker.pem" >"$d/broker.keystore.pem"
	mv "$d/broker.keystore.pem" "$d/broker.pem"
	rm -f "$d/ca.key" "$d/broker.key" "$d"/*.csr
}

# kafka_issue makes key $1/$2.key (PKCS#8, as Kafka's PEM keystore wants)
# and certificate $1/$2.pem signed by $1/ca.pem, with extensions $3.
kafka_issue() {
	local d=$1 name=$2 ext=$3
	openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj "/CN=flowhose test $name" \
		-keyout "$d/$name.key" -out "$d/$name.csr" || return 1
	openssl x509 -req -days 3650 -in "$d/$name.csr" -CA "$d/ca.pem" -CAkey "$d/ca.key" \
		-set_serial "0x$(openssl rand -hex 8)" -extfile <(printf '%s\n' "$ext") -out "$d/$name.pem" || return 1
}

start_kafka() {
	if status_kafka; then
		kafka_export
		return 0
	fi
	stop_kafka

	local lib run port sport ssport tport mport cport java id user=flowhose pass l jaas scram
	: >"$(svc_log kafka)"
	lib=$(kafka_lib) || return 1
	java=$(kafka_java) || { svc_fail kafka "no Java found"; return 1; }
	port=$(svc_free_port "${FLOWHOSE_KAFKA_PORT:-9392}") || return 1
	sport=$(svc_free_port $((port + 1))) || return 1
	ssport=$(svc_free_port $((sport + 1))) || return 1
	tport=$(svc_free_port $((ssport + 1))) || return 1
	mport=$(svc_free_port $((tport + 1))) || return 1
	cport=$(svc_free_port $((port + 100))) || return 1
	run=$(mktemp -d "${TMPDIR:-/tmp}/flowhose-kafka.XXXXXX")
	printf '%s\n' "$run" >"$(kafka_state rundir)"
	printf '%s\n' "$port" >"$(kafka_state port)"
	kafka_pki "$run/tls" >>"$(svc_log kafka)" 2>&1 ||
		{ svc_fail kafka "could not make the test certificates"; return 1; }
	pass=$(openssl rand -hex 16)

	# Every SASL mechanism on both SASL listeners: PLAIN checks the users
	# of its JAAS line, SCRAM the credentials formatted into the metadata.
	jaas=
	for l in sasl_plaintext sasl_ssl; do
		jaas+="listener.name.$l.plain.sasl.jaas.config=org.apache.kafka.common.security.plain.PlainLoginModule required user_$user=\"$pass\";
listener.name.$l.scram-sha-256.sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required;
listener.name.$l.scram-sha-512.sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required;
"
	done

	# Single node: every internal topic with one replica, and no delay
	# before a new group's first rebalance (tests start consumers often).
	cat >"$run/server.properties" <<EOF
process.roles=broker,controller
node.id=1
controller.quorum.voters=1@127.0.0.1:$cport
listeners=PLAINTEXT://127.0.0.1:$port,SASL_PLAINTEXT://127.0.0.1:$sport,SASL_SSL://127.0.0.1:$ssport,SSL://127.0.0.1:$tport,MTLS://127.0.0.1:$mport,CONTROLLER://127.0.0.1:$cport
advertised.listeners=PLAINTEXT://127.0.0.1:$port,SASL_PLAINTEXT://127.0.0.1:$sport,SASL_SSL://127.0.0.1:$ssport,SSL://127.0.0.1:$tport,MTLS://127.0.0.1:$mport
controller.listener.names=CONTROLLER
listener.security.protocol.map=PLAINTEXT:PLAINTEXT,SASL_PLAINTEXT:SASL_PLAINTEXT,SASL_SSL:SASL_SSL,SSL:SSL,MTLS:SSL,CONTROLLER:PLAINTEXT
inter.broker.listener.name=PLAINTEXT
sasl.enabled.mechanisms=PLAIN,SCRAM-SHA-256,SCRAM-SHA-512
${jaas}ssl.keystore.type=PEM
ssl.keystore.location=$run/tls/broker.pem
ssl.truststore.type=PEM
ssl.truststore.location=$run/tls/ca.pem
listener.name.mtls.ssl.client.auth=required
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
	# WARN and up, the line that says the broker has started, and each
	# refused login or TLS handshake (which the broker logs at INFO).
	cat >"$run/log4j2.properties" <<EOF
appender.out.type=Console
appender.out.name=out
appender.out.layout.type=PatternLayout
appender.out.layout.pattern=[%d] %p %m (%c)%n
rootLogger.level=warn
rootLogger.appenderRef.out.ref=out
logger.started.name=kafka.server.KafkaRaftServer
logger.started.level=info
logger.auth.name=org.apache.kafka.common.network.Selector
logger.auth.level=info
EOF
	id=$("$java" -cp "$lib/*" kafka.tools.StorageTool random-uuid 2>>"$(svc_log kafka)") ||
		{ svc_fail kafka "could not make a cluster id"; return 1; }
	scram=()
	for l in SCRAM-SHA-256 SCRAM-SHA-512; do
		scram+=(--add-scram "$l=[name=$user,password=$pass]")
	done
	"$java" "-Dlog4j2.configurationFile=$run/log4j2.properties" -cp "$lib/*" kafka.tools.StorageTool \
		format -t "$id" -c "$run/server.properties" "${scram[@]}" \
		>>"$(svc_log kafka)" 2>&1 || { svc_fail kafka "could not format $run/data"; return 1; }
	cat >"$run/exports" <<EOF
FLOWHOSE_TEST_KAFKA_SASL_BROKERS 127.0.0.1:$sport
FLOWHOSE_TEST_KAFKA_SASL_SSL_BROKERS 127.0.0.1:$ssport
FLOWHOSE_TEST_KAFKA_SSL_BROKERS 127.0.0.1:$tport
FLOWHOSE_TEST_KAFKA_MTLS_BROKERS 127.0.0.1:$mport
FLOWHOSE_TEST_KAFKA_SASL_USERNAME $user
FLOWHOSE_TEST_KAFKA_SASL_PASSWORD $pass
FLOWHOSE_TEST_KAFKA_TLS_CA $run/tls/ca.pem
FLOWHOSE_TEST_KAFKA_TLS_CERT $run/tls/client.pem
FLOWHOSE_TEST_KAFKA_TLS_KEY $run/tls/client.key
EOF
	kafka_launch "$run"
}

# restart_kafka stops the broker and starts it again with the same ports and
# data, for tests of a real outage.
restart_kafka() {
	if [[ ! -f $(kafka_state rundir) || ! -f $(<"$(kafka_state rundir)")/exports ]]; then
		start_kafka
		return
	fi
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
		"-Dlog4j2.configurationFile=$run/log4j2.properties" \
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
	local var val
	svc_export kafka FLOWHOSE_TEST_KAFKA_BROKERS "$(kafka_brokers)"
	svc_export kafka FLOWHOSE_TEST_KAFKA_PIDFILE "$(kafka_state pid)"
	while read -r var val; do
		svc_export kafka "$var" "$val"
	done <"$(<"$(kafka_state rundir)")/exports"
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
