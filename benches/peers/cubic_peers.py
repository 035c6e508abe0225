#!/usr/bin/env python3
"""Cubic B-spline resampling to 1 mm: scipy, scikit-image, SimpleITK and ctprep, timed in one run.

    python benches/peers/cubic_peers.py CT.nii.gz [--runs 3] [--slow-runs N] [--crop 256x256x150]
           [--dtype float32|int16] [--ctprep target/release/ctprep] [--tmp /dev/shm] [--skip TOOL,...]

The volume is read once (nibabel); every in-process peer then resamples the same array, and only
that call is timed (time.perf_counter, median of --runs; scipy and skimage take --slow-runs,
default --runs). The grid is ctprep's `--spacing 1` first-centre grid, in voxel indices: output
voxel j samples input index j * t / s along each axis (t = 1 mm, s the input spacing), size
round((n - 1) s / t + 1) per axis, halves to even (400 x 400 x 748 for the 512 x 512 x 300 bench CT).

Rows (threads: 1, or all cores = os.cpu_count()):
  scipy zoom             ndimage.zoom(x, m / n, order=3, mode='nearest', grid_mode=False): the output
                         shape, corners aligned (x(j) = j (n-1)/(m-1): not quite ctprep's grid); 1 thread
  scipy map_coordinates  ndimage.map_coordinates(x, coords, order=3, mode='nearest') on ctprep's grid
                         (the float64 coordinate array is built before timing); 1 thread
  scipy affine_transform ndimage.affine_transform with the diagonal matrix t/s: the same sample
                         points and values as map_coordinates, no coordinate array; 1 thread
  skimage resize         transform.resize(x, shape, order=3, mode='edge', anti_aliasing=False,
                         preserve_range=True): its own grid (the voxel boxes' extent: zoom with
                         grid_mode=True); 1 thread
  SimpleITK              ResampleImageFilter, sitkBSpline (cubic B-spline, ITK's mirror boundary),
                         float32 out, on ctprep's grid (origin 0, identity direction, spacing s in,
                         1 out); all threads, then 1 (SetNumberOfThreads(1) and the global default)
  ctprep (py)            ctprep.resample(x, affine, spacing=1.0, interp='cubic', threads=N)
  ctprep (py, int16)     the same on the int16 array (with --dtype float32 only)
  ctprep CLI             the release binary `resample IN OUT --spacing 1 --interp cubic --threads N
                         --quiet`, OUT a .nii in --tmp (no gzip): wall time of the process, reading
                         the input file (.nii.gz: decompression included) and writing the output

--dtype: the array the in-process peers get: float32 (default: as nnU-Net resamples, and scipy
keeps float32 output) or int16 (the stored type; scipy and skimage are then given float32 output).
--crop XxYxZ: a centred sub-volume instead (the CLI then reads it from an uncompressed .nii in --tmp).

Checks, printed after the table: the max abs difference of ctprep (py) against scipy
map_coordinates on the same grid (expected within ~1e-3 HU: both are scipy's spline, ctprep in
float32) and against scipy zoom's own grid (ctprep resampling onto zoom's grid via like=); SimpleITK
against ctprep away from the borders (its mirror boundary differs near edges, and its last x / y
samples lie beyond the voxel boxes, which it fills with -1024).
"""

import argparse
import os
import statistics
import subprocess
import sys
import time

import numpy as np


def median_time(fn, runs):
    """(median seconds, last result) of `runs` calls of fn()."""
    times, out = [], None
    for _ in range(runs):
        out = None
        t = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - t)
    return statistics.median(times), times, out


def first_centre_shape(shape, spacing, target):
    # round((n - 1) s / t + 1), halves to even (Python's round), as ctprep's first-centre.
    return tuple(max(1, int(round((n - 1) * s / target + 1))) for n, s in zip(shape, spacing))


def maxabs(a, b, margin=0):
    if margin:
        sl = tuple(slice(margin, -margin) for _ in range(3))
        a, b = a[sl], b[sl]
    return float(np.max(np.abs(a.astype(np.float64) - b.astype(np.float64))))


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("input")
    p.add_argument("--runs", type=int, default=3)
    p.add_argument("--slow-runs", type=int, default=None, help="runs of the scipy and skimage rows (default --runs)")
    p.add_argument("--crop", default=None, help="XxYxZ: a centred sub-volume, e.g. 256x256x150")
    p.add_argument("--dtype", choices=["float32", "int16"], default="float32")
    p.add_argument("--spacing", type=float, default=1.0)
    p.add_argument("--ctprep", default=None, help="the ctprep binary (default: target/release/ctprep of this repo)")
    p.add_argument("--tmp", default="/dev/shm" if os.path.isdir("/dev/shm") else "/tmp")
    p.add_argument("--skip", default="", help="comma-separated rows to skip: zoom,map_coordinates,affine_transform,"
                                              "skimage,sitk,sitk1,ctprep_py,cli")
    a = p.parse_args()
    slow = a.slow_runs if a.slow_runs is not None else a.runs
    skip = set(s for s in a.skip.split(",") if s)
    here = os.path.dirname(os.path.abspath(__file__))
    binary = a.ctprep or os.path.join(here, "..", "..", "target", "release", "ctprep")
    cores = os.cpu_count() or 1

    import nibabel as nib
    import scipy
    from scipy import ndimage

    img = nib.load(a.input)
    stored = np.asanyarray(img.dataobj)  # as stored (int16 for the bench CT), Fortran order
    affine = img.affine.copy()
    slope, inter = img.dataobj.slope, img.dataobj.inter
    if not (slope in (1, None) and inter in (0, None)):
        sys.exit("this script compares unscaled volumes (scl_slope 1, scl_inter 0)")
    cli_input = a.input
    if a.crop:
        want = [int(v) for v in a.crop.lower().split("x")]
        start = [(n - c) // 2 for n, c in zip(stored.shape, want)]
        stored = np.asfortranarray(stored[tuple(slice(s, s + c) for s, c in zip(start, want))])
        affine[:3, 3] = affine[:3, :3] @ np.array(start, float) + affine[:3, 3]
        cli_input = os.path.join(a.tmp, "cubic_peers_crop.nii")
        nib.save(nib.Nifti1Image(stored, affine), cli_input)
    spacing = np.sqrt((affine[:3, :3] ** 2).sum(axis=0))
    x = np.asfortranarray(stored.astype(np.float32)) if a.dtype == "float32" else stored
    shape_in = x.shape
    shape_out = first_centre_shape(shape_in, spacing, a.spacing)
    step = a.spacing / spacing  # input voxels per output voxel
    out_dtype = np.float32

    import SimpleITK as sitk
    import skimage
    from skimage.transform import resize

    try:
        import ctprep
        ctprep_where = f"ctprep {ctprep.__version__} ({os.path.dirname(ctprep.__file__)})"
    except ImportError as e:
        ctprep, ctprep_where = None, f"ctprep not importable ({e})"
    cli_version = subprocess.run([binary, "--version"], capture_output=True, text=True).stdout.strip().splitlines()[0] \
        if os.path.exists(binary) else "missing"

    print(f"input {a.input}{' crop ' + a.crop if a.crop else ''}: {shape_in} {stored.dtype} spacing "
          f"{np.round(spacing, 4).tolist()} -> {shape_out} at {a.spacing} mm; in-process peers get {x.dtype}")
    print(f"python {sys.version.split()[0]}, numpy {np.__version__}, scipy {scipy.__version__}, scikit-image "
          f"{skimage.__version__}, SimpleITK {sitk.__version__}, {ctprep_where}; CLI {binary}: {cli_version}")
    print(f"runs {a.runs} (scipy/skimage {slow}), cores {cores}, load {os.getloadavg()}", flush=True)

    rows = []  # (tool, threads, median s, times)
    results = {}

    def row(tool, threads, runs, fn, key=None):
        med, times, out = median_time(fn, runs)
        rows.append((tool, threads, med, times))
        print(f"  {tool:34s} {threads} thr  median {med:8.3f} s  runs {[round(t, 3) for t in times]}", flush=True)
        if key:
            results[key] = out
        return out

    # ctprep in-process first (the reference of the ratios).
    if ctprep is not None and "ctprep_py" not in skip:
        for th in sorted({1, cores}):
            row("ctprep (py)", th, a.runs,
                lambda th=th: ctprep.resample(x, affine, spacing=a.spacing, interp="cubic", threads=th)[0],
                key=f"ctprep{th}" if th == cores else None)
        if x.dtype != stored.dtype:
            for th in sorted({1, cores}):
                row(f"ctprep (py, {stored.dtype})", th, a.runs,
                    lambda th=th: ctprep.resample(stored, affine, spacing=a.spacing, interp="cubic", threads=th)[0])
        got = results.get(f"ctprep{cores}")
        if got is not None and got.shape != shape_out:
            sys.exit(f"ctprep's output shape {got.shape} is not {shape_out}")

    if "cli" not in skip and os.path.exists(binary):
        out_path = os.path.join(a.tmp, "cubic_peers_ctprep.nii")
        for th in sorted({1, cores}):
            cmd = [binary, "resample", cli_input, out_path, "--spacing", str(a.spacing), "--interp", "cubic",
                   "--threads", str(th), "--quiet"]
            row("ctprep CLI (read + write .nii)", th, a.runs, lambda cmd=cmd: subprocess.run(cmd, check=True, capture_output=True))
        if os.path.exists(out_path):
            os.remove(out_path)

    if "sitk" not in skip or "sitk1" not in skip:
        # x[i, j, k] (Fortran) is the (k, j, i) C array x.T: the image of size (X, Y, Z) (a copy, not timed).
        simg = sitk.GetImageFromArray(np.ascontiguousarray(x.T))
        simg.SetSpacing([float(s) for s in spacing])
        simg.SetOrigin([0.0, 0.0, 0.0])
        simg.SetDirection([1.0, 0, 0, 0, 1.0, 0, 0, 0, 1.0])

        def sitk_run(threads):
            rs = sitk.ResampleImageFilter()
            rs.SetSize([int(v) for v in shape_out])
            rs.SetOutputSpacing([a.spacing] * 3)
            rs.SetOutputOrigin([0.0, 0.0, 0.0])
            rs.SetOutputDirection([1.0, 0, 0, 0, 1.0, 0, 0, 0, 1.0])
            rs.SetInterpolator(sitk.sitkBSpline)
            rs.SetDefaultPixelValue(-1024.0)
            rs.SetOutputPixelType(sitk.sitkFloat32)
            if threads:
                rs.SetNumberOfThreads(threads)
            return rs.Execute(simg)

        default_threads = sitk.ProcessObject.GetGlobalDefaultNumberOfThreads()
        if "sitk" not in skip:
            out = row("SimpleITK sitkBSpline", default_threads, a.runs, lambda: sitk_run(0))
            results["sitk"] = sitk.GetArrayFromImage(out).T
        if "sitk1" not in skip:
            sitk.ProcessObject.SetGlobalDefaultNumberOfThreads(1)
            out = row("SimpleITK sitkBSpline", 1, a.runs, lambda: sitk_run(1))
            sitk.ProcessObject.SetGlobalDefaultNumberOfThreads(default_threads)
            results.setdefault("sitk", sitk.GetArrayFromImage(out).T)
        del simg

    if "zoom" not in skip:
        zoom = [m / n for m, n in zip(shape_out, shape_in)]
        row("scipy zoom", 1, slow,
            lambda: ndimage.zoom(x, zoom, output=out_dtype, order=3, mode="nearest", grid_mode=False), key="zoom")
        if results["zoom"].shape != shape_out:
            print(f"  (zoom's shape {results['zoom'].shape} is not {shape_out})")

    if "affine_transform" not in skip:
        row("scipy affine_transform", 1, slow,
            lambda: ndimage.affine_transform(x, step, offset=0.0, output_shape=shape_out, output=out_dtype,
                                             order=3, mode="nearest"), key="affine")

    if "map_coordinates" not in skip:
        coords = np.indices(shape_out, dtype=np.float64)  # 3 x m float64 (not timed)
        for ax in range(3):
            coords[ax] *= step[ax]
        row("scipy map_coordinates", 1, slow,
            lambda: ndimage.map_coordinates(x, coords, output=out_dtype, order=3, mode="nearest"), key="mapc")
        del coords

    if "skimage" not in skip:
        row("skimage resize", 1, slow,
            lambda: resize(x, shape_out, order=3, mode="edge", anti_aliasing=False, preserve_range=True))

    # The table: ratio to ctprep (py) on the same threads.
    ref = {th: med for tool, th, med, _ in rows if tool == "ctprep (py)"}
    print()
    print(f"| tool | threads | median s ({a.runs} runs; scipy/skimage {slow}) | vs ctprep (py), same threads |")
    print("|---|---:|---:|---:|")
    for tool, th, med, _ in rows:
        r = ref.get(th)
        ratio = f"{med / r:.1f}x" if r else ""
        print(f"| {tool} | {th} | {med:.3f} | {ratio} |")

    print()
    mine = results.get(f"ctprep{cores}")
    if mine is not None:
        for key, what in [("mapc", "scipy map_coordinates"), ("affine", "scipy affine_transform")]:
            if key in results:
                print(f"max |ctprep - {what}| on the same grid: {maxabs(mine, results[key]):.3g} HU "
                      f"(max |value| {float(np.max(np.abs(results[key]))):.0f})")
        if "zoom" in results and results["zoom"].shape == shape_out and ctprep is not None:
            zaff = affine.copy()
            zaff[:3, :3] = affine[:3, :3] * np.array([(n - 1) / (m - 1) if m > 1 else 1.0
                                                       for n, m in zip(shape_in, shape_out)])
            on_zoom = ctprep.resample(x, affine, like=(shape_out, zaff), interp="cubic")[0]
            print(f"max |ctprep - scipy zoom| on zoom's grid (ctprep like=): {maxabs(on_zoom, results['zoom']):.3g} HU")
        if "sitk" in results:
            print(f"max |ctprep - SimpleITK|: {maxabs(mine, results['sitk']):.3g} HU over the whole grid, "
                  f"{maxabs(mine, results['sitk'], margin=8):.3g} HU 8 voxels or more from the borders")


if __name__ == "__main__":
    main()
