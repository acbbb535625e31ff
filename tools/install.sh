#!/usr/bin/env bash
# Set up mmtada in a virtual environment (default: ./.venv) on x86_64 Linux, Python 3.11.
#
#   bash tools/install.sh            # CPU: torch 2.13.0 CPU wheel + mmcv 2.1.0 built with its ops
#   VENV=/path/to/env bash tools/install.sh
#   TORCH_SPEC=skip bash tools/install.sh   # keep the torch already installed in $VENV (GPU users)
#
# mmcv is source-only on PyPI for current torch: it is compiled once (~13 min on 2 cores) and pip
# caches the wheel, so a second install takes about a minute. The build must see the installed
# torch (--no-build-isolation); otherwise pip makes an mmcv with *no* ops and caches it.
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
VENV=${VENV:-$here/.venv}
PY=${PYTHON:-python3.11}
TORCH_SPEC=${TORCH_SPEC:-torch==2.13.0}

[ -x "$VENV/bin/python" ] || "$PY" -m venv "$VENV"
pip="$VENV/bin/python -m pip"
$pip install -q --upgrade "pip==25.3" "setuptools==80.10.2" wheel
if [ "$TORCH_SPEC" != skip ]; then
  $pip install -q "$TORCH_SPEC" "torchvision==0.28.0"
fi
# mmcv with compiled ops, built against the torch above. FORCE_CUDA follows torch.
cuda=$($VENV/bin/python -c "import torch; print(int(torch.cuda.is_available() or torch.version.cuda is not None))")
MMCV_WITH_OPS=1 FORCE_CUDA=$cuda MAX_JOBS=${MAX_JOBS:-2} \
  $pip install --no-build-isolation "mmcv==2.1.0"
if ! $VENV/bin/python -c "from mmcv.ops import nms, RoIAlign" 2>/dev/null; then
  echo "mmcv was installed without its compiled ops (a cached pure-Python wheel?)." >&2
  echo "Fix: $pip cache remove mmcv && bash tools/install.sh" >&2
  exit 1
fi
$pip install -q -r "$here/requirements/runtime.txt" -r "$here/requirements/det.txt" \
  -r "$here/requirements/diffusion.txt" -r "$here/requirements/tests.txt"
$pip install -q --no-build-isolation --no-deps -e "$here"
$VENV/bin/python -c "import mmtada, mmdet, mmpretrain, diffusers; print('mmtada', mmtada.__version__, 'ready')"
