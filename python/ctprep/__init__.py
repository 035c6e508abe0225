"""ctprep: fast, correct CT preprocessing, numpy in and out.

Volumes are numpy arrays indexed ``[x, y, z]`` (nibabel's order) with a 4x4 float64 ``affine``
mapping voxel indices to RAS+ millimetres next to every array::

    import ctprep
    ct = ctprep.read("ct.nii.gz")                       # int16 as stored, nibabel's affine
    iso = ctprep.resample(ct, spacing=1.0)              # float32 HU (scl_slope/scl_inter applied)
    unit = ctprep.window(iso, preset="lung")            # [0, 1]
    mip = ctprep.project(unit, slab_mm=10, align="centre")
    ctprep.write("mip.nii.gz", mip)

Every function takes either a :class:`Volume` (and returns one) or an array and its affine (and
returns ``(array, affine)``; :func:`window` returns the array alone, its grid unchanged).

Array orders: the kernels work on x-fastest memory, which is a Fortran-order array of shape
(X, Y, Z). A C-order array of the same shape is the same memory with the axes reversed, so it is
passed as its transpose (no copy: the affine's columns are reversed with it) and the result comes
back in C order; a dense array with its axes stored in another order likewise. Only strided views
(contiguous in no order) and unaligned arrays are copied first, in their memory's order (one
sequential copy). Read-only arrays are accepted. The GIL is released while every kernel runs, so
threads (a ``ThreadPoolExecutor``, a PyTorch ``DataLoader`` with thread workers) run them in
parallel; an array another thread writes into meanwhile gives undefined values, as with numpy's
own functions.

``kernel`` (``auto``, ``scalar``, ``wide``, ``dispatched``) and ``threads`` (``auto``, ``1``,
``N``) choose the implementation as the command line's ``--kernel`` and ``--threads`` do; the
results are the same for every choice.
"""

from __future__ import annotations

import json
import os
from typing import Any, Dict, List, Optional, Sequence, Tuple, Union

import numpy as np

from . import _ctprep
from .errors import (
    BadInputError,
    Error,
    FileError,
    LimitError,
    NotAlignedError,
    UnsupportedError,
    UsageError,
)

__all__ = [
    "Volume",
    "Recipe",
    "read",
    "write",
    "window",
    "resample",
    "project",
    "reorient",
    "run",
    "batch",
    "batch_summary",
    "report",
    "window_presets",
    "phantom",
    "Error",
    "UsageError",
    "BadInputError",
    "FileError",
    "UnsupportedError",
    "LimitError",
    "NotAlignedError",
]

__version__: str = _ctprep.build_info()[0]

PathLike = Union[str, "os.PathLike[str]"]


class Volume:
    """A volume: its voxels, where they are, and what the file said.

    Attributes:
        array: the voxels in their stored type, indexed ``[x, y, z]`` (Fortran order when read).
        affine: 4x4 float64, voxel index to RAS+ mm (nibabel's ``img.affine``).
        scaling: ``(scl_slope, scl_inter)`` turning stored values into real ones (HU), or
            ``None`` when they are the real values.
        header: the file's header fields (NIfTI names; an NRRD's own under ``"nrrd"``); empty
            for a volume made in memory.
        path: the file it was read from, or ``None``.
    """

    __slots__ = ("array", "affine", "scaling", "header", "path")

    def __init__(
        self,
        array: np.ndarray,
        affine: Any,
        *,
        scaling: Optional[Tuple[float, float]] = None,
        header: Optional[Dict[str, Any]] = None,
        path: Optional[str] = None,
    ) -> None:
        self.array = np.asarray(array)
        self.affine = _affine(affine)
        self.scaling = None if scaling is None else (float(scaling[0]), float(scaling[1]))
        self.header = {} if header is None else header
        self.path = path

    @property
    def shape(self) -> Tuple[int, ...]:
        return self.array.shape

    @property
    def dtype(self) -> np.dtype:
        return self.array.dtype

    @property
    def spacing(self) -> Tuple[float, float, float]:
        """Voxel spacing in mm along each voxel axis (the affine's column lengths)."""
        return tuple(float(s) for s in np.sqrt((self.affine[:3, :3] ** 2).sum(axis=0)))  # type: ignore[return-value]

    @property
    def axcodes(self) -> str:
        """Axis codes of the voxel axes (nibabel's ``aff2axcodes``), e.g. ``"LPS"``."""
        return _ctprep.axcodes(self.affine)

    def scaled(self, dtype: Any = np.float32) -> np.ndarray:
        """The real values (``stored * slope + inter``, computed in float64) as ``dtype``."""
        if self.scaling is None:
            return self.array.astype(dtype)
        slope, inter = self.scaling
        return (self.array.astype(np.float64) * slope + inter).astype(dtype)

    def __repr__(self) -> str:
        where = f" from {self.path!r}" if self.path else ""
        scaling = f", scaling={self.scaling}" if self.scaling else ""
        spacing = ", ".join(f"{s:g}" for s in self.spacing)
        return (
            f"Volume(shape={self.array.shape}, dtype={self.array.dtype}, spacing=({spacing}), "
            f"axcodes={self.axcodes!r}{scaling}{where})"
        )


def _affine(affine: Any) -> np.ndarray:
    a = np.array(affine, dtype=np.float64, copy=True)
    if a.shape != (4, 4):
        raise BadInputError(f"affine: shape {a.shape}, expected (4, 4)")
    return a


def _unpack(x: Any, affine: Any, scaling: Optional[Tuple[float, float]], need_affine: bool = True):
    """(array, affine, scaling, was_volume) from a Volume or an array and its affine."""
    if isinstance(x, Volume):
        if affine is not None:
            raise UsageError("a Volume carries its affine: give no affine with it")
        return x.array, x.affine, x.scaling if scaling is None else scaling, True
    if affine is None and need_affine:
        raise UsageError("give the array's affine (4x4, voxel index to RAS+ mm), or pass a ctprep.Volume")
    return np.asarray(x), None if affine is None else _affine(affine), scaling, False


def _layout(a: np.ndarray) -> Tuple[np.ndarray, Optional[List[int]]]:
    """The array in x-fastest layout, and the axis order ``perm`` it is seen in (``None``: the
    caller's own). A C-order array is its transpose (``perm = [2, 1, 0]``), a dense array with
    permuted axes the matching transpose: the same memory, nothing copied; the affine's
    columns, the spacing and the result follow ``perm``. Only arrays contiguous in no order of
    their axes (strided views) or not aligned are copied first, in their memory's order (a
    sequential copy, never a transposing one)."""
    if a.ndim != 3:
        raise BadInputError(f"array: a 3-D array is needed, this one has shape {a.shape}")
    if not a.flags.aligned:
        a = a.copy(order="K")
    if a.flags.f_contiguous:
        return a, None
    if a.flags.c_contiguous:
        return a.T, [2, 1, 0]
    perm = [int(i) for i in np.argsort([abs(s) for s in a.strides], kind="stable")]
    if not a.transpose(perm).flags.f_contiguous:
        a = a.copy(order="K")
        perm = [int(i) for i in np.argsort(a.strides, kind="stable")]
    return a.transpose(perm), perm


def _columns(affine: np.ndarray, perm: Optional[List[int]]) -> np.ndarray:
    """The affine of the array seen in axis order ``perm``."""
    return affine if perm is None else affine[:, [*perm, 3]]


def _back(out: np.ndarray, affine: np.ndarray, perm: Optional[List[int]]) -> Tuple[np.ndarray, np.ndarray]:
    """A result computed in axis order ``perm``, in the caller's axis order."""
    if perm is None:
        return out, affine
    inv = [int(i) for i in np.argsort(perm)]
    return out.transpose(inv), affine[:, [*inv, 3]]


def _dense(a: np.ndarray) -> Tuple[np.ndarray, Optional[np.ndarray]]:
    """For elementwise kernels: ``a`` as a C- or Fortran-contiguous array (itself, or a
    transposed view of a dense array whose axes are stored in another order; a copy in its
    memory's order only for strided or unaligned arrays), with the axis order that turns a
    result of that shape back into ``a``'s."""
    if a.flags.aligned and (a.flags.c_contiguous or a.flags.f_contiguous):
        return a, None
    if a.flags.aligned and a.ndim > 0:
        perm = np.argsort([abs(s) for s in a.strides], kind="stable")[::-1]
        view = a.transpose(perm)
        if view.flags.c_contiguous:  # dense, axes stored permuted: the same memory
            return view, np.argsort(perm)
    b = a.copy(order="K")
    if b.flags.c_contiguous or b.flags.f_contiguous:
        return b, None
    perm = np.argsort(b.strides, kind="stable")[::-1]
    return np.ascontiguousarray(b.transpose(perm)), np.argsort(perm)


def _exec(kernel: Optional[str], threads: Union[None, int, str]) -> Tuple[Optional[str], Optional[str]]:
    if isinstance(threads, (bool, np.bool_)):
        raise UsageError(f"threads={threads!r}: a count or 'auto'")
    return kernel, None if threads is None else str(threads)


def _count(name: str, value: Any, minimum: int) -> int:
    """A whole number of at least ``minimum`` (and within 64 bits), or a UsageError naming it."""
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, np.integer)):
        raise UsageError(f"{name} {value!r}: a whole number is needed")
    if not minimum <= int(value) < 2**63:
        raise UsageError(f"{name} {value}: must be at least {minimum}")
    return int(value)


def _spacing3(spacing: Union[float, Sequence[float]]) -> List[float]:
    s = np.atleast_1d(np.asarray(spacing, dtype=np.float64))
    if s.shape == (1,):
        s = np.repeat(s, 3)
    if s.shape != (3,):
        raise UsageError(f"spacing {spacing!r}: one number (isotropic) or three")
    return [float(v) for v in s]


def read(
    path: PathLike,
    *,
    scaled: bool = False,
    mmap: bool = False,
    series: Union[None, int, str] = None,
    fill_padding: Optional[float] = None,
    uneven: str = "error",
) -> Volume:
    """Reads a NIfTI-1/2 (``.nii``, ``.nii.gz``, ``.hdr``/``.img``) or NRRD (``.nrrd``,
    ``.nhdr``) file, or a DICOM series (a folder, or one file of the series), told apart by
    content.

    DICOM is read as the command line reads it (slices ordered along the normal, dcm2niix's
    geometry, gantry tilt kept as the sheared affine): ``series`` picks one where the folder
    holds several (an index or a SeriesInstanceUID, as ``ctprep info`` lists them),
    ``fill_padding`` sets the voxels holding PixelPaddingValue to that real value (HU), and
    ``uneven="resample"`` interpolates unevenly spaced slices onto a uniform stack instead of
    raising. ``header["dicom"]`` then holds the series (``series_uid``, ``series_description``,
    ``modality``, ``slices``, ``files``, ``acquisition_number``) and the reading's ``notes``
    (files skipped and why, padding, resampling), one line each.

    The array keeps the stored type, indexed ``[x, y, z]`` in Fortran order: the decoded buffer
    itself, moved into numpy without a copy. With ``mmap=True``, an uncompressed file in native
    byte order is not read at all: the array is a read-only view of the file's memory mapping
    (pages load as they are touched; the file must not change meanwhile); other files are read
    as without it. ``scaled=True`` returns the real values (HU) as float32 instead, with
    ``scaling`` then ``None``. The affine is nibabel's (sform, else qform, else pixdim; an NRRD's
    as ITK reads it, in RAS).
    """
    if isinstance(series, (bool, np.bool_)):
        raise UsageError(f"series={series!r}: an index or a SeriesInstanceUID")
    pick = None if series is None else str(series)
    fill = None if fill_padding is None else float(fill_padding)
    v = _volume(_ctprep.read(os.fspath(path), mmap, pick, fill, uneven))
    if scaled:
        v.array = v.scaled(np.float32)
        v.scaling = None
    return v


def _volume(d: Dict[str, Any]) -> Volume:
    return Volume(d["array"], d["affine"], scaling=d["scaling"], header=d["header"], path=d["path"])


def phantom(
    shape: Sequence[int],
    spacing: Union[float, Sequence[float]] = 1.0,
    *,
    axcodes: str = "RAS",
    dtype: str = "int16",
    noise: float = 10.0,
    seed: int = 0,
    labels: bool = False,
):
    """A deterministic synthetic CT in HU (body, lungs, liver, spine, ribs, aorta) of ``shape``
    voxels stored in ``axcodes`` order: int16, or ``uint16`` of HU + 1024 with scaling (1, -1024).
    With ``labels=True``, returns ``(ct, labels)``, the uint8 label map on the same grid."""
    shape3 = list(shape)
    if len(shape3) != 3:
        raise UsageError(f"shape {shape!r}: three sizes")
    shape3 = [_count("shape", s, 1) for s in shape3]
    ct, lab = _ctprep.phantom(shape3, _spacing3(spacing), axcodes, dtype, float(noise), _count("seed", seed, 0), labels)
    if lab is not None:
        return _volume(ct), _volume(lab)
    return _volume(ct)


def write(
    path: PathLike,
    volume: Union[Volume, np.ndarray],
    affine: Any = None,
    *,
    scaling: Optional[Tuple[float, float]] = None,
    gzip_level: int = 6,
) -> None:
    """Writes a volume (or an array and its affine) to ``path``: ``.nii``, ``.nii.gz``,
    ``.nrrd`` or ``.nhdr`` by its name. ``scaling`` (or the Volume's) is stored as
    scl_slope/scl_inter. The file appears complete or not at all (a temporary file renamed).
    Costs one copy of the array into the file's x-fastest order, whatever its layout."""
    a, aff, scaling, _ = _unpack(volume, affine, scaling)
    if a.ndim == 0:
        raise BadInputError("array: a 0-D array is not a volume")
    if not a.flags.aligned:
        a = a.copy(order="K")
    _ctprep.write(os.fspath(path), a, aff, scaling, _count("gzip_level", gzip_level, 0))


def window(
    x: Union[Volume, np.ndarray],
    window: Optional[Tuple[float, float]] = None,
    *,
    preset: Optional[str] = None,
    out_range: Tuple[float, float] = (0.0, 1.0),
    dtype: Any = np.float32,
    scaling: Optional[Tuple[float, float]] = None,
    kernel: Optional[str] = None,
    threads: Union[None, int, str] = None,
    report: bool = False,
):
    """Clips real values to ``window = (lo, hi)`` (HU) or a named ``preset`` and maps them
    linearly onto ``out_range`` (default [0, 1]), fused with the conversion from the stored type:
    ``a + (clamp(v, lo, hi) - lo) / (hi - lo) * (b - a)`` with ``v = stored * slope + inter``.

    ``dtype``: float32, uint8 or uint16 (rounded). Any shape; C or Fortran order is kept (other
    layouts are copied first). NaN stays NaN in float32 output. Returns the array (a Volume for a
    Volume), plus the kernel report string when ``report=True``.
    """
    a, aff, scaling, was_volume = _unpack(x, None, scaling, need_affine=False)
    if (window is None) == (preset is None):
        raise UsageError("give window=(lo, hi) or preset=NAME (one of them)")
    lo, hi = _ctprep.window_preset(preset) if preset is not None else window  # type: ignore[misc]
    name = np.dtype(dtype).name
    if name in ("uint8", "uint16") and tuple(out_range) != (0.0, 1.0):
        raise UsageError(f"out_range applies to float32 output; {name} output uses its whole range")
    a, back = _dense(a)
    out, rep = _ctprep.window(a, float(lo), float(hi), float(out_range[0]), float(out_range[1]), name, scaling, *_exec(kernel, threads))
    if back is not None:
        out = out.transpose(back)
    result: Any = Volume(out, aff) if was_volume else out
    return (result, rep) if report else result


def resample(
    x: Union[Volume, np.ndarray],
    affine: Any = None,
    *,
    spacing: Union[None, float, Sequence[float]] = None,
    like: Union[None, Volume, Tuple[Sequence[int], Any]] = None,
    convention: Optional[str] = None,
    interp: Optional[str] = None,
    order: Union[None, int, Sequence[int]] = None,
    mode: Optional[str] = None,
    fill: Optional[float] = None,
    clip_input_range: bool = False,
    antialias: bool = False,
    scheme: Optional[str] = None,
    keep_shear: bool = False,
    scaling: Optional[Tuple[float, float]] = None,
    kernel: Optional[str] = None,
    threads: Union[None, int, str] = None,
    report: bool = False,
):
    """Resamples onto a new grid: ``spacing`` (mm per voxel axis, one number or three) under a
    grid ``convention`` (``seed``, ``first-centre`` (the default), ``centred``, ``extent``: see
    ``ctprep resample --help``), or onto ``like`` (a Volume, or ``(shape, affine)``).

    ``interp="linear"`` (the default): trilinear on the real values (the scaling fused), float32
    out. ``interp="cubic"``: the cubic B-spline of ``scipy.ndimage.map_coordinates(order=3)``
    (prefilter included), float32 out. ``interp="nearest"``: the nearest voxel in the stored
    type (label maps), scaling kept. ``order``: instead of ``interp``, scipy's spline order, 0, 1
    or 3, one or one per axis (``(3, 3, 0)``). ``mode``: beyond the edge, scipy's modes by the
    names ``edge``, ``constant`` (needs ``fill``), ``reflect``, ``mirror``, ``wrap`` (scipy
    ``nearest``, ``grid-constant``, ``reflect``, ``mirror``, ``grid-wrap``). ``fill`` without a
    mode: the value outside the input (outside [-0.5, n - 0.5) along an axis; inside it clamps
    to the edge, as SimpleITK); default: clamp everywhere. ``clip_input_range``: clip to the
    input's range (skimage's ``clip=True``). ``antialias``: smooth before downsampling
    (skimage's ``anti_aliasing=True``). ``interp="onehot"``: label maps, each label's mask
    interpolated (linear, or ``order`` 0/1 per axis), the highest score winning (nnU-Net's
    rule), in the stored type. ``scheme="nnunet"`` with ``spacing`` (the target): nnU-Net v2's
    resampling exactly (its shape and grid, cubic with nearest along a thick axis, clipped; with
    ``interp="onehot"`` its label rule); ``convention``, ``interp``, ``order``, ``mode`` given
    with it override its choices. A sheared input goes onto an orthonormal grid covering it
    unless ``keep_shear``.

    Returns ``(array, affine)`` (a Volume for a Volume), plus the report when ``report=True``.
    C-order input gives C-order output, Fortran gives Fortran; the values agree to float32
    rounding (the axes are interpolated in the other order).
    """
    a, aff, scaling, was_volume = _unpack(x, affine, scaling)
    f, perm = _layout(a)
    aff = _columns(aff, perm)
    interp = interp.lower() if isinstance(interp, str) else interp
    if like is not None and convention is not None:
        raise UsageError("convention applies to spacing=; like= takes the grid as it is")
    sp = None if spacing is None else _spacing3(spacing)
    if sp is not None and perm is not None:
        sp = [sp[p] for p in perm]
    lk = None
    if like is not None:
        shape, laff = (like.shape[:3], like.affine) if isinstance(like, Volume) else like
        shape = [_count("like size", s, 1) for s in shape]
        if len(shape) != 3:
            raise BadInputError(f"like: shape {shape}: three sizes needed")
        laff = _affine(laff)
        lk = (shape if perm is None else [shape[p] for p in perm], _columns(laff, perm))
    orders = None
    if order is not None:
        orders = [order] * 3 if isinstance(order, (int, np.integer)) else list(order)
        if len(orders) != 3 or not all(isinstance(o, (int, np.integer)) for o in orders):
            raise UsageError(f"order {order!r}: one order (0, 1 or 3) or three, one per axis")
        orders = [int(o) for o in orders]
        if perm is not None:
            orders = [orders[p] for p in perm]
    out, oaff, rep = _ctprep.resample(
        f,
        aff,
        sp,
        lk,
        convention,
        interp,
        orders,
        mode,
        fill,
        clip_input_range,
        antialias,
        scheme,
        keep_shear,
        scaling,
        *_exec(kernel, threads),
    )
    out, oaff = _back(out, oaff, perm)
    if was_volume:
        nearest = interp in ("nearest", "onehot") or (interp is None and orders is not None and orders == [0, 0, 0])
        kept = scaling if nearest else None
        result: Any = Volume(out, oaff, scaling=kept)
    else:
        result = (out, oaff)
    return (result, rep) if report else result


def project(
    x: Union[Volume, np.ndarray],
    affine: Any = None,
    *,
    slab: Optional[int] = None,
    slab_mm: Optional[float] = None,
    whole: bool = False,
    axis: int = 2,
    reduce: str = "max",
    align: str = "start",
    edges: str = "shrink",
    stride: int = 1,
    scaling: Optional[Tuple[float, float]] = None,
    kernel: Optional[str] = None,
    threads: Union[None, int, str] = None,
    report: bool = False,
):
    """Sliding thick-slab projection along voxel ``axis`` (0, 1, 2 = x, y, z): the options of
    ``ctprep mip``. Slabs of ``slab`` slices or ``slab_mm`` mm (``round(mm / spacing)``), or the
    ``whole`` axis into one slice; ``reduce`` max (MIP), min or mean; ``align`` start (slices
    i..i+k-1) or centre; ``edges`` shrink, valid or zero (the classic recipe); every
    ``stride``-th slice.

    Works on float32; other dtypes are converted to float32 real values first (one copy). The
    output affine overlays the input (each output slice where its anchor slice is). Returns
    ``(array, affine)`` (a Volume for a Volume), plus the report when ``report=True``.
    """
    a, aff, scaling, was_volume = _unpack(x, affine, scaling)
    if a.dtype != np.float32 or scaling is not None:
        a = Volume(a, aff, scaling=scaling).scaled(np.float32) if scaling is not None else a.astype(np.float32)
    if isinstance(axis, (bool, np.bool_)) or not isinstance(axis, (int, np.integer)) or not 0 <= axis <= 2:
        raise UsageError(f"axis {axis!r}: expected 0, 1 or 2")
    slab = None if slab is None else _count("slab", slab, 1)
    stride = _count("stride", stride, 1)
    f, perm = _layout(a)
    aff = _columns(aff, perm)
    view_axis = int(axis) if perm is None else perm.index(int(axis))
    out, oaff, rep = _ctprep.project(
        f, aff, slab, slab_mm, whole, view_axis, reduce, align, edges, stride, *_exec(kernel, threads)
    )
    out, oaff = _back(out, oaff, perm)
    result: Any = Volume(out, oaff) if was_volume else (out, oaff)
    return (result, rep) if report else result


def reorient(x: Union[Volume, np.ndarray], affine: Any = None, axcodes: str = "canonical"):
    """Flips and permutes the voxel axes to ``axcodes`` (``canonical``: closest to RAS, nibabel's
    ``as_closest_canonical``; or three letters such as ``LPS``), every voxel keeping its world
    position; the affine follows (nibabel's ``as_reoriented``).

    Returns a view (no copy; ``np.ascontiguousarray`` makes one when needed) and the new
    affine, or a Volume for a Volume (its scaling kept). Axes beyond the third are carried along.
    """
    a, aff, _, was_volume = _unpack(x, affine, None)
    if a.ndim < 3:
        raise BadInputError(f"array: at least 3 dimensions needed, this one has shape {a.shape}")
    to, oaff = _ctprep.reorientation(tuple(int(s) for s in a.shape[:3]), aff, axcodes)
    out = a
    axes = [0, 1, 2]
    for k, (axis, sign) in enumerate(to):
        if sign < 0:
            out = np.flip(out, axis=k)
        axes[axis] = k
    out = out.transpose(axes + list(range(3, a.ndim)))
    if was_volume:
        return Volume(out, oaff, scaling=x.scaling, header=x.header, path=x.path)  # type: ignore[union-attr]
    return out, oaff


def window_presets() -> Dict[str, Tuple[float, float]]:
    """The named windows (``lung``, ``bone``, ...) as ``{name: (lo, hi)}`` in HU."""
    return {name: (lo, hi) for name, lo, hi, _ in _ctprep.window_presets()}


def _word(v: Any) -> str:
    if isinstance(v, (bool, np.bool_)):
        raise UsageError(f"{v!r}: a flag takes True or False alone, not inside a list")
    if isinstance(v, (float, np.floating)):
        return repr(float(v))
    if isinstance(v, (int, np.integer)):
        return str(int(v))
    if isinstance(v, (str, os.PathLike)):
        return os.fspath(v)
    raise UsageError(f"{v!r}: expected a number, a string or a path")


def _args(options: Dict[str, Any]) -> List[str]:
    """Keyword options as ``ctprep`` command-line words: ``spacing=0.8`` is ``--spacing=0.8``,
    ``keep_shear=True`` is ``--keep-shear``, lists join with commas, ``None`` and ``False``
    leave the option out."""
    words: List[str] = []
    for key, value in options.items():
        if key in ("json", "out", "summary", "slurm"):
            raise UsageError(f"{key}=: not an option here (the function takes care of it)")
        if value is None or (isinstance(value, (bool, np.bool_)) and not value):
            continue
        flag = "--" + key.replace("_", "-")
        if isinstance(value, (bool, np.bool_)):
            words.append(flag)
        elif isinstance(value, (list, tuple)):
            words.append(f"{flag}=" + ",".join(_word(v) for v in value))
        else:
            words.append(f"{flag}={_word(value)}")
    return words


class Recipe:
    """The options of ``ctprep run`` (and ``batch``) under their command-line names, ``_`` for
    ``-``: ``preset``, ``axcodes``, ``spacing``, ``convention``, ``keep_shear``, ``window``,
    ``mip``, ``mip_mm``, ``mip_align``, ``mip_edges``, ``save``, ``gzip_level``, and ``kernel``,
    ``threads``, ``variant``. Options left out take the preset's default (the corrected recipe;
    :meth:`classic` for the classic Python recipe). Checked when made, with the command line's
    own messages::

        r = ctprep.Recipe(spacing=(0.8, 0.8, 1.0), preset="lung", mip_mm=10, save=["mip", "png"])
        ctprep.run("ct.nii.gz", "prep", r)
    """

    __slots__ = ("_options",)

    def __init__(self, **options: Any) -> None:
        self._options: Dict[str, Any] = dict(options)
        _ctprep.cli_check(["run", "in.nii.gz", "--out", "out", *_args(self._options)])

    @classmethod
    def classic(cls, **options: Any) -> "Recipe":
        """The classic Python recipe exactly (``--preset classic``), with ``options`` changed."""
        return cls(preset="classic", **options)

    @property
    def options(self) -> Dict[str, Any]:
        """The options given (a copy)."""
        return dict(self._options)

    def replace(self, **options: Any) -> "Recipe":
        """A recipe with ``options`` changed (``None`` removes one)."""
        merged = {**self._options, **options}
        return Recipe(**{k: v for k, v in merged.items() if v is not None})

    def to_args(self) -> List[str]:
        """The command-line words of the recipe (``ctprep run IN --out DIR <these>``)."""
        return _args(self._options)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Recipe) and sorted(self.to_args()) == sorted(other.to_args())

    def __repr__(self) -> str:
        inner = ", ".join(f"{k}={v!r}" for k, v in self._options.items())
        return f"Recipe({inner})"


def _merged(recipe: Optional[Recipe], options: Dict[str, Any]) -> List[str]:
    base = {} if recipe is None else recipe.options
    return _args({**base, **options})


def run(path: PathLike, out_dir: PathLike, recipe: Optional[Recipe] = None, **options: Any) -> Dict[str, Any]:
    """Runs the whole recipe on one scan, streamed, as ``ctprep run PATH --out OUT_DIR`` does,
    and returns its report (the ``--json`` document: shapes, affines, kernels, stage timings,
    output paths) as a dict.

    ``recipe`` and ``options`` are the command line's options (see :class:`Recipe`); ``options``
    override the recipe's, and also take ``label`` (a label map put on the output grid) and
    ``label_tolerance``. The GIL is released while it runs.
    """
    args = ["run", os.fspath(path), "--out", os.fspath(out_dir), *_merged(recipe, options)]
    return json.loads(_ctprep.cli_json(args))


def batch(
    source: PathLike, out_dir: PathLike, recipe: Optional[Recipe] = None, **options: Any
) -> Dict[str, Any]:
    """Runs the recipe over a dataset as ``ctprep batch SOURCE --out OUT_DIR`` does (a folder of
    scans, or a CSV / JSONL manifest of ``id,image,label``): resumable, one record per case.
    Returns the summary (counts ``cases``, ``done``, ``skipped``, ``failed``, one row per case);
    failed cases do not raise, they are counted (their reasons are in the rows).

    ``options``: the recipe's, and ``label_pattern``, ``label_tolerance``, ``jobs``, ``force``,
    ``shard`` (``"I/N"``). The GIL is released while it runs.
    """
    args = ["batch", os.fspath(source), "--out", os.fspath(out_dir), *_merged(recipe, options)]
    return json.loads(_ctprep.cli_json(args))


def report(out_dir: PathLike, jobs: Optional[int] = None) -> str:
    """Writes ``out_dir/report.html`` (``ctprep report``): one static page showing every case of
    a batch's output folder, making the thumbnails of cases that lack them. Returns its path."""
    args = ["report", os.fspath(out_dir)]
    if jobs is not None:
        args += ["--jobs", str(jobs)]
    return str(json.loads(_ctprep.cli_json(args))["path"])


def batch_summary(out_dir: PathLike) -> Dict[str, Any]:
    """The summary of the records in ``out_dir`` (``ctprep batch --summary``: after the shards
    of an array job ran), written to its summary.csv and summary.json too."""
    return json.loads(_ctprep.cli_json(["batch", "--summary", os.fspath(out_dir)]))

