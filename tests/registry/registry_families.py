"""Files of the registry's non-DenseNet entries, built with their published architectures, and manifests serving them.

``published_tree(architecture)`` builds, with ``converters.synthetic``, the Lua tree the published file of a
``zoo.registry.families.MODULE_ARCHITECTURES`` architecture holds (fast-neural-style: the checkpoint table).
``local_manifest`` keeps the bundled entries (names, families, architectures, published numbers, file names,
digest algorithms) but points each at one local URL, with the publisher's digest recomputed over the built file.
"""

from __future__ import annotations

import copy
import hashlib
import json
import re
from pathlib import Path
from typing import Any

from converters import t7
from converters.synthetic.openface import openface_checkpoint
from converters.synthetic.resnet import resnet_checkpoint
from converters.synthetic.style_transfer import DEFAULT_ARCH, style_transfer_checkpoint
from zoo.registry.manifest import BUNDLED_MANIFEST, SCHEMA_VERSION

#: The instance-normalisation models: "the same architecture as those used in our paper, except with half the
#: number of filters per layer" (fast-neural-style README.md).
INSTANCE_NORM_ARCH = "c9s1-16,d32,d64,R64,R64,R64,R64,R64,u32,u16,c9s1-3"
_STYLE = {
    "fast_neural_style_eccv16": (DEFAULT_ARCH, "batch"),
    "fast_neural_style_instance_norm": (INSTANCE_NORM_ARCH, "instance"),
}


def published_tree(architecture: str, *, weights: str = "trained", image_size: int = 64, seed: int = 0) -> Any:
    """The tree of ``architecture``'s published file; ``image_size`` sizes a ResNet's last pooling (any multiple
    of 32) and a style net's training images; ``weights="zeros"`` is cheap."""
    resnet = re.fullmatch(r"fb_(pre)?resnet(\d+)", architecture)
    if resnet:
        depth = int(resnet[2])
        return resnet_checkpoint(
            depth, preact=depth == 200, bn_after_add=depth == 50, weights=weights, image_size=image_size, seed=seed
        )
    if architecture == "openface_nn4_small2":
        return openface_checkpoint(seed, weights=weights, batch_size=2)
    arch, norm = _STYLE[architecture]
    return style_transfer_checkpoint(
        arch, norm, seed=seed, weights=weights, image_size=image_size, batch_size=2, iterations=3
    )


def network_of(tree: Any) -> t7.T7Object:
    """The Lua network in a published tree (a fast-neural-style checkpoint holds it in ``model``)."""
    return tree["model"] if isinstance(tree, t7.T7Table) else tree


def without_gradients(tree: Any) -> Any:
    """``tree`` with its modules' gradient fields dropped, so that the file is half as large (big nets)."""
    for value in t7.iter_tree(network_of(tree)):
        if isinstance(value, t7.T7Object):
            for name in ("gradWeight", "gradBias"):
                value.fields.pop(name, None)
    return tree


def saved(tree: Any, path: Path) -> Path:
    t7.save(tree, str(path))
    return path


def bundled_entry(name: str) -> dict:
    return copy.deepcopy(json.loads(BUNDLED_MANIFEST.read_text())["models"][name])


def local_manifest(path: Path, files: dict[str, tuple[str, bytes]]) -> Path:
    """A manifest at ``path`` with the bundled entries named in ``files`` (name -> (url, content)).

    Each keeps its first source's file name and format, at ``url``; a publisher's digest is recomputed over
    ``content`` with the same algorithm; the sha256 stays unpublished, as in the bundled manifest.
    """
    models = {}
    for name, (url, content) in files.items():
        entry = bundled_entry(name)
        source = {**entry["sources"][0], "url": url}
        if "digest" in source:
            algorithm = source["digest"]["algorithm"]
            source["digest"] = {**source["digest"], "value": hashlib.new(algorithm, content).hexdigest()}
        models[name] = {**entry, "sources": [source]}
    path.write_text(json.dumps({"schema_version": SCHEMA_VERSION, "models": models}, indent=2))
    return path
