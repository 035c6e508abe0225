"""Type stubs of the extension module under the ``ctprep`` package (crates/ctprep-py). Use the
package's functions: they take Volumes and either array order, and give these their layout."""

from typing import Any, Dict, List, Optional, Sequence, Tuple

import numpy as np
import numpy.typing as npt

_Affine = npt.NDArray[np.float64]

def read(
    path: str,
    mmap: bool = False,
    series: Optional[str] = None,
    fill_padding: Optional[float] = None,
    uneven: Optional[str] = None,
) -> Dict[str, Any]: ...
def write(
    path: str,
    array: npt.NDArray[Any],
    affine: _Affine,
    scaling: Optional[Tuple[float, float]] = None,
    gzip_level: int = 6,
) -> None: ...
def phantom(
    shape: Sequence[int],
    spacing: Sequence[float] = ...,
    axcodes: str = "RAS",
    dtype: str = "int16",
    noise: float = 10.0,
    seed: int = 0,
    labels: bool = False,
) -> Tuple[Dict[str, Any], Optional[Dict[str, Any]]]: ...
def window(
    array: npt.NDArray[Any],
    lo: float,
    hi: float,
    out_lo: float = 0.0,
    out_hi: float = 1.0,
    dtype: str = "float32",
    scaling: Optional[Tuple[float, float]] = None,
    kernel: Optional[str] = None,
    threads: Optional[str] = None,
) -> Tuple[npt.NDArray[Any], str]: ...
def resample(
    array: npt.NDArray[Any],
    affine: _Affine,
    spacing: Optional[Sequence[float]] = None,
    like: Optional[Tuple[Sequence[int], _Affine]] = None,
    convention: Optional[str] = None,
    interp: Optional[str] = None,
    order: Optional[Sequence[int]] = None,
    mode: Optional[str] = None,
    fill: Optional[float] = None,
    clip_input_range: bool = False,
    antialias: bool = False,
    scheme: Optional[str] = None,
    keep_shear: bool = False,
    scaling: Optional[Tuple[float, float]] = None,
    kernel: Optional[str] = None,
    threads: Optional[str] = None,
) -> Tuple[npt.NDArray[Any], _Affine, str]: ...
def project(
    array: npt.NDArray[np.float32],
    affine: _Affine,
    slab: Optional[int] = None,
    slab_mm: Optional[float] = None,
    whole: bool = False,
    axis: int = 2,
    reduce: str = "max",
    align: str = "start",
    edges: str = "shrink",
    stride: int = 1,
    kernel: Optional[str] = None,
    threads: Optional[str] = None,
) -> Tuple[npt.NDArray[np.float32], _Affine, str]: ...
def reorientation(shape: Sequence[int], affine: _Affine, target: str) -> Tuple[List[Tuple[int, int]], _Affine]: ...
def axcodes(affine: _Affine) -> str: ...
def cli_json(args: List[str]) -> str: ...
def cli_check(args: List[str]) -> None: ...
def build_info() -> Tuple[str, str]: ...
def window_preset(name: str) -> Tuple[float, float]: ...
def window_presets() -> List[Tuple[str, float, float, str]]: ...
