"""The errors of :mod:`zoo.data`: data files and folders that cannot be used as they are.

Kept apart from the readers (which import torch) so that the command line can name them at
start-up; each is also importable from the module that raises it.
"""

from __future__ import annotations

__all__ = ["CifarError", "DatasetLayoutError", "ImageDecodeError", "UnsafePickleError"]


class CifarError(ValueError):
    """A CIFAR file or archive that is missing, malformed, or not what the official files hold."""


class UnsafePickleError(CifarError):
    """A CIFAR pickle that names a global or an operation the official files never use (it could run code)."""


class ImageDecodeError(ValueError):
    """An image file could not be read or decoded."""


class DatasetLayoutError(ValueError):
    """The directory does not hold images in the expected ``<class>/<image>`` layout."""
