"""A map-style dataset of CT scans for training, in plain numpy (no torch needed; a PyTorch
``DataLoader`` takes it as it is, and ``torch.from_numpy`` takes its arrays without a copy).

Each item is one scan reoriented to RAS, resampled to isotropic spacing, windowed to [0, 1],
with its label map put on the same grid by nearest neighbour: what ``ctprep run --label`` writes,
computed in memory. ctprep releases the GIL in every kernel, so thread workers (a
``ThreadPoolExecutor``, or ``DataLoader(..., num_workers=0)`` fed by threads) run items in
parallel without the copies of process workers.

Run it to see it on three synthetic phantoms::

    python examples/dataset.py
"""

from __future__ import annotations

import os
import tempfile
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Dict, List, Optional, Sequence, Tuple, Union

import numpy as np

import ctprep

Pair = Tuple[Union[str, "os.PathLike[str]"], Optional[Union[str, "os.PathLike[str]"]]]


class CTDataset:
    """``dataset[i]`` is ``{"image": float32 (1, X, Y, Z) in [0, 1], "label": (X, Y, Z) in the
    label's stored type or None, "affine": 4x4, "id": str}``."""

    def __init__(
        self,
        pairs: Sequence[Pair],
        spacing: float = 1.5,
        window: Tuple[float, float] = (-100.0, 1000.0),
        threads: Union[int, str] = 1,
    ) -> None:
        self.pairs = list(pairs)
        self.spacing = spacing
        self.window = window
        # One thread per item by default: the items run side by side instead.
        self.threads = threads

    def __len__(self) -> int:
        return len(self.pairs)

    def __getitem__(self, i: int) -> Dict[str, Any]:
        image_path, label_path = self.pairs[i]
        ct = ctprep.reorient(ctprep.read(image_path))  # a view: flips and permutes, no copy
        hu = ctprep.resample(ct, spacing=self.spacing, threads=self.threads)  # float32 HU
        unit = ctprep.window(hu, self.window, threads=self.threads)
        label = None
        if label_path is not None:
            lab = ctprep.reorient(ctprep.read(label_path))
            # 0 (background) where the output grid leaves the label's voxels, as `run --label`.
            label = ctprep.resample(lab, like=hu, interp="nearest", fill=0, threads=self.threads).array
        return {
            "image": unit.array[np.newaxis],
            "label": label,
            "affine": unit.affine,
            "id": os.path.basename(os.fspath(image_path)).split(".")[0],
        }


def phantom_dataset(folder: str, n: int = 3) -> List[Pair]:
    """``n`` small synthetic scans with their label maps, stored in different axis orders."""
    pairs: List[Pair] = []
    for k, codes in zip(range(n), ["LPS", "RAS", "PIR", "LAS"] * n):
        ct, lab = ctprep.phantom((64, 56, 20 + k), (0.7, 0.7, 2.5), axcodes=codes, seed=k, labels=True)
        image = os.path.join(folder, f"case{k}.nii.gz")
        label = os.path.join(folder, f"case{k}_seg.nii.gz")
        ctprep.write(image, ct)
        ctprep.write(label, lab)
        pairs.append((image, label))
    return pairs


def main() -> None:
    with tempfile.TemporaryDirectory() as folder:
        data = CTDataset(phantom_dataset(folder))
        with ThreadPoolExecutor(max_workers=2) as pool:
            for item in pool.map(data.__getitem__, range(len(data))):
                image, label = item["image"], item["label"]
                values = [int(v) for v in np.unique(label)] if label is not None else []
                print(
                    f"{item['id']}: image {image.shape} {image.dtype} [{image.min():.2f}, {image.max():.2f}], "
                    f"label {None if label is None else label.shape} values {values}"
                )


if __name__ == "__main__":
    main()
