#!/usr/bin/env python3
"""Loose comparison of two MIP (or windowed) volumes: ctprep's and a peer's.

Both are loaded with nibabel and brought to RAS voxel order with nibabel's as_closest_canonical
(for an LPS peer output this flips the first two array axes; the affine tells). The arrays are then
compared on their common shape (the first min(n_a, n_b) voxels along each axis) and the script says
whether the two grids' voxel centres coincide (the largest world offset between them, in mm).

  python3 compare_outputs.py CTPREP.nii.gz PEER.nii.gz
"""

import json
import sys

import nibabel as nib
import numpy as np


def load_ras(path):
    img = nib.as_closest_canonical(nib.load(path))
    return np.asarray(img.dataobj, dtype=np.float32), img.affine, nib.aff2axcodes(nib.load(path).affine)


def main():
    a_path, b_path = sys.argv[1], sys.argv[2]
    a, aff_a, codes_a = load_ras(a_path)
    b, aff_b, codes_b = load_ras(b_path)
    common = tuple(min(x, y) for x, y in zip(a.shape, b.shape))
    sl = tuple(slice(0, n) for n in common)
    d = np.abs(a[sl].astype(np.float64) - b[sl].astype(np.float64))
    # World offset between the two grids' voxel centres (same index), at the first voxel and the far corner.
    corner = np.array([n - 1 for n in common] + [1])
    off = max(np.abs(aff_a[:3, 3] - aff_b[:3, 3]).max(), np.abs((aff_a @ corner)[:3] - (aff_b @ corner)[:3]).max())
    out = {
        "a": a_path, "b": b_path, "a_axcodes": "".join(codes_a), "b_axcodes": "".join(codes_b),
        "a_shape": list(a.shape), "b_shape": list(b.shape), "common_shape": list(common),
        "grid_offset_mm": round(float(off), 4),
        "max_abs_diff": float(d.max()), "mean_abs_diff": float(d.mean()),
        "frac_voxels_diff_gt_1e-3": float((d > 1e-3).mean()),
        "frac_voxels_diff_gt_1e-6": float((d > 1e-6).mean()),
    }
    print(json.dumps(out))


if __name__ == "__main__":
    main()
