#!/usr/bin/env bash
# Packages serverless.yml for a stage with osls, offline (no AWS account, no network to
# AWS), then checks the generated CloudFormation template with cfn-lint and checkov.
#   ./scripts/package.sh [stage]      (default: dev; FORCE=1 repackages regardless)
# WSCHAT_ARCHITECTURE=x86_64 packages for x86_64 instead of arm64 (serverless.yml reads
# it too); PACKAGE_DIR=dir writes somewhere other than .serverless; CHECKOV=0 skips
# checkov (the artifact tier's second packaging: same template, other architecture).
# Output: $PACKAGE_DIR/cloudformation-template-update-stack.json and the zips beside it.
# When nothing that goes into the package changed since the last clean run, it says so
# and stops there ($PACKAGE_DIR/.inputs.sha256 records those inputs).
set -euo pipefail
cd "$(dirname "$0")/.."
STAGE=${1:-dev}
export WSCHAT_ARCHITECTURE=${WSCHAT_ARCHITECTURE:-arm64}
PACKAGE_DIR=${PACKAGE_DIR:-.serverless}
TEMPLATE=$PACKAGE_DIR/cloudformation-template-update-stack.json

# Several `make test` runs may share a checkout: one packaging at a time.
mkdir -p build
exec 9>build/.package.lock
flock 9

now_ms() { echo $(($(date +%s%N) / 1000000)); }
since() { local ms=$(($(now_ms) - $1)); printf '%d.%ds' $((ms / 1000)) $((ms % 1000 / 100)); }
started=$(now_ms)

./scripts/build_layer.sh "$WSCHAT_ARCHITECTURE"

# Everything the template and the zips are made from.
STAMP=$PACKAGE_DIR/.inputs.sha256
inputs=$({
  echo "stage=$STAGE region=${AWS_REGION:-us-east-1} architecture=$WSCHAT_ARCHITECTURE checkov=${CHECKOV:-1}"
  env | grep -E '^CHAT_JWKS_URL=|^CHAT_JWT_ISSUER=|^CHAT_JWT_AUDIENCE=|^WSCHAT_ALARM_EMAIL=' | sort || true
  cat serverless.yml package-lock.json "$0" .checkov.yaml scripts/checkov-requirements.txt \
    scripts/zip_bytecode.py \
    "build/layer-$WSCHAT_ARCHITECTURE.stamp"
  find handlers -type f ! -path '*/__pycache__/*' ! -name '*.pyc' -print0 | sort -z | xargs -0 sha256sum
} | sha256sum | cut -d' ' -f1)
if [[ -z ${FORCE:-} && -f $TEMPLATE && -f $STAMP && "$(cat "$STAMP")" == "$inputs" ]] &&
  compgen -G "$PACKAGE_DIR/*.zip" >/dev/null; then
  touch "$TEMPLATE"  # checked against the current serverless.yml just now
  echo "package: up to date for stage '$STAGE', not repackaged ($TEMPLATE; FORCE=1 to redo)"
  exit 0
fi

# osls caches under $HOME/.serverless; keep that inside the checkout. Dummy credentials:
# packaging never calls AWS, and this guarantees it cannot reach a real account.
export HOME="$PWD/.home"
export SLS_TELEMETRY_DISABLED=1 SLS_NOTIFICATIONS_MODE=off
export AWS_ACCESS_KEY_ID=packaging-only AWS_SECRET_ACCESS_KEY=packaging-only
export AWS_REGION=${AWS_REGION:-us-east-1}
unset AWS_PROFILE AWS_SESSION_TOKEN
mkdir -p "$HOME"

# With a layer, `osls package` asks CloudFormation for the deployed stack (to reuse an
# unchanged layer upload). Offline, moto answers instead: no such stack, so nothing to
# reuse, which is what packaging wants.
MOTO_URL_FILE=$(mktemp)
.venv/bin/python - "$MOTO_URL_FILE" <<'EOF_PY' &
import logging
import signal
import sys

from moto.server import ThreadedMotoServer

logging.getLogger("werkzeug").setLevel(logging.ERROR)
server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
server.start()
host, port = server.get_host_and_port()
with open(sys.argv[1], "w") as f:
    f.write(f"http://{host}:{port}\n")
signal.sigwait({signal.SIGTERM, signal.SIGINT})
EOF_PY
moto_pid=$!
trap 'kill "$moto_pid" 2>/dev/null; rm -f "$MOTO_URL_FILE"' EXIT
for _ in $(seq 300); do  # up to 30 s for moto to listen
  [[ -s $MOTO_URL_FILE ]] && break
  kill -0 "$moto_pid" 2>/dev/null || { echo "package: moto failed to start" >&2; exit 1; }
  sleep 0.1
done
[[ -s $MOTO_URL_FILE ]] || { echo "package: moto did not start in 30 s" >&2; exit 1; }
export AWS_ENDPOINT_URL_CLOUDFORMATION
AWS_ENDPOINT_URL_CLOUDFORMATION=$(cat "$MOTO_URL_FILE")
# The SDK's note that future releases need a newer Node is not about this build.
export NODE_NO_WARNINGS=1

# osls packages in .serverless/ whatever --package says, deleting what is there first:
# packaging elsewhere keeps the default package aside meanwhile.
KEPT=build/.serverless-kept
restore_default_package() {
  if [[ -d $KEPT ]]; then rm -rf .serverless && mv "$KEPT" .serverless; fi
}
if [[ $PACKAGE_DIR != .serverless && -d .serverless ]]; then
  rm -rf "$KEPT" && mv .serverless "$KEPT"
  trap 'kill "$moto_pid" 2>/dev/null; rm -f "$MOTO_URL_FILE"; restore_default_package' EXIT
fi

echo "osls: packaging stage '$STAGE'"
step=$(now_ms)
if ! log=$(node_modules/.bin/osls package --stage "$STAGE" --region "$AWS_REGION" --package "$PACKAGE_DIR" 2>&1); then
  echo "$log"
  echo "osls: packaging FAILED" >&2
  exit 1
fi
restore_default_package
echo "osls: wrote $TEMPLATE and $(find "$PACKAGE_DIR" -maxdepth 1 -name '*.zip' | wc -l) zip(s) ($(since "$step"))"
# The function zip's own modules, compiled by the runtime's interpreter (as the layer's).
PY312=$(./scripts/find_python.sh 3.12)
for zip in "$PACKAGE_DIR"/*.zip; do "$PY312" scripts/zip_bytecode.py "$zip"; done

echo "cfn-lint: checking $TEMPLATE"
# W3005 (redundant DependsOn) is emitted for the framework's own resources.
step=$(now_ms)
.venv/bin/cfn-lint --ignore-checks W3005 -- "$TEMPLATE"
echo "cfn-lint: clean ($(since "$step"))"

# checkov (a security scanner for templates) in a venv of its own: it pins a boto3 that
# the project's own ranges exclude. Its version and every dependency's are pinned with
# hashes in scripts/checkov-requirements.txt (`make lock`); each check it skips is
# justified in .checkov.yaml.
if [[ ${CHECKOV:-1} != 0 ]]; then
  CHECKOV_VENV=build/checkov-venv
  if [[ ! -x $CHECKOV_VENV/bin/checkov ||
    scripts/checkov-requirements.txt -nt $CHECKOV_VENV/bin/checkov ]]; then
    .venv/bin/uv venv --quiet --allow-existing --python python3 "$CHECKOV_VENV"
    .venv/bin/uv pip sync --quiet --python "$CHECKOV_VENV/bin/python" \
      scripts/checkov-requirements.txt
    touch "$CHECKOV_VENV/bin/checkov"
  fi
  # checkov leaves out resources whose Condition is false under the parameters'
  # defaults: the scanned copy turns the optional web hosting on, so it is checked too.
  SCANNED=build/checkov-template.json
  .venv/bin/python - "$TEMPLATE" "$SCANNED" <<'EOF_PY'
import json
import sys

template = json.load(open(sys.argv[1]))
template["Parameters"]["WebHosting"]["Default"] = "true"
json.dump(template, open(sys.argv[2], "w"), indent=1)
EOF_PY
  echo "checkov: checking $TEMPLATE (web hosting on)"
  step=$(now_ms)
  if ! "$CHECKOV_VENV/bin/checkov" --config-file .checkov.yaml --file "$SCANNED" \
    >build/checkov.log 2>&1; then
    cat build/checkov.log
    echo "checkov: FAILED (above; a justified skip goes in .checkov.yaml)" >&2
    exit 1
  fi
  echo "checkov: clean, $(grep -Eo 'Passed checks: [0-9]+' build/checkov.log | head -1)," \
    "$(grep -cE "^  - CKV" .checkov.yaml) checks skipped as .checkov.yaml justifies ($(since "$step"))"
fi
echo "$inputs" >"$STAMP"
echo "package: OK (stage '$STAGE', $(since "$started"))"
