#!/usr/bin/env python3
"""The `ctprep run` recipe written with SimpleITK, for timing next to ctprep.

read .nii(.gz) -> resample to 1 mm (sitkLinear, float32 out) -> window -100..1000 HU to [0, 1]
-> 5-slice centred MIP along z (ends shrunk) -> write the windowed volume and the MIP as .nii.gz.

Grid (--grid):
  keep    the usual SimpleITK recipe: the input's direction and origin, 1 mm spacing,
          size round((n - 1) * s / t + 1) per axis (first-centre, as ctprep), no reorientation (LPS stays LPS).
  ctprep  the grid `ctprep run` uses: axes reoriented to the closest RAS order, the origin at the first
          voxel centre of the reoriented grid, the same sizes. Same sample points as ctprep, for comparing outputs.
Samples outside the input take --fill (default -1024 HU, air); ctprep clamps to the edge instead.

Prints the wall time of each stage, the total, the thread count and the peak RSS (getrusage) on stderr,
and one JSON line on stdout.

  python3 simpleitk_recipe.py IN.nii.gz --out DIR [--grid keep|ctprep] [--mip scipy|sitk]
          [--gzip-level 1] [--threads N]

Several inputs are run one after the other in this one process (a dataset loop, as batch_bench.sh times it),
each into DIR/<stem>/; the JSON line then holds the total wall time and the per-case stages.
"""

import argparse
import json
import os
import resource
import sys
import time

import numpy as np
import SimpleITK as sitk


def grid(img, target, mode):
    """(size, spacing, origin, direction) of the 1 mm output grid."""
    n = np.array(img.GetSize())
    sp = np.array(img.GetSpacing())
    d = np.array(img.GetDirection()).reshape(3, 3)  # columns: voxel axes in LPS world
    # round() is half to even, as ctprep's first-centre convention.
    size_per_axis = [int(round((n[a] - 1) * sp[a] / target + 1)) for a in range(3)]
    if mode == "keep":
        return size_per_axis, [target] * 3, img.GetOrigin(), img.GetDirection()
    # Reorient to the closest RAS axis order (as nibabel's io_orientation / ctprep's `canonical`).
    d_ras = np.diag([-1.0, -1.0, 1.0]) @ d
    new_dir = np.zeros((3, 3))
    size = [0, 0, 0]
    first = [0.0, 0.0, 0.0]  # continuous input index of the new first voxel centre
    for a in range(3):
        w = int(np.argmax(np.abs(d_ras[:, a])))
        s = 1.0 if d_ras[w, a] > 0 else -1.0
        new_dir[:, w] = s * d[:, a]
        size[w] = size_per_axis[a]
        first[a] = 0.0 if s > 0 else float(n[a] - 1)
    origin = img.TransformContinuousIndexToPhysicalPoint(first)
    return size, [target] * 3, origin, tuple(new_dir.ravel())


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("input", nargs="+")
    p.add_argument("--out", required=True)
    p.add_argument("--grid", choices=["keep", "ctprep"], default="keep")
    p.add_argument("--spacing", type=float, default=1.0)
    p.add_argument("--window", default="-100,1000")
    p.add_argument("--mip-k", type=int, default=5)
    p.add_argument("--mip", choices=["scipy", "sitk"], default="scipy",
                   help="scipy: maximum_filter1d(mode='nearest') on a numpy view (default); "
                        "sitk: GrayscaleDilate with a box kernel of radius k//2 along z")
    p.add_argument("--fill", type=float, default=-1024.0)
    p.add_argument("--gzip-level", type=int, default=1, help="-1: SimpleITK/ITK's default level")
    p.add_argument("--threads", type=int, default=0, help="0: SimpleITK's default (all cores)")
    a = p.parse_args()
    if a.threads > 0:
        sitk.ProcessObject.SetGlobalDefaultNumberOfThreads(a.threads)
    if len(a.input) == 1:
        one(a.input[0], a.out, a)
        return
    t0 = time.perf_counter()
    cases = []
    for path in a.input:
        stem = os.path.basename(path).split(".")[0]
        cases.append(one(path, os.path.join(a.out, stem), a))
    total = time.perf_counter() - t0
    rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0
    print(f"{len(cases)} cases in {total:.2f} s, peak RSS {rss_mb:.0f} MB", file=sys.stderr)
    print(json.dumps({"cases": len(cases), "total_s": round(total, 3), "peak_rss_mb": round(rss_mb),
                      "per_case": cases}))


def one(path, out, a):
    """The recipe on one input into the folder `out`; prints and returns its timings."""
    lo, hi = (float(v) for v in a.window.split(","))
    os.makedirs(out, exist_ok=True)
    stem = os.path.basename(path).split(".")[0]
    t = {}
    t0 = time.perf_counter()

    s = time.perf_counter()
    img = sitk.ReadImage(path)
    t["read"] = time.perf_counter() - s

    s = time.perf_counter()
    size, spacing, origin, direction = grid(img, a.spacing, a.grid)
    rs = sitk.ResampleImageFilter()
    rs.SetSize([int(v) for v in size])
    rs.SetOutputSpacing(spacing)
    rs.SetOutputOrigin(origin)
    rs.SetOutputDirection(direction)
    rs.SetInterpolator(sitk.sitkLinear)
    rs.SetDefaultPixelValue(a.fill)
    rs.SetOutputPixelType(sitk.sitkFloat32)  # interpolate into float32, as ctprep
    res = rs.Execute(img)
    del img
    t["resample"] = time.perf_counter() - s

    s = time.perf_counter()
    win = sitk.IntensityWindowing(res, windowMinimum=lo, windowMaximum=hi, outputMinimum=0.0, outputMaximum=1.0)
    del res
    t["window"] = time.perf_counter() - s

    s = time.perf_counter()
    if a.mip == "scipy":
        from scipy.ndimage import maximum_filter1d

        view = sitk.GetArrayViewFromImage(win)  # (z, y, x), no copy
        mip_arr = maximum_filter1d(view, size=a.mip_k, axis=0, mode="nearest")
        del view
        mip = sitk.GetImageFromArray(mip_arr)
        del mip_arr
        mip.CopyInformation(win)
    else:
        r = a.mip_k // 2
        mip = sitk.GrayscaleDilate(win, kernelRadius=[0, 0, r], kernelType=sitk.sitkBox)
    t["mip"] = time.perf_counter() - s

    s = time.perf_counter()
    sitk.WriteImage(win, os.path.join(out, stem + "_window.nii.gz"), True, a.gzip_level)
    sitk.WriteImage(mip, os.path.join(out, stem + "_mip.nii.gz"), True, a.gzip_level)
    t["write"] = time.perf_counter() - s

    t["total"] = time.perf_counter() - t0
    rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0
    threads = sitk.ProcessObject.GetGlobalDefaultNumberOfThreads()
    for k, v in t.items():
        print(f"{k:9s} {v:7.2f} s", file=sys.stderr)
    print(f"peak RSS {rss_mb:.0f} MB, SimpleITK threads {threads}, output size {size}", file=sys.stderr)
    doc = {"stages_s": {k: round(v, 3) for k, v in t.items()}, "peak_rss_mb": round(rss_mb),
           "threads": threads, "size": size, "grid": a.grid, "mip": a.mip,
           "gzip_level": a.gzip_level, "simpleitk": sitk.__version__, "numpy": np.__version__}
    if len(a.input) == 1:
        print(json.dumps(doc))
    return doc




if __name__ == "__main__":
    main()
