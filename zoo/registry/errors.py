"""The registry's one exception hierarchy.

Every message says what was expected, what was found, where (model name,
URL, path) and what the user can do about it.
"""

from __future__ import annotations


class RegistryError(Exception):
    """Base class of every error raised by ``zoo.registry``."""


class ManifestError(RegistryError):
    """The weights manifest is missing, malformed or disagrees with the model definitions."""


class UnknownModelError(RegistryError, KeyError):
    """A model name that the manifest does not list."""

    def __str__(self) -> str:  # KeyError would quote the message
        return str(self.args[0]) if self.args else ""


class DownloadError(RegistryError):
    """A file could not be fetched (network failure, HTTP error, an HTML page instead of a model)."""


class RetriesExhaustedError(DownloadError):
    """A download kept failing (connection lost, timeouts, 429/5xx) until its retries were used up.

    The bytes received so far were all received correctly and stay in the ``.part`` file when
    the source allows resuming; the next try continues from there.
    """


class HTTPStatusError(DownloadError):
    """A server answered with an HTTP error status that retrying will not fix (e.g. 403, 404)."""

    def __init__(self, message: str, url: str, status_code: int, page: str | None = None) -> None:
        super().__init__(message)
        self.url = url
        self.status_code = status_code
        self.page = page


class BadURLError(DownloadError):
    """A URL densenet-zoo will not fetch: not ``http(s)://``, malformed, or too long."""


class RedirectError(DownloadError):
    """Redirects that loop, go on too long, lack a target, lead to a refused URL or from https to http."""


class BadResponseError(DownloadError):
    """A server's answer is malformed or contradicts itself (status, length, range); nothing of it was kept."""


class HTMLPageError(DownloadError):
    """A server sent an HTML page where a model file was expected; nothing was saved."""

    def __init__(self, message: str, url: str, page: str, status_code: int = 200) -> None:
        super().__init__(message)
        self.url = url
        self.page = page
        self.status_code = status_code


class GoogleDriveError(DownloadError):
    """Google Drive answered with a page instead of the file."""


class GoogleDriveQuotaError(GoogleDriveError):
    """Google Drive's "Too many users have viewed or downloaded this file recently" page."""


class GoogleDrivePermissionError(GoogleDriveError):
    """Google Drive refused access (missing resourcekey, private file) or the file no longer exists."""


class HubError(DownloadError):
    """The Hugging Face Hub (``huggingface_hub.hf_hub_download``) could not deliver a file."""


class HubNotFoundError(HubError):
    """The Hub has no such repository, revision or file (or a private repository hides itself)."""


class HubAccessError(HubError):
    """The Hub refused access: a gated or private repository without a token that may read it."""


class HubNotInstalledError(RegistryError, ImportError):
    """A Hugging Face Hub source or ``hf-hub:`` name needs ``huggingface_hub``, which is not installed."""


class HubExportError(RegistryError):
    """A Hub export cannot be made as asked (e.g. an evaluation record of other weights or of a subset of images)."""


class VerificationError(RegistryError):
    """A file's size or sha256 differs from what the manifest or the cache pinned, or it does not convert."""


class UnpinnedSourceError(VerificationError):
    """``DENSENET_ZOO_STRICT=1`` and a source has no published sha256 to verify against."""


class CacheFileError(RegistryError):
    """A file in the cache that densenet-zoo did not write: a symbolic link, not a regular file, or another user's.

    It is neither read nor written (a link planted in a shared cache must not
    redirect a download into another file); the user removes it.
    """


class OfflineError(RegistryError):
    """``DENSENET_ZOO_OFFLINE=1`` and a file is neither cached nor in a mirror directory."""


class LockTimeoutError(RegistryError):
    """Another process held a download lock for longer than the wait limit."""
