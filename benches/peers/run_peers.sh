#!/usr/bin/env bash
# Interleaved wall-time / peak-RSS runs of `ctprep run` and the peer recipes on one input.
#
#   bash benches/peers/run_peers.sh [INPUT] [RUNS] [WORKDIR]
#
# CTPREP (env) is the binary, default target/release/ctprep. INPUT defaults to /tmp/p512/d/phantom_ct.nii.gz (made with `ctprep demo /tmp/p512/d --shape 512,512,300`
# if missing), RUNS to 5, WORKDIR to /tmp/peers. Each round runs, in this order:
#   ctprep-vm      ctprep run IN --out D --save volume,mip --quiet   (like with like: two .nii.gz, no PNGs)
#   sitk           simpleitk_recipe.py (MIP with scipy.ndimage.maximum_filter1d)
#   ctprep-all     ctprep run IN --out D --quiet                     (the default: + 4 PNGs)
#   sitk-dilate    simpleitk_recipe.py --mip sitk (MIP with sitk.GrayscaleDilate, box radius 2 along z)
# then, if CLASSIC=1, ctprep-classic (--preset classic --save volume,mip) and classic_recipe.py, CLASSIC_RUNS
# times each (default 1), interleaved, each capped at CLASSIC_CAP seconds (default 1200).
# Every run writes into a fresh folder. Times come from /usr/bin/time (%e wall s, %M peak RSS KB) into
# WORKDIR/times.tsv; summarize.py prints medians and ranges. Afterwards the MIPs are compared (compare_outputs.py).
set -euo pipefail
HERE="$(cd "$(dirname "$0")" && pwd)"
ROOT="$(cd "$HERE/../.." && pwd)"
CTPREP="${CTPREP:-$ROOT/target/release/ctprep}"
IN="${1:-/tmp/p512/d/phantom_ct.nii.gz}"
RUNS="${2:-5}"
W="${3:-/tmp/peers}"
PY="${PYTHON:-python3}"
[ -f "$IN" ] || "$CTPREP" demo "$(dirname "$IN")" --shape 512,512,300 --quiet
mkdir -p "$W"
TSV="$W/times.tsv"
: > "$TSV"

one() { # label run cmd...
  local label="$1" run="$2"; shift 2
  local d="$W/out-$label"
  rm -rf "$d"
  local cmd=("${@//@OUT@/$d}")
  /usr/bin/time -o "$W/time.tmp" -f "%e %M" "${cmd[@]}" > "$W/$label-$run.stdout" 2> "$W/$label-$run.stderr" \
    || echo "$label run $run failed (rc=$?)" >&2
  read -r wall kb < <(tail -1 "$W/time.tmp")
  printf '%s\t%s\t%s\t%s\n' "$label" "$run" "$wall" "$kb" >> "$TSV"
  printf '%-14s run %s: %6.2f s %8d KB\n' "$label" "$run" "$wall" "$kb"
}

for r in $(seq 1 "$RUNS"); do
  one ctprep-vm "$r" "$CTPREP" run "$IN" --out @OUT@ --save volume,mip --quiet
  one sitk "$r" "$PY" "$HERE/simpleitk_recipe.py" "$IN" --out @OUT@
  one ctprep-all "$r" "$CTPREP" run "$IN" --out @OUT@ --quiet
  one sitk-dilate "$r" "$PY" "$HERE/simpleitk_recipe.py" "$IN" --out @OUT@ --mip sitk
done
if [ "${CLASSIC:-0}" = 1 ]; then
  for r in $(seq 1 "${CLASSIC_RUNS:-1}"); do
    one ctprep-classic "$r" "$CTPREP" run "$IN" --out @OUT@ --preset classic --save volume,mip --quiet
    one classic "$r" timeout "${CLASSIC_CAP:-1200}" "$PY" "$HERE/classic_recipe.py" "$IN" --out @OUT@
  done
fi
"$PY" "$HERE/summarize.py" "$TSV"

# Outputs: SimpleITK on ctprep's own grid (same sample points) and on its usual grid (input direction kept).
stem="$(basename "$IN")"; stem="${stem%%.*}"
if [ "$RUNS" -gt 0 ]; then
  "$PY" "$HERE/simpleitk_recipe.py" "$IN" --out "$W/out-sitk-ctgrid" --grid ctprep --mip sitk > /dev/null 2>&1
  for peer in out-sitk out-sitk-ctgrid; do
    "$PY" "$HERE/compare_outputs.py" "$W/out-ctprep-vm/${stem}_mip.nii.gz" "$W/$peer/${stem}_mip.nii.gz"
  done
fi
if [ "${CLASSIC:-0}" = 1 ] && [ -f "$W/out-classic/${stem}_mip.nii.gz" ]; then
  "$PY" "$HERE/compare_outputs.py" "$W/out-ctprep-classic/${stem}_mip.nii.gz" "$W/out-classic/${stem}_mip.nii.gz"
fi
