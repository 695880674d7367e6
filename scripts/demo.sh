#!/usr/bin/env bash
# Train t2i's toy-flowers default, generate images from new captions and score them.
# Takes about 12 minutes on a 2-core CPU, installation included. Run from anywhere: scripts/demo.sh
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/_venv.sh
ensure_venv

RUN=runs/toy-flowers
if [ -d "$RUN" ]; then
    # Keep an earlier demo's run instead of overwriting its checkpoints.
    previous="$RUN.$(date +%Y%m%d-%H%M%S)"
    mv "$RUN" "$previous"
    echo "Moved the previous demo run to $previous"
fi

.venv/bin/t2i fit --config configs/toy-flowers.yaml

CHECKPOINT="$RUN/checkpoints/last.ckpt"
.venv/bin/t2i generate \
    "this flower has five pink petals and a yellow center" \
    "a flower with blue petals and a black center" \
    "the petals are white and the middle is green" \
    "a red flower with a white center" \
    --model "$CHECKPOINT" --num-images 8 --seed 0 --out "$RUN/generated"
.venv/bin/t2i evaluate --model "$CHECKPOINT" --num-samples 1000 --toy-samples 200 --seed 0 --out "$RUN/evaluation.json"
.venv/bin/t2i export --ckpt "$CHECKPOINT" --out "$RUN/model" --metrics "$RUN/evaluation.json"
.venv/bin/t2i generate "a red flower with a yellow center" "a blue flower with a white center" \
    --interpolate --steps 8 --seed 0 --model "$RUN/model" --out "$RUN/interpolation"

WANDB_RUN=$(ls -d "$RUN"/wandb/*run-* 2>/dev/null | tail -n 1)
cat <<SUMMARY

Done.
  Sample grids during training: $RUN/samples/ (one row per caption, one column per noise vector)
  Checkpoint:                   $CHECKPOINT
  Generated images:             $RUN/generated/ (grid.png has one row per caption)
  Colour accuracy report:       $RUN/evaluation.json
  Exported model:               $RUN/model/ (model card in README.md there)
  Interpolation strip:          $RUN/interpolation/interpolation.png
  W&B run:                      ${WANDB_RUN:-none} (offline runs upload with: .venv/bin/wandb sync ${WANDB_RUN:-RUN_FOLDER})
Try it in Python:
  .venv/bin/python -c "import t2i; t2i.generate('a flower with pink petals and a yellow center', model='$RUN/model')[0].save('flower.png')"
SUMMARY
