#!/usr/bin/env bash
# agent.sh: load-test the real edge-agent daemon. It starts edge-sandbox with
# one seeded device, bootstraps it, runs `edge-agent run` with the unix socket
# and loopback TCP on, then hands the agent's PID to bench/load.sh, which
# reports req/s, p50, p99 and RSS at idle and under load. Everything lives in
# a temporary folder and is stopped by PID at the end.
#
#   make build && go build -o bin/loadgen ./bench/loadgen
#   bench/agent.sh [--clients 64] [--duration 10]
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
bin=$root/bin
work=$(mktemp -d "${TMPDIR:-/tmp}/edge-agent-bench.XXXXXX")
pids=()
cleanup() {
	for pid in "${pids[@]}"; do kill -TERM "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; done
	rm -rf "$work"
}
trap cleanup EXIT

wait_for() {
	local deadline=$((SECONDS + 20))
	until "$@" >/dev/null 2>&1; do
		[ "$SECONDS" -lt "$deadline" ] || { echo "agent.sh: timed out: $*" >&2; return 1; }
		sleep 0.1
	done
}

for v in $(env | grep -o '^AWS_[A-Z0-9_]*' || true); do unset "$v"; done

"$bin/edge-sandbox" --dir "$work/sb" --seed-device bench-1 --role-alias bench-alias \
	--bucket bench-bucket >"$work/sandbox.log" 2>&1 &
pids+=($!)
wait_for test -s "$work/sb/endpoints.env"
# shellcheck disable=SC1091
. "$work/sb/endpoints.env"

"$bin/edge-agent" bootstrap --from-dir "$EDGE_SANDBOX_DEVICE_DIR" --identity-dir "$work/identity" \
	--config "$work/config.yaml" --owner root >/dev/null

port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
EDGE_AGENT_CONFIG=$work/config.yaml EDGE_AGENT_CACHE_FILE=$work/cache.json \
	EDGE_AGENT_SOCKET_PATH=$work/run/agent.sock EDGE_AGENT_TCP_PORT=$port \
	EDGE_AGENT_TCP_TOKEN_FILE=$work/run/token EDGE_AGENT_LOG_LEVEL=warn \
	"$bin/edge-agent" run >"$work/agent.log" 2>&1 &
agent=$!
pids+=($agent)
wait_for "$bin/edge-agent" status --socket "$work/run/agent.sock"

"$root/bench/load.sh" --pid "$agent" --socket "$work/run/agent.sock" \
	--url "http://127.0.0.1:$port" --token-file "$work/run/token" "$@"
