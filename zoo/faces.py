"""Face embeddings with OpenFace's ``nn4.small2.v1``, fed the way OpenFace's own Lua code feeds it.

``openface/openface_server.lua`` (behind ``openface.TorchNeuralNet``) and ``batch-represent``
run under ``torch.setdefaulttensortype('torch.FloatTensor')`` and read every image with::

    img = image.load(path, 3, 'float')            -- float32 RGB, byte * float(1/255)
    img = image.scale(img, imgDim, imgDim)        -- imgDim = 96; image.scale's default mode: bilinear

so any image is stretched to 96x96 (no crop, aspect ratio not kept) with torch/image's bilinear
``image.scale`` (:func:`zoo.data.image_scale.image_scale`), and a 96x96 image passes unchanged.
There is no mean subtraction. The network ends in ``nn.Normalize(2)``: its 128 numbers have unit
L2 norm. ``openface_server.lua`` writes them for one image at a time; its network sees a batch of
one, which ``nn.View(736)`` turns into a plain vector, and :func:`embed_batch` returns one row per image.

Face detection and alignment are not done here. OpenFace's Python side (``AlignDlib.align(96, ...)``
with dlib's landmarks, ``OUTER_EYES_AND_NOSE``) crops and warps every face before the network sees
it; give :func:`embed` such aligned 96x96 crops (``openface/align-dlib.py`` writes them), or the
embeddings mean little.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Union

import torch
from torch import nn

from zoo.errors import FaceEmbeddingError
from zoo.lua_models import model_argument

if TYPE_CHECKING:
    from PIL import Image

__all__ = ["IMAGE_SIZE", "FaceEmbeddingError", "embed", "embed_batch", "face_input", "load_face_model"]

ImageInput = Union[str, "os.PathLike[str]", "Image.Image", torch.Tensor]

#: openface_server.lua's ``-imgDim`` for nn4.small2.v1.
IMAGE_SIZE = 96


def load_face_model(spec: str | os.PathLike[str]) -> nn.Module:
    """The embedding network (eval mode) from a ``.t7`` file (``converters.load_module``) or a registry name."""
    target = model_argument(spec)
    if isinstance(target, Path):
        import converters

        return converters.load_module(target).eval()
    import zoo

    return zoo.load(target).eval()


def face_input(image: ImageInput) -> torch.Tensor:
    """What openface_server.lua feeds the network for ``image``: float32 ``[3,96,96]``.

    ``image`` is a path, a PIL image, a uint8 ``[3,H,W]`` tensor, or a float ``[3,H,W]`` tensor
    taken as ``image.load``'s result (values in [0, 1]).
    """
    from zoo.data.decode import load_image_uint8, pil_to_uint8
    from zoo.data.image_scale import image_scale

    if isinstance(image, torch.Tensor):
        if image.dim() != 3 or image.shape[0] != 3:
            raise FaceEmbeddingError(f"expected a face image tensor [3,H,W], got shape {tuple(image.shape)}")
        pixels = image.detach().cpu()
    elif isinstance(image, (str, os.PathLike)):
        pixels = load_image_uint8(image)
    else:
        pixels = pil_to_uint8(image)
    return image_scale(pixels, IMAGE_SIZE, IMAGE_SIZE, "bilinear")  # uint8 becomes byte * float(1/255) first


def embed_batch(
    model: nn.Module, images: Sequence[ImageInput], *, device: torch.device | str | None = None
) -> torch.Tensor:
    """The embeddings of ``images``: float32 ``[N, D]`` (D = 128 for nn4.small2.v1), one row per image, on the CPU.

    Each image is a forward pass of its own, as in openface_server.lua, so its row does not depend on the
    other images.
    """
    from zoo.runtime import resolve_device

    if len(images) == 0:
        raise FaceEmbeddingError("no images to embed")
    target = resolve_device(device)
    network = model.to(target).eval()
    dtype = _dtype(network)
    rows = []
    for image in images:
        with torch.no_grad():
            output = network(face_input(image).unsqueeze(0).to(target, dtype))
        if not isinstance(output, torch.Tensor) or output.dim() not in (1, 2) or output.shape[0] == 0:
            found = tuple(output.shape) if isinstance(output, torch.Tensor) else type(output).__name__
            raise FaceEmbeddingError(f"an embedding network maps an image to a vector; this one returned {found}")
        rows.append(output.reshape(-1).to("cpu", torch.float32))  # nn.View(736) makes a batch of one 1-D
    return torch.stack(rows)


def _dtype(network: nn.Module) -> torch.dtype:
    """The floating dtype the network computes in (a Double checkpoint runs in float64, as in Lua)."""
    return next((p.dtype for p in network.parameters() if p.is_floating_point()), torch.float32)


def embed(model: nn.Module, image: ImageInput, *, device: torch.device | str | None = None) -> torch.Tensor:
    """The embedding of one aligned face image: float32 ``[D]`` (128 numbers of unit L2 norm for nn4.small2.v1)."""
    return embed_batch(model, [image], device=device)[0]
