#!/bin/sh
# load.sh: measure a running edge-agent's local API under load.
#
# It builds nothing: it drives an agent that is already running, with wrk
# (Debian package "wrk") over loopback TCP and with bench/loadgen over the
# unix socket (public HTTP load tools do not speak HTTP over a unix socket),
# and reads the agent's RSS from /proc/<pid>/status at idle and under load.
#
#   go build -o bin/loadgen ./bench/loadgen        # once
#   bench/load.sh --pid PID [--socket PATH] [--url http://127.0.0.1:51080]
#                 [--token-file FILE] [--clients 64] [--duration 10]
#
# Without --pid it asks systemd for edge-agent's main PID. Without --url the
# TCP run is skipped. The token is read from its file by wrk's Lua script and
# by loadgen, never put on a command line.
set -eu

PID=""
SOCKET=${EDGE_AGENT_SOCKET_PATH:-/run/edge-agent/agent.sock}
URL=""
TOKEN_FILE=/run/edge-agent/token
CLIENTS=64
DURATION=10
LOADGEN=${LOADGEN:-bin/loadgen}

while [ $# -gt 0 ]; do
	case $1 in
	--pid) PID=$2; shift 2 ;;
	--socket) SOCKET=$2; shift 2 ;;
	--url) URL=$2; shift 2 ;;
	--token-file) TOKEN_FILE=$2; shift 2 ;;
	--clients) CLIENTS=$2; shift 2 ;;
	--duration) DURATION=$2; shift 2 ;;
	*) echo "load.sh: unknown argument $1" >&2; exit 2 ;;
	esac
done

die() { echo "load.sh: $*" >&2; exit 1; }

[ -n "$PID" ] || PID=$(systemctl show -p MainPID --value edge-agent 2>/dev/null || true)
[ -n "$PID" ] && [ "$PID" != 0 ] && [ -r "/proc/$PID/status" ] ||
	die "no running agent: pass --pid PID"
[ -x "$LOADGEN" ] || die "$LOADGEN missing: go build -o bin/loadgen ./bench/loadgen (or set LOADGEN)"

rss_kb() { awk '/^VmRSS:/ {print $2}' "/proc/$PID/status"; }

# running PID: reports whether PID is alive (a child that exited stays a
# zombie until waited for, and kill -0 still succeeds on it).
running() {
	state=$(awk '/^State:/ {print $2}' "/proc/$1/status" 2>/dev/null || true)
	[ -n "$state" ] && [ "$state" != Z ]
}

# peak_rss_while PID_OF_LOAD: prints the highest VmRSS seen while it runs.
peak_rss_while() {
	peak=0
	while running "$1"; do
		r=$(rss_kb)
		[ "$r" -gt "$peak" ] && peak=$r
		sleep 0.2
	done
	echo "$peak"
}

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

echo "agent pid $PID, $CLIENTS clients, ${DURATION}s per run, $(nproc) cores"
echo "idle RSS: $(rss_kb) KiB"

echo "unix socket $SOCKET (bench/loadgen):"
"$LOADGEN" -unix "$SOCKET" -c "$CLIENTS" -d "${DURATION}s" >"$tmp/unix.out" &
load=$!
peak=$(peak_rss_while $load)
wait $load || die "unix load failed: $(cat "$tmp/unix.out")"
echo "  $(cat "$tmp/unix.out")"
echo "  peak RSS under load: $peak KiB"

if [ -n "$URL" ]; then
	echo "loopback TCP $URL (wrk):"
	if command -v wrk >/dev/null; then
		cat >"$tmp/auth.lua" <<-'LUA'
		local f = assert(io.open(os.getenv("TOKEN_FILE"), "rb"))
		wrk.headers["Authorization"] = f:read("*a")
		f:close()
		LUA
		TOKEN_FILE=$TOKEN_FILE wrk -t 2 -c "$CLIENTS" -d "${DURATION}s" --latency \
			-s "$tmp/auth.lua" "$URL/v1/credentials" >"$tmp/tcp.out" &
		load=$!
		peak=$(peak_rss_while $load)
		wait $load || die "wrk failed: $(cat "$tmp/tcp.out")"
		non2xx=$(awk '/Non-2xx/ {print $NF}' "$tmp/tcp.out")
		echo "  req/s $(awk '/^Requests\/sec/ {print $2}' "$tmp/tcp.out")" \
			" p50 $(awk '$1 == "50%" {print $2}' "$tmp/tcp.out")" \
			" p99 $(awk '$1 == "99%" {print $2}' "$tmp/tcp.out")" \
			" non-2xx ${non2xx:-0}"
	else
		echo "  (wrk not installed: apt-get install wrk; using bench/loadgen)"
		"$LOADGEN" -url "$URL" -token-file "$TOKEN_FILE" -c "$CLIENTS" -d "${DURATION}s" >"$tmp/tcp.out" &
		load=$!
		peak=$(peak_rss_while $load)
		wait $load || die "tcp load failed: $(cat "$tmp/tcp.out")"
		echo "  $(cat "$tmp/tcp.out")"
	fi
	echo "  peak RSS under load: $peak KiB"
fi

echo "idle RSS after load: $(rss_kb) KiB"
