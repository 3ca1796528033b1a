"""Fast neural style transfer with jcjohnson/fast-neural-style's models, as its ``fast_neural_style.lua`` runs them.

``stylize(load_style_model("candy.t7"), "photo.jpg")`` returns what
``th fast_neural_style.lua -model candy.t7 -input_image photo.jpg`` writes, step by step:

1. ``image.load(in_path, 3)``: the script never sets the default tensor type, so the image is a
   ``DoubleTensor``, ``byte * (1/255)`` in double;
2. ``-image_size`` (default 768; 0 keeps the size): ``image.scale(img, image_size)``, the longer side
   to ``image_size`` with ``image.scale``'s default mode, bilinear, on that DoubleTensor
   (:func:`zoo.data.image_scale.image_scale_float64`);
3. the checkpoint's ``opt.preprocessing`` (``'vgg'`` when absent), in double, then ``:type('torch.FloatTensor')``:
   ``vgg``: ``img:index(2, {3,2,1}):mul(255):add(-1, mean)`` with ``mean = {103.939, 116.779, 123.68}`` (BGR);
   ``resnet``: ``(img - mean):cdiv(std)`` with fb.resnet.torch's mean and std (RGB, [0, 1]);
4. ``model:evaluate()`` and ``model:type('torch.FloatTensor')``, then ``model:forward``;
5. deprocessing in float32: ``vgg``: ``(img + mean):div(255):index(2, {3,2,1})``;
   ``resnet``: ``torch.cmul(img, std):add(mean)``;
6. ``-median_filter`` (default 3; 0 skips it): ``utils.median_filter``, the lower median of every
   r x r window, which makes the image r-1 pixels smaller in each direction (Lua unfolds without padding);
7. ``image.save``: the float image is copied into a DoubleTensor, clamped to [0, 1] and multiplied by
   255, and libpng/libjpeg store each value cast to a byte (truncated); JPEG at quality 75.

A ``.t7`` file is the table ``train.lua`` saves: the network is its ``model`` field and
``opt.preprocessing`` says how it was trained (a bare ``nn`` module is accepted too and taken as
``vgg``). A registry name is loaded with :func:`zoo.load`; the released models were all trained
with the default ``vgg`` preprocessing.
"""

from __future__ import annotations

import io
import os
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Union

import torch
from torch import nn

from zoo.errors import StyleTransferError
from zoo.lua_models import model_argument

if TYPE_CHECKING:
    from PIL import Image

__all__ = [
    "DEFAULT_IMAGE_SIZE",
    "DEFAULT_MEDIAN_FILTER",
    "PREPROCESSING",
    "StyleModel",
    "StyleTransferError",
    "deprocess",
    "image_to_bytes",
    "load_style_model",
    "median_filter",
    "preprocess",
    "read_style_checkpoint",
    "save_image",
    "stylize",
]

ImageInput = Union[str, "os.PathLike[str]", "Image.Image", torch.Tensor]

PREPROCESSING = ("vgg", "resnet")
#: fast_neural_style/preprocess.lua's ``vgg_mean``, in the BGR order the network sees.
VGG_MEAN_BGR = (103.939, 116.779, 123.68)
#: fast_neural_style.lua's defaults for ``-image_size`` and ``-median_filter``.
DEFAULT_IMAGE_SIZE = 768
DEFAULT_MEDIAN_FILTER = 3
#: What ``image.save`` writes for an extension (torch/image picks the format by extension; JPEG at quality 75).
OUTPUT_FORMATS = {".png": "PNG", ".jpg": "JPEG", ".jpeg": "JPEG", ".ppm": "PPM"}
JPEG_QUALITY = 75


@dataclass(frozen=True)
class StyleModel:
    """A feed-forward transform network (float32, eval mode) and the preprocessing it was trained with."""

    network: nn.Module
    preprocessing: str = "vgg"
    source: str = ""

    def __post_init__(self) -> None:
        _check_preprocessing(self.preprocessing, self.source or "StyleModel")


def _check_preprocessing(method: object, where: str) -> str:
    if method not in PREPROCESSING:
        raise StyleTransferError(
            f"{where}: preprocessing {method!r} is not one fast_neural_style.lua knows ({', '.join(PREPROCESSING)})"
        )
    return str(method)


def read_style_checkpoint(path: str | os.PathLike[str]) -> StyleModel:
    """The network and preprocessing of a fast-neural-style ``.t7``: the table ``train.lua`` saves, or a bare module."""
    import converters
    from converters import t7

    root = t7.load(path)
    where = os.fspath(path)
    if isinstance(root, t7.T7Table) and isinstance(root.get("model"), t7.T7Object):
        preprocessing, module = _preprocessing_of(root, where), root["model"]
    elif isinstance(root, t7.T7Object):
        preprocessing, module = "vgg", root
    else:
        keys = sorted(map(str, root))[:8] if isinstance(root, dict) else []
        raise StyleTransferError(
            f"{where} is not a fast-neural-style model: expected the table train.lua saves (with a 'model' field) "
            f"or an nn module, found {type(root).__name__} {keys or ''}".rstrip()
        )
    network = converters.load_module(module, dtype=torch.float32)  # model:type('torch.FloatTensor')
    return StyleModel(network.eval(), preprocessing, where)


def _preprocessing_of(root: Any, where: str) -> str:
    """``opt.preprocessing`` of the table ``train.lua`` saves.

    ``'vgg'`` when absent, as fast_neural_style.lua reads it.
    """
    from converters import t7

    options = root.get("opt") if isinstance(root, t7.T7Table) else None
    method = options.get("preprocessing") if isinstance(options, t7.T7Table) else None
    return _check_preprocessing(method or "vgg", f"{where} (opt.preprocessing)")


def load_style_model(spec: str | os.PathLike[str]) -> StyleModel:
    """A style model from a ``.t7`` file (:func:`read_style_checkpoint`) or a registry name (``zoo.load``).

    For a name, the preprocessing is read from the verified file the registry loaded the network from.
    """
    target = model_argument(spec)
    if isinstance(target, Path):
        return read_style_checkpoint(target)
    import zoo
    from converters import t7

    network = zoo.load(target).float().eval()
    verified = network.pretrained_weights["path"]
    return StyleModel(network, _preprocessing_of(t7.load(verified), f"{target} ({verified})"), target)


def _input_image(image: ImageInput) -> torch.Tensor:
    """``image.load(path, 3)`` into a DoubleTensor: float64 ``[3,H,W]``, ``byte * (1/255)``.

    A float tensor ``[3,H,W]`` is taken as already loaded (values in [0, 1]).
    """
    from zoo.data.decode import load_image_uint8, pil_to_uint8

    if isinstance(image, torch.Tensor):
        if image.dim() != 3 or image.shape[0] != 3:
            raise StyleTransferError(f"expected an image tensor [3,H,W], got shape {tuple(image.shape)}")
        if image.is_floating_point():
            return image.detach().to("cpu", torch.float64)
        pixels = image
    elif isinstance(image, (str, os.PathLike)):
        pixels = load_image_uint8(image)
    else:
        pixels = pil_to_uint8(image)
    return pixels.to(torch.float64) * (1.0 / 255.0)


def _vgg_mean(like: torch.Tensor) -> torch.Tensor:
    return torch.tensor(VGG_MEAN_BGR, dtype=like.dtype).view(1, 3, 1, 1)


def _resnet_stats(like: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    from zoo.data.torch7 import IMAGENET_MEAN, IMAGENET_STD  # fast-neural-style took them from fb.resnet.torch

    mean = torch.tensor(IMAGENET_MEAN, dtype=like.dtype).view(1, 3, 1, 1)
    return mean, torch.tensor(IMAGENET_STD, dtype=like.dtype).view(1, 3, 1, 1)


def preprocess(batch: torch.Tensor, method: str) -> torch.Tensor:
    """``preprocess[method].preprocess(img)`` on a ``[N,3,H,W]`` batch in [0, 1], computed in the batch's dtype
    (double in ``fast_neural_style.lua``), returned as float32 (``:type('torch.FloatTensor')``)."""
    _check_preprocessing(method, "preprocess")
    if method == "vgg":
        result = batch[:, [2, 1, 0]] * 255 - _vgg_mean(batch)  # index(2, {3,2,1}):mul(255):add(-1, mean)
    else:
        mean, std = _resnet_stats(batch)
        result = (batch - mean) / std  # (img - mean):cdiv(std)
    return result.to(torch.float32)


def deprocess(output: torch.Tensor, method: str) -> torch.Tensor:
    """``preprocess[method].deprocess(img)`` on the network's ``[N,3,H,W]`` output, in float32: RGB in ~[0, 1]."""
    _check_preprocessing(method, "deprocess")
    output = output.to(torch.float32)
    if method == "vgg":
        return ((output + _vgg_mean(output)) / 255)[:, [2, 1, 0]]  # (img + mean):div(255):index(2, {3,2,1})
    mean, std = _resnet_stats(output)
    return output * std + mean  # torch.cmul(img, std):add(mean)


def median_filter(image: torch.Tensor, size: int) -> torch.Tensor:
    """``utils.median_filter(img, r)``: the lower median of every ``size`` x ``size`` window of ``[C,H,W]``.

    No padding: the result is ``[C, H-size+1, W-size+1]``.
    """
    channels, height, width = image.shape
    if size < 1 or size > min(height, width):
        raise StyleTransferError(f"median filter {size} does not fit a {width}x{height} image")
    windows = image.unfold(1, size, 1).unfold(2, size, 1)  # [C, H', W', r, r]
    return windows.reshape(channels, height - size + 1, width - size + 1, size * size).median(dim=-1).values


def image_to_bytes(image: torch.Tensor) -> torch.Tensor:
    """What ``image.save`` stores for a float ``[3,H,W]`` image: ``(byte)(clamp(double(x), 0, 1) * 255)``, uint8."""
    if torch.isnan(image).any():
        raise StyleTransferError("the network's output holds NaN; the model cannot be used as it is")
    scaled = image.to(torch.float64).clamp(0, 1) * 255
    return scaled.trunc().to(torch.uint8)


def stylize(
    model: StyleModel | nn.Module,
    image: ImageInput,
    *,
    image_size: int = DEFAULT_IMAGE_SIZE,
    median_filter_size: int = DEFAULT_MEDIAN_FILTER,
    device: torch.device | str | None = None,
) -> Image.Image:
    """``image`` (a path, PIL image or ``[3,H,W]`` tensor) in the style of ``model``, as ``fast_neural_style.lua``.

    ``image_size`` > 0 scales the longer side to it first (``-image_size``, default 768);
    ``median_filter_size`` > 0 smooths the result (``-median_filter``, default 3). An ``nn.Module``
    is taken as a network trained with ``vgg`` preprocessing. Returns an RGB PIL image.
    """
    from PIL import Image

    from zoo.data.image_scale import image_scale_float64, max_side_size
    from zoo.runtime import resolve_device

    style = model if isinstance(model, StyleModel) else StyleModel(model.float().eval(), "vgg")
    picture = _input_image(image)
    if image_size > 0:
        width, height = max_side_size(picture.shape[2], picture.shape[1], image_size)
        picture = image_scale_float64(picture, width, height)
    batch = preprocess(picture.unsqueeze(0), style.preprocessing)
    target = resolve_device(device)
    network = style.network.to(target)
    with torch.no_grad():
        output = network(batch.to(target))
    if not isinstance(output, torch.Tensor) or output.dim() != 4 or output.shape[:2] != (1, 3):
        found = tuple(output.shape) if isinstance(output, torch.Tensor) else type(output).__name__
        raise StyleTransferError(f"a style network maps [1,3,H,W] to [1,3,H',W']; this one returned {found}")
    result = deprocess(output.cpu(), style.preprocessing)[0]
    if median_filter_size > 0:
        result = median_filter(result, median_filter_size)
    return Image.fromarray(image_to_bytes(result).permute(1, 2, 0).contiguous().numpy(), mode="RGB")


def save_image(image: Image.Image, path: str | os.PathLike[str], *, force: bool = False) -> Path:
    """Write ``image`` as ``image.save`` would (format from the extension, JPEG at quality 75), atomically.

    Refuses to replace an existing file unless ``force``.
    """
    from densenet_zoo_util.atomic import write_bytes_atomic

    target = Path(path)
    image_format = OUTPUT_FORMATS.get(target.suffix.lower())
    if image_format is None:
        raise StyleTransferError(
            f"cannot write {target}: image.save writes {', '.join(OUTPUT_FORMATS)} files (by extension)"
        )
    encoded = io.BytesIO()
    options = {"quality": JPEG_QUALITY} if image_format == "JPEG" else {}
    image.save(encoded, format=image_format, **options)
    return write_bytes_atomic(target, encoded.getvalue(), force=force)
