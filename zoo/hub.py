"""Publishing converted weights on the Hugging Face Hub: ``export_hub(model, out_dir)``.

Writes a folder ready for ``hf upload ORG/REPO OUT_DIR``:

* ``model.safetensors``: the complete state dict (torchvision's parameter names,
  float32, ``num_batches_tracked`` included) with the architecture and its
  provenance in the safetensors metadata, so ``zoo.load_weights`` reads it;
* ``config.json``: densenet-zoo's ``DenseNetConfig`` and provenance under
  ``"densenet_zoo"``, plus, for the four architectures timm has
  (densenet121/169/201/161), timm's ``architecture``, ``num_classes`` and
  ``pretrained_cfg`` with the preprocessing of the published errors, so
  ``timm.create_model("hf-hub:ORG/REPO", pretrained=True)`` builds and loads it;
* ``README.md``: a model card whose YAML metadata the Hub (and
  ``huggingface_hub.ModelCard``) reads: library, license, dataset, tags and a
  ``model-index`` with the published top-1 error and, given an evaluation
  record of ``densenet-zoo evaluate`` on the whole validation set, the
  measured one; then provenance and usage for densenet-zoo, timm and plain PyTorch.

The folder appears whole or not at all (see
:func:`densenet_zoo_util.atomic.atomic_directory`). Nothing here needs
``huggingface_hub``: exporting is offline.
"""

from __future__ import annotations

import json
import math
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from densenet_zoo_util.atomic import atomic_directory, check_directory_target, write_text_atomic
from densenet_zoo_util.hashing import file_sha256
from zoo.hub_card import LICENSE, ORIGINAL_CODE, CardFacts, model_card
from zoo.registry.errors import HubExportError, RegistryError
from zoo.registry.huggingface import CONFIG_FILENAME, CONFIG_KEY, WEIGHTS_FILENAME, repo_id_problem

__all__ = ["TIMM_ARCHITECTURES", "HubExport", "MeasuredError", "Provenance", "export_hub", "hub_config"]

#: The published architectures timm builds by these names (``timm.create_model("densenet121")``).
TIMM_ARCHITECTURES = ("densenet121", "densenet169", "densenet201", "densenet161")
#: The ILSVRC-2012 validation set: a measured error is published only over all of it.
VALIDATION_IMAGES = 50_000
RECORD_LIMIT = 1 << 22
_PLACEHOLDER_REPO = "ORG/REPO"


@dataclass(frozen=True)
class Provenance:
    """Where the exported weights come from.

    ``name`` is the registry model the weights are (its published error applies), or None;
    ``source_format`` is ``t7``, ``torchvision-pth``, ``safetensors`` or ``pth``; ``original_*``
    name the Torch7 checkpoint a converted file was made from, when its metadata says so.
    """

    name: str | None
    source_filename: str
    source_sha256: str
    source_format: str
    source_origin: str
    original_filename: str | None = None
    original_sha256: str | None = None

    @property
    def converted_from_lua(self) -> bool:
        """True when densenet-zoo converted these weights from a Torch7 checkpoint."""
        return self.source_format == "t7" or self.original_sha256 is not None


@dataclass(frozen=True)
class MeasuredError:
    """The top-1 error an evaluation record measured on the whole ImageNet validation set."""

    top1_error: float
    preprocess: str
    crops: int
    images: int
    record: str


@dataclass(frozen=True)
class HubExport:
    """What :func:`export_hub` wrote into ``directory``, and the facts its card states."""

    directory: Path
    facts: CardFacts

    @property
    def files(self) -> list[Path]:
        return [self.directory / name for name in (WEIGHTS_FILENAME, CONFIG_FILENAME, "README.md")]

    @property
    def weights_sha256(self) -> str:
        return self.facts.weights_sha256

    @property
    def weights_size(self) -> int:
        return self.facts.weights_size

    @property
    def timm_architecture(self) -> str | None:
        return self.facts.timm_architecture

    @property
    def provenance(self) -> Provenance:
        return self.facts.provenance

    @property
    def published_top1_error(self) -> float | None:
        entry = self.facts.entry
        return float(entry.top1_error) if entry is not None and entry.top1_error is not None else None

    @property
    def measured(self) -> MeasuredError | None:
        return self.facts.measured

    def manifest_source(self, repo_id: str = _PLACEHOLDER_REPO, revision: str = "COMMIT") -> dict[str, Any]:
        """The ``huggingface`` source of a weights manifest for this upload (fill in the uploaded commit)."""
        return {
            "type": "huggingface",
            "repo_id": repo_id,
            "revision": revision,
            "filename": WEIGHTS_FILENAME,
            "format": "safetensors",
            "sha256": self.weights_sha256,
            "size": self.weights_size,
        }


def export_hub(
    model: str | os.PathLike[str],
    out_dir: str | os.PathLike[str],
    *,
    name: str | None = None,
    repo_id: str | None = None,
    evaluation: str | os.PathLike[str] | None = None,
    force: bool = False,
) -> HubExport:
    """Write ``out_dir`` for a Hub repository holding ``model`` (a registry name or a .t7/.safetensors/.pth file).

    ``name`` says which registry model a file's weights are (default: the model
    whose manifest lists the file's name, as ``densenet-zoo evaluate`` does); its
    published error goes into the card. ``repo_id`` (``ORG/REPO``) fills the
    usage snippets. ``evaluation`` is a JSON record of ``densenet-zoo evaluate``
    of these very weights on the whole validation set. An existing non-empty
    ``out_dir`` is replaced only with ``force``.
    """
    if repo_id is not None and repo_id_problem(repo_id) is not None:
        raise HubExportError(f"repo id {repo_id!r}: {repo_id_problem(repo_id)}")
    check_directory_target(out_dir, force=force)  # before a download or conversion, not after
    network, provenance = _resolve_model(model, name)
    entry = _published_entry(provenance.name, network.config)
    measured = read_evaluation(evaluation, network) if evaluation is not None else None
    with atomic_directory(out_dir, force=force) as staging:
        weights = _write_weights(network, provenance, staging / WEIGHTS_FILENAME)
        facts = CardFacts(
            network,
            provenance,
            entry,
            measured,
            repo_id or _PLACEHOLDER_REPO,
            file_sha256(weights),
            weights.stat().st_size,
            timm_architecture(network.config),
        )
        config = hub_config(network.config, provenance, facts.weights_sha256)
        write_text_atomic(staging / CONFIG_FILENAME, json.dumps(config, indent=2) + "\n")
        write_text_atomic(staging / "README.md", model_card(facts))
    return HubExport(Path(out_dir), facts)


def _resolve_model(model: str | os.PathLike[str], name: str | None) -> tuple[Any, Provenance]:
    """The network ``model`` names (a file, else a registry name) and where its weights come from."""
    path = Path(model)
    if path.is_file():
        return _from_file(path, name)
    if os.sep in str(model) or path.suffix.lower() in (".t7", ".pth", ".pt", ".safetensors"):
        raise RegistryError(f"model file {model} does not exist; give an existing .t7/.safetensors/.pth file")
    from zoo.registry import ensure_converted, load_weights

    converted = ensure_converted(str(model))
    source, record = converted.source.source, converted.source.record
    provenance = Provenance(
        converted.name, source.cache_name, record.sha256, source.format, f"{source.describe()} (trust: {record.trust})"
    )
    return load_weights(converted.path), provenance


def _from_file(path: Path, name: str | None) -> tuple[Any, Provenance]:
    from converters.export import read_metadata
    from zoo.evaluation.loading import registry_name_for_file
    from zoo.registry import load_weights

    network = load_weights(path)  # the hardened loader: a hostile file is refused before anything is built
    suffix = path.suffix.lower()
    source_format = "t7" if suffix == ".t7" else ("pth" if suffix in (".pth", ".pt", ".bin") else "safetensors")
    metadata = read_metadata(path) if source_format == "safetensors" else {}
    provenance = Provenance(
        name or registry_name_for_file(path),
        path.name,
        file_sha256(path),
        source_format,
        f"a local file, {path.name}",  # not its path: the card is published
        metadata.get("source_name"),
        metadata.get("source_sha256"),
    )
    return network, provenance


def _published_entry(name: str | None, config: Any) -> Any:
    """The manifest entry of the registry model ``name``, checked to be the architecture of the weights."""
    if name is None:
        return None
    from zoo.registry import load_manifest
    from zoo.registry.loading import densenet_entry

    entry = densenet_entry(load_manifest(), name)
    if entry.config.replace(drop_rate=config.drop_rate) != config:
        raise HubExportError(
            f"the weights have the architecture {config.to_dict()}, but {name} is {entry.config.to_dict()}; "
            "they are not that model (leave out --name for weights of your own)"
        )
    return entry


def _write_weights(network: Any, provenance: Provenance, path: Path) -> Path:
    from converters.export import save_weights
    from zoo import __version__

    metadata = {
        "densenet_zoo_version": __version__,
        "model": provenance.name or "",
        "source_filename": provenance.source_filename,
        "source_sha256": provenance.source_sha256,
        "source": provenance.source_origin,
    }
    return save_weights(network.state_dict(), network.config, path, format="safetensors", metadata=metadata)


def timm_architecture(config: Any) -> str | None:
    """The timm model name that builds ``config`` (any number of classes, dropout aside), or None."""
    from zoo.models.densenet import MODEL_CONFIGS

    general = config.replace(num_classes=1000, drop_rate=0.0)
    return next((name for name in TIMM_ARCHITECTURES if MODEL_CONFIGS[name] == general), None)


def pretrained_cfg(config: Any) -> dict[str, Any]:
    """timm's ``pretrained_cfg``: fb.resnet.torch's validation (Scale(256), CenterCrop(224), bicubic) in its terms."""
    from zoo.data.torch7 import validation_transform

    pipeline = validation_transform()
    crop, scale = pipeline.crop.size, pipeline.scale.size
    return {
        "custom_load": False,
        "input_size": [3, crop, crop],
        "fixed_input_size": False,
        "interpolation": pipeline.scale.mode,
        "crop_pct": crop / scale,
        "crop_mode": "center",
        "mean": list(pipeline.normalize.mean),
        "std": list(pipeline.normalize.std),
        "num_classes": config.num_classes,
        "pool_size": [crop // 32, crop // 32],
        "first_conv": "features.conv0",
        "classifier": "classifier",
        "license": LICENSE,
        "origin_url": ORIGINAL_CODE,
        "paper_ids": "arXiv:1608.06993",
        "paper_name": "Densely Connected Convolutional Networks",
    }


def hub_config(config: Any, provenance: Provenance, weights_sha256: str) -> dict[str, Any]:
    """config.json: timm's fields (for the architectures timm has) and densenet-zoo's under ``densenet_zoo``."""
    from converters.densenet import CONVERTER_VERSION
    from zoo import __version__

    document: dict[str, Any] = {}
    architecture = timm_architecture(config)
    if architecture is not None:
        document["architecture"] = architecture
        document["num_classes"] = config.num_classes
        document["num_features"] = config.num_features
        document["global_pool"] = "avg"
        document["pretrained_cfg"] = pretrained_cfg(config)
    document[CONFIG_KEY] = {
        "config": config.to_dict(),
        "model": provenance.name,
        "weights_sha256": weights_sha256,
        "source": {
            "filename": provenance.source_filename,
            "sha256": provenance.source_sha256,
            "format": provenance.source_format,
            "original_filename": provenance.original_filename,
            "original_sha256": provenance.original_sha256,
        },
        "densenet_zoo_version": __version__,
        "converter_version": CONVERTER_VERSION,
        "preprocessing": "fb.resnet.torch validation: zoo.transforms(kind='torch7')",
    }
    return document


def read_evaluation(path: str | os.PathLike[str], network: Any) -> MeasuredError:
    """The measured top-1 error of an evaluation record, if it is of ``network``'s weights on all validation images."""
    from zoo.evaluation.evaluate import RECORD_SCHEMA
    from zoo.evaluation.loading import state_dict_sha256

    with open(path, "rb") as stream:
        text = stream.read(RECORD_LIMIT + 1)
    try:
        record = json.loads(text) if len(text) <= RECORD_LIMIT else None
    except ValueError:
        record = None
    if not isinstance(record, dict) or record.get("schema") != RECORD_SCHEMA:
        raise HubExportError(f"{path} is not an evaluation record of densenet-zoo evaluate --json ({RECORD_SCHEMA})")
    if record.get("state_dict_sha256") != state_dict_sha256(network):
        raise HubExportError(
            f"{path} records an evaluation of other weights (state_dict_sha256 {record.get('state_dict_sha256')!r:.80}"
            "); evaluate these weights and pass that record"
        )
    error, images, crops = record.get("top1_error"), record.get("images"), record.get("crops")
    whole = (
        record.get("limit") is None and images == VALIDATION_IMAGES and record.get("label_space") == "imagenet-wnids"
    )
    if not whole or not _is_percentage(error) or crops not in (1, 10):
        raise HubExportError(
            f"{path} is not an evaluation on the whole ImageNet validation set ({VALIDATION_IMAGES} images in wnid "
            f"folders, no --limit; found images={images!r:.40}, limit={record.get('limit')!r:.40}, label space "
            f"{record.get('label_space')!r:.40}); only such a record is published as the measured error"
        )
    return MeasuredError(float(error), str(record.get("preprocess"))[:40], crops, images, Path(path).name)


def _is_percentage(value: Any) -> bool:
    return (
        isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value) and 0 <= value <= 100
    )
