"""Loading models: by registry name (download, verify, convert once, cache) or from a file.

``load(name)`` serves every registry entry: a DenseNet through
``load_pretrained(name)``, which fetches a verified source (see
:mod:`zoo.registry.fetch`), converts it once into
``<cache>/<name>-<sha256[:8]>.safetensors`` (the hash is the source file's),
checks that the converted weights fit the manifest's architecture, and builds
the model from the cached conversion on later calls; a model of another family
(ResNet, OpenFace, fast-neural-style) through
:mod:`zoo.registry.module_loading`, straight from its verified ``.t7``.
``load_from_hub("hf-hub:ORG/REPO[@REVISION]")`` loads a Hub repository laid out
as ``densenet-zoo export-hub`` writes it, without a manifest entry.
"""

from __future__ import annotations

import dataclasses
import json
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from densenet_zoo_util.hashing import file_sha256
from zoo.models.densenet import DenseNet, DenseNetConfig, state_dict_mismatch, state_dict_shapes
from zoo.registry.cache import FileRecord, cheap_verify, read_record, write_record
from zoo.registry.errors import RegistryError, UnpinnedSourceError, VerificationError
from zoo.registry.fetch import FetchedFile, cached_path, fetch, refusing_unloadable
from zoo.registry.huggingface import (
    CONFIG_FILENAME,
    CONFIG_KEY,
    WEIGHTS_FILENAME,
    hub_download,
    is_hub_name,
    parse_hub_name,
    revision_problem,
)
from zoo.registry.lock import FileLock
from zoo.registry.manifest import Manifest, ModelEntry, load_manifest
from zoo.registry.settings import Settings

#: A Hub repository's config.json is a few kilobytes; a larger one is refused unread.
HUB_CONFIG_LIMIT = 1 << 20

#: Config fields that may differ from the published model: they change no weight shapes
#: (``drop_rate``) or only the classifier, which is then freshly initialised (``num_classes``).
OVERRIDABLE_FIELDS = ("drop_rate", "num_classes")

_OLD_TORCHVISION_KEY = re.compile(
    r"^(?P<prefix>.*denselayer\d+\.)(?P<kind>norm|relu|conv)\.(?P<index>[12])\."
    r"(?P<param>weight|bias|running_mean|running_var|num_batches_tracked)$"
)


@dataclass(frozen=True)
class ConvertedWeights:
    """A cached conversion and what it came from."""

    name: str
    path: Path
    record: FileRecord
    source: FetchedFile


def converted_path(name: str, source_sha256: str, settings: Settings) -> Path:
    """``<cache>/<name>-<sha256[:8]>.safetensors``: one conversion per verified source file."""
    return settings.cache_dir / f"{name}-{source_sha256[:8]}.safetensors"


def ensure_converted(
    name: str,
    *,
    manifest: Manifest | None = None,
    settings: Settings | None = None,
    session: Any = None,
) -> ConvertedWeights:
    """The verified, converted weights of a registry model, fetching and converting them if needed."""
    manifest = manifest if manifest is not None else load_manifest()
    settings = settings if settings is not None else Settings.from_env()
    entry = densenet_entry(manifest, name)
    reusable = _cached_conversion(entry, settings)
    if reusable is not None:
        return reusable
    fetched = fetch(entry, settings, session=session)
    target = converted_path(name, fetched.record.sha256, settings)
    with FileLock(target, timeout=settings.lock_timeout):
        record = cheap_verify(target)
        if record is None or not record.origin.endswith(fetched.record.sha256):
            state_dict = convert_source(entry, fetched)
            _save_converted(entry, fetched, state_dict, target)
            record = write_record(
                target,
                file_sha256(target),
                target.stat().st_size,
                "derived",
                f"{fetched.source.filename} sha256 {fetched.record.sha256}",
            )
    return ConvertedWeights(name, target, record, fetched)


def densenet_entry(manifest: Manifest, name: str) -> ModelEntry:
    """The manifest entry ``name``, which must be a DenseNet (the only family converted to DenseNet weights)."""
    entry = manifest[name]
    if entry.family != "densenet":
        raise RegistryError(
            f"{name} is a {entry.family_info.title} model, not a DenseNet: it has no DenseNet weights or config. "
            f"Load it with zoo.load({name!r}), which returns its network translated from Torch7"
        )
    return entry


def _cached_conversion(entry: ModelEntry, settings: Settings) -> ConvertedWeights | None:
    """A conversion made earlier from a source whose hash is still trusted (the source file itself may be gone)."""
    for source in entry.sources:
        source_path = cached_path(source, settings)
        source_record = read_record(source_path)
        if source_record is None or not source.hash_matches(source_record.sha256):
            continue
        if settings.strict and source.sha256 is None:
            continue
        target = converted_path(entry.name, source_record.sha256, settings)
        record = cheap_verify(target)
        if record is not None and record.origin.endswith(source_record.sha256):
            return ConvertedWeights(entry.name, target, record, FetchedFile(source_path, source, source_record))
    return None


def convert_source(entry: ModelEntry, fetched: FetchedFile) -> dict[str, Any]:
    """State dict of a fetched DenseNet source, checked against the manifest's architecture.

    A file that does not convert raises :class:`VerificationError`; if it was
    only trusted on first use it is also removed with its record, so that a
    bogus file never stays pinned.
    """
    with refusing_unloadable(entry, fetched):
        return _convert_checked(entry, fetched)


def _convert_checked(entry: ModelEntry, fetched: FetchedFile) -> dict[str, Any]:
    if fetched.source.format == "t7":
        from converters import convert

        conversion = convert(str(fetched.path))
        if conversion.config != entry.config:
            raise VerificationError(
                f"{fetched.path} converts to {conversion.config.to_dict()}, but the manifest says {entry.name} is "
                f"{entry.config.to_dict()}; the file is not the published {entry.name}. Delete it and check the source"
            )
        state_dict = dict(conversion.state_dict)
    elif fetched.source.format == "torchvision-pth":
        state_dict = read_torchvision_pth(fetched.path)
    else:
        from converters.export import read_saved_weights

        state_dict, _ = read_saved_weights(str(fetched.path))
    _check_fits(entry.config, state_dict, where=str(fetched.path))
    return state_dict


def _save_converted(entry: ModelEntry, fetched: FetchedFile, state_dict: dict[str, Any], target: Path) -> None:
    from converters.export import save_weights

    metadata = {
        "model": entry.name,
        "source_filename": fetched.source.filename,
        "source_sha256": fetched.record.sha256,
        "source": fetched.record.origin,
    }
    save_weights(state_dict, entry.config, str(target), format="safetensors", metadata=metadata, force=True)


def load_pretrained(
    name: str,
    config: DenseNetConfig | None = None,
    device: Any = None,
    *,
    manifest: Manifest | None = None,
    settings: Settings | None = None,
    session: Any = None,
) -> DenseNet:
    """A registry model with its published weights, in eval mode.

    ``config`` may change only ``drop_rate`` and ``num_classes`` (a new
    classifier, freshly initialised, for fine-tuning); any other difference
    from the published architecture is an error. The model's
    ``pretrained_weights`` dict records the provenance: converted file and its
    sha256, source file name, the source's sha256 and how it was trusted.
    """
    manifest = manifest if manifest is not None else load_manifest()
    entry = densenet_entry(manifest, name)
    config = config if config is not None else entry.config
    changed = [
        f.name for f in dataclasses.fields(DenseNetConfig) if getattr(config, f.name) != getattr(entry.config, f.name)
    ]
    fixed = [field for field in changed if field not in OVERRIDABLE_FIELDS]
    if fixed:
        raise RegistryError(
            f"{name}: the pretrained weights have {', '.join(f'{f}={getattr(entry.config, f)!r}' for f in fixed)}, "
            f"but {', '.join(f'{f}={getattr(config, f)!r}' for f in fixed)} was asked for; only "
            f"{', '.join(OVERRIDABLE_FIELDS)} can differ. Use pretrained=False for a different architecture"
        )
    converted = ensure_converted(name, manifest=manifest, settings=settings, session=session)
    state_dict, _ = read_weights(converted.path)
    new_classifier = config.num_classes != entry.config.num_classes
    if new_classifier:
        state_dict = {key: value for key, value in state_dict.items() if not key.startswith("classifier.")}
    model = _build_with_weights(config, state_dict, str(converted.path), "classifier." if new_classifier else None)
    model.pretrained_weights = {
        "name": name,
        "path": str(converted.path),
        "sha256": converted.record.sha256,
        "source": converted.source.source.filename,
        "source_sha256": converted.source.record.sha256,
        "source_trust": converted.source.record.trust,
    }
    if device is not None:
        model.to(device)
    return model.eval()


def load(
    name: str,
    device: Any = None,
    *,
    manifest: Manifest | None = None,
    settings: Settings | None = None,
    session: Any = None,
) -> Any:
    """``zoo.load(name)``: the published model ``name`` (or a Hub model ``hf-hub:ORG/REPO``) in eval mode.

    A DenseNet is a :class:`zoo.DenseNet`; a model of another family is the
    ``torch.nn.Module`` that ``converters.load_module`` translates from its
    verified ``.t7`` (float32), checked to be the published architecture.
    """
    if is_hub_name(name):
        return load_from_hub(name, device=device, settings=settings)
    manifest = manifest if manifest is not None else load_manifest()
    entry = manifest[name]
    if entry.family_info.loader == "densenet":
        return load_pretrained(name, device=device, manifest=manifest, settings=settings, session=session)
    from zoo.registry.module_loading import load_module_entry

    settings = settings if settings is not None else Settings.from_env()
    return load_module_entry(entry, fetch(entry, settings, session=session), device=device)


def load_from_hub(name: str, device: Any = None, *, settings: Settings | None = None) -> DenseNet:
    """The model in the Hub repository ``hf-hub:ORG/REPO[@REVISION]`` (config.json + model.safetensors), eval mode.

    Both files come from one commit, through ``hf_hub_download`` and the HF
    cache (``DENSENET_ZOO_OFFLINE=1`` or ``HF_HUB_OFFLINE=1``: the cache only).
    The weights go through the same checks as :func:`load_weights` (the
    architecture in their metadata must fit their tensors before anything is
    built) and must be the architecture config.json declares. There is no
    manifest hash to check them against (``DENSENET_ZOO_STRICT=1`` refuses
    them): pin ``@COMMIT`` for a reproducible load, or list the repository as
    a ``huggingface`` source in a manifest.
    """
    settings = settings if settings is not None else Settings.from_env()
    hub_name = parse_hub_name(name)
    if settings.strict:
        raise UnpinnedSourceError(
            f"DENSENET_ZOO_STRICT=1 and {hub_name} has no published sha256 to verify it against. List the repository "
            "as a 'huggingface' source with its sha256 in a manifest (DENSENET_ZOO_MANIFEST), or unset "
            "DENSENET_ZOO_STRICT"
        )
    config_path = hub_download(hub_name.repo_id, CONFIG_FILENAME, hub_name.revision, local_files_only=settings.offline)
    commit = config_path.parent.name  # the HF cache's snapshots/<commit>/ directory: what the revision resolved to
    revision = commit if revision_problem(commit, pinned=True) is None else hub_name.revision
    declared = _hub_config(config_path, f"{CONFIG_FILENAME} of {hub_name}")
    weights_path = hub_download(hub_name.repo_id, WEIGHTS_FILENAME, revision, local_files_only=settings.offline)
    where = f"{WEIGHTS_FILENAME} of {hub_name} (commit {revision})"
    state_dict, config = read_weights(weights_path)
    if declared is not None and declared != config:
        raise VerificationError(
            f"{where} holds the architecture {config.to_dict()}, but its {CONFIG_FILENAME} declares "
            f"{declared.to_dict()}; the repository is inconsistent and is not used"
        )
    model = _build_with_weights(config, state_dict, where)
    model.pretrained_weights = {
        "name": str(hub_name),
        "repo_id": hub_name.repo_id,
        "revision": revision,
        "path": str(weights_path),
        "sha256": file_sha256(weights_path),
    }
    if device is not None:
        model.to(device)
    return model.eval()


def _hub_config(path: Path, where: str) -> DenseNetConfig | None:
    """The DenseNetConfig a Hub repository's config.json declares under ``densenet_zoo``; None when it has none."""
    with open(path, "rb") as stream:
        text = stream.read(HUB_CONFIG_LIMIT + 1)
    try:
        if len(text) > HUB_CONFIG_LIMIT:
            raise ValueError(f"it is larger than {HUB_CONFIG_LIMIT} bytes")
        document = json.loads(text.decode("utf-8"))
        if not isinstance(document, dict):
            raise ValueError(f"expected a JSON object, found {type(document).__name__}")
        ours = document.get(CONFIG_KEY)
        if ours is None:
            return None
        if not isinstance(ours, dict) or "config" not in ours:
            raise ValueError(f"expected an object with a 'config' under {CONFIG_KEY!r}")
        return DenseNetConfig.from_dict(ours["config"])
    except (ValueError, RecursionError) as error:  # UnicodeDecodeError and JSONDecodeError are ValueErrors
        raise VerificationError(
            f"{where} cannot be read ({str(error)[:300]}); it was not written by densenet-zoo export-hub"
        ) from None


def load_weights(path: str | os.PathLike[str], device: Any = None) -> DenseNet:
    """``zoo.load_weights(path)``: a model from a .t7, .safetensors or .pth file, in eval mode."""
    state_dict, config = read_weights(path)
    model = _build_with_weights(config, state_dict, str(path))
    if device is not None:
        model.to(device)
    return model.eval()


def read_weights(path: str | os.PathLike[str]) -> tuple[dict[str, Any], DenseNetConfig]:
    """(state dict, config) from a Torch7 checkpoint, a converted file or a torchvision .pth."""
    path = Path(path)
    if not path.is_file():
        raise RegistryError(f"weights file {path} does not exist")
    suffix = path.suffix.lower()
    if suffix == ".t7":
        from converters import convert

        conversion = convert(str(path))
        return dict(conversion.state_dict), conversion.config
    from converters import ConversionError

    try:
        return _read_saved_or_torchvision(path)
    except ConversionError as error:
        raise VerificationError(str(error)) from error


def _read_saved_or_torchvision(path: Path) -> tuple[dict[str, Any], DenseNetConfig]:
    """(state dict, config) of a converted file, or of a torchvision ``.pth`` with its older key names."""
    from converters import ConversionError
    from converters.export import check_state_dict, config_from_state_dict, read_saved_weights

    try:
        state_dict, config = read_saved_weights(str(path))
        return dict(state_dict), config
    except ConversionError as error:
        if path.suffix.lower() not in (".pth", ".pt", ".bin"):
            raise
        try:  # perhaps torchvision's first files, with their older key names
            state_dict = read_torchvision_pth(path)
            config = config_from_state_dict(state_dict)
            check_state_dict(state_dict, config, str(path))
        except ConversionError:
            raise error from None
        return state_dict, config


def read_torchvision_pth(path: str | os.PathLike[str]) -> dict[str, Any]:
    """A torchvision DenseNet state dict (``torch.load`` with ``weights_only=True``), keys remapped.

    Raises ``converters.ConversionError`` for a file that is not a plain state dict of tensors.
    """
    from converters.export import load_torch_state_dict

    return remap_torchvision_keys(load_torch_state_dict(path))


def remap_torchvision_keys(state_dict: dict[str, Any]) -> dict[str, Any]:
    """Rename the old ``denselayerN.norm.1.weight`` keys of torchvision's first DenseNet files to ``norm1``."""
    remapped = {}
    for key, value in state_dict.items():
        match = _OLD_TORCHVISION_KEY.match(key)
        if match:
            key = f"{match['prefix']}{match['kind']}{match['index']}.{match['param']}"
        remapped[key] = value
    return remapped


def _check_fits(
    config: DenseNetConfig, state_dict: dict[str, Any], where: str, allow_missing_prefix: str | None = None
) -> dict[str, Any]:
    """The state dict completed with zero ``num_batches_tracked`` (old files lack it), checked key by key,
    shape by shape and kind by kind against ``DenseNet(config)`` without building it (nothing is allocated
    before the file's tensors are known to fit)."""
    import torch

    problem = state_dict_mismatch(config, state_dict, allow_missing_prefix)
    if problem is not None:
        raise VerificationError(f"weights from {where} do not fit the architecture {config.to_dict()}: {problem}")
    completed = dict(state_dict)
    for key in state_dict_shapes(config):
        if key.endswith(".num_batches_tracked"):
            completed.setdefault(key, torch.zeros((), dtype=torch.long))
    return completed


def _build_with_weights(
    config: DenseNetConfig, state_dict: dict[str, Any], where: str, allow_missing_prefix: str | None = None
) -> DenseNet:
    """``DenseNet(config)`` holding ``state_dict`` (all of it, or all but ``allow_missing_prefix`` keys).

    The loaded tensors are assigned, not copied: they are freshly read and owned by nobody else.
    When every tensor is loaded the network is built without its random initialisation
    (``init_weights=False``) and loaded strictly, so a missing key fails instead of leaving a
    tensor without values; only a network that keeps some initialised tensors draws them.
    """
    import torch

    completed = _check_fits(config, state_dict, where, allow_missing_prefix)
    model = DenseNet(config, init_weights=allow_missing_prefix is not None)
    # float32 weights and int64 counters whatever the file held (a no-op for files this project writes)
    completed = {
        key: value.to(torch.float32 if value.is_floating_point() else torch.int64).contiguous()
        for key, value in completed.items()
    }
    model.load_state_dict(completed, strict=not allow_missing_prefix, assign=True)
    return model
