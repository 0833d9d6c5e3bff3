#!/usr/bin/env bash
# The full validation on a GPU machine, offline: every fixture case on cpu and on cuda.
#
#   scripts/validate-gpu.sh OUT_DIR [WHEEL_DIR]
#
# Needs a python3 that already has torch (with CUDA). optimlint and the pure-Python packages it
# needs that are missing there (libcst) are installed from WHEEL_DIR (default .whl/, filled by
# scripts/gpu-wheels.sh on a machine with the package registry) into a scratch folder: no
# network. Writes OUT_DIR/validate-gpu.txt (the table) and OUT_DIR/validate-gpu.json (the
# report); exits 1 if a claim fails or the GPU is missing (a missing GPU is never a pass).
# Then runs the CUDA cases under `optimlint run` (OUT_DIR/watch-gpu.txt): each must be observed
# with its rule's code on the GPU, each fixed form must show nothing.
set -euo pipefail

out=${1:?usage: scripts/validate-gpu.sh OUT_DIR [WHEEL_DIR]}
root=$(cd "$(dirname "$0")/.." && pwd)
wheels=${2:-$root/.whl}
python=${PYTHON:-python3}
mkdir -p "$out"

site=$(mktemp -d)
if compgen -G "$wheels/*.whl" >/dev/null; then
  "$python" -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --target "$site" "$wheels"/*.whl
fi
export PYTHONPATH="$site${PYTHONPATH:+:$PYTHONPATH}"
export PYTHONUNBUFFERED=1

"$python" - <<'PY'
import click, libcst, torch, optimlint
print(f"optimlint {optimlint.__version__} from {optimlint.__file__}")
print(f"torch {torch.__version__}, CUDA available: {torch.cuda.is_available()}",
      f"({torch.cuda.get_device_name(0)})" if torch.cuda.is_available() else "")
PY

set +e
"$python" -m optimlint validate "$root/fixtures" --device cpu --device cuda --require-device \
  --jobs "${JOBS:-8}" --report "$out/validate-gpu.json" > "$out/validate-gpu.txt"
rc=$?
set -e
cat "$out/validate-gpu.txt"
echo "optimlint validate exited $rc"

# the same cases under `optimlint run` on the GPU: the CUDA-only bugs observed, the fixed forms quiet
set +e
"$python" -m optimlint.validate.watching "$root/fixtures" --device cuda --only-device-claims \
  --jobs "${JOBS:-8}" > "$out/watch-gpu.txt"
watch_rc=$?
set -e
cat "$out/watch-gpu.txt"
echo "optimlint run on the CUDA cases exited $watch_rc"
[ "$rc" -ne 0 ] && exit "$rc"
exit $watch_rc
