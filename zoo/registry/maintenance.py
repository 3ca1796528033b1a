"""What the ``list``, ``info``, ``download``, ``verify`` and ``manifest pin`` commands do.

Kept here (not in the CLI) so that every command is also a Python call.
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from zoo.models.densenet import num_parameters
from zoo.registry.cache import cheap_verify, full_verify, read_record, record_path
from zoo.registry.errors import CacheFileError, RegistryError, VerificationError
from zoo.registry.fetch import FetchedFile, UnverifiedSourceWarning, cached_path, fetch, fetch_source
from zoo.registry.loading import convert_source, converted_path, ensure_converted
from zoo.registry.manifest import Manifest, ModelEntry, Source, load_manifest, manifest_path, pin_source
from zoo.registry.module_loading import translate_source
from zoo.registry.settings import Settings


@dataclass(frozen=True)
class ModelStatus:
    """One row of ``densenet-zoo list``."""

    name: str
    title: str
    num_params: int
    top1_error: float | None
    published_size_mb: float | None
    cached_source: str | None
    converted: bool
    family: str = "densenet"
    top5_error: float | None = None


def count_parameters(entry: ModelEntry) -> int:
    """Trainable parameters of the architecture, counted from its definition (no model is built)."""
    if entry.module_architecture is not None:
        return entry.module_architecture.num_parameters
    return num_parameters(entry.config)


def model_status(entry: ModelEntry, settings: Settings) -> ModelStatus:
    """``entry``'s row: its numbers, the first source cached, and whether a conversion is cached."""
    cached_source = None
    converted = False
    for source in entry.sources:
        path = cached_path(source, settings)
        record = read_record(path)
        if record is None:
            continue
        if path.is_file() and cached_source is None:
            cached_source = source.cache_name
        converted = converted or converted_path(entry.name, record.sha256, settings).is_file()
    return ModelStatus(
        name=entry.name,
        title=entry.title,
        num_params=count_parameters(entry),
        top1_error=entry.top1_error,
        published_size_mb=entry.published_size_mb,
        cached_source=cached_source,
        converted=converted,
        family=entry.family,
        top5_error=entry.top5_error,
    )


def list_models_status(manifest: Manifest | None = None, settings: Settings | None = None) -> list[ModelStatus]:
    """One :class:`ModelStatus` per manifest model, grouped by family (``densenet-zoo list``)."""
    manifest = manifest if manifest is not None else load_manifest()
    settings = settings if settings is not None else Settings.from_env()
    return [model_status(manifest[name], settings) for names in manifest.by_family().values() for name in names]


def model_info(name: str, manifest: Manifest | None = None, settings: Settings | None = None) -> dict[str, Any]:
    """Everything known about a model: manifest entry, parameter count and cache state."""
    manifest = manifest if manifest is not None else load_manifest()
    settings = settings if settings is not None else Settings.from_env()
    entry = manifest[name]
    sources = []
    for source in entry.sources:
        path = cached_path(source, settings)
        record = read_record(path)
        sources.append(
            {
                **source.to_dict(),
                "where": source.describe(),
                "cache_path": str(path),
                "cached": path.is_file() and record is not None,
                "cached_sha256": record.sha256 if record else None,
                "trust": record.trust if record else None,
            }
        )
    status = model_status(entry, settings)
    return {
        "name": name,
        "title": entry.title,
        "family": entry.family,
        "architecture": entry.architecture,
        "config": entry.config.to_dict() if entry.config is not None else entry.module_architecture.to_dict(),
        "num_params": status.num_params,
        "top1_error": entry.top1_error,
        "top5_error": entry.top5_error,
        "top1_error_source": entry.error_source,
        "published_size_mb": entry.published_size_mb,
        "sources": sources,
        "converted": status.converted,
        "manifest": str(manifest.path) if manifest.path else None,
    }


def download(
    names: Iterable[str],
    manifest: Manifest | None = None,
    settings: Settings | None = None,
    on_done: Callable[[str, Path], None] | None = None,
) -> list[Path]:
    """Fetch, verify and check each named model; returns the files its loading reads.

    A DenseNet is converted once (the converted weights are returned); a model
    of another family is translated to check that it is the published
    architecture (its verified ``.t7`` is returned). Every name is looked up
    first, so a typo fails before any download starts. ``on_done(name, path)``
    is called as each model is ready (the CLI prints it).
    """
    manifest = manifest if manifest is not None else load_manifest()
    settings = settings if settings is not None else Settings.from_env()
    entries = [manifest[name] for name in names]
    paths = []
    for entry in entries:
        if entry.family_info.loader == "module":
            fetched = fetch(entry, settings)
            translate_source(entry, fetched)
            path = fetched.path
        else:
            path = ensure_converted(entry.name, manifest=manifest, settings=settings).path
        if on_done is not None:
            on_done(entry.name, path)
        paths.append(path)
    return paths


@dataclass
class VerifyResult:
    """One re-hashed cache file: whether it matches its record, and what was found."""

    path: Path
    ok: bool
    message: str


def verify_cache(
    names: Iterable[str] | None = None, manifest: Manifest | None = None, settings: Settings | None = None
) -> list[VerifyResult]:
    """Fully re-hash the cached source and converted files of the named models (default: all)."""
    manifest = manifest if manifest is not None else load_manifest()
    settings = settings if settings is not None else Settings.from_env()
    results = []
    for name in names or manifest.names():
        entry = manifest[name]
        for source in entry.sources:
            path = cached_path(source, settings)
            if not path.is_file():
                continue
            results.append(_verify_file(path, source))
        for converted in sorted(settings.cache_dir.glob(f"{name}-*.safetensors")):
            results.append(_verify_file(converted, None))
    return results


def _verify_file(path: Path, source: Source | None) -> VerifyResult:
    try:
        record = full_verify(path)
        if source is not None and cheap_verify(path, source.sha256, source.digest) is None:
            raise VerificationError(
                f"{path} was never checked against {source.digest.describe()}; `densenet-zoo download` checks it"
            )
    except (VerificationError, CacheFileError) as error:
        return VerifyResult(path, False, str(error))
    return VerifyResult(path, True, f"sha256 {record.sha256} ({record.size} bytes, trust: {record.trust})")


@dataclass
class PinResult:
    """What ``manifest pin`` wrote, and into which manifest."""

    name: str
    filename: str
    sha256: str
    size: int
    manifest: Path
    notes: list[str] = field(default_factory=list)


def pin(
    name: str,
    filename: str | None = None,
    manifest_file: str | os.PathLike[str] | None = None,
    settings: Settings | None = None,
) -> PinResult:
    """Download a source, check that it loads as the manifest's architecture, write its sha256 and size.

    ``filename`` picks the source (default: the first without a full sha256).
    """
    target = Path(manifest_file) if manifest_file is not None else manifest_path()
    manifest = load_manifest(target)
    entry = manifest[name]
    settings = (settings if settings is not None else Settings.from_env()).replace(strict=False)
    if filename is None:
        candidates = [source for source in entry.sources if not source.has_full_hash]
        if not candidates:
            raise RegistryError(f"{name}: every source already has a full sha256 in {target}")
        source = candidates[0]
    else:
        matching = [source for source in entry.sources if source.cache_name == filename]
        if not matching:
            raise RegistryError(
                f"{name} has no source {filename!r}; its sources are {[s.cache_name for s in entry.sources]}"
            )
        source = matching[0]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UnverifiedSourceWarning)  # pinning is the act of trusting it
        fetched = fetch_source(source, settings)
    check_loads(entry, fetched)
    pin_source(target, name, source.cache_name, fetched.record.sha256, fetched.record.size)
    return PinResult(
        name,
        source.cache_name,
        fetched.record.sha256,
        fetched.record.size,
        target.resolve(),
        [f"record: {record_path(fetched.path)}"],
    )


def check_loads(entry: ModelEntry, fetched: FetchedFile) -> None:
    """Raise :class:`VerificationError` unless ``fetched`` loads as ``entry``'s architecture (no weights kept)."""
    if entry.family_info.loader == "module":
        translate_source(entry, fetched)
    else:
        convert_source(entry, fetched)
