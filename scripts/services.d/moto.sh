# shellcheck shell=bash
# moto's server mode on loopback: an independent emulation of the AWS APIs
# (EC2 Describe* for enrichment, and more), installed from PyPI into a venv
# in the download cache.
#
# Knobs (environment):
#   FLOWHOSE_MOTO_VERSION   moto version to install (default 5.2.5)
#   FLOWHOSE_MOTO_PORT      preferred port (default 5050; the next free one is used if taken)
#   FLOWHOSE_MOTO_PYTHON    Python 3 used to create the venv (default python3)
#
# Exports FLOWHOSE_TEST_MOTO_URL.

moto_version() { printf '%s\n' "${FLOWHOSE_MOTO_VERSION:-5.2.5}"; }
moto_state() { printf '%s/moto.%s\n' "$(svc_dir)" "$1"; }

# moto_venv prints a venv holding moto_server, creating it first if needed.
moto_venv() {
	local v venv
	v=$(moto_version)
	venv=$(svc_cache)/moto-$v
	if [[ -x $venv/bin/moto_server ]]; then
		printf '%s\n' "$venv"
		return
	fi
	echo "services: moto: installing $v" >&2
	rm -rf "$venv"
	"${FLOWHOSE_MOTO_PYTHON:-python3}" -m venv "$venv" >>"$(svc_log moto)" 2>&1 ||
		{ svc_fail moto "could not create a venv in $venv"; return 1; }
	"$venv/bin/pip" install -q "moto[server]==$v" >>"$(svc_log moto)" 2>&1 ||
		{ rm -rf "$venv"; svc_fail moto "pip could not install moto $v"; return 1; }
	printf '%s\n' "$venv"
}

moto_url() { printf 'http://127.0.0.1:%s\n' "$(<"$(moto_state port)")"; }

status_moto() {
	[[ -f $(moto_state port) ]] || return 1
	svc_pid_alive "$(moto_state pid)" && curl -fsS -o /dev/null --max-time 5 "$(moto_url)/moto-api/data.json"
}

start_moto() {
	if status_moto; then
		svc_export moto FLOWHOSE_TEST_MOTO_URL "$(moto_url)"
		return 0
	fi
	stop_moto

	local venv port log
	log=$(svc_log moto)
	: >"$log"
	venv=$(moto_venv) || return 1
	port=$(svc_free_port "${FLOWHOSE_MOTO_PORT:-5050}") || return 1
	printf '%s\n' "$port" >"$(moto_state port)"
	# setsid detaches it from the dispatcher's process group, so it outlives
	# `scripts/services start`.
	setsid "$venv/bin/moto_server" -H 127.0.0.1 -p "$port" >>"$log" 2>&1 </dev/null &
	printf '%s\n' "$!" >"$(moto_state pid)"

	svc_wait_http moto "http://127.0.0.1:$port/moto-api/data.json" ||
		{ svc_fail moto "not healthy"; return 1; }
	svc_export moto FLOWHOSE_TEST_MOTO_URL "http://127.0.0.1:$port"
}

stop_moto() {
	svc_kill "$(moto_state pid)"
	rm -f "$(moto_state pid)" "$(moto_state port)"
}
