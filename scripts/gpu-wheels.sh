#!/usr/bin/env bash
# Fill WHEEL_DIR (default .whl/) with what scripts/validate-gpu.sh installs on an offline GPU
# machine: an optimlint wheel built from this checkout and libcst for that machine's Python
# (default 3.12, x86-64 Linux). Run where pip can reach the package registry.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
wheels=${1:-$root/.whl}
pyver=${GPU_PYTHON_VERSION:-3.12}
mkdir -p "$wheels"
rm -f "$wheels"/optimlint-*.whl
python -m pip wheel -q --no-deps -w "$wheels" "$root"
python -m pip download -q --no-deps --only-binary=:all: --python-version "$pyver" --implementation cp \
  --platform manylinux_2_28_x86_64 --platform manylinux_2_17_x86_64 --platform manylinux2014_x86_64 \
  -d "$wheels" "libcst==$(python -c 'import importlib.metadata as m; print(m.version("libcst"))')"
ls -1 "$wheels"
