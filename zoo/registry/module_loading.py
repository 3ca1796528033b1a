"""Loading the registry's non-DenseNet models: a verified ``.t7`` -> checked translation -> ``torch.nn.Module``.

For the families that load as modules (fb.resnet.torch's ResNets, OpenFace,
fast-neural-style: :mod:`zoo.registry.families`), the verified ``.t7`` in the
cache is the only cached file: translating it with ``converters`` and copying
its weights out of the memory-mapped file is cheap, so no converted copy is
kept. Before a single weight is read, the translated skeleton's
:class:`~zoo.registry.families.Fingerprint` must be the published
architecture's; a file that is another network is refused (and removed if it
was only trusted on first use).
"""

from __future__ import annotations

from typing import Any

from zoo.registry.errors import VerificationError
from zoo.registry.families import Family, Fingerprint
from zoo.registry.fetch import FetchedFile, refusing_unloadable
from zoo.registry.manifest import ModelEntry

__all__ = ["load_module_entry", "translate_source"]


def translate_source(entry: ModelEntry, fetched: FetchedFile) -> Any:
    """The ``converters.translate.Translation`` of a fetched source, its fingerprint checked; no weight is read.

    The net is the file's root, or the field of the checkpoint table that the
    family names (fast-neural-style's ``model``). Raises
    :class:`VerificationError` for a file that is not a Torch7 network of the
    entry's architecture.
    """
    import torch

    from converters import t7
    from converters.translate import translate

    with refusing_unloadable(entry, fetched):
        network = _network(t7.load(str(fetched.path), lazy=True), entry.family_info, fetched)
        translation = translate(network, dtype=torch.float32)
        expected, found = entry.module_architecture.fingerprint, Fingerprint.of(translation.module)
        if found != expected:
            raise VerificationError(
                f"{fetched.path} (from {fetched.record.origin}) is not the published {entry.name}: its network has "
                f"{found.describe()}, but {entry.architecture} ({entry.module_architecture.definition}) has "
                f"{expected.describe()}. It is not used; check the source or the mirror"
            )
        return translation


def _network(root: Any, family: Family, fetched: FetchedFile) -> Any:
    """The Lua module in a file's ``root``: the root itself, or the family's field of a checkpoint table."""
    from converters import t7

    if family.net_field is None:
        return root
    network = root.get(family.net_field) if isinstance(root, t7.T7Table) else None
    if not isinstance(network, t7.T7Object):
        found = type(root).__name__ if not isinstance(root, t7.T7Table) else f"a table with keys {list(root)[:8]}"
        raise VerificationError(
            f"{fetched.path} (from {fetched.record.origin}): expected a {family.title} checkpoint, a table whose "
            f"field {family.net_field!r} holds the network, found {found}. It is not used; check the source"
        )
    return network


def load_module_entry(entry: ModelEntry, fetched: FetchedFile, device: Any = None) -> Any:
    """The network of a fetched source of a module family, float32, in eval mode.

    Its ``pretrained_weights`` dict records where it came from (the ``.t7``,
    its sha256 and how that was trusted), as ``zoo.load`` does for DenseNets.
    """
    with refusing_unloadable(entry, fetched):
        module = translate_source(entry, fetched).materialize().eval()
    module.pretrained_weights = {
        "name": entry.name,
        "family": entry.family,
        "path": str(fetched.path),
        "sha256": fetched.record.sha256,
        "source": fetched.source.filename,
        "source_sha256": fetched.record.sha256,
        "source_trust": fetched.record.trust,
    }
    return module.to(device) if device is not None else module
