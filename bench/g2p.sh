#!/usr/bin/env bash
# examples/g2p's attention model, trained by heed and by PyTorch (bench/g2p_torch.py) on the same
# batches from the same initial weights for the same number of steps, one after the other; prints
# each one's time per epoch and greedy test WER / PER, and their ratio. `make bench-g2p` runs it.
#
#   bench/g2p.sh [BUILD_DIR] [EPOCHS]      (defaults: build, 3)
#
# Environment: HEED_BENCH_THREADS (default: OMP_NUM_THREADS, else all cores), G2P_ARGS (more g2p
# flags for both sides, e.g. "--hidden 128"). Measure on an otherwise idle machine.
set -euo pipefail

BUILD_DIR=${1:-build}
EPOCHS=${2:-3}
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
G2P=$BUILD_DIR/examples/g2p
TORCH_PY=/usr/bin/python3
threads=${HEED_BENCH_THREADS:-${OMP_NUM_THREADS:-$(nproc)}}
[[ -x $G2P ]] || { echo "bench/g2p.sh: $G2P is missing: build first (make bench-g2p)" >&2; exit 1; }

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
# shellcheck disable=SC2086
"$G2P" --export "$work/data" --epochs "$EPOCHS" ${G2P_ARGS:-}
echo "== heed, $threads threads"
# shellcheck disable=SC2086
OMP_NUM_THREADS=$threads "$G2P" --epochs "$EPOCHS" --beam 1 --out "$work/heed" ${G2P_ARGS:-} | tee "$work/heed.log" |
  grep -E "^epoch +[0-9]|^trained|^WER"
heed_ms=$(sed -n 's/^trained .* (\([0-9.]*\) ms a step)$/\1/p' "$work/heed.log")
heed_rates=$(tail -n 1 "$work/heed.log")
if ! "$TORCH_PY" -c "import torch" 2>/dev/null; then
  echo "bench/g2p.sh: $TORCH_PY has no torch (Debian: apt-get install python3-torch): heed alone"
  exit 0
fi
echo "== PyTorch, $threads threads"
"$TORCH_PY" "$HERE/g2p_torch.py" "$work/data" --threads "$threads" | tee "$work/torch.log"
torch_ms=$("$TORCH_PY" -c "
import re, sys
ms = [float(m) for m in re.findall(r'([0-9.]+) ms a step', open(sys.argv[1]).read())]
print('%.2f' % (sum(ms) / len(ms)))" "$work/torch.log")
torch_rates=$(tail -n 1 "$work/torch.log")
echo
printf '%-8s %12s   %s\n' "" "ms a step" "test, greedy"
printf '%-8s %12s   %s\n' heed "$heed_ms" "$heed_rates" PyTorch "$torch_ms" "$torch_rates"
"$TORCH_PY" -c "import sys; print('PyTorch / heed time a step: %.2f' % (float(sys.argv[2]) / float(sys.argv[1])))" \
  "$heed_ms" "$torch_ms"
