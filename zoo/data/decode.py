"""Image decoding as torch/image's ``image.load(path, 3, 'float')`` does it.

torch/image picks the decoder from the file's magic bytes (so a PNG named ``.JPEG`` loads as PNG),
decodes JPEGs with libjpeg at its defaults (ISLOW DCT, fancy upsampling) into the file's own
components, and then ``todepth(img, 3)``: 1 channel is repeated to 3, 3 are kept, and 4 keep the
first three. Floats are ``byte * float32(1/255)``.

For CMYK JPEGs (ImageNet has about 22) this means Torch7 saw the first three *stored* CMYK
components, which for Adobe-style files (inverted polarity; all Photoshop files) are
``255 - C, 255 - M, 255 - Y``: roughly the RGB image without its black channel. We reproduce that
(``decode_jpeg`` in ``UNCHANGED`` mode returns libjpeg's raw components). PIL's ``convert("RGB")``
instead inverts the components and folds black in; the torchvision pipeline keeps PIL's
behaviour because that is what torchvision users get.

JPEGs are decoded with ``torchvision.io.decode_jpeg`` (libjpeg-turbo, the same arithmetic as PIL's
libjpeg-turbo; slightly faster and it skips a PIL round trip); everything else goes through PIL.
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Callable
from functools import lru_cache
from typing import Union

import numpy as np
import torch

from zoo.data.image_scale import BYTE_TO_FLOAT

__all__ = ["ImageDecodeError", "load_image", "load_image_uint8", "pil_to_uint8"]

PathLike = Union[str, "os.PathLike[str]"]

JPEG_MAGIC = b"\xff\xd8\xff"
PNG_MAGIC = b"\x89PNG"


class ImageDecodeError(ValueError):
    """An image file could not be read or decoded."""


def _to_three_channels(planes: torch.Tensor, where: str) -> torch.Tensor:
    """torch/image ``todepth(img, 3)`` on uint8 ``[C,H,W]``."""
    channels = planes.shape[0]
    if channels == 3:
        return planes
    if channels in (1, 2):  # Lua errors on 2 (gray + alpha); we keep the gray plane
        return planes[:1].expand(3, -1, -1)
    if channels == 4:
        return planes[:3]
    raise ImageDecodeError(f"{where}: expected 1, 3 or 4 channels, found {channels}")


def pil_to_uint8(image: PIL.Image.Image, where: str = "image") -> torch.Tensor:  # noqa: F821
    """A PIL image as torch/image would have decoded the same file: uint8 ``[3,H,W]``.

    CMYK images become the first three stored (Adobe-inverted) components, as libjpeg gives them.
    """
    mode = image.mode
    if mode == "CMYK":
        pixels = 255 - np.asarray(image)[..., :3]
    elif mode in ("RGB", "L"):
        pixels = np.array(image)
    elif mode in ("RGBA", "RGBX"):
        pixels = np.asarray(image)[..., :3]
    elif mode == "LA":
        pixels = np.asarray(image)[..., 0]
    elif mode in ("I;16", "I;16B", "I;16L", "I"):
        # 16-bit grey PNG: Torch7 divides by 65535; keep 8-bit precision here.
        wide = np.array(image, dtype=np.float64)
        pixels = np.clip(np.rint(wide / 257.0), 0, 255).astype(np.uint8)
    else:  # palette, 1-bit, YCbCr, ...: let PIL expand to RGB (libpng expands palettes the same way)
        pixels = np.array(image.convert("RGB"))
    planes = torch.from_numpy(np.ascontiguousarray(pixels))
    planes = planes.unsqueeze(0) if planes.dim() == 2 else planes.permute(2, 0, 1)
    return _to_three_channels(planes, where)


def load_image_uint8(path: PathLike) -> torch.Tensor:
    """Decode ``path`` to uint8 ``[3,H,W]`` RGB exactly as torch/image's libjpeg/libpng loaders do.

    The result may be a non-contiguous view (channels-last memory); callers that need contiguous
    memory should call ``.contiguous()``.
    """
    path = os.fspath(path)
    try:
        with open(path, "rb") as handle:
            encoded = handle.read()
    except OSError as error:
        raise ImageDecodeError(f"cannot read image {path!r}: {error}") from error
    decoder = _jpeg_decoder() if encoded.startswith(JPEG_MAGIC) else None
    if decoder is not None:
        try:
            planes = decoder(torch.frombuffer(bytearray(encoded), dtype=torch.uint8))
        except RuntimeError:
            planes = None  # unusual JPEG flavours: PIL below gives the same pixels or a clear error
        if planes is not None:
            return _to_three_channels(planes, path)
    return _load_with_pil(path)


@lru_cache(maxsize=1)
def _jpeg_decoder() -> Callable[[torch.Tensor], torch.Tensor] | None:
    """torchvision's libjpeg-turbo decoder returning the file's raw components, or None (use PIL)."""
    try:
        from torchvision.io import ImageReadMode, decode_jpeg
    except ImportError:
        return None

    def decode_unchanged(encoded: torch.Tensor) -> torch.Tensor:
        # torchvision 0.29 deprecates its image codecs in favour of torchcodec; PIL is the fallback.
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)
            return decode_jpeg(encoded, mode=ImageReadMode.UNCHANGED)

    return decode_unchanged


def _load_with_pil(path: str) -> torch.Tensor:
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(path) as image:
            image.load()
            return pil_to_uint8(image, path)
    except (UnidentifiedImageError, OSError, SyntaxError) as error:
        raise ImageDecodeError(f"cannot decode image {path!r}: {error}; expected a JPEG or PNG file") from error


def load_image(path: PathLike) -> torch.Tensor:
    """``image.load(path, 3, 'float')``: float32 ``[3,H,W]`` RGB in [0, 1] (contiguous)."""
    planes = load_image_uint8(path)
    return torch.empty(planes.shape, dtype=torch.float32).copy_(planes).mul_(BYTE_TO_FLOAT)
