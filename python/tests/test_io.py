"""ctprep.read and ctprep.write against nibabel (NIfTI) and SimpleITK (NRRD): the committed
fixture files, the shared real data, round trips in both array orders, and every bad file
giving its exception."""

from __future__ import annotations

import json

import nibabel as nib
import numpy as np
import pytest
import SimpleITK as sitk

import ctprep
from conftest import FIXTURES, random_volume, shared

NIFTI_REFERENCE = json.loads((FIXTURES / "nifti" / "reference.json").read_text())["files"]
NRRD_REFERENCE = json.loads((FIXTURES / "nrrd" / "reference.json").read_text())["files"]
OK_NIFTI = [f["path"] for f in NIFTI_REFERENCE if f["expect"] == "ok" and f["path"].endswith((".nii", ".nii.gz", ".hdr"))]
BAD_NIFTI = [(f["path"], f["error"]) for f in NIFTI_REFERENCE if f["expect"] == "error"]
OK_NRRD = [f["path"] for f in NRRD_REFERENCE if f["expect"] == "ok"]
BAD_NRRD = [f["path"] for f in NRRD_REFERENCE if f["expect"] == "error"]


def assert_like_nibabel(path) -> None:
    v = ctprep.read(path)
    img = nib.load(str(path))
    stored = np.asarray(img.dataobj.get_unscaled())
    assert v.array.shape == stored.shape
    assert v.array.dtype == stored.dtype.newbyteorder("=")
    np.testing.assert_array_equal(v.array, stored)
    np.testing.assert_allclose(v.affine, img.affine, rtol=0, atol=1e-6)
    assert v.axcodes == "".join(nib.aff2axcodes(img.affine))
    slope, inter = img.dataobj.slope, img.dataobj.inter
    if v.scaling is None:
        assert (slope, inter) == (1.0, 0.0)
    else:
        assert v.scaling == pytest.approx((slope, inter))
    # The real values as nibabel scales them (float64 there; float32 here).
    np.testing.assert_allclose(v.scaled(np.float64), np.asarray(img.dataobj, dtype=np.float64), rtol=1e-12)
    assert v.array.flags.f_contiguous


@pytest.mark.parametrize("rel", OK_NIFTI)
def test_fixture_nifti_files_read_as_nibabel_reads_them(rel):
    assert_like_nibabel(FIXTURES / rel)


@pytest.mark.parametrize(
    "rel",
    [
        "ct/ts_example_ct_sm.nii.gz",
        "ct/ts_example_seg.nii.gz",
        "ct/niivue_shear_ct_u8_scl_qform_ne_sform.nii.gz",
        "ct/niivue_CT_pitch_oblique_u8.nii.gz",
        "nifti-headers/nrjs_big_qform_only_bigendian_f32.nii.gz",
        "nifti-headers/nrjs_little_qform_only_f32.nii.gz",
        "nifti-headers/nrjs_avg152T1_LR_sform_only_bigendian_u8.nii.gz",
        "nifti-headers/niftijl_avg152T1_RL_sform_only_u8.nii.gz",
        "nifti-headers/nrjs_avg152T1_LR_nifti2_f32.nii.gz",
        "nifti-headers/air.hdr",
        "nifti-headers/air2.hdr",
        "nifti-headers/nrjs_5D_small_PSR_scl.nii",
        "nifti-headers/nrjs_with_extension_LPI.nii.gz",
        "nifti-headers/niivue_minimal_no_qform_no_sform.nii.gz",
    ],
)
def test_real_nifti_files_read_as_nibabel_reads_them(rel):
    assert_like_nibabel(shared(*rel.split("/")))


@pytest.mark.parametrize("rel", ["nifti-headers/niivue_complex64.nii.gz", "nifti-headers/niivue_ct_perfusion_rgb24.nii.gz"])
def test_unsupported_real_datatypes_are_named(rel):
    path = shared(*rel.split("/"))
    with pytest.raises(ctprep.UnsupportedError) as e:
        ctprep.read(path)
    assert path.name in str(e.value) and e.value.kind == "unsupported_datatype"
    assert isinstance(e.value, TypeError)


def test_every_orientation_reorients_to_the_same_canonical_volume():
    folder = shared("nifti-headers", "orientations")
    ras = ctprep.reorient(ctprep.read(folder / "RAS.nii.gz"))
    for path in sorted(folder.glob("*.nii.gz")):
        v = ctprep.read(path)
        img = nib.load(str(path))
        canon = nib.as_closest_canonical(img)
        c = ctprep.reorient(v)
        np.testing.assert_allclose(c.scaled(np.float64), np.asarray(canon.dataobj, dtype=np.float64), rtol=1e-12)
        np.testing.assert_allclose(c.affine, canon.affine, atol=1e-6)
        np.testing.assert_array_equal(c.array, ras.array)


def sitk_affine(img: "sitk.Image") -> np.ndarray:
    """SimpleITK's geometry (LPS) as a RAS voxel-to-world affine."""
    d = np.array(img.GetDirection()).reshape(3, 3)
    a = np.eye(4)
    a[:3, :3] = d @ np.diag(img.GetSpacing())
    a[:3, 3] = img.GetOrigin()
    return np.diag([-1.0, -1.0, 1.0, 1.0]) @ a


def sitk_array(img: "sitk.Image") -> np.ndarray:
    return sitk.GetArrayFromImage(img).transpose(2, 1, 0)


@pytest.mark.parametrize("rel", ["ct/lung1_image.nrrd", "ct/lung1_label.nrrd", "ct/liver_seg.nrrd"])
def test_real_nrrd_files_read_as_simpleitk_reads_them(rel):
    path = shared(*rel.split("/"))
    v = ctprep.read(path)
    img = sitk.ReadImage(str(path))
    np.testing.assert_array_equal(v.array, sitk_array(img))
    np.testing.assert_allclose(v.affine, sitk_affine(img), atol=1e-6)
    assert v.header["nrrd"]["encoding"] == "gzip"


@pytest.mark.parametrize("rel", [p for p in OK_NRRD if p.endswith(("lps_raw_le_i16.nrrd", "lps_gzip_be_f32.nrrd", "las_i32.nrrd", "ras_oblique_u8.nrrd", "u16.nrrd", "detached_gz.nhdr"))])
def test_fixture_nrrd_files_read_as_simpleitk_reads_them(rel):
    path = FIXTURES / rel
    v = ctprep.read(path)
    img = sitk.ReadImage(str(path))
    np.testing.assert_array_equal(v.array, sitk_array(img))
    np.testing.assert_allclose(v.affine, sitk_affine(img), atol=1e-6)


@pytest.mark.parametrize("rel,kind", BAD_NIFTI)
def test_bad_nifti_files_raise_their_kind(rel, kind):
    path = FIXTURES / rel
    with pytest.raises(ctprep.Error) as e:
        ctprep.read(path)
    assert e.value.kind == kind
    assert path.name in str(e.value)
    expected = {
        "unsupported_datatype": ctprep.UnsupportedError,
        "too_large": ctprep.LimitError,
    }.get(kind, ctprep.BadInputError)
    assert type(e.value) is expected


@pytest.mark.parametrize("rel", BAD_NRRD)
def test_bad_nrrd_files_raise_naming_the_file(rel):
    path = FIXTURES / rel
    with pytest.raises(ctprep.Error) as e:
        ctprep.read(path)
    assert path.name in str(e.value), str(e.value)
    expected = {"unsupported_encoding": ctprep.UnsupportedError, "unsupported_datatype": ctprep.UnsupportedError,
                "too_large": ctprep.LimitError, "io": ctprep.FileError}.get(e.value.kind, ctprep.BadInputError)
    assert type(e.value) is expected, (e.value.kind, type(e.value))


def test_a_missing_file_is_a_file_error():
    with pytest.raises(ctprep.FileError) as e:
        ctprep.read("/nonexistent/ct.nii.gz")
    assert isinstance(e.value, OSError) and e.value.kind == "io"
    assert "/nonexistent/ct.nii.gz" in str(e.value)


DTYPES = [np.uint8, np.int8, np.uint16, np.int16, np.uint32, np.int32, np.uint64, np.int64, np.float32, np.float64]


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("order", ["C", "F"])
def test_write_then_nibabel_reads_the_same_voxels_and_affine(tmp_path, dtype, order):
    rng = np.random.default_rng(3)
    a = np.asarray(rng.integers(0, 100, size=(5, 4, 3)), dtype=dtype, order=order)
    affine = np.array([[0.0, 0.0, 2.5, -30.0], [-0.8, 0.0, 0.0, 12.0], [0.0, 0.9, 0.0, 4.0], [0, 0, 0, 1]])
    out = tmp_path / "a.nii.gz"
    ctprep.write(out, a, affine)
    img = nib.load(str(out))
    np.testing.assert_array_equal(np.asarray(img.dataobj), a)
    assert img.get_data_dtype() == np.dtype(dtype)
    np.testing.assert_allclose(img.affine, affine, atol=1e-6)
    back = ctprep.read(out)
    np.testing.assert_array_equal(back.array, a)


def test_write_keeps_the_scaling_and_nrrd_reads_back(tmp_path):
    ct = ctprep.phantom((12, 10, 6), (0.7, 0.7, 2.5), axcodes="LPS", dtype="uint16", seed=2)
    assert ct.scaling == (1.0, -1024.0) and ct.array.dtype == np.uint16
    nii = tmp_path / "ct.nii.gz"
    ctprep.write(nii, ct)
    img = nib.load(str(nii))
    assert (img.dataobj.slope, img.dataobj.inter) == (1.0, -1024.0)
    np.testing.assert_array_equal(np.asarray(img.dataobj.get_unscaled()), ct.array)
    nrrd = tmp_path / "ct.nrrd"
    ctprep.write(nrrd, ctprep.read(nii))
    simg = sitk.ReadImage(str(nrrd))
    np.testing.assert_allclose(sitk_affine(simg), ct.affine, atol=1e-6)
    # NRRD has no scaling: the real values are stored (ctprep converts exactly or refuses).
    np.testing.assert_array_equal(sitk_array(simg).astype(np.float64), ct.scaled(np.float64))


def test_volume_basics():
    ct = ctprep.phantom((9, 8, 7), (0.8, 0.8, 2.0), axcodes="PIR")
    assert ct.axcodes == "PIR"
    assert ct.spacing == pytest.approx((0.8, 0.8, 2.0))
    assert ct.array.dtype == np.int16 and ct.scaling is None
    assert "PIR" in repr(ct)
    for bad in [dict(seed=-1), dict(shape=(0, 2, 2)), dict(shape=(2, 2)), dict(dtype="float32"), dict(axcodes="XYZ")]:
        with pytest.raises(ctprep.UsageError):
            ctprep.phantom(**{"shape": (4, 4, 4), **bad})


def test_mmap_gives_a_read_only_view_of_the_file_that_outlives_the_volume(tmp_path):
    ct = ctprep.phantom((9, 7, 5), seed=4)
    plain, packed = tmp_path / "ct.nii", tmp_path / "ct.nii.gz"
    ctprep.write(plain, ct)
    ctprep.write(packed, ct)
    mapped = ctprep.read(plain, mmap=True)
    assert not mapped.array.flags.writeable and type(mapped.array.base).__name__ == "Voxels"
    np.testing.assert_array_equal(mapped.array, ct.array)
    with pytest.raises(ValueError):
        mapped.array[0, 0, 0] = 1
    a = mapped.array
    del mapped
    import gc

    gc.collect()
    np.testing.assert_array_equal(a, ct.array)  # the mapping lives as long as the array
    # Compressed (or swapped) data cannot be mapped: read into an owned, writable array.
    for v in [ctprep.read(packed, mmap=True), ctprep.read(plain)]:
        # The decoded buffer itself (not a copy): numpy's array views the reader's memory.
        assert v.array.flags.writeable and type(v.array.base).__name__ == "Voxels"
        v.array[0, 0, 0] = 1
        assert v.array[0, 0, 0] == 1


def test_large_volumes_are_not_copied_out_of_the_reader(tmp_path):
    # Volumes of 1 MiB or more are decoded into an anonymous mapping; numpy views it.
    ct = ctprep.phantom((128, 128, 40), seed=1)
    assert ct.array.nbytes > 1 << 20 and type(ct.array.base).__name__ == "Voxels" and ct.array.flags.writeable
    p = tmp_path / "big.nii.gz"
    ctprep.write(p, ct)
    v = ctprep.read(p)
    assert type(v.array.base).__name__ == "Voxels" and v.array.flags.writeable
    np.testing.assert_array_equal(v.array, ct.array)
    v.array[:] = 7
    assert (v.array == 7).all()


def test_write_takes_any_layout_and_unaligned_arrays(tmp_path):
    a = random_volume((6, 5, 4), np.int16)
    aff = np.diag([0.5, 0.6, 0.7, 1.0])
    raw = bytearray(a.nbytes + 1)
    unaligned = np.frombuffer(raw, np.int16, offset=1, count=a.size).reshape(a.shape, order="F")
    unaligned[...] = a
    assert not unaligned.flags.aligned
    for name, arr in {
        "C": np.ascontiguousarray(a),
        "F": np.asfortranarray(a),
        "strided": np.asfortranarray(np.repeat(a, 2, axis=1))[:, ::2, :],
        "permuted": np.ascontiguousarray(a.transpose(2, 0, 1)).transpose(1, 2, 0),
        "unaligned": unaligned,
    }.items():
        ctprep.write(tmp_path / f"{name}.nii", arr, aff)
        np.testing.assert_array_equal(np.asarray(nib.load(str(tmp_path / f"{name}.nii")).dataobj), a, err_msg=name)


def test_read_scaled_gives_float32_hu(tmp_path):
    ct = ctprep.phantom((6, 5, 4), dtype="uint16")
    p = tmp_path / "u16.nii"
    ctprep.write(p, ct)
    v = ctprep.read(p, scaled=True)
    assert v.array.dtype == np.float32 and v.scaling is None
    np.testing.assert_array_equal(v.array, ct.array.astype(np.float32) - 1024)


def test_write_refuses_what_it_cannot_store(tmp_path):
    with pytest.raises(ctprep.UnsupportedError):
        ctprep.write(tmp_path / "b.nii", np.zeros((2, 2, 2), dtype=bool), np.eye(4))
    with pytest.raises(ctprep.UnsupportedError):
        ctprep.write(tmp_path / "b.nii", np.zeros((2, 2, 2), dtype=">i2"), np.eye(4))
    with pytest.raises(ctprep.BadInputError):
        ctprep.write(tmp_path / "b.nii", np.zeros((2, 2, 2), dtype=np.int16), np.eye(3))
    with pytest.raises(ctprep.BadInputError):
        bad = np.eye(4)
        bad[3, 0] = 1
        ctprep.write(tmp_path / "b.nii", np.zeros((2, 2, 2), dtype=np.int16), bad)
    with pytest.raises(ctprep.UsageError):
        ctprep.write(tmp_path / "b.nii", np.zeros((2, 2, 2)), np.eye(4), gzip_level=12)
    with pytest.raises(ctprep.UsageError):
        ctprep.write(tmp_path / "b.nii", np.zeros((2, 2, 2)), np.eye(4), gzip_level=-1)
    with pytest.raises(ctprep.Error):
        ctprep.write(tmp_path / "b.txt", np.zeros((2, 2, 2)), np.eye(4))
    with pytest.raises(ctprep.UsageError):
        ctprep.write(tmp_path / "b.nii", np.zeros((2, 2, 2)))
    assert not list(tmp_path.iterdir()), "no output, not even a temporary file, after a refusal"

