#!/usr/bin/env bash
# Runs heed's benchmarks (already built by `make bench`) and, when /usr/bin/python3 has torch, the
# same measurements in PyTorch; prints one table per bench and writes BUILD_DIR/bench/latest.json.
#
#   bench/run.sh [BUILD_DIR]          (default: build)
#
# Environment:
#   HEED_BENCH_THREADS   threads for both frameworks (default: OMP_NUM_THREADS, else all cores)
#   OPENBLAS_CORETYPE    OpenBLAS kernel, passed to both frameworks unchanged (default: autodetect)
#   HEED_BENCH_ARGS      extra arguments for every bench, e.g. "--quick" or "--repeats 11"
#   HEED_BENCH_TORCH=0   skip PyTorch even when it is installed
#   HEED_BENCH_ROUNDS    rounds of each bench, heed and PyTorch alternating (default 3)
# Results are ratios within one run: absolute times move with the machine's load and clock.
set -euo pipefail

BUILD_DIR=${1:-build}
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
BIN=$BUILD_DIR/bench
OUT=$BUILD_DIR/bench
TORCH_PY=/usr/bin/python3

for b in bench_matmul bench_overhead bench_train bench_ops bench_generate bench_attention bench_loader bench_text; do
  if [[ ! -x $BIN/$b ]]; then
    echo "bench/run.sh: $BIN/$b is missing: build first (make bench, or cmake --build $BUILD_DIR)" >&2
    exit 1
  fi
done
if command -v python3 >/dev/null 2>&1; then PY=python3; elif [[ -x $TORCH_PY ]]; then PY=$TORCH_PY; else PY=""; fi

threads=${HEED_BENCH_THREADS:-${OMP_NUM_THREADS:-$(nproc)}}
# Both frameworks get the same thread count and the same OpenBLAS kernel.
export OMP_NUM_THREADS=$threads OPENBLAS_NUM_THREADS=$threads
read -r -a extra <<<"${HEED_BENCH_ARGS:-}"

echo "== heed benchmarks =="
echo "machine: $(lscpu 2>/dev/null | sed -n 's/^Model name: *//p' | head -1), $(nproc) cores online"
echo "threads: $threads (both frameworks)"
echo "OPENBLAS_CORETYPE: ${OPENBLAS_CORETYPE:-<unset: OpenBLAS picks from cpuid>}"
# heed::blas_info(): the kernel OpenBLAS chose, and a WARNING line when the CPU supports a faster one.
"$BIN/bench_matmul" --threads "$threads" --info
read -r load1 _ </proc/loadavg || load1=0
if awk -v l="$load1" 'BEGIN { exit !(l > 0.5) }'; then
  echo "WARNING: load average $load1: other processes are running; timings will be noisy (ratios less so)"
fi

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
mkdir -p "$OUT"

have_torch=0
if [[ ${HEED_BENCH_TORCH:-1} != 0 && -x $TORCH_PY ]] && "$TORCH_PY" -c "import torch" 2>/dev/null; then
  have_torch=1
else
  echo "PyTorch: not found for $TORCH_PY (heed and OpenBLAS only)"
fi

# Each bench runs in ROUNDS rounds of R/ROUNDS blocks, heed's and torch's processes alternating
# (heed torch, torch heed, heed torch, ...), so that a slow minute of the machine falls on both; the
# summary takes each row's median over the rounds, and its ratio is the median of the rounds' ratios.
# Round 1 prints its tables; the later rounds write theirs to OUT/rounds.log. torch's peak memory is
# taken in round 1 only (it does not change, and its profiled calls take a few seconds per bench).
rounds=${HEED_BENCH_ROUNDS:-3}
if ! [[ $rounds =~ ^[1-9][0-9]*$ ]]; then
  echo "bench/run.sh: HEED_BENCH_ROUNDS must be a positive integer, not '$rounds'" >&2
  exit 2
fi
repeats=$(((15 + rounds - 1) / rounds))  # 15 blocks per row in all, as one process would take
heed_files=() torch_files=()
run_heed() {  # bench round
  "$BIN/bench_$1" --threads "$threads" --repeats "$repeats" --json "$tmp/heed_$1.$2.json" "${extra[@]}"
  heed_files+=("$tmp/heed_$1.$2.json")
}
run_torch() {  # bench round
  local peak=()
  (($2 > 1)) && peak=(--no-peak)
  "$TORCH_PY" "$HERE/torch_overhead.py" --bench "$1" --threads "$threads" --repeats "$repeats" "${peak[@]}" \
    --json "$tmp/torch_$1.$2.json" "${extra[@]}"
  torch_files+=("$tmp/torch_$1.$2.json")
}
echo "rounds: $rounds, heed and PyTorch alternating (HEED_BENCH_ROUNDS), each of $repeats blocks per row" \
  "unless HEED_BENCH_ARGS sets --repeats; rounds 2.. write to $OUT/rounds.log"
: >"$OUT/rounds.log"
for bench in overhead matmul train ops generate; do
  for ((r = 1; r <= rounds; ++r)); do
    if ((r == 1)); then
      echo
      run_heed "$bench" "$r"
      if ((have_torch)); then
        echo
        run_torch "$bench" "$r"
      fi
    else
      echo "round $r/$rounds of bench_$bench ..."
      if ((have_torch && r % 2 == 0)); then run_torch "$bench" "$r" >>"$OUT/rounds.log"; fi
      run_heed "$bench" "$r" >>"$OUT/rounds.log"
      if ((have_torch && r % 2 == 1)); then run_torch "$bench" "$r" >>"$OUT/rounds.log"; fi
    fi
  done
done
# Long-sequence attention: heed only (PyTorch 1.13 has no memory-efficient attention on CPU).
echo
"$BIN/bench_attention" --threads "$threads" --json "$tmp/heed_attention.json" "${extra[@]}"
# The DataLoader's cost per batch against a char_lm step, and bucketing's padding: heed only.
echo
"$BIN/bench_loader" --threads "$threads" --json "$tmp/heed_loader.json" "${extra[@]}"
# Tokenizers (BPE training and encoding, characters with a Vocab): heed only, one thread whatever $threads is.
echo
"$BIN/bench_text" --json "$tmp/heed_text.json" "${extra[@]}"
if [[ -z $PY ]]; then
  echo "bench/run.sh: no python3 to merge the results: $OUT/latest.json not written" >&2
  exit 0
fi
echo
echo "== summary (ratios within this run) =="
torch_args=()
((have_torch)) && torch_args=(--torch "${torch_files[@]}")
"$PY" "$HERE/report.py" "$OUT/latest.json" "${heed_files[@]}" "$tmp/heed_attention.json" "$tmp/heed_loader.json" \
  "$tmp/heed_text.json" \
  "${torch_args[@]}"
