"""The exceptions of ctprep. Each carries the message the ``ctprep`` command line prints
(``<file>: <what and why>`` for files); file errors also carry ``kind``, the category
(``truncated``, ``bad_magic``, ``corrupt_gzip``, ``too_large``, ...).

Every class is a :class:`ctprep.Error`, and also the built-in exception it resembles, so
``except ValueError`` keeps working in code that does not know ctprep.
"""

from __future__ import annotations

from typing import Optional

__all__ = [
    "Error",
    "UsageError",
    "BadInputError",
    "FileError",
    "UnsupportedError",
    "LimitError",
    "NotAlignedError",
]


class Error(Exception):
    """Any error of ctprep."""

    #: The category of a file error (``truncated``, ``bad_header``, ...); ``None`` otherwise.
    kind: Optional[str] = None


class UsageError(Error, ValueError):
    """Options that make no sense: an unknown option, an empty window, a negative spacing."""


class BadInputError(Error, ValueError):
    """Input that cannot be used: a corrupt or truncated file, an array of the wrong shape, an
    affine that is not one."""


class FileError(Error, OSError):
    """The operating system refused to open, read, write or rename a file."""


class UnsupportedError(Error, TypeError):
    """Valid input ctprep does not handle: a complex or RGB datatype, an NRRD encoding, an array
    dtype without a kernel (bool, float16, big-endian)."""


class LimitError(Error, ValueError):
    """Input beyond ctprep's limits (a header announcing more voxels than the reader allows)."""


class NotAlignedError(Error, ValueError):
    """A label map that does not lie on its image's grid and cannot be placed on it."""
