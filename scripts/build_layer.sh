#!/usr/bin/env bash
# Builds build/layer-<arch>.zip: the Lambda layer with the handlers' third-party libraries
# (pyproject.toml's [project].dependencies, at the versions uv.lock pins, minus boto3 and
# its helpers, which the Lambda runtime ships), as wheels for python3.12 on <arch>, with
# their bytecode compiled by python3.12 itself: /opt is read-only on Lambda, so a layer
# without bytecode makes every cold start compile Powertools and PyJWT again.
#   ./scripts/build_layer.sh [arm64|x86_64|host]   (default: $WSCHAT_ARCHITECTURE, else arm64)
# `host`: this machine's architecture, the layer the local stack runs (serverless.yml's
# custom.local.layers; `python -m infra` runs this first, as custom.local.build says).
# Skips the build when nothing it depends on changed (build/layer-<arch>.stamp).
set -euo pipefail
cd "$(dirname "$0")/.."

ARCH=${1:-${WSCHAT_ARCHITECTURE:-arm64}}
if [[ $ARCH == host ]]; then
  case $(uname -m) in
    x86_64 | amd64) ARCH=x86_64 ;;
    aarch64 | arm64) ARCH=arm64 ;;
    *) echo "layer: Lambda has no architecture for this machine ($(uname -m))" >&2; exit 2 ;;
  esac
fi
case $ARCH in
  arm64) PLATFORM=aarch64-manylinux2014 ;;
  x86_64) PLATFORM=x86_64-manylinux2014 ;;
  *) echo "layer: unknown architecture '$ARCH' (arm64 or x86_64)" >&2; exit 2 ;;
esac
UV=.venv/bin/uv
if [[ ! -x $UV ]] && ! UV=$(command -v uv); then
  echo "layer: uv is needed (make lint installs it into .venv)" >&2
  exit 1
fi
OUT=build/layer-$ARCH.zip
STAMP=build/layer-$ARCH.stamp
WORK=build/layer-$ARCH
REQS=build/layer-requirements.txt
# In the python3.12 runtime already; a second copy would only grow the layer and shadow it.
RUNTIME_PROVIDED='^(boto3|botocore|s3transfer|jmespath|urllib3|python-dateutil|six)=='

# The Lambda runtime's interpreter compiles the bytecode: a .pyc carries its Python
# version's magic number, and 3.12 ignores (and cannot write) one made by another.
if ! PY312=$(./scripts/find_python.sh 3.12); then
  echo "layer: python3.12 is needed: it compiles the layer's bytecode for the python3.12" \
    "Lambda runtime (pyenv install 3.12, or your distribution's python3.12)" >&2
  exit 1
fi

mkdir -p build
# One build at a time per checkout (`make test`'s packaging and a local stack's start
# may both ask); the second then finds the layer up to date.
exec 8>build/.layer.lock
flock 8
# The pinned set, straight from the lock: the versions every test ran against.
"$UV" export --quiet --frozen --no-dev --no-emit-project --no-hashes --no-header \
  --no-annotate --format requirements-txt | grep -Ev "$RUNTIME_PROVIDED" >"$REQS"

inputs_hash=$({ echo "$ARCH"; "$PY312" -VV; cat "$REQS" "$0"; } | sha256sum | cut -d' ' -f1)
if [[ -f $OUT && -f $STAMP && "$(cat "$STAMP")" == "$inputs_hash" ]]; then
  echo "layer: up to date, not rebuilt ($OUT, $(du -h "$OUT" | cut -f1))"
  exit 0
fi

echo "layer: building $OUT for python3.12/$ARCH from uv.lock:"
sed 's/^/layer:   /' "$REQS"
rm -rf "$WORK" "$OUT" "$STAMP"
# --no-deps: the list is the whole closure already (less what the runtime provides).
if ! "$UV" pip install --quiet --no-deps --only-binary :all: --python-version 3.12 \
  --python-platform "$PLATFORM" --target "$WORK/python" -r "$REQS" >build/layer-pip.log 2>&1; then
  cat build/layer-pip.log >&2
  echo "layer: install FAILED (log above, also in build/layer-pip.log)" >&2
  exit 1
fi
# Console scripts are of no use in a layer, and their shebang names this machine's
# Python (which would make the zip differ from one checkout to the next).
rm -rf "$WORK/python/bin"
sed -i '/^\.\.\/\.\.\/bin\//d' "$WORK"/python/*.dist-info/RECORD
find "$WORK" -name __pycache__ -type d -prune -exec rm -rf {} +

# unchecked-hash: the .pyc is used without looking at the source's timestamp, which a
# zip does not keep reliably (PEP 552); -d names /opt/python in tracebacks.
if ! "$PY312" -m compileall -q -j 0 --invalidation-mode unchecked-hash -d /opt/python \
  "$WORK/python" >build/layer-compile.log 2>&1; then
  cat build/layer-compile.log >&2
  echo "layer: python3.12 could not compile every module (log above)" >&2
  exit 1
fi

# A reproducible zip (sorted entries, fixed timestamps): an unchanged layer keeps its
# hash, so a redeploy publishes no new layer version.
"$PY312" - "$WORK" "$OUT" <<'EOF'
import os
import sys
import zipfile

root, out = sys.argv[1], sys.argv[2]
paths = []
for folder, dirs, files in os.walk(root):
    dirs.sort()
    paths.extend(os.path.join(folder, name) for name in sorted(files))
with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED, compresslevel=6) as zf:
    for path in paths:
        info = zipfile.ZipInfo(os.path.relpath(path, root), date_time=(1980, 1, 1, 0, 0, 0))
        mode = 0o755 if os.access(path, os.X_OK) else 0o644
        info.external_attr = (0o100000 | mode) << 16
        info.compress_type = zipfile.ZIP_DEFLATED
        with open(path, "rb") as f:
            zf.writestr(info, f.read())
EOF
echo "$inputs_hash" >"$STAMP"
echo "layer: built $OUT ($(du -h "$OUT" | cut -f1) zipped, $(du -sh "$WORK" | cut -f1) unzipped)"
