"""window, resample, project and reorient on numpy arrays: against numpy / scipy / nibabel, every
kernel and thread count against the scalar oracle, C and Fortran order, read-only and
non-contiguous arrays, NaN, wrong dtypes and shapes."""

from __future__ import annotations

import nibabel as nib
import numpy as np
import pytest
from scipy import ndimage

import ctprep
from conftest import AWKWARD_SHAPES, affine_of, random_volume, rotated_affine, shared

KERNELS = ["scalar", "wide", "dispatched", "auto"]
EXECS = [(k, t) for k in KERNELS for t in (1, 2, "auto") if not (k == "scalar" and t != 1)]


# --- window ---------------------------------------------------------------------------------


def window_reference(v: np.ndarray, lo: float, hi: float, a: float = 0.0, b: float = 1.0) -> np.ndarray:
    """The documented formula in float64 (numpy's recipe), NaN kept."""
    v = v.astype(np.float64)
    return a + (np.clip(v, lo, hi) - lo) / (hi - lo) * (b - a)


@pytest.mark.parametrize("dtype", [np.int16, np.uint16, np.int32, np.float32, np.float64, np.uint8, np.int8])
@pytest.mark.parametrize("shape", AWKWARD_SHAPES)
def test_window_matches_the_formula_and_every_kernel_the_oracle(dtype, shape):
    v = random_volume(shape, dtype, seed=sum(shape))
    scaling = (0.5, -1024.0) if np.issubdtype(dtype, np.integer) else None
    real = v.astype(np.float64) * (scaling[0] if scaling else 1) + (scaling[1] if scaling else 0)
    ref = window_reference(real, -100.0, 1000.0)
    oracle = ctprep.window(v, (-100, 1000), scaling=scaling, kernel="scalar", threads=1)
    assert oracle.dtype == np.float32 and oracle.shape == v.shape
    np.testing.assert_allclose(oracle, ref.astype(np.float32), rtol=0, atol=1.2e-7)
    for kernel, threads in EXECS:
        out = ctprep.window(v, (-100, 1000), scaling=scaling, kernel=kernel, threads=threads)
        np.testing.assert_array_equal(out, oracle, err_msg=f"{kernel} x {threads}")


@pytest.mark.parametrize("out_dtype,top", [(np.uint8, 255), (np.uint16, 65535)])
def test_integer_outputs_use_their_full_range_rounded_half_to_even(out_dtype, top):
    v = np.arange(-1200, 1300, dtype=np.int16).reshape(25, 10, 10)
    out = ctprep.window(v, (-100, 1000), dtype=out_dtype)
    assert out.dtype == out_dtype
    np.testing.assert_array_equal(out, np.rint(window_reference(v, -100, 1000) * top).astype(out_dtype))
    with pytest.raises(ctprep.UsageError):
        ctprep.window(v, (-100, 1000), dtype=out_dtype, out_range=(0, 10))


def test_window_nan_stays_nan_in_float_and_is_zero_in_integers():
    v = random_volume((17, 5, 3), np.float32)
    v[3, 2, 1] = np.nan
    v[16, 4, 2] = np.nan
    for kernel, threads in EXECS:
        out = ctprep.window(v, (-100, 1000), kernel=kernel, threads=threads)
        assert np.isnan(out[3, 2, 1]) and np.isnan(out[16, 4, 2]) and np.isnan(out).sum() == 2
        u8 = ctprep.window(v, (-100, 1000), dtype=np.uint8, kernel=kernel, threads=threads)
        assert u8[3, 2, 1] == 0 and u8[16, 4, 2] == 0


def test_window_keeps_the_order_and_takes_any_layout():
    v = random_volume((9, 8, 7), np.int16)
    ref = ctprep.window(np.asfortranarray(v), preset="lung")
    c = ctprep.window(np.ascontiguousarray(v), preset="lung")
    assert c.flags.c_contiguous and ref.flags.f_contiguous
    np.testing.assert_array_equal(c, ref)
    strided = np.ascontiguousarray(v)[::2, 1:, ::3]
    np.testing.assert_array_equal(ctprep.window(strided, preset="lung"), ref[::2, 1:, ::3])
    permuted = np.ascontiguousarray(v).transpose(1, 0, 2)  # dense, axes stored permuted: neither order
    assert not (permuted.flags.c_contiguous or permuted.flags.f_contiguous)
    np.testing.assert_array_equal(ctprep.window(permuted, preset="lung"), ref.transpose(1, 0, 2))
    raw = bytearray(v.nbytes + 1)
    unaligned = np.frombuffer(raw, np.int16, offset=1, count=v.size).reshape(v.shape)
    unaligned[...] = v
    np.testing.assert_array_equal(ctprep.window(unaligned, preset="lung"), ref)
    ro = v.copy()
    ro.setflags(write=False)
    np.testing.assert_array_equal(ctprep.window(ro, preset="lung"), ref)
    # Any rank: the map is elementwise.
    flat = ctprep.window(v.ravel(), preset="lung")
    np.testing.assert_array_equal(flat, ref.ravel(order="C"))
    lo, hi = ctprep.window_presets()["lung"]
    assert (lo, hi) == (-1350.0, 150.0)


def test_window_refuses_nonsense():
    v = np.zeros((2, 2, 2), np.int16)
    for bad in [dict(window=(5, 5)), dict(window=(10, 0)), dict(preset="nope"), dict()]:
        with pytest.raises(ctprep.UsageError):
            ctprep.window(v, **bad)
    with pytest.raises(ctprep.UsageError):
        ctprep.window(v, (0, 1), preset="lung")
    with pytest.raises(ctprep.UsageError):
        ctprep.window(v, (0, 1), dtype=np.int32)
    with pytest.raises(ctprep.UsageError):
        ctprep.window(v, (0, 1), kernel="fastest")
    with pytest.raises(ctprep.UsageError):
        ctprep.window(v, (0, 1), threads=0)
    with pytest.raises(ctprep.UnsupportedError):
        ctprep.window(v.astype(np.float16), (0, 1))
    with pytest.raises(ctprep.UnsupportedError):
        ctprep.window(v.astype(bool), (0, 1))
    with pytest.raises(ctprep.BadInputError):
        ctprep.window(v, (0, 1), scaling=(0.0, float("nan")))


# --- resample -------------------------------------------------------------------------------


def linear_reference(v: np.ndarray, in_affine, out_shape, out_affine, fill=None) -> np.ndarray:
    """scipy's trilinear interpolation at every output voxel's input index (edge clamp), and the
    fill where an index leaves [-0.5, n - 0.5) (SimpleITK's rule)."""
    idx = np.indices(out_shape, dtype=np.float64).reshape(3, -1)
    m = np.linalg.inv(in_affine) @ out_affine
    coords = m[:3, :3] @ idx + m[:3, 3:4]
    out = ndimage.map_coordinates(v.astype(np.float64), coords, order=1, mode="nearest")
    if fill is not None:
        n = np.array(v.shape)[:, None]
        outside = ((coords < -0.5) | (coords >= n - 0.5)).any(axis=0)
        out[outside] = fill
    return out.reshape(out_shape)


@pytest.mark.parametrize("shape", AWKWARD_SHAPES)
@pytest.mark.parametrize("order", ["C", "F"])
def test_linear_resampling_matches_scipy(shape, order):
    v = np.asarray(random_volume(shape, np.int16, seed=5), order=order)
    spacing = (0.7, 1.3, 2.5)
    aff = affine_of(spacing, origin=(-3.0, 4.0, 10.0))
    out, oaff = ctprep.resample(v, aff, spacing=1.0, scaling=(1.0, -24.0))
    n = np.array(shape)
    expected = np.maximum(1, np.round((n - 1) * np.array(spacing) + 1)).astype(int)  # first-centre
    assert out.shape == tuple(expected) and out.dtype == np.float32
    assert out.flags.c_contiguous if order == "C" and shape != (1, 1, 1) else out.flags.f_contiguous
    np.testing.assert_allclose(oaff[:3, :3], np.eye(3), atol=1e-12)
    np.testing.assert_allclose(oaff[:3, 3], aff[:3, 3], atol=1e-12)
    ref = linear_reference(v.astype(np.float64) - 24.0, aff, out.shape, oaff)
    np.testing.assert_allclose(out, ref, rtol=0, atol=1e-3)


def test_strided_and_permuted_arrays_resample_and_project_as_their_copies():
    v = random_volume((19, 14, 11), np.float32, seed=12)
    aff = affine_of((0.9, 0.8, 2.2))
    views = {
        "fortran strided": np.asfortranarray(v)[:, ::-1, ::2],
        "c strided": np.ascontiguousarray(v)[::2, ::-1, :],
        "permuted": np.ascontiguousarray(v.transpose(2, 0, 1)).transpose(1, 2, 0),
    }
    for name, view in views.items():
        assert not (view.flags.c_contiguous or view.flags.f_contiguous), name
        for copy in [np.asfortranarray(view), np.ascontiguousarray(view)]:
            got, gaff = ctprep.resample(view, aff, spacing=1.0)
            want, waff = ctprep.resample(copy, aff, spacing=1.0)
            np.testing.assert_allclose(got, want, rtol=0, atol=1e-5 * 2500, err_msg=name)
            np.testing.assert_array_equal(gaff, waff)
            got, _ = ctprep.project(view, aff, slab=3, axis=1)
            want, _ = ctprep.project(copy, aff, slab=3, axis=1)
            np.testing.assert_array_equal(got, want, err_msg=name)


def test_c_order_and_permuted_arrays_are_not_copied():
    import tracemalloc

    base = random_volume((64, 64, 64), np.float32)
    for name, view in {"C": np.ascontiguousarray(base), "permuted": np.ascontiguousarray(base).transpose(1, 2, 0)}.items():
        want, _ = ctprep.project(np.asfortranarray(view), np.eye(4), whole=True, axis=2)
        tracemalloc.start()
        got, _ = ctprep.project(view, np.eye(4), whole=True, axis=2)
        _, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        np.testing.assert_array_equal(got, want, err_msg=name)
        # The 16 KiB output and bookkeeping; a copy of the 1 MiB input would show.
        assert peak < view.nbytes // 4, (name, peak)


@pytest.mark.parametrize("shape", [(1, 1, 1), (9, 8, 7), (17, 3, 5)])
def test_every_resampling_kernel_matches_the_oracle(shape):
    v = random_volume(shape, np.float32, seed=9)
    v[0, 0, 0] = np.nan
    lab = random_volume(shape, np.int16, seed=8)
    aff = affine_of((0.8, 0.9, 2.0))
    # The resample crate's documented bound for linear (it interpolates in float32); nearest is
    # bit-identical.
    tol = 1e-5 * max(1.0, float(np.abs(v[~np.isnan(v)]).max(initial=0.0)))
    for like in [None, (tuple(max(1, s + 2) for s in shape), rotated_affine((1.1, 0.9, 1.7), 12.0, origin=(-1, 0, 2)))]:
        kw = dict(spacing=(1.0, 0.7, 1.5)) if like is None else dict(like=like)
        oracle, oaff = ctprep.resample(v, aff, kernel="scalar", threads=1, **kw)
        near, _ = ctprep.resample(lab, aff, interp="nearest", kernel="scalar", threads=1, **kw)
        for kernel, threads in EXECS:
            out, o2 = ctprep.resample(v, aff, kernel=kernel, threads=threads, **kw)
            np.testing.assert_allclose(out, oracle, rtol=0, atol=tol, err_msg=f"{kernel} x {threads} {kw}")
            assert (np.isnan(out) == np.isnan(oracle)).all()
            np.testing.assert_array_equal(o2, oaff)
            n2, _ = ctprep.resample(lab, aff, interp="nearest", kernel=kernel, threads=threads, **kw)
            np.testing.assert_array_equal(n2, near, err_msg=f"{kernel} x {threads} {kw}")


def test_resampling_onto_an_oblique_grid_matches_scipy_and_keeps_its_fill():
    v = random_volume((20, 18, 9), np.int16, seed=1)
    aff = affine_of((0.8, 0.8, 2.5), origin=(-8, -7, -10))
    grid = ((19, 21, 15), rotated_affine((1.0, 1.0, 1.0), 12.0, origin=(-8, -9, -8)))
    out, oaff = ctprep.resample(v, aff, like=grid, fill=-1024)
    np.testing.assert_array_equal(oaff, grid[1])
    ref = linear_reference(v, aff, grid[0], grid[1], fill=-1024.0)
    assert (ref == -1024).any() and (ref != -1024).any()
    # float32 interpolation against scipy's float64 (2e-3), and the AVX2 int16 kernel's positions
    # stepped in float32 (within 8e-4 voxel per axis: 8e-4 of the largest neighbour difference
    # along each axis).
    steps = sum(float(np.abs(np.diff(v.astype(np.float64), axis=a)).max()) for a in range(3))
    np.testing.assert_allclose(out, ref, rtol=0, atol=2e-3 + 8e-4 * steps)
    # A Volume as the grid, and C order giving the same values.
    target = ctprep.Volume(np.zeros(grid[0], np.uint8), grid[1])
    c, _ = ctprep.resample(np.ascontiguousarray(v), aff, like=target, fill=-1024)
    np.testing.assert_allclose(c, out, rtol=0, atol=2e-3)


def test_nearest_keeps_the_stored_type_and_matches_scipy():
    lab = np.random.default_rng(4).integers(0, 9, size=(13, 11, 7)).astype(np.uint8)
    aff = affine_of((0.7, 0.7, 3.0))
    for order in ["C", "F"]:
        out, oaff = ctprep.resample(np.asarray(lab, order=order), aff, spacing=1.0, interp="nearest")
        assert out.dtype == np.uint8
        idx = np.indices(out.shape, dtype=np.float64).reshape(3, -1)
        m = np.linalg.inv(aff) @ oaff
        coords = m[:3, :3] @ idx + m[:3, 3:4]
        # No sample lies half-way between two voxels here (20 j = 14 k + 7 has no solution).
        ref = ndimage.map_coordinates(lab, coords, order=0, mode="nearest").reshape(out.shape)
        np.testing.assert_array_equal(out, ref)
    with pytest.raises(ctprep.UsageError):
        ctprep.resample(lab, aff, spacing=1.0, interp="nearest", fill=0.5)
    with pytest.raises(ctprep.UsageError):
        ctprep.resample(lab, aff, spacing=1.0, interp="nearest", fill=300)
    filled, _ = ctprep.resample(lab, aff, like=((20, 20, 20), affine_of((1, 1, 1), origin=(-5, -5, -5))), interp="nearest", fill=0)
    assert (filled == 0).any()


def test_a_volume_in_gives_a_volume_out_with_the_scaling_where_it_applies():
    ct = ctprep.phantom((24, 20, 8), (0.8, 0.8, 2.5), dtype="uint16")
    iso = ctprep.resample(ct, spacing=1.5)
    assert isinstance(iso, ctprep.Volume) and iso.scaling is None and iso.dtype == np.float32
    direct, _ = ctprep.resample(ct.array, ct.affine, spacing=1.5, scaling=ct.scaling)
    np.testing.assert_array_equal(iso.array, direct)
    assert iso.array.min() < -900  # HU, not stored values
    near = ctprep.resample(ct, spacing=1.5, interp="nearest")
    assert near.dtype == np.uint16 and near.scaling == (1.0, -1024.0)


def test_grid_conventions_give_their_sizes():
    v = np.zeros((10, 7, 5), np.float32)
    aff = affine_of((0.75, 1.2, 2.5))
    s, t = np.array([0.75, 1.2, 2.5]), 1.0
    n = np.array(v.shape)
    expected = {
        "seed": np.ceil((n - 1) * s / t),
        "first-centre": np.round((n - 1) * s / t + 1),
        "centred": np.floor(n * s / t),
        "extent": np.round(n * s / t),
    }
    for convention, m in expected.items():
        out, _ = ctprep.resample(v, aff, spacing=t, convention=convention)
        assert out.shape == tuple(m.astype(int)), convention
    with pytest.raises(ctprep.UsageError):
        ctprep.resample(v, aff, spacing=1.0, convention="middle")


SCIPY_MODES = {"edge": "nearest", "constant": "grid-constant", "reflect": "reflect", "mirror": "mirror", "wrap": "grid-wrap"}


@pytest.mark.parametrize("mode", [None, *SCIPY_MODES])
@pytest.mark.parametrize("order", ["C", "F"])
def test_cubic_resampling_matches_scipy(mode, order):
    shape = (9, 7, 5)
    v = np.asarray(random_volume(shape, np.int16, seed=11), order=order)
    aff = affine_of((0.7, 1.3, 2.5), origin=(-3.0, 4.0, 10.0))
    fill = -1024.0 if mode == "constant" else None
    out, oaff = ctprep.resample(v, aff, spacing=(0.9, 0.8, 1.1), interp="cubic", mode=mode, fill=fill)
    assert out.dtype == np.float32 and (out.flags.f_contiguous if order == "F" else out.flags.c_contiguous)
    idx = np.indices(out.shape, dtype=np.float64).reshape(3, -1)
    m = np.linalg.inv(aff) @ oaff
    coords = m[:3, :3] @ idx + m[:3, 3:4]
    ref = ndimage.map_coordinates(
        v.astype(np.float64), coords, order=3, mode=SCIPY_MODES[mode or "edge"], cval=fill or 0.0
    ).reshape(out.shape)
    span = float(v.max()) - float(v.min())
    assert np.abs(out - ref).max() <= 1e-4 * span


@pytest.mark.parametrize("layout", ["C", "F", "permuted"])
def test_per_axis_orders_follow_the_axes(layout):
    # Cubic along the first two axes, nearest along the third: scipy one axis at a time.
    shape = (8, 6, 5)
    v = random_volume(shape, np.float32, seed=3)
    aff = affine_of((0.8, 0.8, 3.0), origin=(0.0, 0.0, 0.0))
    x = {"C": np.ascontiguousarray(v), "F": np.asfortranarray(v)}.get(layout)
    if x is None:
        x = np.ascontiguousarray(v.transpose(1, 2, 0)).transpose(2, 0, 1)  # dense, permuted axes
    out, oaff = ctprep.resample(x, aff, spacing=(0.5, 1.1, 1.0), order=(3, 3, 0))
    ref = v.astype(np.float64)
    step = np.linalg.inv(aff) @ oaff
    for axis, o in enumerate((3, 3, 0)):
        pts = step[axis, axis] * np.arange(out.shape[axis]) + step[axis, 3]
        ref = np.apply_along_axis(
            lambda line: ndimage.map_coordinates(line, pts[None], order=o, mode="nearest"), axis, ref
        )
    assert np.abs(out - ref).max() <= 1e-4 * (float(v.max()) - float(v.min()))


def test_nearest_under_a_mode_keeps_the_type():
    v = random_volume((5, 4, 3), np.uint8, seed=2)
    aff = np.eye(4)
    out, oaff = ctprep.resample(v, aff, like=((9, 4, 3), np.diag([1.0, 1.0, 1.0, 1.0]) @ _shift(-2.0)), interp="nearest", mode="wrap")
    assert out.dtype == np.uint8
    coords = np.indices(out.shape, dtype=np.float64).reshape(3, -1) + np.array([[-2.0], [0.0], [0.0]])
    ref = ndimage.map_coordinates(v, coords, order=0, mode="grid-wrap").reshape(out.shape)
    np.testing.assert_array_equal(out, ref)


def _shift(dx: float) -> np.ndarray:
    t = np.eye(4)
    t[0, 3] = dx
    return t


def test_clip_input_range_bounds_the_overshoot():
    v = np.full((12, 6, 6), -1000, np.int16)
    v[6:] = 1000  # a sharp step: the cubic spline overshoots on both sides
    aff = np.eye(4)
    free, _ = ctprep.resample(v, aff, spacing=(0.3, 1.0, 1.0), interp="cubic")
    clipped, _ = ctprep.resample(v, aff, spacing=(0.3, 1.0, 1.0), interp="cubic", clip_input_range=True)
    assert free.min() < -1000 and free.max() > 1000
    assert clipped.min() == -1000 and clipped.max() == 1000
    np.testing.assert_array_equal(clipped, np.clip(free, -1000, 1000))


def test_resample_refuses_nonsense():
    v = np.zeros((4, 4, 4), np.int16)
    aff = np.eye(4)
    with pytest.raises(ctprep.UsageError):
        ctprep.resample(v, aff)
    with pytest.raises(ctprep.UsageError):
        ctprep.resample(v, aff, spacing=1.0, like=((4, 4, 4), aff))
    with pytest.raises(ctprep.UsageError):
        ctprep.resample(v, aff, spacing=-1.0)
    with pytest.raises(ctprep.UsageError):
        ctprep.resample(v, aff, spacing=(1.0, 2.0))
    with pytest.raises(ctprep.UsageError):
        ctprep.resample(v, aff, spacing=1.0, interp="quadratic")
    with pytest.raises(ctprep.UsageError):
        ctprep.resample(v, aff, spacing=1.0, interp="cubic", order=3)
    with pytest.raises(ctprep.UsageError):
        ctprep.resample(v, aff, spacing=1.0, order=(3, 2, 3))
    with pytest.raises(ctprep.UsageError):
        ctprep.resample(v, aff, spacing=1.0, order=(3, 3))
    with pytest.raises(ctprep.UsageError):
        ctprep.resample(v, aff, spacing=1.0, mode="grid-wrap")
    with pytest.raises(ctprep.UsageError):
        ctprep.resample(v, aff, spacing=1.0, interp="cubic", mode="constant")
    with pytest.raises(ctprep.UsageError):
        ctprep.resample(v, aff, spacing=1.0, interp="cubic", mode="reflect", fill=0.0)
    with pytest.raises(ctprep.UsageError):
        ctprep.resample(v, aff, spacing=1.0, interp="nearest", clip_input_range=True)
    with pytest.raises(ctprep.UsageError):
        ctprep.resample(v, aff, spacing=1.0, fill=float("inf"))
    with pytest.raises(ctprep.UsageError):
        ctprep.resample(v, spacing=1.0)
    with pytest.raises(ctprep.BadInputError):
        ctprep.resample(np.zeros((4, 4)), aff, spacing=1.0)
    with pytest.raises(ctprep.BadInputError):
        ctprep.resample(np.zeros((4, 0, 4)), aff, spacing=1.0)
    with pytest.raises(ctprep.BadInputError):
        ctprep.resample(v, np.zeros((4, 4)), spacing=1.0)
    with pytest.raises(ctprep.LimitError):
        ctprep.resample(v, aff, spacing=1e-6)  # 6e19 voxels: refused before any allocation
    with pytest.raises(ctprep.LimitError):
        ctprep.resample(v, aff, like=((2**40, 2**40, 2), aff))
    with pytest.raises(ctprep.UsageError):
        ctprep.resample(v, aff, like=((-4, 4, 4), aff))
    with pytest.raises(ctprep.UsageError):
        ctprep.resample(v, aff, like=((4, 4, 4), aff), convention="seed")
    raw = bytearray(v.nbytes + 1)
    unaligned = np.frombuffer(raw, np.int16, offset=1, count=v.size).reshape(v.shape)
    assert not unaligned.flags.aligned
    out, _ = ctprep.resample(unaligned, aff, spacing=2.0)  # copied first, never refused
    assert out.shape == (2, 2, 2)
    with pytest.raises(ctprep.UnsupportedError):
        ctprep.resample(v.astype(np.complex64), aff, spacing=1.0)


# --- project --------------------------------------------------------------------------------


def slab_reference(v, k, axis, reduce, align, edges):
    """The documented windows, reduced with numpy (float64 for the mean)."""
    n = v.shape[axis]
    f = {"max": np.max, "min": np.min, "mean": np.mean}[reduce]
    h = k // 2 if align == "centre" else 0
    outs = []
    js = range(n - k + 1) if edges == "valid" else range(n)
    for j in js:
        s = j - h if edges != "valid" else j
        e = s + k - 1
        if edges == "zero" and (s < 0 or e >= n - 1):
            outs.append(np.zeros(np.delete(v.shape, axis), np.float64))
            continue
        s, e = max(s, 0), min(e, n - 1)
        outs.append(f(np.take(v, range(s, e + 1), axis=axis).astype(np.float64), axis=axis))
    return np.stack(outs, axis=axis)


@pytest.mark.parametrize("shape", [(1, 1, 1), (7, 5, 9), (17, 3, 12), (8, 16, 6)])
@pytest.mark.parametrize("axis", [0, 1, 2])
@pytest.mark.parametrize("order", ["C", "F"])
def test_projections_match_numpy_in_both_orders(shape, axis, order):
    v = np.asarray(random_volume(shape, np.float32, seed=axis), order=order)
    aff = affine_of((0.8, 0.9, 2.0))
    for reduce in ["max", "min", "mean"]:
        for align in ["start", "centre"]:
            for edges in ["shrink", "zero"] + (["valid"] if shape[axis] >= 3 else []):
                out, oaff = ctprep.project(v, aff, slab=3, axis=axis, reduce=reduce, align=align, edges=edges)
                ref = slab_reference(v, 3, axis, reduce, align, edges)
                if reduce == "mean":
                    np.testing.assert_allclose(out, ref, rtol=0, atol=1e-6 * 2500)
                else:
                    np.testing.assert_array_equal(out, ref.astype(np.float32))
                assert oaff[:3, :3].tolist() == aff[:3, :3].tolist()


def test_centred_max_is_scipys_maximum_filter_and_whole_axis_is_numpys():
    v = random_volume((9, 10, 11), np.float32)
    aff = affine_of((1.0, 1.0, 2.5))
    out, _ = ctprep.project(v, aff, slab=5, align="centre")
    np.testing.assert_array_equal(out, ndimage.maximum_filter1d(v, 5, axis=2, mode="nearest"))
    mm, _ = ctprep.project(v, aff, slab_mm=12.5, align="centre")  # round(12.5 / 2.5) = 5
    np.testing.assert_array_equal(mm, out)
    for axis in range(3):
        whole, waff = ctprep.project(v, aff, whole=True, axis=axis, reduce="min")
        np.testing.assert_array_equal(whole, v.min(axis=axis, keepdims=True))
    strided, saff = ctprep.project(v, aff, slab=3, stride=2)
    np.testing.assert_array_equal(strided, slab_reference(v, 3, 2, "max", "start", "shrink")[:, :, ::2].astype(np.float32))
    assert saff[2, 2] == 5.0


def test_every_projection_kernel_matches_the_oracle_with_nan():
    v = random_volume((33, 7, 20), np.float32, seed=2)
    v[5, 3, 7] = np.nan
    aff = np.eye(4)
    for reduce in ["max", "min", "mean"]:
        oracle, _ = ctprep.project(v, aff, slab=4, reduce=reduce, align="centre", kernel="scalar", threads=1)
        assert np.isnan(oracle[5, 3, 6:10]).all() and np.isnan(oracle).sum() == 4  # windows j-2..j+1
        for kernel, threads in EXECS:
            out, _ = ctprep.project(v, aff, slab=4, reduce=reduce, align="centre", kernel=kernel, threads=threads)
            if reduce == "mean":
                np.testing.assert_allclose(out, oracle, rtol=0, atol=1e-6 * 2500, err_msg=f"{kernel} x {threads}")
            else:
                np.testing.assert_array_equal(out, oracle, err_msg=f"{kernel} x {threads}")


def test_projection_of_integers_uses_the_real_values():
    ct = ctprep.phantom((12, 10, 9), dtype="uint16")
    mip = ctprep.project(ct, slab=3)
    assert mip.array.dtype == np.float32
    np.testing.assert_array_equal(mip.array, slab_reference(ct.scaled(np.float32), 3, 2, "max", "start", "shrink").astype(np.float32))


def test_project_refuses_nonsense():
    v = np.zeros((4, 4, 4), np.float32)
    for bad in [dict(), dict(slab=0), dict(slab=2, whole=True), dict(slab_mm=-1), dict(slab=2, axis=3),
                dict(slab=2, reduce="median"), dict(slab=2, align="end"), dict(slab=2, stride=0), dict(slab=2, edges="wrap"),
                dict(slab=-1), dict(slab=2**64), dict(slab=2, stride=-3), dict(slab=2, axis=True), dict(slab=2.5),
                dict(slab=2, threads=True)]:
        with pytest.raises(ctprep.UsageError):
            ctprep.project(v, np.eye(4), **bad)
    with pytest.raises(ctprep.BadInputError):
        ctprep.project(v, np.eye(4), slab=5, edges="valid")


# --- reorient -------------------------------------------------------------------------------


@pytest.mark.parametrize("codes", ["LPS", "PIR", "RAS", "SLA"])
def test_reorient_matches_nibabel_and_is_a_view(codes):
    v = random_volume((5, 6, 7), np.int16)
    aff = rotated_affine((0.8, 0.9, 2.5), 20.0)
    img = nib.Nifti1Image(v, aff)
    target = nib.orientations.axcodes2ornt(tuple(codes))
    start = nib.orientations.io_orientation(aff)
    ref = img.as_reoriented(nib.orientations.ornt_transform(start, target))
    out, oaff = ctprep.reorient(v, aff, codes)
    np.testing.assert_array_equal(out, np.asarray(ref.dataobj))
    np.testing.assert_allclose(oaff, ref.affine, atol=1e-9)
    assert np.shares_memory(out, v)
    assert "".join(nib.aff2axcodes(oaff)) == codes
    canon, caff = ctprep.reorient(v, aff)
    cref = nib.as_closest_canonical(img)
    np.testing.assert_array_equal(canon, np.asarray(cref.dataobj))
    np.testing.assert_allclose(caff, cref.affine, atol=1e-9)


def test_reorient_refuses_nonsense():
    v = np.zeros((2, 3, 4), np.int16)
    with pytest.raises(ctprep.UsageError):
        ctprep.reorient(v, np.eye(4), "LPX")
    with pytest.raises(ctprep.BadInputError):
        ctprep.reorient(v, np.diag([1.0, 0.0, 1.0, 1.0]))
    with pytest.raises(ctprep.BadInputError):
        ctprep.reorient(np.zeros((2, 3)), np.eye(4))


# --- real data ------------------------------------------------------------------------------


def test_the_recipe_on_a_real_ct_matches_scipy():
    ct = ctprep.read(shared("ct", "ts_example_ct_sm.nii.gz"))
    iso, aff = ctprep.resample(ct.array, ct.affine, spacing=2.0, scaling=ct.scaling)
    ref = linear_reference(ct.scaled(np.float64), ct.affine, iso.shape, aff)
    np.testing.assert_allclose(iso, ref, rtol=0, atol=1e-3)
    unit = ctprep.window(iso, preset="soft-tissue")
    np.testing.assert_allclose(unit, window_reference(iso, -160, 240).astype(np.float32), atol=1.2e-7)
    mip, _ = ctprep.project(unit, aff, slab=5, align="centre")
    np.testing.assert_array_equal(mip, ndimage.maximum_filter1d(unit, 5, axis=2, mode="nearest"))


def test_antialias_matches_skimage_recipe():
    # skimage's resize(anti_aliasing=True) is scipy's gaussian_filter then zoom(grid_mode=True).
    v = random_volume((12, 10, 9), np.float32, seed=8).astype(np.float64)
    m = (5, 7, 4)
    n = np.array(v.shape)
    step = n / np.array(m)
    aff = np.eye(4)
    like = np.diag([*step, 1.0])
    like[:3, 3] = 0.5 * step - 0.5
    out, _ = ctprep.resample(v.astype(np.float32), aff, like=(m, like), interp="cubic", antialias=True)
    sigma = np.maximum(0, (step - 1) / 2)
    ref = ndimage.zoom(ndimage.gaussian_filter(v, sigma, mode="nearest"), np.array(m) / n, order=3, mode="nearest", grid_mode=True)
    assert np.abs(out - ref).max() <= 1e-4 * (v.max() - v.min())


@pytest.mark.parametrize("layout", ["C", "F"])
def test_nnunet_scheme_and_onehot_labels(layout):
    v = random_volume((23, 19, 9), np.int16, seed=4)
    labels = (np.indices((23, 19, 9)).sum(axis=0) // 9 % 4).astype(np.uint8)
    aff = affine_of((0.78, 0.78, 3.5))
    x, lab = np.asarray(v, order=layout), np.asarray(labels, order=layout)
    img, oaff = ctprep.resample(x, aff, spacing=1.0, scheme="nnunet")
    # nnU-Net's target shape round(s / t * n), halves to even, on the extent grid.
    assert img.shape == (18, 15, 32)
    np.testing.assert_allclose(np.diag(oaff)[:3], np.array([0.78, 0.78, 3.5]) * np.array(v.shape) / np.array(img.shape))
    assert img.min() >= v.min() and img.max() <= v.max(), "clipped as skimage clips"
    seg, _ = ctprep.resample(lab, aff, spacing=1.0, scheme="nnunet", interp="onehot")
    assert seg.dtype == np.uint8 and seg.shape == img.shape
    assert set(np.unique(seg)) <= set(np.unique(labels))
    other = np.asarray(v, order="F" if layout == "C" else "C")
    same, _ = ctprep.resample(other, aff, spacing=1.0, scheme="nnunet")
    # The other layout interpolates its axes in the other order: equal to float32 rounding.
    assert np.abs(same - img).max() <= 1e-4 * (float(v.max()) - float(v.min()))
