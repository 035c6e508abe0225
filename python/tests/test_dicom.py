"""DICOM series from Python: ``ctprep.read`` of the synthetic series in fixtures/dicom (written by
pydicom; ``truth`` is each series as written), the options of the command line, and ``run`` /
``batch`` on DICOM folders."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest

import ctprep
from conftest import FIXTURES

DICOM = FIXTURES / "dicom"
CASES = {c["case"]: c for c in json.loads((DICOM / "reference.json").read_text())["cases"]}


def truth_of(name, label=None):
    truths = CASES[name]["truth"]
    return truths[0] if label is None else next(t for t in truths if t["label"] == label)


@pytest.mark.parametrize("name", ["axial_lps", "oblique", "tilt", "rle", "enhanced", "big_endian", "uint16"])
def test_series_read_with_their_true_geometry_and_values(name):
    t = truth_of(name)
    v = ctprep.read(DICOM / name)
    assert v.shape == tuple(t["shape"])
    np.testing.assert_allclose(v.affine, np.array(t["affine_ras"]), rtol=0, atol=1e-4)
    np.testing.assert_allclose(v.scaled(np.float64).ravel(order="F"), np.array(t["hu"]), rtol=0, atol=1e-3)
    info = v.header["dicom"]
    assert info["slices"] == t["shape"][2] and info["modality"] == "CT"


def test_one_file_reads_its_series_and_options_pass_through():
    one = sorted((DICOM / "axial_lps").iterdir())[0]
    assert ctprep.read(one).shape == tuple(truth_of("axial_lps")["shape"])
    # Two series: an error naming them, unless one is picked.
    with pytest.raises(ctprep.Error, match="2 image series"):
        ctprep.read(DICOM / "two_series")
    b = ctprep.read(DICOM / "two_series", series=1)
    assert b.header["dicom"]["series_description"] == "B"
    # Padding: counted in a note, filled when asked.
    kept = ctprep.read(DICOM / "bits12", scaled=True)
    assert any("4 voxels hold PixelPaddingValue -2000" in n for n in kept.header["dicom"]["notes"])
    filled = ctprep.read(DICOM / "bits12", scaled=True, fill_padding=-1024)
    changed = kept.array != filled.array
    assert changed.sum() == 4 and (kept.array[changed] == -2000).all() and (filled.array[changed] == -1024).all()
    # Uneven spacing: an error, unless resampled onto the whole stack.
    with pytest.raises(ctprep.Error, match="uneven slice spacing"):
        ctprep.read(DICOM / "uneven")
    u = ctprep.read(DICOM / "uneven", uneven="resample", scaled=True)
    np.testing.assert_allclose(u.array.ravel(order="F"), truth_of("uneven", "uneven_filled")["hu"], atol=1e-3)
    with pytest.raises(ctprep.UsageError):
        ctprep.read(DICOM / "uneven", uneven="sometimes")


def test_run_and_batch_take_dicom_folders(tmp_path):
    report = ctprep.run(DICOM / "axial_lps", tmp_path / "run", save="volume")
    assert report["outputs"]["volume"][0].endswith("axial_lps_window.nii.gz")
    source = tmp_path / "in"
    shutil.copytree(DICOM / "axial_lps", source / "a")
    shutil.copytree(DICOM / "two_series", source / "b")
    summary = ctprep.batch(source, tmp_path / "out", save="volume")
    assert (summary["done"], summary["failed"]) == (3, 0)
    assert sorted(r["id"] for r in summary["rows"]) == ["a", "b_series0", "b_series1"]
    assert (ctprep.read(tmp_path / "out" / "a" / "a_window.nii.gz").array
            == ctprep.read(tmp_path / "run" / "axial_lps_window.nii.gz").array).all()
