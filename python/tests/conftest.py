"""Shared helpers of the Python tests: where the committed fixtures and the optional real data
are, and small arrays of awkward shapes.

The real data (``../shared/data`` beside the repository, see its README) is optional: tests that
need it skip with a message when it is absent, as the Rust tests do.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[2]
FIXTURES = ROOT / "fixtures"
SHARED = Path(os.environ.get("CTPREP_SHARED_DATA", ROOT.parent / "shared" / "data"))

# Shapes that exercise every kernel's edges: one voxel, lane widths (8 and 16 float32 lanes)
# minus one, exact and plus one, odd sizes.
AWKWARD_SHAPES = [(1, 1, 1), (7, 3, 2), (8, 5, 3), (9, 4, 5), (15, 2, 6), (16, 3, 3), (17, 5, 4), (33, 7, 9)]


def shared(*parts: str) -> Path:
    """A file of the shared real data, or a skip saying it is absent."""
    p = SHARED.joinpath(*parts)
    if not p.exists():
        pytest.skip(f"shared real data absent ({p}); see the README's Tests section")
    return p


def random_volume(shape, dtype, seed: int = 0) -> np.ndarray:
    """Values spread over the HU range (and the type's range for small integer types)."""
    rng = np.random.default_rng(seed)
    if np.issubdtype(dtype, np.floating):
        return rng.uniform(-1500, 2500, size=shape).astype(dtype)
    info = np.iinfo(dtype)
    lo, hi = max(info.min, -2000), min(info.max, 3000)
    return rng.integers(lo, hi, size=shape, endpoint=True).astype(dtype)


def affine_of(spacing, origin=(0.0, 0.0, 0.0), codes_flip=(1, 1, 1)) -> np.ndarray:
    a = np.diag([*(s * f for s, f in zip(spacing, codes_flip)), 1.0])
    a[:3, 3] = origin
    return a


def rotated_affine(spacing, degrees: float, origin=(3.0, -7.0, 11.0)) -> np.ndarray:
    """An oblique grid: rotated about z, then about x."""
    t = np.deg2rad(degrees)
    rz = np.array([[np.cos(t), -np.sin(t), 0], [np.sin(t), np.cos(t), 0], [0, 0, 1]])
    rx = np.array([[1, 0, 0], [0, np.cos(t / 2), -np.sin(t / 2)], [0, np.sin(t / 2), np.cos(t / 2)]])
    a = np.eye(4)
    a[:3, :3] = rx @ rz @ np.diag(spacing)
    a[:3, 3] = origin
    return a
