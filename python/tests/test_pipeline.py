"""ctprep.run, ctprep.batch and ctprep.Recipe: the command line's recipe from Python, its
outputs equal to the binary's and to the array functions', its errors as exceptions; and the
dataset example."""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
import subprocess
from pathlib import Path

import nibabel as nib
import numpy as np
import pytest

import ctprep
from conftest import ROOT, shared


@pytest.fixture()
def scan(tmp_path):
    ct, lab = ctprep.phantom((48, 40, 14), (0.8, 0.8, 2.5), axcodes="LPS", seed=3, labels=True)
    image, label = tmp_path / "ct.nii.gz", tmp_path / "ct_seg.nii.gz"
    ctprep.write(image, ct)
    ctprep.write(label, lab)
    return image, label


def ctprep_binary():
    for p in [os.environ.get("CTPREP_BIN"), ROOT / "target" / "debug" / "ctprep", shutil.which("ctprep")]:
        if p and Path(p).exists():
            return str(p)
    pytest.skip("no ctprep binary (cargo build --bin ctprep, or CTPREP_BIN) to compare with")


def test_run_writes_what_the_command_line_writes_byte_for_byte(scan, tmp_path):
    image, label = scan
    report = ctprep.run(image, tmp_path / "py", spacing=1.2, preset="lung", mip_mm=6, label=label)
    assert report["output_spacing_mm"] == [1.2, 1.2, 1.2] and report["window"] == [-1350.0, 150.0]
    assert report["label"]["verdict"] == "aligned"
    binary = ctprep_binary()
    done = subprocess.run(
        [binary, "run", str(image), "--out", str(tmp_path / "cli"), "--spacing", "1.2", "--preset", "lung",
         "--mip-mm", "6", "--label", str(label), "--json"],
        capture_output=True, text=True, check=True,
    )
    cli = json.loads(done.stdout)
    assert cli["output_shape"] == report["output_shape"] and cli["variants"] == report["variants"]
    for product, paths in report["outputs"].items():
        for p in paths:
            twin = tmp_path / "cli" / Path(p).name
            assert Path(p).read_bytes() == twin.read_bytes(), f"{product}: {p}"


def test_run_with_the_nnunet_scheme_equals_the_command_line(scan, tmp_path):
    image, label = scan
    report = ctprep.run(image, tmp_path / "py", scheme="nnunet", label=label, save=["volume"])
    binary = ctprep_binary()
    subprocess.run(
        [binary, "run", str(image), "--out", str(tmp_path / "cli"), "--scheme", "nnunet", "--label", str(label),
         "--save", "volume"],
        capture_output=True, text=True, check=True,
    )
    for product, paths in report["outputs"].items():
        for p in paths:
            assert Path(p).read_bytes() == (tmp_path / "cli" / Path(p).name).read_bytes(), product
    # The label went on one-hot; the image with the scheme's cubic, clipped to the input's range.
    ct = ctprep.read(image)
    hu = ctprep.resample(ctprep.reorient(ct), spacing=1.0, scheme="nnunet")
    assert list(hu.shape) == report["output_shape"]
    lab = ctprep.resample(ctprep.reorient(ctprep.read(label)), spacing=1.0, scheme="nnunet", interp="onehot")
    np.testing.assert_array_equal(np.asarray(nib.load(report["outputs"]["label"][0]).dataobj), lab.array)
    with pytest.raises(ctprep.UsageError):
        ctprep.Recipe(scheme="nnunet", preset="classic")


def test_run_equals_the_array_functions(scan, tmp_path):
    image, label = scan
    report = ctprep.run(image, tmp_path, save=["volume", "mip"], label=label)
    ct = ctprep.reorient(ctprep.read(image))
    hu = ctprep.resample(ct, spacing=1.0)
    unit = ctprep.window(hu, (-100, 1000))
    mip = ctprep.project(unit, slab=5, align="centre")
    window_file = nib.load(report["outputs"]["volume"][0])
    mip_file = nib.load(report["outputs"]["mip"][0])
    assert list(unit.shape) == report["output_shape"]
    np.testing.assert_allclose(window_file.affine, unit.affine, atol=1e-5)
    # The streamed run resamples straight from the LPS file onto the RAS grid, the functions from
    # the reoriented view: the same grid, values within the resampler's float32 bound.
    np.testing.assert_allclose(np.asarray(window_file.dataobj), unit.array, rtol=0, atol=1e-5)
    np.testing.assert_allclose(np.asarray(mip_file.dataobj), mip.array, rtol=0, atol=1e-5)
    lab = ctprep.resample(ctprep.reorient(ctprep.read(label)), like=hu, interp="nearest", fill=0)
    np.testing.assert_array_equal(np.asarray(nib.load(report["outputs"]["label"][0]).dataobj), lab.array)


def test_recipes_mirror_the_command_line_options(scan, tmp_path):
    image, _ = scan
    classic = ctprep.Recipe.classic()
    assert classic == ctprep.Recipe(preset="classic") and classic != ctprep.Recipe()
    assert ctprep.Recipe(mip=3, spacing=2.0) == ctprep.Recipe(spacing=2.0, mip=3)
    assert ctprep.Recipe(keep_shear=np.True_).to_args() == ["--keep-shear"]
    r = classic.replace(save=["mip"], mip=3, window=(-1000, 400), keep_shear=True)
    assert r.to_args() == ["--preset=classic", "--save=mip", "--mip=3", "--window=-1000,400", "--keep-shear"]
    report = ctprep.run(image, tmp_path, r)
    assert report["convention"] == "seed" and report["mip_edges"] == "zero" and report["mip_slices"] == 3
    assert list(report["outputs"]) == ["mip"] and report["window"] == [-1000.0, 400.0]
    # Options given to run override the recipe's.
    again = ctprep.run(image, tmp_path / "b", r, mip=4, kernel="scalar", threads=1)
    assert again["mip_slices"] == 4 and again["variants"]["mip"].startswith("scalar")
    assert "Recipe(preset='classic'" in repr(r)


@pytest.mark.parametrize(
    "options",
    [dict(spacing=-1), dict(window=(5, 5)), dict(preset="nonsense"), dict(mip=0), dict(save=["pictures"]),
     dict(flavour="vanilla"), dict(preset="lung", window=(0, 1)), dict(mip_mm=float("nan")), dict(json=True)],
)
def test_nonsense_recipes_are_usage_errors(options):
    with pytest.raises(ctprep.UsageError) as e:
        ctprep.Recipe(**options)
    assert str(e.value) and "--help" not in str(e.value) and "Usage:" not in str(e.value)


def test_run_errors_are_exceptions_and_leave_nothing(tmp_path):
    bad = tmp_path / "bad.nii.gz"
    bad.write_bytes(b"\x1f\x8b\x08\x00" + b"\x00" * 40)
    with pytest.raises(ctprep.BadInputError) as e:
        ctprep.run(bad, tmp_path / "out")
    assert "bad.nii.gz" in str(e.value) and e.value.kind is not None
    assert not (tmp_path / "out").exists() or not any((tmp_path / "out").iterdir())
    with pytest.raises(ctprep.FileError) as e:
        ctprep.run(tmp_path / "missing.nii.gz", tmp_path / "out")
    assert "missing.nii.gz" in str(e.value) and e.value.kind == "io"
    with pytest.raises(ctprep.UsageError) as e:
        ctprep.run(tmp_path / "missing.nii.gz", tmp_path / "out", mipp=3)
    assert "--mipp" in str(e.value) and "tip" in str(e.value)  # clap's suggestion is kept


def test_a_label_off_the_grid_is_not_aligned(scan, tmp_path):
    image, label = scan
    lab = ctprep.read(label)
    far = lab.affine.copy()
    far[:3, 3] += 500.0
    moved = tmp_path / "far_seg.nii.gz"
    ctprep.write(moved, lab.array, far)
    with pytest.raises(ctprep.NotAlignedError) as e:
        ctprep.run(image, tmp_path / "out", label=moved)
    assert "far_seg.nii.gz" in str(e.value)


def test_batch_runs_resumes_and_counts_failures(tmp_path):
    scans = tmp_path / "scans"
    scans.mkdir()
    for k in range(3):
        ct, lab = ctprep.phantom((24, 20, 8 + k), (1.0, 1.0, 2.0), seed=k, labels=True)
        ctprep.write(scans / f"case{k}.nii.gz", ct)
        ctprep.write(scans / f"case{k}_seg.nii.gz", lab)
    (scans / "broken.nii").write_bytes(b"not a nifti file at all" * 20)
    (scans / "broken_seg.nii.gz").write_bytes(b"nor this")
    out = tmp_path / "prep"
    s = ctprep.batch(scans, out, ctprep.Recipe(save=["mip"]), label_pattern="{stem}_seg.nii.gz", jobs=2)
    assert (s["cases"], s["done"], s["failed"], s["skipped"]) == (4, 3, 1, 0)
    failed = [row for row in s["rows"] if row["status"] == "failed"]
    assert len(failed) == 1 and failed[0]["id"] == "broken"
    again = ctprep.batch(scans, out, ctprep.Recipe(save=["mip"]), label_pattern="{stem}_seg.nii.gz")
    assert (again["done"], again["skipped"], again["failed"]) == (0, 3, 1)
    summary = ctprep.batch_summary(out)
    assert summary["cases"] == 4 and summary["failed"] == 1
    assert (out / "summary.csv").exists()
    with pytest.raises(ctprep.UsageError):
        ctprep.batch(scans, out, slurm=True)


def test_run_on_real_data(tmp_path):
    image = shared("ct", "lung1_image.nrrd")
    label = shared("ct", "lung1_label.nrrd")
    report = ctprep.run(image, tmp_path, save=["mip"], label=label, spacing=2.0)
    assert report["label"]["verdict"] == "aligned" and report["axcodes"] == "RAS"


def test_the_dataset_example(tmp_path):
    spec = importlib.util.spec_from_file_location("dataset_example", ROOT / "python" / "examples" / "dataset.py")
    example = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(example)
    data = example.CTDataset(example.phantom_dataset(str(tmp_path), n=3), spacing=1.5)
    assert len(data) == 3
    for i in range(len(data)):
        item = data[i]
        image, label = item["image"], item["label"]
        assert image.dtype == np.float32 and image.shape[0] == 1 and image.shape[1:] == label.shape
        assert 0.0 <= image.min() and image.max() <= 1.0
        assert "".join(nib.aff2axcodes(item["affine"])) == "RAS"
        assert set(np.unique(label)) >= {0, 1}
    # The same item as `ctprep run --label` computes it (streamed).
    image_path, label_path = data.pairs[2]
    report = ctprep.run(image_path, tmp_path / "run", save=["volume"], label=label_path, spacing=1.5)
    np.testing.assert_allclose(np.asarray(nib.load(report["outputs"]["volume"][0]).dataobj), data[2]["image"][0], atol=1e-5)
    np.testing.assert_array_equal(np.asarray(nib.load(report["outputs"]["label"][0]).dataobj), data[2]["label"])
