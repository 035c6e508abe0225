"""The CT recipe in-process, ctprep against the Python tools people use for it, in one run.

The recipe: read a 512 x 512 x 300 int16 CT (.nii.gz, 0.78 x 0.78 x 2.5 mm, RAS), resample to
1 mm (linear), window -100..1000 HU to [0, 1], 5-slice MIP along z (centred), results in memory.
Each tool runs in a process of its own, so its peak memory is its own: the table gives the wall
time of the recipe (imports excluded), the peak resident memory of the process, and the memory
after the imports (the libraries' own share).

    python python/bench/recipe.py                 # every tool that imports here
    python python/bench/recipe.py --repeat 1      # the first run only (cold memory)
    python python/bench/recipe.py --tools ctprep,simpleitk
    python python/bench/recipe.py --orders        # what each array order costs, per function

Tools: ctprep (all cores and one), ctprep.run (the streamed command, writing the MIP .nii.gz),
nibabel + scipy (ndimage.zoom, order 1; one thread), SimpleITK (all cores), MONAI and TorchIO
(where torch and they import; skipped with a note otherwise).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import subprocess
import sys
import tempfile
import time

SHAPE = (512, 512, 300)
SPACING = (0.78, 0.78, 2.5)
WINDOW = (-100.0, 1000.0)
K = 5
TOOLS = ["ctprep", "ctprep-1thread", "ctprep.run", "nibabel+scipy", "simpleitk", "monai", "torchio"]


def rss_mb() -> float:
    """Peak resident memory of this process so far, in MB: Linux's VmHWM, which starts afresh
    at exec (ru_maxrss would carry the parent's peak over the fork)."""
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024.0
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def tool_ctprep(path: str, threads: str):
    import ctprep

    def go():
        ct = ctprep.read(path)
        hu = ctprep.resample(ct, spacing=1.0, threads=threads)
        unit = ctprep.window(hu, WINDOW, threads=threads)
        return ctprep.project(unit, slab=K, align="centre", threads=threads).array

    return go


def tool_ctprep_run(path: str, _threads: str):
    import ctprep

    out = tempfile.mkdtemp(prefix="ctprep-bench-")

    def go():
        report = ctprep.run(path, out, save=["mip"], spacing=1.0, window=WINDOW, mip=K)
        import nibabel as nib  # only to return the result; not timed separately

        return nib.load(report["outputs"]["mip"][0]).dataobj

    return go


def tool_scipy(path: str, _threads: str):
    import nibabel as nib
    import numpy as np
    from scipy import ndimage

    def go():
        img = nib.load(path)
        data = img.get_fdata(dtype=np.float32)
        zoom = np.asarray(img.header.get_zooms()[:3]) / 1.0
        hu = ndimage.zoom(data, zoom, order=1, mode="nearest")
        unit = (np.clip(hu, *WINDOW) - WINDOW[0]) / (WINDOW[1] - WINDOW[0])
        return ndimage.maximum_filter1d(unit, K, axis=2, mode="nearest")

    return go


def tool_simpleitk(path: str, _threads: str):
    import numpy as np
    import SimpleITK as sitk

    def go():
        img = sitk.ReadImage(path)
        spacing = img.GetSpacing()
        size = [int(round((n - 1) * s / 1.0 + 1)) for n, s in zip(img.GetSize(), spacing)]
        hu = sitk.Resample(
            img, size, sitk.Transform(), sitk.sitkLinear, img.GetOrigin(), (1.0, 1.0, 1.0),
            img.GetDirection(), 0.0, sitk.sitkFloat32,
        )
        unit = sitk.IntensityWindowing(hu, WINDOW[0], WINDOW[1], 0.0, 1.0)
        mip = sitk.GrayscaleDilate(unit, [0, 0, K // 2], sitk.sitkBox)
        return sitk.GetArrayViewFromImage(mip).astype(np.float32, copy=False)

    return go


def tool_monai(path: str, _threads: str):
    import torch
    from monai.transforms import Compose, EnsureChannelFirst, LoadImage, ScaleIntensityRange, Spacing

    t = Compose([
        LoadImage(image_only=True),
        EnsureChannelFirst(),
        Spacing(pixdim=(1.0, 1.0, 1.0), mode="bilinear"),
        ScaleIntensityRange(a_min=WINDOW[0], a_max=WINDOW[1], b_min=0.0, b_max=1.0, clip=True),
    ])

    def go():
        unit = torch.as_tensor(t(path)).float()
        return torch.nn.functional.max_pool3d(unit[None], (1, 1, K), stride=1, padding=(0, 0, K // 2))[0].numpy()

    return go


def tool_torchio(path: str, _threads: str):
    import torch
    import torchio as tio

    t = tio.Compose([tio.Resample(1.0), tio.Clamp(*WINDOW), tio.RescaleIntensity((0, 1), in_min_max=WINDOW)])

    def go():
        unit = t(tio.ScalarImage(path)).data.float()
        return torch.nn.functional.max_pool3d(unit[None], (1, 1, K), stride=1, padding=(0, 0, K // 2))[0].numpy()

    return go


MAKERS = {
    "ctprep": lambda p: tool_ctprep(p, "auto"),
    "ctprep-1thread": lambda p: tool_ctprep(p, "1"),
    "ctprep.run": lambda p: tool_ctprep_run(p, "auto"),
    "nibabel+scipy": lambda p: tool_scipy(p, "1"),
    "simpleitk": lambda p: tool_simpleitk(p, "auto"),
    "monai": lambda p: tool_monai(p, "auto"),
    "torchio": lambda p: tool_torchio(p, "auto"),
}


def child(tool: str, path: str, repeat: int) -> None:
    """Runs one tool and prints one JSON line: seconds (best), peak MB, MB after imports."""
    try:
        go = MAKERS[tool](path)
    except ImportError as e:
        print(json.dumps({"tool": tool, "skipped": f"does not import here ({e.name or e})"}))
        return
    base = rss_mb()
    best = float("inf")
    shape = None
    for _ in range(repeat):
        t0 = time.perf_counter()
        out = go()
        best = min(best, time.perf_counter() - t0)
        shape = list(getattr(out, "shape", []))
        del out
    print(json.dumps({"tool": tool, "seconds": best, "peak_mb": rss_mb(), "imports_mb": base, "shape": shape}))


def cpu_model() -> str:
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def versions() -> str:
    """The versions of the peers that import here (in this process, after the runs)."""
    found = []
    for name in ["numpy", "scipy", "nibabel", "SimpleITK", "torch", "monai", "torchio"]:
        try:
            mod = __import__(name)
            found.append(f"{name} {getattr(mod, '__version__', '?')}")
        except ImportError:
            pass
    return ", ".join(found)


def orders(path: str, repeat: int) -> None:
    """What each array order costs: the functions on the same volume in Fortran order, C order
    and strided views of each (`[:, ::-1, :]`: contiguous in neither order), best of `repeat`,
    in this process."""
    import numpy as np

    import ctprep

    ct = ctprep.read(path)
    f = ct.array
    c = np.ascontiguousarray(f)
    layouts = {"Fortran": f, "C": c, "Fortran, strided": f[:, ::-1, :], "C, strided": c[:, ::-1, :]}
    unit_f = ctprep.window(ctprep.resample(ct, spacing=1.0), WINDOW).array
    unit_c = np.ascontiguousarray(unit_f)
    units = {"Fortran": unit_f, "C": unit_c, "Fortran, strided": unit_f[:, ::-1, :], "C, strided": unit_c[:, ::-1, :]}
    aff = ct.affine
    calls = {
        "resample to 1 mm": lambda a, u: ctprep.resample(a, aff, spacing=1.0, scaling=ct.scaling),
        "window": lambda a, u: ctprep.window(u, WINDOW),
        "project (MIP of 5)": lambda a, u: ctprep.project(u, aff, slab=K, align="centre"),
    }
    print("\n| function | " + " | ".join(f"{k} (s)" for k in layouts) + " |")
    print("|---|" + "---|" * len(layouts))
    for name, call in calls.items():
        cells = []
        for layout in layouts:
            best = float("inf")
            for _ in range(repeat):
                t0 = time.perf_counter()
                out = call(layouts[layout], units[layout])
                best = min(best, time.perf_counter() - t0)
                del out
            cells.append(f"{best:.3f}")
        print(f"| {name} | " + " | ".join(cells) + " |")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--tools", default=",".join(TOOLS))
    # Best of 3 by default: on virtual machines the first touch of fresh memory can cost more
    # than the work (the hypervisor backs the pages then), in every tool alike.
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--input", help="a CT .nii.gz to use instead of the phantom")
    ap.add_argument("--orders", action="store_true", help="time each function in each array order instead")
    ap.add_argument("--child", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        child(args.child, args.input, args.repeat)
        return
    import ctprep

    work = tempfile.mkdtemp(prefix="ctprep-bench-")
    path = args.input
    if path is None:
        path = os.path.join(work, "ct.nii.gz")
        ctprep.write(path, ctprep.phantom(SHAPE, SPACING, seed=1))
    print(f"# {cpu_model()}, {os.cpu_count()} CPUs, Python {platform.python_version()}, ctprep {ctprep.__version__}")
    print(f"# input {path}: {SHAPE} int16, spacing {SPACING} mm; recipe: 1 mm linear, window {WINDOW}, MIP of {K}")
    if args.orders:
        orders(path, args.repeat)
        return
    rows = []
    for tool in args.tools.split(","):
        done = subprocess.run(
            [sys.executable, __file__, "--child", tool, "--input", path, "--repeat", str(args.repeat)],
            capture_output=True, text=True,
        )
        if done.returncode != 0:
            rows.append({"tool": tool, "skipped": f"failed: {done.stderr.strip().splitlines()[-1:]}"})
        else:
            rows.append(json.loads(done.stdout.strip().splitlines()[-1]))
        print(json.dumps(rows[-1]), file=sys.stderr)
    ref = next((r["seconds"] for r in rows if r["tool"] == "ctprep" and "seconds" in r), None)
    print(f"# {versions()}")
    print("\n| tool | recipe time (s) | vs ctprep | peak memory (MB) | after imports (MB) | output shape |")
    print("|---|---|---|---|---|---|")
    for r in rows:
        if "skipped" in r:
            print(f"| {r['tool']} | skipped: {r['skipped']} | | | | |")
            continue
        ratio = f"{r['seconds'] / ref:.1f}x" if ref else ""
        print(f"| {r['tool']} | {r['seconds']:.2f} | {ratio} | {r['peak_mb']:.0f} | {r['imports_mb']:.0f} | {r['shape']} |")


if __name__ == "__main__":
    main()
