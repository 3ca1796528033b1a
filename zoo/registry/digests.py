"""Checksums a publisher gave in another algorithm than sha256 (OpenFace's md5, OpenCV's sha1s).

A manifest source may carry ``"digest": {"algorithm": "md5", "value": ...,
"published_in": ...}`` besides its ``sha256``. Every download, mirror copy or
file placed in the cache is then checked against it as well (computed while
the bytes stream in), and the sha256 of the accepted file is pinned in the
cache record as for any other source, so later copies must match both.
md5 and sha1 vouch for integrity, not against a forger (both have known
collisions), so ``DENSENET_ZOO_STRICT=1`` still asks for a sha256.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

__all__ = ["DIGEST_ALGORITHMS", "PublishedDigest"]

#: Algorithm -> length of its hex digest.
DIGEST_ALGORITHMS = {"md5": 32, "sha1": 40}
_HEX = re.compile(r"[0-9a-f]+")


@dataclass(frozen=True)
class PublishedDigest:
    """A hex ``value`` of ``algorithm`` (md5 or sha1) that ``published_in`` says the file has."""

    algorithm: str
    value: str
    published_in: str = ""

    def __post_init__(self) -> None:
        problem = digest_problem(self.algorithm, self.value)
        if problem is not None:
            raise ValueError(problem)

    def matches(self, hexdigest: str) -> bool:
        return hexdigest.lower() == self.value

    def describe(self) -> str:
        where = f" (published in {self.published_in})" if self.published_in else ""
        return f"{self.algorithm} {self.value}{where}"

    def to_dict(self) -> dict[str, Any]:
        return {"algorithm": self.algorithm, "value": self.value, "published_in": self.published_in}


def digest_problem(algorithm: Any, value: Any) -> str | None:
    """Why ``algorithm``/``value`` are not a checksum this registry checks, or None."""
    if not isinstance(algorithm, str) or algorithm not in DIGEST_ALGORITHMS:
        return f"expected the algorithm to be one of {sorted(DIGEST_ALGORITHMS)}, found {str(algorithm)[:40]!r}"
    length = DIGEST_ALGORITHMS[algorithm]
    if not isinstance(value, str) or len(value) != length or not _HEX.fullmatch(value):
        return f"expected an {algorithm} value of {length} lowercase hex digits, found {str(value)[:80]!r}"
    return None
