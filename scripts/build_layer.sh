#!/usr/bin/env bash
# Builds build/layer.zip: the Lambda layer with the handlers' third-party libraries
# (pyproject.toml's [project].dependencies minus boto3, which the Lambda runtime ships),
# as wheels for python3.12 on x86_64, pinned to the versions installed in .venv so the
# layer holds what the tests ran against. Skips the build when nothing it depends on
# changed (build/layer.stamp records the inputs).
set -euo pipefail
cd "$(dirname "$0")/.."

PY=.venv/bin/python
OUT=build/layer.zip
STAMP=build/layer.stamp
WORK=build/layer
TARGET_ARGS=(--platform manylinux2014_x86_64 --implementation cp --python-version 3.12
  --abi cp312 --only-binary=:all:)
# In the python3.12 runtime already; a second copy would only grow the layer and shadow it.
RUNTIME_PROVIDED=(boto3 botocore s3transfer jmespath urllib3 dateutil six)

mkdir -p build

# The requirements, straight from pyproject.toml, so the ranges are declared once.
"$PY" - >build/layer-requirements.txt <<'EOF'
import re
import tomllib

with open("pyproject.toml", "rb") as f:
    deps = tomllib.load(f)["project"]["dependencies"]
for dep in deps:
    name = re.split(r"[\[<>=!~ ;]", dep, maxsplit=1)[0].lower()
    if name not in {"boto3", "botocore"}:
        print(dep)
EOF
# Constraints: the exact versions in .venv (transitive ones included).
.venv/bin/pip freeze --exclude-editable --disable-pip-version-check >build/layer-constraints.txt

# The layer depends on the requirements, this script, and the pinned versions of the
# distributions it holds (build/layer-dists.txt, from the last build): installing an
# unrelated tool into .venv does not force a rebuild, upgrading pydantic does.
normalize() { tr 'A-Z' 'a-z' | sed -E 's/[-_.]+/-/g'; }
pinned_layer_dists() {
  [[ -f build/layer-dists.txt ]] || return 0
  while IFS= read -r line; do
    name=$(printf '%s' "${line%%==*}" | normalize)
    if grep -qxF "$name" build/layer-dists.txt; then printf '%s\n' "$line"; fi
  done <build/layer-constraints.txt
}
inputs_hash=$({ cat build/layer-requirements.txt "$0"; pinned_layer_dists; } | sha256sum | cut -d' ' -f1)
if [[ -f $OUT && -f $STAMP && "$(cat "$STAMP")" == "$inputs_hash" ]]; then
  echo "layer: up to date, not rebuilt ($OUT, $(du -h "$OUT" | cut -f1))"
  exit 0
fi

echo "layer: building $OUT for python3.12/x86_64 from:"
sed 's/^/layer:   /' build/layer-requirements.txt
rm -rf "$WORK" "$OUT" "$STAMP"
if ! .venv/bin/pip install --quiet --disable-pip-version-check --no-compile \
  "${TARGET_ARGS[@]}" --target "$WORK/python" \
  -r build/layer-requirements.txt -c build/layer-constraints.txt >build/layer-pip.log 2>&1; then
  cat build/layer-pip.log >&2
  echo "layer: pip install FAILED (log above, also in build/layer-pip.log)" >&2
  exit 1
fi
find "$WORK/python" -maxdepth 1 -name '*.dist-info' -printf '%f\n' \
  | sed -E 's/-[^-]+\.dist-info$//' | normalize | sort >build/layer-dists.txt
for pkg in "${RUNTIME_PROVIDED[@]}"; do
  rm -rf "$WORK/python/$pkg" "$WORK/python/$pkg.py" "$WORK/python/$pkg"-*.dist-info \
    "$WORK/python/python_$pkg"-*.dist-info
done
# Console scripts are of no use in a layer, and their shebang names this machine's
# Python (which would make the zip differ from one checkout to the next).
rm -rf "$WORK/python/bin"
sed -i '/^\.\.\/\.\.\/bin\//d' "$WORK"/python/*.dist-info/RECORD
find "$WORK" -name __pycache__ -type d -prune -exec rm -rf {} +

# A reproducible zip (sorted entries, fixed timestamps): an unchanged layer keeps its
# hash, so a redeploy publishes no new layer version.
"$PY" - "$WORK" "$OUT" <<'EOF'
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
# Recompute now that build/layer-dists.txt names what the layer holds.
inputs_hash=$({ cat build/layer-requirements.txt "$0"; pinned_layer_dists; } | sha256sum | cut -d' ' -f1)
echo "$inputs_hash" >"$STAMP"
echo "layer: built $OUT ($(du -h "$OUT" | cut -f1) zipped, $(du -sh "$WORK" | cut -f1) unzipped)"
