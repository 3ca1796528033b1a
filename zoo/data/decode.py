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

Image files may come from strangers, so every path here reads them the same guarded way
(:func:`read_image_file`, :func:`open_pil_image`): only regular files (a FIFO would block, a
device never end), at most :data:`MAX_IMAGE_FILE_BYTES`, only the formats of
:data:`PIL_FORMATS` (never one that PIL hands to another program, such as EPS to Ghostscript),
and at most ``PIL.Image.MAX_IMAGE_PIXELS`` pixels, checked on the header before any decoder
allocates the image (a 1 KB JPEG can declare 65535 x 65535 pixels). Whatever fails is an
:class:`ImageDecodeError` naming the file.
"""

from __future__ import annotations

import io
import os
import warnings
from collections.abc import Callable
from functools import lru_cache
from typing import Union

import numpy as np
import torch

from zoo.data.errors import ImageDecodeError
from zoo.data.files import FileLimitError, read_regular_file
from zoo.data.image_scale import BYTE_TO_FLOAT

__all__ = ["ImageDecodeError", "load_image", "load_image_uint8", "open_pil_image", "pil_to_uint8", "read_image_file"]

PathLike = Union[str, "os.PathLike[str]"]

JPEG_MAGIC = b"\xff\xd8\xff"
PNG_MAGIC = b"\x89PNG"
#: Formats PIL may open: the image-folder extensions (JPEG, PNG, PPM, BMP) and the web formats ``predict`` meets.
PIL_FORMATS = ("JPEG", "PNG", "PPM", "BMP", "GIF", "WEBP")
#: Far above any photo (ImageNet's largest file is under 16 MB).
MAX_IMAGE_FILE_BYTES = 256 * 2**20
BOMB_ADVICE = "refused as a possible decompression bomb (raise PIL.Image.MAX_IMAGE_PIXELS if the image is genuine)"


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


def read_image_file(path: PathLike) -> bytes:
    """The bytes of the image file ``path``: a regular file of at most :data:`MAX_IMAGE_FILE_BYTES`."""
    try:
        return read_regular_file(path, MAX_IMAGE_FILE_BYTES, "image")
    except FileLimitError as error:
        raise ImageDecodeError(str(error)) from None
    except OSError as error:
        raise ImageDecodeError(f"cannot read image {os.fspath(path)!r}: {error}") from error


def open_pil_image(encoded: bytes, where: str) -> PIL.Image.Image:  # noqa: F821
    """``encoded`` opened by PIL (header read, pixels not decoded yet) once its format and size are acceptable.

    Raises :class:`ImageDecodeError` for a format outside :data:`PIL_FORMATS`, a damaged header,
    or more than ``PIL.Image.MAX_IMAGE_PIXELS`` pixels.
    """
    from PIL import Image, UnidentifiedImageError

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)  # refused below, with the file's name
            image = Image.open(io.BytesIO(encoded), formats=PIL_FORMATS)
    except Image.DecompressionBombError as error:  # PIL's own check, at twice the limit
        raise ImageDecodeError(f"image {where!r}: {str(error).rstrip('.')}; {BOMB_ADVICE}") from None
    except Exception as error:  # PIL parsing a stranger's header: every failure is the file's
        reason = "not a file of a known image format" if isinstance(error, UnidentifiedImageError) else str(error)
        raise ImageDecodeError(
            f"cannot decode image {where!r}: {reason}; expected a {', '.join(PIL_FORMATS)} file"
        ) from None
    width, height = image.size
    limit = Image.MAX_IMAGE_PIXELS
    if limit is not None and width * height > limit:
        image.close()
        raise ImageDecodeError(
            f"image {where!r} declares {width} x {height} = {width * height:,} pixels, more than"
            f" PIL.Image.MAX_IMAGE_PIXELS ({limit:,}): {BOMB_ADVICE}"
        )
    return image


def load_image_uint8(path: PathLike) -> torch.Tensor:
    """Decode ``path`` to uint8 ``[3,H,W]`` RGB exactly as torch/image's libjpeg/libpng loaders do.

    The result may be a non-contiguous view (channels-last memory); callers that need contiguous
    memory should call ``.contiguous()``.
    """
    path = os.fspath(path)
    encoded = read_image_file(path)
    decoder = _jpeg_decoder() if encoded.startswith(JPEG_MAGIC) else None
    if decoder is not None:
        open_pil_image(encoded, path).close()  # the size check, before libjpeg allocates what the header declares
        try:
            planes = decoder(torch.frombuffer(bytearray(encoded), dtype=torch.uint8))
        except RuntimeError:
            planes = None  # unusual JPEG flavours: PIL below gives the same pixels or a clear error
        if planes is not None:
            return _to_three_channels(planes, path)
    return _decode_with_pil(encoded, path)


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


def _decode_with_pil(encoded: bytes, where: str) -> torch.Tensor:
    with open_pil_image(encoded, where) as image:
        try:
            image.load()
        except Exception as error:  # PIL decoding a stranger's pixels: every failure is the file's
            raise ImageDecodeError(f"cannot decode image {where!r}: {error}; expected a JPEG or PNG file") from None
        return pil_to_uint8(image, where)


def load_image(path: PathLike) -> torch.Tensor:
    """``image.load(path, 3, 'float')``: float32 ``[3,H,W]`` RGB in [0, 1] (contiguous)."""
    planes = load_image_uint8(path)
    return torch.empty(planes.shape, dtype=torch.float32).copy_(planes).mul_(BYTE_TO_FLOAT)
