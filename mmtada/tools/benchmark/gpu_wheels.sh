#!/usr/bin/env bash
# Make .whl/: the Python 3.12 wheels that tools/benchmark/gpu_check.sh
# installs on the lent GPU machine, which has torch, torchvision,
# transformers, accelerate, peft, safetensors, numpy, opencv, matplotlib,
# rich, einops, pyyaml, regex, requests, click, markdown, zipp, ... but
# no package registry. Here, in the repository root, with pip and PyPI:
#
#   bash tools/benchmark/gpu_wheels.sh        # ~12 MiB, well under the 64 MiB
#                                             # the working tree may carry
#
# It fetches exactly what the machine lacks, at the versions this project
# pins (requirements/*.txt, tools/install.sh): mmengine, mmpretrain,
# mmcv-lite (classification needs no compiled op), diffusers, and those of
# their requirements the machine does not have (checked against its
# package list: addict, yapf, platformdirs, termcolor, mat4py, modelindex
# and model-index, ordered-set, importlib-metadata and lazy-importer;
# mmcv's and mmengine's opencv-python is the machine's
# opencv-python-headless), plus a wheel of mmtada built from this working
# tree; then it checks that every requirement of every wheel is carried or
# on the machine (ON_DEVICE below). All are pure Python. transformers is the machine's
# own (5.17 when last read, the project pins 5.24): mmtada's setup_env
# fixes apply to both. .whl/ is ignored through .git/info/exclude (added
# here if missing): it travels only when a run names it in carry.
set -euo pipefail
cd "$(dirname "$0")/../.."
PY=${PYTHON:-.venv/bin/python}
[ -x "$PY" ] || PY=python3

pin() {  # the project's pin of $1, e.g. mmengine==0.10.7
  local line
  line=$(grep -hiE "^$1==" requirements/*.txt | head -1)
  [ -n "$line" ] || { echo "no pin of $1 in requirements/*.txt" >&2; exit 1; }
  echo "$line"
}
MMCV_LITE=$(grep -oE 'mmcv-lite==[0-9.]+' tools/install.sh | head -1)
STACK=("$(pin mmengine)" "$(pin mmpretrain)" "$MMCV_LITE" "$(pin diffusers)")
# Their requirements the machine lacks, at the versions tested here.
DEPS=(addict==2.4.0 yapf==0.43.0 platformdirs==4.14.9 termcolor==3.3.0
      mat4py==0.6.0 modelindex==0.0.2 model-index==0.1.11
      ordered-set==4.1.0 importlib-metadata==10.2.0 lazy-importer==0.1.0)
# What the wheels need that the machine has (its package list, KINDS.md of
# the device tool, 2026-11-17); opencv-python: its opencv-python-headless.
ON_DEVICE='numpy matplotlib pyyaml rich packaging pillow einops filelock
  huggingface-hub regex requests safetensors zipp click markdown
  opencv-python scikit-learn scipy tqdm'

mkdir -p .git/info
grep -qxF '/.whl/' .git/info/exclude 2>/dev/null || echo '/.whl/' >>.git/info/exclude
rm -rf .whl
mkdir .whl
"$PY" -m pip download -q --no-deps --only-binary=:all: --python-version 3.12 \
  --implementation cp --platform manylinux_2_28_x86_64 \
  --platform manylinux_2_17_x86_64 --platform manylinux2014_x86_64 \
  -d .whl "${STACK[@]}" "${DEPS[@]}"

# mmtada from this working tree (tracked and untracked, not ignored files),
# built in a copy so that no build/ folder is left in the tree.
src=$(mktemp -d)
trap 'rm -rf "$src"' EXIT
git ls-files -co --exclude-standard -z | while IFS= read -r -d '' f; do
  [ -f "$f" ] && printf '%s\0' "$f"
done | tar --null -T - -cf - | tar -xf - -C "$src"
"$PY" -m pip wheel -q --no-deps --no-build-isolation -w .whl "$src"

# Every requirement (for Python 3.12 on Linux) carried or on the machine.
ON_DEVICE=$ON_DEVICE "$PY" - <<'EOF'
import glob, os, re, sys, zipfile
from packaging.requirements import Requirement
from packaging.markers import default_environment
env = dict(default_environment(), python_version='3.12',
           python_full_version='3.12.3', sys_platform='linux',
           platform_system='Linux', extra='')
norm = lambda n: re.sub(r'[-_.]+', '-', n).lower()
device = set(os.environ['ON_DEVICE'].split())
reqs = {}
for path in glob.glob('.whl/*.whl'):
    with zipfile.ZipFile(path) as z:
        meta = z.read(next(n for n in z.namelist()
                           if n.endswith('.dist-info/METADATA'))).decode()
    name = norm(re.search(r'^Name: *(.+)$', meta, re.M).group(1))
    reqs[name] = [Requirement(line.split(':', 1)[1]) for line in
                  meta.splitlines() if line.startswith('Requires-Dist:')]
missing = [f'{name} needs {r}' for name, rs in sorted(reqs.items())
           for r in rs if (not r.marker or r.marker.evaluate(env))
           and norm(r.name) not in reqs and norm(r.name) not in device]
if missing:
    sys.exit('neither carried nor on the machine:\n  ' + '\n  '.join(missing))
print(f'{len(reqs)} wheels; every requirement carried or on the machine')
EOF

echo "wheels for Python 3.12 in .whl/:"
ls -1 .whl
whl=$(du -cb .whl/*.whl | tail -1 | cut -f1)
tree=$(git ls-files -co --exclude-standard -z | xargs -0 du -cb 2>/dev/null |
       grep total$ | awk '{s += $1} END {print s}')
echo "carried: $((whl / 1024)) KiB; the working tree besides: $((tree / 1024)) KiB; limit 65536 KiB"
if [ $((whl + tree)) -ge $((64 * 1024 * 1024)) ]; then
  echo "over the 64 MiB a run may carry" >&2
  exit 1
fi
