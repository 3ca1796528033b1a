"""The published errors that a measurement is compared with: the registry manifest is the one source.

``weights_manifest.json`` records, per model, the top-1 error of the DenseNet README
table (224x224, single centre crop, fb.resnet.torch's pipeline). No top-5 numbers are
recorded there, so none are compared.
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


def published_error(model_name: str | None) -> PublishedError | None:
    """The published top-1 error of a registry model name; ``None`` for unknown names or files."""
    if not model_name:
        return None
    from zoo.registry.manifest import load_manifest  # the registry sits below evaluation

    manifest = load_manifest()
    if model_name not in manifest:
        return None
    entry = manifest[model_name]
    if entry.top1_error is None:
        return None
    return PublishedError(top1_error=float(entry.top1_error), source=entry.error_source)
