#!/usr/bin/env bash
# Prints the path of a working interpreter for Python X.Y, or fails saying where it looked.
#   ./scripts/find_python.sh 3.12
# `pythonX.Y` on PATH first; else pyenv's newest X.Y.* (its shim answers "command not
# found" unless that version is selected, as on these machines where only 3.11 is global).
set -euo pipefail
VERSION=${1:?usage: find_python.sh X.Y}
if command -v "python$VERSION" >/dev/null && "python$VERSION" -c '' 2>/dev/null; then
  "python$VERSION" -c 'import sys; print(sys.executable)'
  exit 0
fi
if command -v pyenv >/dev/null; then
  root=$(pyenv root)
  for dir in $(ls -d "$root"/versions/"$VERSION".* 2>/dev/null | sort -V -r); do
    if [[ -x $dir/bin/python$VERSION ]] && "$dir/bin/python$VERSION" -c '' 2>/dev/null; then
      echo "$dir/bin/python$VERSION"
      exit 0
    fi
  done
fi
echo "python$VERSION not found (not on PATH, not in pyenv's versions)" >&2
exit 1
