#!/usr/bin/env bash
# Cases per minute over a dataset: `ctprep batch` (cases side by side, and one case at a time on every
# core), a shell loop of `ctprep run`, and the same recipe in SimpleITK looping over the files in one
# Python process (simpleitk_recipe.py with several inputs). Like with like: each writes the windowed
# volume and the MIP as .nii.gz (--save volume,mip), no PNGs, no labels.
#
#   bash benches/peers/batch_bench.sh [N] [SHAPE] [WORKDIR]
#
# N phantoms (default 8) of SHAPE (default 512x512x300, 0.78 x 0.78 x 2.5 mm, int16, LPS, as a scanner
# writes a chest CT) are made once with `cargo xtask phantom` into WORKDIR (default /tmp/batchbench).
# CTPREP (env) is the binary, default target/release/ctprep; PYTHON the interpreter with
# benches/peers/requirements.txt installed (SKIP_SITK=1 leaves SimpleITK out). ROUNDS (default 1) repeats
# the four, interleaved. Times from /usr/bin/time (%e wall s, %M peak RSS KB of the process; for the shell
# loop, of its largest `ctprep run`). Prints one line per run and a TSV in WORKDIR/batch_times.tsv.
set -euo pipefail
HERE="$(cd "$(dirname "$0")" && pwd)"
ROOT="$(cd "$HERE/../.." && pwd)"
CTPREP="${CTPREP:-$ROOT/target/release/ctprep}"
PY="${PYTHON:-python3}"
N="${1:-8}"
SHAPE="${2:-512x512x300}"
W="${3:-/tmp/batchbench}"
DATA="$W/data-$SHAPE-$N"
CORES="$(nproc)"

if [ ! -f "$DATA/.complete" ]; then
  rm -rf "$DATA"
  mkdir -p "$DATA"
  for i in $(seq 1 "$N"); do
    (cd "$ROOT" && cargo run -q --release -p xtask -- phantom --shape "$SHAPE" --spacing 0.78,0.78,2.5 \
      --axcodes LPS --seed "$i" --out "$DATA/ct$i.nii.gz" > /dev/null)
  done
  touch "$DATA/.complete"
fi
MB="$(du -cm "$DATA"/*.nii.gz | tail -1 | cut -f1)"
TSV="$W/batch_times.tsv"
: > "$TSV"
echo "$N cases of $SHAPE ($MB MB of .nii.gz), $CORES cores, $("$CTPREP" --version | head -1)"

one() { # label cmd... (@OUT@ is replaced by a fresh folder)
  local label="$1"; shift
  local d="$W/out-$label"
  rm -rf "$d"
  local cmd=("${@//@OUT@/$d}")
  if ! /usr/bin/time -o "$W/time.tmp" -f "%e %M" "${cmd[@]}" > "$W/$label.stdout" 2> "$W/$label.stderr"; then
    echo "$label failed: see $W/$label.stderr" >&2
    return
  fi
  read -r wall kb < <(tail -1 "$W/time.tmp")
  awk -v l="$label" -v w="$wall" -v kb="$kb" -v n="$N" -v c="$CORES" 'BEGIN {
    printf "%-22s %7.2f s  %6.1f cases/min  %6.1f cases/min/core  peak RSS %5.0f MB\n", l, w, 60*n/w, 60*n/w/c, kb/1024 }'
  printf '%s\t%s\t%s\t%s\t%s\n' "$label" "$N" "$SHAPE" "$wall" "$kb" >> "$TSV"
}

for _ in $(seq 1 "${ROUNDS:-1}"); do
  one "batch (default jobs)" "$CTPREP" batch "$DATA" --out @OUT@ --save volume,mip --quiet
  one "batch --jobs 1" "$CTPREP" batch "$DATA" --out @OUT@ --save volume,mip --quiet --jobs 1 --threads "$CORES"
  one "run loop" bash -c 'for f in "$1"/*.nii.gz; do
      "$2" run "$f" --out "$3/$(basename "$f" .nii.gz)" --save volume,mip --quiet || exit 1; done' _ "$DATA" "$CTPREP" @OUT@
  if [ "${SKIP_SITK:-0}" != 1 ]; then
    one "simpleitk loop" "$PY" "$HERE/simpleitk_recipe.py" "$DATA"/*.nii.gz --out @OUT@
  fi
done
