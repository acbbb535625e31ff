#!/usr/bin/env bash
# The prepared GPU check (issue 26): what a session lent a GPU runs first.
# From the repository root, in about 5 minutes and at most 8 (each part has
# its own time limit, so a hang costs that part alone):
#
#   setup          install the carried wheels (.whl/, made by
#                  tools/benchmark/gpu_wheels.sh) into /tmp/site; record the
#                  machine and the stack (setup_env(), as every tool calls it)
#   generation     tools/benchmark/generation.py --arch real on CUDA:
#                  LatentSDEdit vs diffusers img2img (SD-1.5 architecture,
#                  random weights, 512px, 50 steps, strength 0.5, batch 32,
#                  guidance 7.5 and 1) and PixelSDEdit vs a plain DDIM loop
#                  (ddpm-cifar10-32 architecture, 100 steps, strength 0.5,
#                  batch 1024): img/s and ratios
#   hook_overhead  tools/benchmark/hook_overhead.py: mmpretrain's ResNet-50
#                  CIFAR-100 recipe (configs/tada_resnet50_cifar100.py) with
#                  --amp on CIFAR-100 files of random images, step time
#                  without / with LearningLagHook, interleaved in one run
#   train_e2e      tools/train.py on the same recipe and files with --amp:
#                  selection at epoch 1, variants from a tiny PixelSDEdit on
#                  CUDA, a second epoch on them
#   finetune       tools/benchmark/finetune_speed.py --size sd15: the
#                  adaptation step (tools/finetune_diffusion.py's) with LoRA
#                  rank 4 on the SD-1.5 architecture at 512px, batch 4,
#                  bf16 autocast: steps/s and peak CUDA memory
#   gpu_tests      pytest -m gpu (tests/test_gpu.py: CUDA/fp16/bf16 paths)
#
# Each part writes its log (and JSON) under $OUT: setup.log, generation.log,
# generation.json, training.log, training.json, finetune.log,
# finetune.json, gpu_tests.log, gpu_tests.json, summary.json (10 files).
# The last lines printed are one table: part, status, seconds, key
# figures. Parts run after an earlier one failed; the exit status is 1 if
# any part is not ok.
#
# On the device (see README "GPU check"): run(command="bash
# tools/benchmark/gpu_check.sh", carry=[".whl"], timeout_s=600).
# Dry run on the CPU (tiny sizes, no wheels; tests/test_tools_gpu_check.py):
#   MMTADA_GPU_CHECK_DRY=1 PYTHON=.venv/bin/python bash tools/benchmark/gpu_check.sh
# Time limits (seconds; they add up to 560, the parts' own times to about
# 6 minutes): SETUP_LIMIT (30, twice: wheels, then the imports), GEN_LIMIT
# (190), PREPARE_LIMIT (30), OVERHEAD_LIMIT (70), E2E_LIMIT (75),
# FINETUNE_LIMIT (90), TESTS_LIMIT (45); a dry run
# multiplies them by 3 (a shared CPU). GPU_CHECK_PARTS="generation
# gpu_tests" runs those parts alone (a rerun after a fix; setup always runs).
set -uo pipefail  # no -e: a failed part does not stop the next
export PYTHONUNBUFFERED=1
# Nothing outside the device machine can be reached: no hub look-ups.
export HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 HF_HUB_DISABLE_TELEMETRY=1
cd "$(dirname "$0")/../.."
REPO=$PWD
DRY=${MMTADA_GPU_CHECK_DRY:-0}
PY=${PYTHON:-python3}
OUT=${OUT:-$(mktemp -d /tmp/gpu_check_out.XXXXXX)}
mkdir -p "$OUT"
SCRATCH=$(mktemp -d /tmp/gpu_check.XXXXXX)
STATUS=$SCRATCH/status
export GPU_CHECK_ENV=$SCRATCH/env.json
: >"$STATUS"
T0=$(date +%s)

# want NAME: whether GPU_CHECK_PARTS (empty: all) names part NAME.
want() {
  [ -z "${GPU_CHECK_PARTS:-}" ] && return 0
  case " $GPU_CHECK_PARTS " in *" $1 "*) return 0 ;; esac
  return 1
}
# step NAME LIMIT LOG CMD...: run CMD with a time limit, its output to the
# console and LOG; returns its exit status (124/137: out of time; 200: a
# part GPU_CHECK_PARTS leaves out).
step() {
  local name=$1 limit=$(($2 * SCALE)) log=$3
  shift 3
  case $name in wheels | env | prepare) ;; *)
    if ! want "$name"; then
      echo "=== $name: skipped (GPU_CHECK_PARTS=$GPU_CHECK_PARTS)" | tee -a "$log"
      return 200
    fi ;;
  esac
  echo "=== $name (limit ${limit}s): $*" | tee -a "$log"
  timeout -k 10 "$limit" "$@" 2>&1 | tee -a "$log"
  local rc=${PIPESTATUS[0]}
  echo "=== $name: exit $rc" | tee -a "$log"
  return "$rc"
}
# record NAME RC START: one line of the status file the summary reads.
record() {
  local rc=$2
  [ "$rc" = 200 ] && rc=skip
  echo "$1 $rc $(($(date +%s) - $3))" >>"$STATUS"
}

SCALE=1
if [ "$DRY" = 1 ]; then
  SCALE=3
  echo "GPU check: DRY RUN on the CPU (tiny sizes), output in $OUT"
  DEVICE=cpu
  GEN_ARGS=(--arch tiny --latent-batch 2 --pixel-batch 4 --latent-steps 4
            --pixel-steps 4 --repeats 1)
  DATA_ARGS=(--train 64 --test 16 --classes 8)  # 8 a class: a selection
  OVERHEAD_ARGS=(--iters 2 --warmup 1 --reps 1)
  AMP=()
  # the recipe's ResNet-50, 8 channels wide: its layers at a CPU's pace
  SMALL=(model.backbone.base_channels=8 model.backbone.stem_channels=8
         model.head.in_channels=256)
  E2E_ARGS=(train_dataloader.num_workers=0 val_dataloader.num_workers=0
            custom_hooks.0.generator.num_inference_steps=4)
  FT_ARGS=(--size tiny --batch-size 2 --steps 2 --precision fp32)
else
  echo "GPU check on the device, output in $OUT"
  DEVICE=cuda
  GEN_ARGS=(--arch real --latent-batch 32 --pixel-batch 1024
            --latent-steps 50 --pixel-steps 100 --guidance 7.5 --repeats 3)
  DATA_ARGS=(--train 2000 --test 500)
  OVERHEAD_ARGS=(--iters 60 --warmup 10 --reps 3)  # 180 steps an arm
  AMP=(--amp)
  SMALL=()
  E2E_ARGS=(custom_hooks.0.generator.num_inference_steps=20)
  FT_ARGS=(--size sd15 --batch-size 4 --steps 10 --precision bf16)
fi

# -- setup ------------------------------------------------------------------
t=$(date +%s)
rc=0
if [ "$DRY" = 1 ]; then
  export PYTHONPATH=$REPO${PYTHONPATH:+:$PYTHONPATH}
else
  (nvidia-smi --query-gpu=name,driver_version,memory.total,memory.used,clocks.sm,clocks.mem,temperature.gpu,utilization.gpu --format=csv || true) 2>&1 | tee -a "$OUT/setup.log"
  if ls .whl/*.whl >/dev/null 2>&1; then
    step wheels "${SETUP_LIMIT:-30}" "$OUT/setup.log" \
      "$PY" -m pip install -q --no-index --no-deps --no-compile \
      --no-cache-dir --upgrade --target /tmp/site .whl/*.whl || rc=$?
  else
    echo "no wheels in .whl/: make them with bash tools/benchmark/gpu_wheels.sh and name .whl in carry" | tee -a "$OUT/setup.log"
    rc=1
  fi
  # The working tree first: its mmtada is the one under test (the carried
  # mmtada wheel is there for its metadata), then the carried packages.
  export PYTHONPATH=$REPO:/tmp/site
fi
step env "${SETUP_LIMIT:-30}" "$OUT/setup.log" \
  "$PY" tools/benchmark/gpu_check.py env "$GPU_CHECK_ENV" || rc=$?
record setup "$rc" "$t"

# -- generation -------------------------------------------------------------
t=$(date +%s)
step generation "${GEN_LIMIT:-190}" "$OUT/generation.log" \
  "$PY" tools/benchmark/generation.py "${GEN_ARGS[@]}" --strength 0.5 \
  --device "$DEVICE" --json "$OUT/generation.json"
record generation $? "$t"

# -- training: the hook's overhead, then selection + generation end to end -
CONFIG=configs/tada_resnet50_cifar100.py
OVERHEAD_CFG=()
[ "${#SMALL[@]}" -gt 0 ] && OVERHEAD_CFG=(--cfg-options "${SMALL[@]}")
DATA=$SCRATCH/data
t=$(date +%s)
prep=200
if want hook_overhead || want train_e2e; then
  step prepare "${PREPARE_LIMIT:-30}" "$OUT/training.log" \
    "$PY" tools/benchmark/gpu_check.py prepare "$DATA" "${DATA_ARGS[@]}"
  prep=$?
fi
if [ "$prep" = 0 ]; then
  step hook_overhead "${OVERHEAD_LIMIT:-70}" "$OUT/training.log" \
    "$PY" tools/benchmark/hook_overhead.py --config "$CONFIG" \
    --cifar100 "$DATA/cifar100" "${AMP[@]}" "${OVERHEAD_ARGS[@]}" \
    --json "$SCRATCH/overhead.json" "${OVERHEAD_CFG[@]}"
  record hook_overhead $? "$t"
else
  record hook_overhead "$prep" "$t"
fi
t=$(date +%s)
if [ "$prep" = 0 ]; then
  # $DATA/config.py: the recipe reading the CIFAR-100 files, the tiny
  # pixel model its generator (prepare)
  step train_e2e "${E2E_LIMIT:-75}" "$OUT/training.log" \
    "$PY" tools/train.py "$DATA/config.py" --work-dir "$SCRATCH/work" \
    "${AMP[@]}" --cfg-options train_cfg.max_epochs=2 train_cfg.val_interval=2 \
    custom_hooks.0.select_epoch=1 "${SMALL[@]}" "${E2E_ARGS[@]}"
  record train_e2e $? "$t"
else
  record train_e2e "$prep" "$t"
fi
"$PY" tools/benchmark/gpu_check.py training "$SCRATCH/overhead.json" \
  "$SCRATCH/work" "$OUT/training.json" 2>&1 | tee -a "$OUT/training.log"

# -- the adaptation step (tools/finetune_diffusion.py's) ---------------------
t=$(date +%s)
step finetune "${FINETUNE_LIMIT:-90}" "$OUT/finetune.log" \
  "$PY" tools/benchmark/finetune_speed.py "${FT_ARGS[@]}" --arms ours \
  --rounds 1 --device "$DEVICE" --out "$OUT/finetune.json"
record finetune $? "$t"

# -- the gpu-marked tests ---------------------------------------------------
t=$(date +%s)
mapfile -t TESTS < <(grep -rlw 'pytest\.mark\.gpu' tests --include='*.py' | sort)
if [ "${#TESTS[@]}" -gt 0 ]; then
  step gpu_tests "${TESTS_LIMIT:-45}" "$OUT/gpu_tests.log" \
    "$PY" -m pytest -m gpu -p no:cacheprovider -q \
    --junitxml="$SCRATCH/junit.xml" "${TESTS[@]}"
  record gpu_tests $? "$t"
else
  echo "no gpu-marked test files under tests/" | tee -a "$OUT/gpu_tests.log"
  record gpu_tests 1 "$t"
fi
"$PY" tools/benchmark/gpu_check.py tests "$SCRATCH/junit.xml" \
  "$OUT/gpu_tests.json"

# -- summary ----------------------------------------------------------------
"$PY" tools/benchmark/gpu_check.py summary "$STATUS" "$OUT"
rc=$?
echo "wall time $(($(date +%s) - T0)) s; output in $OUT"
rm -rf "$SCRATCH"
exit "$rc"
