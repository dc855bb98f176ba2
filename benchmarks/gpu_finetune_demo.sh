#!/usr/bin/env bash
# Continue the demo model's weak-to-strong training on a lent GPU (configs/train_demo_finetune.json),
# then score it there on the held-out prompts at each guidance in $GUIDANCES. One call of the device tool:
#   run(command="bash benchmarks/gpu_finetune_demo.sh 5.3", carry=[".whl"], timeout_s=480)
# .whl holds the wheels the GPU image lacks (its torch and transformers are used as they are), made here with
#   pip download --no-deps --only-binary=:all: --python-version 3.12 -d .whl diffusers==0.42.1 importlib_metadata
# (.whl/ is git-ignored locally: echo /.whl/ >> .git/info/exclude).
# Results land in $OUT: demo_finetuned.tgz (the model folder), samples.tar, train.log, eval.log.
set -o pipefail
MINUTES=${1:-5.3}
DEVICE=${DEVICE:-cuda}   # DEVICE=cpu CONFIG=small.json EVAL_N=2: a dry run of this script on a CPU
CONFIG=${CONFIG:-configs/train_demo_finetune.json}
EVAL_N=${EVAL_N:-48}
OUT=${OUT:-build/gpu_out}
mkdir -p "$OUT"
if ls .whl/*.whl >/dev/null 2>&1; then
  python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl || exit 1
  export PYTHONPATH=/tmp/site${PYTHONPATH:+:$PYTHONPATH}
fi
export PYTHONUNBUFFERED=1
(nvidia-smi --query-gpu=name,memory.total --format=csv,noheader || echo "no GPU") | tee "$OUT/train.log"
python3 -m model.training demo --config "$CONFIG" --out build/demo_finetuned \
  --device "$DEVICE" --max-minutes "$MINUTES" --no-progress 2>&1 | tee -a "$OUT/train.log"
tar -czf "$OUT/demo_finetuned.tgz" -C build --exclude samples demo_finetuned
tar -cf "$OUT/samples.tar" -C build demo_finetuned/samples
for g in ${GUIDANCES:-1.5 2.0}; do
  for m in build/demo_finetuned; do
    python3 benchmarks/demo_eval.py --model "$m" --device "$DEVICE" --n "$EVAL_N" --size 256 --batch 48 --guidance $g 2>&1 \
      | tail -1 | sed "s|^|$m g=$g: |" | tee -a "$OUT/eval.log"
  done
done
