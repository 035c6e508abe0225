"""Kernels called from many Python threads at once: the same results as one after another, and
the GIL released while a kernel runs (another thread keeps running Python meanwhile)."""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor

import numpy as np

import ctprep
from conftest import affine_of, random_volume, rotated_affine


def work(seed: int):
    v = random_volume((40 + seed, 33, 17), np.int16, seed=seed)
    aff = affine_of((0.8, 0.8, 2.5), origin=(seed, 0, 0))
    hu, haff = ctprep.resample(v, aff, spacing=1.1, scaling=(1.0, -1024.0))
    oblique, _ = ctprep.resample(v, aff, like=((30, 30, 30), rotated_affine((1.0, 1.0, 1.0), 15.0)), threads=2)
    unit = ctprep.window(hu, (-1100, 900))
    mip, _ = ctprep.project(unit, haff, slab=3, align="centre", threads=2)
    labels, _ = ctprep.resample(v % 7, aff, spacing=1.3, interp="nearest")
    return hu, oblique, unit, mip, labels


def test_threads_calling_kernels_at_once_get_the_sequential_results():
    seeds = list(range(12))
    alone = [work(s) for s in seeds]
    with ThreadPoolExecutor(max_workers=6) as pool:
        together = list(pool.map(work, seeds))
    for a, b in zip(alone, together):
        for x, y in zip(a, b):
            np.testing.assert_array_equal(x, y)


def test_the_gil_is_released_while_a_kernel_runs():
    v = random_volume((96, 96, 64), np.float32)
    aff = affine_of((1.0, 1.0, 1.0))
    grid = ((96, 96, 96), rotated_affine((0.9, 0.9, 0.9), 17.0, origin=(0, 0, 0)))
    state = {"in_call": False, "seconds": 0.0}
    started = threading.Event()

    def kernel():
        started.set()
        t0 = time.perf_counter()
        state["in_call"] = True
        # The oracle on one thread, oblique grid: long enough to be seen.
        for _ in range(3):
            ctprep.resample(v, aff, like=grid, kernel="scalar", threads=1)
        state["in_call"] = False
        state["seconds"] = time.perf_counter() - t0

    t = threading.Thread(target=kernel)
    t.start()
    started.wait()
    seen = 0
    while t.is_alive():
        if state["in_call"]:
            seen += 1
    t.join()
    # Holding the GIL, the kernel would stop this loop for its whole duration; released, the
    # loop spins throughout (millions of turns a second).
    assert state["seconds"] > 0.01
    print(f"{seen} turns in {state['seconds']:.3f} s")
    assert seen > 20_000 * state["seconds"], (seen, state["seconds"])
