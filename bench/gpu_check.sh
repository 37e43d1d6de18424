#!/usr/bin/env bash
# The device check: every GPU figure of bench/RESULTS.md in one command, < 8 minutes on one H100/H200.
#
#   bash bench/gpu_check.sh                       # CUDA device 0; writes bench/gpu_check.json (+ markdown on stdout)
#   bash bench/gpu_check.sh --device cpu --quick  # the CPU dry run (a couple of minutes)
#   bash bench/gpu_check.sh --json out.json --skip tests
#
# Needs no network. Python: the project's .venv when there is one; otherwise the python3 on PATH, which must
# have torch, torchvision, numpy, scipy, h5py, typer, pillow, tqdm, matplotlib and numba (a stock CUDA PyTorch
# environment); the project itself is then installed editable with --no-deps --no-build-isolation.
# pytest is optional (without it the gpu_path tests are reported as not run).
# Render the JSON again later with: python bench/gpu_results_md.py bench/gpu_check.json
set -euo pipefail
cd "$(dirname "$0")/.."
if [ -x .venv/bin/python ]; then
  PY=.venv/bin/python
else
  PY=${PYTHON:-python3}
fi
missing=$("$PY" - <<'PYEOF'
import importlib.util as u
need = ["torch", "torchvision", "numpy", "scipy", "h5py", "typer", "PIL", "tqdm", "matplotlib", "numba"]
print(" ".join(m for m in need if u.find_spec(m) is None))
PYEOF
)
if [ -n "$missing" ]; then
  echo "error: $PY lacks: $missing (use a CUDA PyTorch environment with them, or the project's .venv)" >&2
  exit 2
fi
if ! "$PY" -c "import noisebench.harness.runner" 2>/dev/null; then
  echo "installing the project (editable, --no-deps) into $PY's environment"
  "$PY" -m pip install -q --no-deps --no-build-isolation -e . || {
    echo "error: could not install the project with --no-deps (is setuptools >= 77 present?)" >&2; exit 2; }
fi
export TQDM_DISABLE=1
exec "$PY" bench/gpu_check.py "$@"
