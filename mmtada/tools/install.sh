#!/usr/bin/env bash
# Set up mmtada in a virtual environment (default: ./.venv) on x86_64 Linux, Python 3.11.
#
#   bash tools/install.sh          # classification + diffusion: mmcv-lite, no compile (~3 min)
#   bash tools/install.sh --det    # + detection: mmdet and mmcv built with its ops (~13 min the
#                                  #   first time, ~1 min after: pip caches the wheel); also
#                                  #   turns a light install into a full one, in place
#   VENV=/path/to/env bash tools/install.sh
#   TORCH_SPEC=skip bash tools/install.sh   # keep the torch already installed in $VENV (GPU users)
#
# Classification never uses a compiled mmcv op, so mmcv-lite (the same `mmcv` package without
# them) serves it. mmdet needs the ops; mmcv is source-only on PyPI for current torch, and the
# build must see the installed torch (--no-build-isolation), else pip makes an mmcv with *no*
# ops and caches it.
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
VENV=${VENV:-$here/.venv}
PY=${PYTHON:-python3.11}
TORCH_SPEC=${TORCH_SPEC:-torch==2.13.0}
DET=0
for arg in "$@"; do
  case "$arg" in
    --det) DET=1 ;;
    *) echo "usage: bash tools/install.sh [--det]" >&2; exit 2 ;;
  esac
done

[ -x "$VENV/bin/python" ] || "$PY" -m venv "$VENV"
py="$VENV/bin/python"
pip="$py -m pip"
$pip install -q --upgrade "pip==25.3" "setuptools==80.10.2" wheel
if [ "$TORCH_SPEC" != skip ]; then
  $pip install -q "$TORCH_SPEC" "torchvision==0.28.0"
fi
has_ops() { $py -c "from mmcv.ops import nms, RoIAlign" 2>/dev/null; }
if [ "$DET" = 1 ]; then
  if ! has_ops; then
    # A light install's mmcv-lite owns the same files: remove it first.
    $pip uninstall -q -y mmcv-lite mmcv 2>/dev/null || true
    cuda=$($py -c "import torch; print(int(torch.cuda.is_available() or torch.version.cuda is not None))")
    MMCV_WITH_OPS=1 FORCE_CUDA=$cuda MAX_JOBS=${MAX_JOBS:-2} \
      $pip install --no-build-isolation "mmcv==2.1.0"
  fi
  if ! has_ops; then
    echo "mmcv was installed without its compiled ops (a cached pure-Python wheel?)." >&2
    echo "Fix: $pip cache remove mmcv && bash tools/install.sh --det" >&2
    exit 1
  fi
  $pip install -q -r "$here/requirements/det.txt"
elif ! $py -c "import mmcv" 2>/dev/null; then
  $pip install -q "mmcv-lite==2.1.0"
fi
$pip install -q -r "$here/requirements/runtime.txt" \
  -r "$here/requirements/diffusion.txt" -r "$here/requirements/tests.txt"
$pip install -q --no-build-isolation --no-deps -e "$here"
if [ "$DET" = 1 ]; then
  $py -c "import mmtada, mmpretrain, mmdet, diffusers; print('mmtada', mmtada.__version__, 'ready (classification + detection)')"
else
  $py -c "import mmtada, mmpretrain, diffusers; print('mmtada', mmtada.__version__, 'ready (classification; detection: bash tools/install.sh --det)')"
fi
