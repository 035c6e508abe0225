#!/usr/bin/env bash
# A DICOM series to .nii.gz, in one run: `ctprep convert`, dcm2niix and SimpleITK (ImageSeriesReader +
# WriteImage, all threads), on the same 512 x 512 x 300 int16 CT phantom written as 300 files
# (uncompressed, and RLE Lossless), at the same gzip level (1, ctprep's default, and 6, dcm2niix's), and
# dcm2niix at level 2 beside ctprep's level 1: the same zlib matcher (ctprep's level 1 runs zlib's level-2
# algorithm, docs/GZIP.md), so the same output size, where dcm2niix's own level 1 writes a much larger file.
#
#   bash benches/peers/dicom_convert.sh [SHAPE] [WORKDIR]
#
# The series are made once with `cargo xtask phantom --dicom` into WORKDIR (default /tmp/dicombench).
# CTPREP (env) is the binary, default target/release/ctprep; PYTHON an interpreter with dcm2niix and
# SimpleITK (fixtures/requirements.txt pins both: dcm2niix 1.0.20260724, SimpleITK 2.5.7). ROUNDS
# (default 3) repeats every command, interleaved; the table keeps each one's fastest wall time and its
# peak RSS (from /usr/bin/time: %e, %M). Prints the table and writes WORKDIR/dicom_times.tsv.
set -euo pipefail
HERE="$(cd "$(dirname "$0")" && pwd)"
ROOT="$(cd "$HERE/../.." && pwd)"
CTPREP="${CTPREP:-$ROOT/target/release/ctprep}"
PY="${PYTHON:-python3}"
SHAPE="${1:-512x512x300}"
W="${2:-/tmp/dicombench}"
ROUNDS="${ROUNDS:-3}"
DCM2NIIX="$("$PY" -c 'import dcm2niix; print(dcm2niix.bin)')"

mkdir -p "$W"
for enc in native rle; do
  d="$W/series-$SHAPE-$enc"
  if [ ! -f "$d/.complete" ]; then
    rm -rf "$d"
    extra=()
    [ "$enc" = rle ] && extra=(--rle)
    (cd "$ROOT" && cargo run -q --release -p xtask -- phantom --shape "$SHAPE" --spacing 0.78,0.78,2.5 \
      --axcodes LPS --seed 1 --out "$W/phantom-$SHAPE.nii" --dicom "$d" "${extra[@]}" > /dev/null)
    touch "$d/.complete"
  fi
done
VOLUME_MB="$(du -m "$W/phantom-$SHAPE.nii" | cut -f1)"

cat > "$W/sitk_convert.py" <<'EOF'
import sys
import SimpleITK as sitk
src, dst, level = sys.argv[1], sys.argv[2], int(sys.argv[3])
sitk.ProcessObject.SetGlobalDefaultNumberOfThreads(0)  # all cores
reader = sitk.ImageSeriesReader()
reader.SetFileNames(sitk.ImageSeriesReader.GetGDCMSeriesFileNames(src))
sitk.WriteImage(reader.Execute(), dst, True, level)
EOF

TSV="$W/dicom_times.tsv"
printf 'tool\tencoding\tlevel\tround\twall_s\tpeak_mb\tout_mb\n' > "$TSV"
run() { # tool enc level round cmd...
  local tool="$1" enc="$2" level="$3" round="$4"; shift 4
  local out="$W/out-$tool"
  rm -rf "$out" && mkdir -p "$out"
  local cmd=("${@//@OUT@/$out}")
  if ! /usr/bin/time -o "$W/time.tmp" -f "%e %M" "${cmd[@]}" > "$W/$tool.log" 2>&1; then
    echo "$tool $enc level $level failed: see $W/$tool.log" >&2
    return
  fi
  read -r wall kb < <(tail -1 "$W/time.tmp")
  local bytes
  bytes="$(cat "$out"/*.nii.gz | wc -c)"
  printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$tool" "$enc" "$level" "$round" "$wall" "$((kb / 1024))" \
    "$((bytes / 1000000))" >> "$TSV"
}
for round in $(seq 1 "$ROUNDS"); do
  for enc in native rle; do
    d="$W/series-$SHAPE-$enc"
    for level in 1 6; do
      run ctprep "$enc" "$level" "$round" "$CTPREP" --quiet convert "$d" @OUT@/ct.nii.gz --gzip-level "$level"
      run dcm2niix "$enc" "$level" "$round" "$DCM2NIIX" -z y "-$level" -b n -f ct -o @OUT@ "$d"
      [ "$level" = 1 ] && run dcm2niix-2 "$enc" "$level" "$round" "$DCM2NIIX" -z y -2 -b n -f ct -o @OUT@ "$d"
      run simpleitk "$enc" "$level" "$round" "$PY" "$W/sitk_convert.py" "$d" @OUT@/ct.nii.gz "$level"
    done
  done
done

echo "$SHAPE int16 series ($VOLUME_MB MB as a volume), $(nproc) cores, $("$CTPREP" --version | head -1), dcm2niix $("$DCM2NIIX" --version 2>&1 | grep -o 'v1\.[0-9.]*' | head -1), SimpleITK $("$PY" -c 'import SimpleITK; print(SimpleITK.Version_VersionString())')"
"$PY" - "$TSV" "$VOLUME_MB" <<'EOF'
import csv, sys
rows = list(csv.DictReader(open(sys.argv[1]), delimiter="\t"))
volume = float(sys.argv[2])
best = {}
for r in rows:
    k = (r["encoding"], r["level"], r["tool"])
    w, m, o = float(r["wall_s"]), float(r["peak_mb"]), float(r["out_mb"])
    if k not in best or w < best[k][0]:
        best[k] = (w, m, o)
print("| series | gzip level | ctprep s (peak MB, file MB) | dcm2niix s (peak MB, file MB) | SimpleITK s (peak MB) | dcm2niix / ctprep | SimpleITK / ctprep | ctprep peak / volume |")
print("|---|---:|---:|---:|---:|---:|---:|---:|")
for enc in ("native", "rle"):
    for level, theirs in (("1", "dcm2niix"), ("1", "dcm2niix-2"), ("6", "dcm2niix")):
        c, d, s = (best.get((enc, level, t)) for t in ("ctprep", theirs, "simpleitk"))
        if not c or (theirs != "dcm2niix" and not d):
            continue
        cell = lambda x: f"{x[0]:.2f} ({x[1]:.0f}, {x[2]:.0f})" if x else "failed"
        ratio = lambda x: f"{x[0] / c[0]:.1f}x" if x else "-"
        shown = level if theirs == "dcm2niix" else "1 (dcm2niix -2)"
        sitk = f"{s[0]:.2f} ({s[1]:.0f})" if s else "failed"
        print(f"| {enc} | {shown} | {cell(c)} | {cell(d)} | {sitk} | {ratio(d)} | {ratio(s)} | {c[1] / volume:.2f} |")
EOF
