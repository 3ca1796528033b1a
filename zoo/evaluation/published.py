"""The published errors that a measurement is compared with: the registry manifest is the one source.

``weights_manifest.json`` records, per model, the single-crop (224x224 centre crop,
fb.resnet.torch's pipeline) errors its publisher gave: top-1 for the DenseNets (the DenseNet
README table gives no top-5), top-1 and top-5 for fb.resnet.torch's ResNets.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["PublishedError", "published_error"]


@dataclass(frozen=True)
class PublishedError:
    """A published number and where it comes from."""

    top1_error: float
    source: str | None = None
    crops: int = 1
    top5_error: float | None = None


def published_error(model_name: str | None) -> PublishedError | None:
    """The published errors of a registry model name; ``None`` for unknown names, files, or no published top-1."""
    if not model_name:
        return None
    from zoo.registry.manifest import load_manifest  # the registry sits below evaluation

    manifest = load_manifest()
    if model_name not in manifest:
        return None
    entry = manifest[model_name]
    if entry.top1_error is None:
        return None
    top5_error = float(entry.top5_error) if entry.top5_error is not None else None
    return PublishedError(top1_error=float(entry.top1_error), source=entry.error_source, top5_error=top5_error)
