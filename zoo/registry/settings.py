"""The registry's knobs, read from the environment at call time.

``DENSENET_ZOO_HOME`` (cache directory), ``DENSENET_ZOO_OFFLINE=1`` (never touch
the network), ``DENSENET_ZOO_STRICT=1`` (refuse sources without a published
sha256), ``DENSENET_ZOO_MIRROR=<dir or URL prefix>`` (looked up by file name
first), ``DENSENET_ZOO_MANIFEST=<path>`` (see :mod:`zoo.registry.manifest`).
"""

from __future__ import annotations

import dataclasses
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from zoo.registry.cache import cache_dir
from zoo.registry.download import RetryPolicy
from zoo.registry.errors import BadURLError
from zoo.registry.transport import printable

OFFLINE_ENV = "DENSENET_ZOO_OFFLINE"
STRICT_ENV = "DENSENET_ZOO_STRICT"
MIRROR_ENV = "DENSENET_ZOO_MIRROR"


def env_flag(name: str) -> bool:
    """True for ``1``, ``true``, ``yes`` or ``on`` (any case)."""
    return os.environ.get(name, "").strip().lower() in ("1", "true", "yes", "on")


@dataclass(frozen=True)
class Settings:
    """Where files go and what the registry may do to get them."""

    cache_dir: Path
    offline: bool = False
    strict: bool = False
    mirror: str | None = None
    progress: bool = True
    retry: RetryPolicy = field(default_factory=RetryPolicy)
    lock_timeout: float | None = 3600.0

    @classmethod
    def from_env(cls, **overrides: Any) -> Settings:
        """Settings from the environment; keyword arguments that are not None win."""
        values: dict[str, Any] = {
            "cache_dir": cache_dir(),
            "offline": env_flag(OFFLINE_ENV),
            "strict": env_flag(STRICT_ENV),
            "mirror": os.environ.get(MIRROR_ENV) or None,
        }
        values.update({key: value for key, value in overrides.items() if value is not None})
        values["cache_dir"] = Path(values["cache_dir"]).expanduser()
        return cls(**values)

    def replace(self, **changes: Any) -> Settings:
        """A copy with ``changes`` applied (the settings are frozen)."""
        return dataclasses.replace(self, **changes)

    @property
    def mirror_is_url(self) -> bool:
        """True when the mirror is an ``http(s)://`` URL prefix rather than a directory."""
        return bool(self.mirror) and self.mirror.split("://", 1)[0].lower() in ("http", "https")

    def mirror_directory(self) -> Path | None:
        """The mirror as a local directory (a ``file://`` prefix is dropped); None for no mirror or a URL.

        Any other ``scheme://`` (``ftp://``, ...) is a :class:`BadURLError`, not a directory name.
        """
        if not self.mirror or self.mirror_is_url:
            return None
        if self.mirror.startswith("file://"):
            return Path(self.mirror[len("file://") :]).expanduser()
        if re.match(r"[A-Za-z][A-Za-z0-9+.-]*://", self.mirror):
            raise BadURLError(
                f"mirror {printable(self.mirror)} is neither a directory, a file:// path nor an http(s):// URL; "
                f"fix {MIRROR_ENV} or --mirror"
            )
        return Path(self.mirror).expanduser()
