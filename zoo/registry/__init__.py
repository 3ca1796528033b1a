"""The weights registry: manifest, verified downloads, cache and one-line pretrained loading.

``load(name)`` gives a published model in eval mode (``load("hf-hub:ORG/REPO")``
one from the Hugging Face Hub); ``load_weights(path)`` a model from a .t7,
.safetensors or .pth file. Downloads are verified, resumable,
locked across processes and cached; see the submodules for the details.
Layer 4: imports the model definitions and the converters, nothing above.
"""

from zoo.registry.architectures import register_architecture
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
from zoo.registry.fetch import UnverifiedSourceWarning, fetch
from zoo.registry.loading import ensure_converted, load, load_from_hub, load_pretrained, load_weights, read_weights
from zoo.registry.manifest import Manifest, ModelEntry, Source, load_manifest
from zoo.registry.settings import Settings

__all__ = [
    "BadResponseError",
    "BadURLError",
    "CacheFileError",
    "DownloadError",
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
    "OfflineError",
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
