"""Resolve what the user calls MODEL: a registry name, a Torch7 ``.t7`` checkpoint, or a converted file.

The result carries what an evaluation record needs besides the network: the registry
name (for the published error) and the sha256 of the weights file when there is one.
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn

from densenet_zoo_util.hashing import file_sha256
from zoo.evaluation.errors import ModelSpecError

__all__ = ["LoadedModel", "ModelSpecError", "load_model", "registry_name_for_file", "state_dict_sha256"]


@dataclass
class LoadedModel:
    """A network ready for evaluation and where it came from."""

    model: nn.Module
    name: str | None
    source: str
    kind: str  # "registry" | "t7" | "converted"
    weights_sha256: str | None = None


def state_dict_sha256(model: nn.Module) -> str:
    """A digest of the network's tensors that does not depend on the file format they came from.

    Hashes, in state-dict order, each key, dtype, shape and the tensor's contiguous bytes.
    Two networks with equal digests compute the same function.
    """
    digest = hashlib.sha256()
    for key, tensor in model.state_dict().items():
        tensor = tensor.detach().to("cpu").contiguous()
        digest.update(f"{key}|{tensor.dtype}|{tuple(tensor.shape)}\n".encode())
        digest.update(tensor.reshape(-1).view(torch.uint8).numpy().tobytes())
    return digest.hexdigest()


def registry_name_for_file(path: str | os.PathLike[str]) -> str | None:
    """The registry name whose manifest lists a source with this file's cache name (e.g. ``densenet-121.t7``).

    A Hugging Face source's ``filename`` is a path in its repository (every repository may hold a
    ``model.safetensors``), so the match is on :attr:`~zoo.registry.manifest.Source.cache_name`, the name
    the file has in the cache and in mirrors.
    """
    from zoo.registry import load_manifest

    filename = Path(path).name
    manifest = load_manifest()
    for name in manifest.names():
        if any(source.cache_name == filename for source in manifest[name].sources):
            return name
    return None


def load_model(spec: str | os.PathLike[str], name: str | None = None) -> LoadedModel:
    """Build the network that ``spec`` names, in eval mode, on the CPU.

    * an existing file: ``zoo.registry.load_weights`` (a ``.t7`` checkpoint is converted in
      memory; ``.safetensors``/``.pth`` converted files and torchvision ``.pth`` files are read);
    * otherwise a registry name of an ImageNet classifier (a DenseNet or an fb.resnet.torch ResNet):
      ``zoo.registry.load`` (download, verify, convert or translate, cache).

    ``name`` sets the registry name used for the published comparison; by default a file
    whose name the manifest lists (e.g. ``densenet-121.t7``) takes that model's name.
    """
    path = Path(spec)
    if path.is_file():
        from zoo.registry import load_weights

        sha256 = file_sha256(path)
        kind = "t7" if path.suffix.lower() == ".t7" else "converted"
        model = load_weights(path)
        return LoadedModel(model.eval(), name or registry_name_for_file(path), str(path), kind, sha256)
    if os.sep in str(spec) or path.suffix.lower() in {".t7", ".pth", ".pt", ".safetensors"}:
        raise ModelSpecError(
            f"model file {spec} does not exist; give an existing .t7/.safetensors/.pth file or a registry name"
        )
    from zoo.registry import load, load_manifest

    manifest = load_manifest()
    classifiers = [name for name in manifest.names() if manifest[name].family_info.imagenet_classifier]
    if str(spec) in manifest and str(spec) not in classifiers:
        entry = manifest[str(spec)]
        raise ModelSpecError(
            f"{spec!r} ({entry.family_info.title}) is not an ImageNet classifier; the ImageNet classifiers are "
            f"{', '.join(classifiers)}"
        )
    if str(spec) not in classifiers:
        raise ModelSpecError(
            f"{spec!r} is neither an existing file nor a registry name; known names: {', '.join(classifiers)}"
        )
    model = load(str(spec))
    provenance = getattr(model, "pretrained_weights", None) or {}
    return LoadedModel(
        model.eval(),
        name or str(spec),
        provenance.get("source", str(spec)),
        "registry",
        provenance.get("source_sha256"),
    )
