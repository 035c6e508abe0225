#!/usr/bin/env python3
"""The classic nibabel + scipy recipe, as written in fixtures/make_reference.py (classic_recipe), plus the
writes it usually ends with. `ctprep run --preset classic --save volume,mip` computes the same thing.

nibabel get_fdata (float64) -> RegularGridInterpolator on the mm grid, evaluated on np.arange(0, x[-1], 1.0)
per axis (the `seed` grid, stored voxel order, no reorientation) -> np.clip(-100, 1000), (v + 100) / 1100
-> the k = 5 slice loop along z (start-aligned, the last 5 slices left 0) -> nib.save of both volumes as
float32 .nii.gz (nibabel's default gzip level, 1).

It holds the whole float64 point grid in memory: 20.8 GB peak RSS for 399x399x748 outputs (512x512x300 in). Prints the wall time of
each stage, the total and the peak RSS on stderr, one JSON line on stdout.

  python3 classic_recipe.py IN.nii.gz --out DIR
"""

import argparse
import json
import os
import resource
import sys
import time

import nibabel as nib
import numpy as np
import scipy
from scipy.interpolate import RegularGridInterpolator


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("input")
    p.add_argument("--out", required=True)
    a = p.parse_args()
    os.makedirs(a.out, exist_ok=True)
    stem = os.path.basename(a.input).split(".")[0]
    t = {}
    t0 = time.perf_counter()

    s = time.perf_counter()
    img = nib.load(a.input)
    data = img.get_fdata()                      # float64, scl_slope/scl_inter applied
    t["read"] = time.perf_counter() - s

    s = time.perf_counter()
    sx, sy, sz = img.header.get_zooms()[:3]
    x = np.arange(data.shape[0]) * sx
    y = np.arange(data.shape[1]) * sy
    z = np.arange(data.shape[2]) * sz
    f = RegularGridInterpolator((x, y, z), data)
    nx = np.arange(0, x[-1], 1.0); ny = np.arange(0, y[-1], 1.0); nz = np.arange(0, z[-1], 1.0)  # noqa: E702
    gx, gy, gz_ = np.meshgrid(nx, ny, nz, indexing="ij")
    iso = f(np.stack([gx, gy, gz_], axis=-1))   # 1 mm isotropic
    del gx, gy, gz_, f, data
    t["resample"] = time.perf_counter() - s

    s = time.perf_counter()
    iso = np.clip(iso, -100, 1000)
    iso = (iso - (-100)) / (1000 - (-100))      # [0, 1]
    t["window"] = time.perf_counter() - s

    s = time.perf_counter()
    k = 5
    mip = np.zeros_like(iso)
    for i in range(iso.shape[2] - k):
        mip[:, :, i] = np.amax(iso[:, :, i:i + k], axis=2)
    t["mip"] = time.perf_counter() - s

    s = time.perf_counter()
    aff = img.affine.copy()
    aff[:3, :3] = aff[:3, :3] / np.array([sx, sy, sz])  # 1 mm columns, same directions and origin
    nib.save(nib.Nifti1Image(iso.astype(np.float32), aff), os.path.join(a.out, stem + "_window.nii.gz"))
    nib.save(nib.Nifti1Image(mip.astype(np.float32), aff), os.path.join(a.out, stem + "_mip.nii.gz"))
    t["write"] = time.perf_counter() - s

    t["total"] = time.perf_counter() - t0
    rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0
    for key, v in t.items():
        print(f"{key:9s} {v:7.2f} s", file=sys.stderr)
    print(f"peak RSS {rss_mb:.0f} MB, output shape {list(iso.shape)}", file=sys.stderr)
    print(json.dumps({"stages_s": {key: round(v, 3) for key, v in t.items()}, "peak_rss_mb": round(rss_mb),
                      "shape": list(iso.shape), "nibabel": nib.__version__, "scipy": scipy.__version__,
                      "numpy": np.__version__}))


if __name__ == "__main__":
    main()
