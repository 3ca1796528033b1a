"""Files from the Hugging Face Hub, fetched the way Hub users expect, failing with the registry's errors.

Downloads go through ``huggingface_hub.hf_hub_download``, so ``HF_ENDPOINT``,
``HF_HUB_OFFLINE``, ``HF_TOKEN`` (or ``hf auth login``), proxies and the HF
cache (``HF_HOME`` / ``HF_HUB_CACHE``) work as in every other Hub library.
What ``huggingface_hub`` raises (offline with a cold cache, a missing repo,
revision or file, a gated repo, a failed connection) becomes a
:class:`~zoo.registry.errors.HubError`, :class:`~zoo.registry.errors.OfflineError`
or :class:`~zoo.registry.errors.HubNotInstalledError` that says what to do.

Also the rules for the names a manifest or ``hf-hub:ORG/REPO[@REVISION]`` may
use: repository ids, revisions and file paths are checked as whole strings
before they reach a URL or a cache path. ``huggingface_hub`` is optional
(``pip install 'densenet-zoo[hub]'``) and imported only when a file is fetched.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from zoo.registry.errors import (
    DownloadError,
    HubAccessError,
    HubError,
    HubNotFoundError,
    HubNotInstalledError,
    OfflineError,
    RegistryError,
)
from zoo.registry.transport import printable

__all__ = [
    "CONFIG_FILENAME",
    "CONFIG_KEY",
    "HUB_PREFIX",
    "INSTALL_HINT",
    "WEIGHTS_FILENAME",
    "HubName",
    "hub_download",
    "is_hub_name",
    "parse_hub_name",
    "repo_filename_problem",
    "repo_id_problem",
    "revision_problem",
]

#: What ``zoo.load`` and timm call a model on the Hub: ``hf-hub:ORG/REPO`` or ``hf-hub:ORG/REPO@REVISION``.
HUB_PREFIX = "hf-hub:"
INSTALL_HINT = "pip install 'densenet-zoo[hub]'"
#: A Hub model repository as ``densenet-zoo export-hub`` writes it (and timm reads it): these two files.
CONFIG_FILENAME = "config.json"
WEIGHTS_FILENAME = "model.safetensors"
#: The key of ``config.json`` under which densenet-zoo keeps its own fields (timm's sit beside it).
CONFIG_KEY = "densenet_zoo"

_REPO_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,95}/[A-Za-z0-9][A-Za-z0-9._-]{0,95}")
_COMMIT = re.compile(r"[0-9a-f]{40}")
_REVISION = re.compile(r"[A-Za-z0-9][A-Za-z0-9._/-]{0,127}")
_REPO_FILENAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,127}(?:/[A-Za-z0-9][A-Za-z0-9._-]{0,127}){0,7}")
_REPO_FILENAME_LIMIT = 256


def repo_id_problem(repo_id: Any) -> str | None:
    """Why ``repo_id`` is not a Hub model repository id ``ORG/REPO``, or None."""
    if not isinstance(repo_id, str) or not _REPO_ID.fullmatch(repo_id) or ".." in repo_id or "--" in repo_id:
        return (
            "expected ORG/REPO: two names of 1 to 96 letters, digits, '.', '_' or '-' each (starting with a letter "
            "or digit, without '..' or '--')"
        )
    return None


def revision_problem(revision: Any, pinned: bool) -> str | None:
    """Why ``revision`` is no revision (with ``pinned``: no 40-hex commit id), or None."""
    if pinned:
        if not isinstance(revision, str) or not _COMMIT.fullmatch(revision):
            return "expected a commit id (40 lowercase hex digits), so the file cannot change under the same name"
        return None
    if not isinstance(revision, str) or not _REVISION.fullmatch(revision) or ".." in revision:
        return "expected a branch, tag or commit id: 1 to 128 letters, digits, '.', '_', '-' or '/', without '..'"
    return None


def repo_filename_problem(filename: Any) -> str | None:
    """Why ``filename`` cannot name a file in a Hub repository (a relative path of plain names), or None."""
    if (
        not isinstance(filename, str)
        or len(filename) > _REPO_FILENAME_LIMIT
        or not _REPO_FILENAME.fullmatch(filename)
        or ".." in filename
    ):
        return (
            f"expected a path inside the repository of at most {_REPO_FILENAME_LIMIT} characters: up to 8 names "
            "of letters, digits, '.', '_' or '-' separated by '/', each starting with a letter or digit, without '..'"
        )
    return None


@dataclass(frozen=True)
class HubName:
    """A parsed ``hf-hub:ORG/REPO[@REVISION]``; ``revision`` None means the repository's default branch."""

    repo_id: str
    revision: str | None = None

    def __str__(self) -> str:
        return HUB_PREFIX + self.repo_id + (f"@{self.revision}" if self.revision else "")


def is_hub_name(name: Any) -> bool:
    """True when ``name`` asks for a Hub repository (``hf-hub:...``) rather than a registry model."""
    return isinstance(name, str) and name.startswith(HUB_PREFIX)


def parse_hub_name(name: str) -> HubName:
    """``hf-hub:ORG/REPO[@REVISION]`` split and checked; a malformed name is a :class:`RegistryError`."""
    if not is_hub_name(name):
        raise RegistryError(f"expected a name of the form {HUB_PREFIX}ORG/REPO[@REVISION], found {printable(name)}")
    repo_id, _, revision = name[len(HUB_PREFIX) :].partition("@")
    problem = repo_id_problem(repo_id)
    if problem is None and revision:
        problem = revision_problem(revision, pinned=False)
    if problem is None and "@" in name and not revision:
        problem = "expected a revision after '@'"
    if problem is not None:
        raise RegistryError(f"{printable(name)} is not a Hub model name: {problem}")
    return HubName(repo_id, revision or None)


def _hub_module() -> Any:
    """``huggingface_hub``, or :class:`HubNotInstalledError` saying what to install."""
    try:
        import huggingface_hub
    except ImportError as error:
        raise HubNotInstalledError(
            f"loading from the Hugging Face Hub needs the huggingface_hub package, which is not installed "
            f"({error}); install it with: {INSTALL_HINT}"
        ) from None
    return huggingface_hub


def hub_download(repo_id: str, filename: str, revision: str | None, *, local_files_only: bool = False) -> Path:
    """The local path of ``filename`` of the Hub model ``repo_id`` at ``revision``, from the HF cache or the Hub.

    ``local_files_only`` never touches the network (``DENSENET_ZOO_OFFLINE=1``);
    ``HF_HUB_OFFLINE=1`` does the same inside ``huggingface_hub``. The file is
    the Hub's, not yet verified: callers check it.
    """
    hub = _hub_module()
    where = _describe(repo_id, filename, revision)
    try:
        path = hub.hf_hub_download(repo_id, filename, revision=revision, local_files_only=local_files_only)
    except Exception as error:
        translated = _translated(error, where, local_files_only)
        if translated is None:
            raise
        raise translated from error
    return Path(path)


def _describe(repo_id: str, filename: str, revision: str | None) -> str:
    return f"{filename} of the Hugging Face Hub model {repo_id} at revision {revision or 'main'}"


def _translated(error: Exception, where: str, local_files_only: bool) -> RegistryError | None:
    """The registry error that tells the user what to do about ``error``; None for a bug (left as it is)."""
    from huggingface_hub import constants, errors

    endpoint = constants.ENDPOINT
    detail = printable(" ".join(str(error).split()), 300)
    if isinstance(error, errors.GatedRepoError) or (
        isinstance(error, errors.HfHubHTTPError) and _status(error) in (401, 403)
    ):
        return HubAccessError(
            f"{where}: {endpoint} refused access ({detail}). The repository is gated or private (or, without a "
            "token, missing): accept its terms on its Hub page with your account, then log in (`hf auth login`) or "
            "set HF_TOKEN to a token that may read it"
        )
    if isinstance(error, errors.RepositoryNotFoundError):
        return HubNotFoundError(
            f"{where}: {endpoint} has no such model repository, or it is private ({detail}). Check the repository "
            "id (and HF_ENDPOINT); for a private repository log in (`hf auth login`) or set HF_TOKEN"
        )
    if isinstance(error, errors.RevisionNotFoundError):
        return HubNotFoundError(
            f"{where}: the repository has no such revision ({detail}). Check the branch, tag or commit id"
        )
    if isinstance(error, errors.RemoteEntryNotFoundError):
        return HubNotFoundError(f"{where}: the repository has no such file at that revision ({detail})")
    offline = local_files_only or constants.HF_HUB_OFFLINE
    if isinstance(error, errors.LocalEntryNotFoundError) and offline:
        switch = "DENSENET_ZOO_OFFLINE" if local_files_only else "HF_HUB_OFFLINE"
        return OfflineError(
            f"{switch}=1 and {where} is not in the Hugging Face cache ({constants.HF_HUB_CACHE}). Fetch it once "
            f"while online, point HF_HUB_CACHE at a cache that holds it, or unset {switch}"
        )
    if isinstance(error, errors.LocalEntryNotFoundError) or _is_transport_error(error):
        cause = printable(" ".join(str(error.__cause__ or error).split()), 300)
        return HubError(
            f"{where}: could not get it from {endpoint} ({cause}) and it is not in the Hugging Face cache "
            f"({constants.HF_HUB_CACHE}). Check the network connection, HF_ENDPOINT and proxy settings "
            "(HTTPS_PROXY), then try again"
        )
    if isinstance(error, errors.HfHubHTTPError):
        return HubError(f"{where}: {endpoint} answered with an error ({detail}); try again later")
    if isinstance(error, OSError):  # huggingface_hub's consistency checks (a short download) and disk errors
        return DownloadError(f"{where}: the download failed ({detail}); try again")
    return None


def _status(error: Any) -> int | None:
    response = getattr(error, "response", None)
    return getattr(response, "status_code", None)


def _is_transport_error(error: Exception) -> bool:
    """True for a failure of the HTTP client under huggingface_hub (connection refused, timeout, protocol)."""
    import httpx2

    return isinstance(error, httpx2.HTTPError)
