"""The weights registry: manifest, verified downloads, cache and one-line pretrained loading.

``load(name)`` gives a published model of any family in eval mode (DenseNets,
fb.resnet.torch's ResNets, OpenFace, fast-neural-style: :mod:`zoo.registry.families`;
``load("hf-hub:ORG/REPO")`` one from the Hugging Face Hub); ``load_weights(path)`` a model from a .t7,
.safetensors or .pth file. Downloads are verified, resumable,
locked across processes and cached; see the submodules for the details.
Layer 4: imports the model definitions and the converters, nothing above.

Names resolve on first use (PEP 562), so that :mod:`zoo.registry.errors` imports without torch
(the command line names its error classes at start-up).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from densenet_zoo_util.lazy import lazy_exports

if TYPE_CHECKING:
    from zoo.registry.architectures import register_architecture
    from zoo.registry.digests import PublishedDigest
    from zoo.registry.errors import (
        BadResponseError,
        BadURLError,
        CacheFileError,
        DownloadError,
        GoogleDriveError,
        GoogleDrivePermissionError,
        GoogleDriveQuotaError,
        HTMLPageError,
        HTTPStatusError,
        HubAccessError,
        HubError,
        HubExportError,
        HubNotFoundError,
        HubNotInstalledError,
        LockTimeoutError,
        ManifestError,
        OfflineError,
        RedirectError,
        RegistryError,
        RetriesExhaustedError,
        UnknownModelError,
        UnpinnedSourceError,
        VerificationError,
    )
    from zoo.registry.families import FAMILIES, Family, Fingerprint, ModuleArchitecture
    from zoo.registry.fetch import UnverifiedSourceWarning, fetch
    from zoo.registry.loading import ensure_converted, load, load_from_hub, load_pretrained, load_weights, read_weights
    from zoo.registry.manifest import Manifest, ModelEntry, Source, load_manifest
    from zoo.registry.settings import Settings

# Public name -> the module that defines it.
_LAZY_EXPORTS = {
    "FAMILIES": "zoo.registry.families",
    "Family": "zoo.registry.families",
    "Fingerprint": "zoo.registry.families",
    "ModuleArchitecture": "zoo.registry.families",
    "PublishedDigest": "zoo.registry.digests",
    "BadResponseError": "zoo.registry.errors",
    "BadURLError": "zoo.registry.errors",
    "CacheFileError": "zoo.registry.errors",
    "DownloadError": "zoo.registry.errors",
    "GoogleDriveError": "zoo.registry.errors",
    "GoogleDrivePermissionError": "zoo.registry.errors",
    "GoogleDriveQuotaError": "zoo.registry.errors",
    "HTMLPageError": "zoo.registry.errors",
    "HTTPStatusError": "zoo.registry.errors",
    "HubAccessError": "zoo.registry.errors",
    "HubError": "zoo.registry.errors",
    "HubExportError": "zoo.registry.errors",
    "HubNotFoundError": "zoo.registry.errors",
    "HubNotInstalledError": "zoo.registry.errors",
    "LockTimeoutError": "zoo.registry.errors",
    "Manifest": "zoo.registry.manifest",
    "ManifestError": "zoo.registry.errors",
    "ModelEntry": "zoo.registry.manifest",
    "OfflineError": "zoo.registry.errors",
    "RedirectError": "zoo.registry.errors",
    "RegistryError": "zoo.registry.errors",
    "RetriesExhaustedError": "zoo.registry.errors",
    "Settings": "zoo.registry.settings",
    "Source": "zoo.registry.manifest",
    "UnknownModelError": "zoo.registry.errors",
    "UnpinnedSourceError": "zoo.registry.errors",
    "UnverifiedSourceWarning": "zoo.registry.fetch",
    "VerificationError": "zoo.registry.errors",
    "ensure_converted": "zoo.registry.loading",
    "fetch": "zoo.registry.fetch",
    "load": "zoo.registry.loading",
    "load_from_hub": "zoo.registry.loading",
    "load_manifest": "zoo.registry.manifest",
    "load_pretrained": "zoo.registry.loading",
    "load_weights": "zoo.registry.loading",
    "read_weights": "zoo.registry.loading",
    "register_architecture": "zoo.registry.architectures",
}

__getattr__, __dir__ = lazy_exports(__name__, _LAZY_EXPORTS)

__all__ = [
    "FAMILIES",
    "BadResponseError",
    "BadURLError",
    "CacheFileError",
    "DownloadError",
    "Family",
    "Fingerprint",
    "GoogleDriveError",
    "GoogleDrivePermissionError",
    "GoogleDriveQuotaError",
    "HTMLPageError",
    "HTTPStatusError",
    "HubAccessError",
    "HubError",
    "HubExportError",
    "HubNotFoundError",
    "HubNotInstalledError",
    "LockTimeoutError",
    "Manifest",
    "ManifestError",
    "ModelEntry",
    "ModuleArchitecture",
    "OfflineError",
    "PublishedDigest",
    "RedirectError",
    "RegistryError",
    "RetriesExhaustedError",
    "Settings",
    "Source",
    "UnknownModelError",
    "UnpinnedSourceError",
    "UnverifiedSourceWarning",
    "VerificationError",
    "ensure_converted",
    "fetch",
    "load",
    "load_from_hub",
    "load_manifest",
    "load_pretrained",
    "load_weights",
    "read_weights",
    "register_architecture",
]
