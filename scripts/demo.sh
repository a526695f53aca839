#!/usr/bin/env bash
# The whole edge-agent flow against the local sandbox: the operator's cloud
# setup, the device's bootstrap, the daemon, and three unmodified consumers.
# Everything lives in a temporary folder; everything started is stopped by PID.
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
bin=$root/bin
work=$(mktemp -d "${TMPDIR:-/tmp}/edge-agent-demo.XXXXXX")
pids=()

cleanup() {
	local rc=$?
	for pid in "${pids[@]}"; do
		kill -TERM "$pid" 2>/dev/null || true
		wait "$pid" 2>/dev/null || true
	done
	if [ "$rc" -ne 0 ]; then
		echo "demo FAILED (exit $rc); logs kept in $work" >&2
	else
		rm -rf "$work"
	fi
	exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

step() { printf '\n\033[1m== %s\033[0m\n' "$*"; }

# wait_for runs a command until it succeeds or the deadline (seconds) passes.
wait_for() {
	local what=$1 deadline=$((SECONDS + $2))
	shift 2
	until "$@" >/dev/null 2>&1; do
		if [ "$SECONDS" -ge "$deadline" ]; then
			echo "timed out waiting for $what" >&2
			return 1
		fi
		sleep 0.1
	done
}

# The demo measures the agent, not this machine's AWS settings.
for v in $(env | grep -o '^AWS_[A-Z0-9_]*' || true); do unset "$v"; done

fleet=demo-fleet
device=demo-device-1
bucket=demo-authorization-files
prefix=authorization-files/$device/

step "start edge-sandbox (S3, IoT, SageMaker, IAM, credentials provider)"
"$bin/edge-sandbox" --dir "$work/sandbox" --cred-duration 1h --require-sigv4 >"$work/sandbox.log" 2>&1 &
pids+=($!)
wait_for "the sandbox" 20 test -s "$work/sandbox/endpoints.env"
# shellcheck disable=SC1091
. "$work/sandbox/endpoints.env"
echo "credentials endpoint $EDGE_SANDBOX_CRED_ENDPOINT, S3 $EDGE_SANDBOX_S3_URL"

# The operator's cloud credentials: the sandbox accepts these static keys.
export AWS_ACCESS_KEY_ID=$EDGE_SANDBOX_ADMIN_ACCESS_KEY_ID
export AWS_SECRET_ACCESS_KEY=$EDGE_SANDBOX_ADMIN_SECRET_ACCESS_KEY
export AWS_REGION=$EDGE_SANDBOX_REGION
export AWS_ENDPOINT_URL_IOT=$EDGE_SANDBOX_CONTROL_URL
export AWS_ENDPOINT_URL_SAGEMAKER=$EDGE_SANDBOX_CONTROL_URL
export AWS_ENDPOINT_URL_IAM=$EDGE_SANDBOX_CONTROL_URL
export AWS_ENDPOINT_URL_S3=$EDGE_SANDBOX_S3_URL

step "operator: admin fleet create"
"$bin/edge-agent" admin fleet create --fleet "$fleet" \
	--role-arn "arn:aws:iam::123456789012:role/demo-edge-role" \
	--output "s3://$bucket/fleet-output" --state-dir "$work/admin"

step "operator: admin device provision"
"$bin/edge-agent" admin device provision --fleet "$fleet" --device "$device" \
	--bucket "$bucket" --root-ca "$work/sandbox/ca.pem" --state-dir "$work/admin"

step "device: bootstrap from s3://$bucket/$prefix"
"$bin/edge-agent" bootstrap --bucket "$bucket" --prefix "$prefix" \
	--endpoint-url "$EDGE_SANDBOX_S3_URL" --region "$EDGE_SANDBOX_REGION" \
	--identity-dir "$work/identity" --config "$work/config.yaml" --allow-custom-endpoint --verify
ls -l "$work/identity/"

# The device runs with no cloud credentials of its own.
unset AWS_ACCESS_KEY_ID AWS_SECRET_ACCESS_KEY AWS_ENDPOINT_URL_IOT \
	AWS_ENDPOINT_URL_SAGEMAKER AWS_ENDPOINT_URL_IAM AWS_ENDPOINT_URL_S3

step "device: edge-agent run"
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])' 2>/dev/null || echo 51080)
export EDGE_AGENT_CONFIG=$work/config.yaml
export EDGE_AGENT_IDENTITY_DIR=$work/identity
export EDGE_AGENT_CACHE_FILE=$work/cache.json
export EDGE_AGENT_SOCKET_PATH=$work/run/agent.sock
export EDGE_AGENT_SOCKET_ALLOWED_UIDS=$(id -u)
export EDGE_AGENT_TCP_PORT=$port
export EDGE_AGENT_TCP_TOKEN_FILE=$work/run/token
"$bin/edge-agent" run >"$work/agent.log" 2>&1 &
pids+=($!)
wait_for "the agent to serve credentials" 20 "$bin/edge-agent" status --socket "$work/run/agent.sock"
"$bin/edge-agent" status --socket "$work/run/agent.sock"

# Consumers 2 and 3 also list a bucket with what they got: the sandbox's S3
# checks each SigV4 signature against the credentials it issued (it checks
# signatures, not IAM policies, so any bucket will do).
step "consumer 1: GET /v1/credentials on the unix socket"
"$bin/democlient" -door socket -socket "$work/run/agent.sock"

step "consumer 2: the Go SDK's default chain via AWS_CONTAINER_CREDENTIALS_FULL_URI"
AWS_CONTAINER_CREDENTIALS_FULL_URI=http://127.0.0.1:$port/v1/credentials \
	AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE=$work/run/token AWS_REGION=$EDGE_SANDBOX_REGION \
	"$bin/democlient" -door sdk -bucket "$bucket" -s3 "$EDGE_SANDBOX_S3_URL"

step "consumer 3: the Go SDK with a credential_process profile"
cat >"$work/aws-config" <<EOF
[profile edge]
credential_process = $bin/edge-agent credential-process --socket $work/run/agent.sock
EOF
AWS_CONFIG_FILE=$work/aws-config AWS_SHARED_CREDENTIALS_FILE=/dev/null AWS_REGION=$EDGE_SANDBOX_REGION \
	"$bin/democlient" -door process -profile edge -bucket "$bucket" -s3 "$EDGE_SANDBOX_S3_URL"

step "demo finished: stopping everything it started"
