#!/usr/bin/env bash
# Run t2i's test suite offline. Creates .venv and installs t2i with its dev extra when needed.
# Extra arguments go to pytest, e.g. scripts/test.sh -k toy -x
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/_venv.sh
ensure_venv dev
export HF_HUB_OFFLINE=1 WANDB_MODE=offline
exec .venv/bin/python -m pytest "$@"
