"""The weights manifest: which files hold each published model and how to check them.

``weights_manifest.json`` (repository root, shipped inside the package as
``zoo/weights_manifest.json``) lists, per model name, its family (how it
loads: :mod:`zoo.registry.families`), the name of its architecture (defined
in code: see :mod:`zoo.registry.architectures`), the published top-1/top-5
errors and an ordered list of sources. A source may carry the md5 or sha1 its
publisher gave (``"digest"``: :mod:`zoo.registry.digests`) besides its
sha256; sources of one model with the same file name are one file at several
addresses. The manifest is validated when loaded, so a typo is an error at
load time, not a wrong model later. ``DENSENET_ZOO_MANIFEST=<path>`` replaces
the bundled file.

A manifest may come from a stranger, and its strings become cache paths,
URLs and HTTP parameters, so each is checked as a whole string (``fullmatch``):
names and file names are short, plain and cannot collide with the cache's own
files (records, locks, partial downloads, converted weights); URLs are
``http(s)://`` only; hashes are hex of their algorithm's length; sizes are
bounded byte counts; errors are percentages; unknown keys are refused.
"""

from __future__ import annotations

import json
import math
import os
import re
import stat
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from densenet_zoo_util.atomic import write_text_atomic
from zoo.models.densenet import MODEL_CONFIGS, DenseNetConfig
from zoo.registry.architectures import architecture_family, architecture_names, find_architecture
from zoo.registry.cache import RECORD_SUFFIX
from zoo.registry.digests import PublishedDigest, digest_problem
from zoo.registry.download import PART_SUFFIX, VALIDATOR_SUFFIX
from zoo.registry.errors import ManifestError, UnknownModelError
from zoo.registry.families import FAMILIES, MODULE_ARCHITECTURES, Family, ModuleArchitecture
from zoo.registry.huggingface import repo_filename_problem, repo_id_problem, revision_problem
from zoo.registry.lock import BREAK_SUFFIX, LOCK_SUFFIX
from zoo.registry.transport import MAX_FILE_SIZE, printable, url_problem

#: 3: entries name their family and may give top-5 errors and publishers' md5/sha1 digests; 2: entries name
#: their architecture (``"architecture": "densenet121"``; a version-2 manifest is still read, as DenseNets);
#: 1 carried its config.
SCHEMA_VERSION = 3
READABLE_SCHEMA_VERSIONS = (2, 3)
MANIFEST_ENV = "DENSENET_ZOO_MANIFEST"
BUNDLED_MANIFEST = Path(__file__).resolve().parent.parent / "weights_manifest.json"

SOURCE_TYPES = ("google_drive", "url", "huggingface")
#: ``t7``: a Torch7 checkpoint as fb.resnet.torch saved it; ``torchvision-pth``: a
#: torchvision pickle whose old ``norm.1``-style keys need remapping;
#: ``safetensors``: weights converted by this project.
SOURCE_FORMATS = ("t7", "torchvision-pth", "safetensors")

#: A manifest is a few kilobytes; a larger file is refused before it is read.
MANIFEST_LIMIT = 1 << 24
#: Titles and notes are shown in ``list`` and ``info``; longer ones are refused.
TEXT_LIMIT = 1000
#: A model name: lowercase letters, digits, '_' and single inner dots (``nn4.small2.v1``), at most 64 characters.
MODEL_NAME_PATTERN = re.compile(r"[a-z0-9](?:[a-z0-9_]|\.(?=[a-z0-9_])){0,63}")
ENTRY_KEYS = frozenset({"title", "family", "architecture", "published", "sources"})
PUBLISHED_KEYS = frozenset({"top1_error", "top5_error", "source", "size_mb"})
DIGEST_KEYS = frozenset({"algorithm", "value", "published_in"})

_HEX = re.compile(r"[0-9a-f]{8,64}")
_FILENAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,127}")
_DRIVE_ID = re.compile(r"[A-Za-z0-9_-]{1,200}")
#: Names of the cache's own files (see :func:`reserved_filename`).
_RESERVED_SUFFIXES = (RECORD_SUFFIX, PART_SUFFIX, VALIDATOR_SUFFIX, LOCK_SUFFIX, LOCK_SUFFIX + BREAK_SUFFIX)
_CONVERTED_NAME = re.compile(r"[a-z0-9][a-z0-9_]*-[0-9a-f]{8}\.safetensors")  # zoo.registry.loading.converted_path


@dataclass(frozen=True)
class Source:
    """One place a model's file can be fetched from.

    ``sha256`` is the full hex digest, a published prefix (torchvision's file
    names carry the first 8 hex digits), or ``None`` when nothing was ever
    published; ``size`` is the exact byte count or ``None``. ``filename`` is
    the file's name in the cache and mirrors, except for a ``huggingface``
    source, where it is the path inside the Hub repository ``repo_id`` at the
    commit ``revision`` (as ``hf_hub_download`` names them) and the cache name
    is derived from all three (:attr:`cache_name`).
    """

    type: str
    filename: str
    format: str
    sha256: str | None = None
    size: int | None = None
    url: str | None = None
    file_id: str | None = None
    resourcekey: str | None = None
    repo_id: str | None = None
    revision: str | None = None
    digest: PublishedDigest | None = None

    @property
    def cache_name(self) -> str:
        """The file's name in the cache and in a mirror (``ORG--REPO-COMMIT12-FILE`` for a Hub source)."""
        if self.type != "huggingface":
            return self.filename
        return f"{self.repo_id.replace('/', '--')}-{self.revision[:12]}-{self.filename.replace('/', '-')}"

    @property
    def has_full_hash(self) -> bool:
        """True when the manifest publishes the whole digest, not just a prefix."""
        return self.sha256 is not None and len(self.sha256) == 64

    def describe(self) -> str:
        """Where the file comes from, for messages."""
        if self.type == "google_drive":
            key = f", resourcekey {self.resourcekey}" if self.resourcekey else ""
            return f"Google Drive file {self.file_id}{key}"
        if self.type == "huggingface":
            return f"Hugging Face Hub model {self.repo_id}, file {self.filename} at commit {self.revision}"
        return str(self.url)

    def hash_matches(self, sha256: str) -> bool:
        """True when the full digest ``sha256`` agrees with the recorded hash or prefix."""
        return self.sha256 is None or sha256.lower().startswith(self.sha256)

    def to_dict(self) -> dict[str, Any]:
        """The source as the manifest writes it (the fields of its type only)."""
        if self.type == "google_drive":
            keys = ("type", "file_id", "resourcekey", "filename", "format", "sha256", "size")
        elif self.type == "huggingface":
            keys = ("type", "repo_id", "revision", "filename", "format", "sha256", "size")
        else:
            keys = ("type", "url", "filename", "format", "sha256", "size")
        written = {key: getattr(self, key) for key in keys}
        if self.digest is not None:
            written["digest"] = self.digest.to_dict()
        return written


@dataclass(frozen=True)
class ModelEntry:
    """A model name with its family, architecture, published numbers and ordered sources.

    ``config`` is the DenseNetConfig of a ``densenet`` entry (None for the
    others); ``module_architecture`` the published network of the others
    (None for DenseNets).
    """

    name: str
    config: DenseNetConfig | None
    sources: tuple[Source, ...]
    architecture: str = ""
    title: str = ""
    top1_error: float | None = None
    error_source: str | None = None
    published_size_mb: float | None = None
    family: str = "densenet"
    module_architecture: ModuleArchitecture | None = None
    top5_error: float | None = None

    @property
    def family_info(self) -> Family:
        """How the family of this entry loads (:data:`zoo.registry.families.FAMILIES`)."""
        return FAMILIES[self.family]


@dataclass(frozen=True)
class Manifest:
    """A validated manifest; ``manifest[name]`` gives a :class:`ModelEntry`."""

    models: dict[str, ModelEntry]
    path: Path | None = None
    schema_version: int = SCHEMA_VERSION
    description: str = field(default="")

    def __getitem__(self, name: str) -> ModelEntry:
        try:
            return self.models[name]
        except KeyError:
            where = f" in {self.path}" if self.path else ""
            known = ", ".join(list(self.models)[:20]) + (", ..." if len(self.models) > 20 else "")
            raise UnknownModelError(f"unknown model {_shown(name)}{where}; known models: {known or '(none)'}") from None

    def __contains__(self, name: object) -> bool:
        return name in self.models

    def __iter__(self) -> Iterator[str]:
        return iter(self.models)

    def __len__(self) -> int:
        return len(self.models)

    def names(self) -> list[str]:
        """Model names in manifest order."""
        return list(self.models)

    def by_family(self) -> dict[str, list[str]]:
        """Model names grouped by family: the families in :data:`FAMILIES` order, the names in manifest order."""
        grouped = {
            family: [name for name, entry in self.models.items() if entry.family == family] for family in FAMILIES
        }
        return {family: names for family, names in grouped.items() if names}


def manifest_path() -> Path:
    """The manifest in use: ``DENSENET_ZOO_MANIFEST`` if set, else the bundled one."""
    override = os.environ.get(MANIFEST_ENV)
    return Path(override).expanduser() if override else BUNDLED_MANIFEST


def load_manifest(path: str | os.PathLike[str] | None = None) -> Manifest:
    """Read and validate a manifest (default: :func:`manifest_path`).

    The bundled manifest must list exactly the eight published DenseNets and
    name every published architecture of the other families; an override may
    list others (tests, mirrors, your own models), each naming a known
    architecture, and any published DenseNet name in it must name its own.
    """
    path = Path(path) if path is not None else manifest_path()
    raw = read_manifest_json(path)
    bundled = path.resolve() == BUNDLED_MANIFEST.resolve()
    return parse_manifest(raw, path=path, require_published=bundled)


def read_manifest_json(path: Path) -> Any:
    """The JSON value in the manifest file ``path``: a regular file of at most :data:`MANIFEST_LIMIT` bytes.

    Every way the file can be unreadable (missing, a directory or device, too
    large, not UTF-8, not JSON, NaN or infinite numbers, nested too deeply) is
    a :class:`ManifestError`.
    """
    try:
        with open(path, "rb") as stream:
            status = os.fstat(stream.fileno())
            if not stat.S_ISREG(status.st_mode) or status.st_size > MANIFEST_LIMIT:
                raise ManifestError(
                    f"weights manifest {path} is not a regular file of at most {MANIFEST_LIMIT} bytes; "
                    f"point {MANIFEST_ENV} at a manifest file or unset it"
                )
            text = stream.read(MANIFEST_LIMIT + 1).decode("utf-8")
    except FileNotFoundError:
        hint = f" (set by {MANIFEST_ENV})" if os.environ.get(MANIFEST_ENV) else ""
        raise ManifestError(
            f"weights manifest {path}{hint} does not exist; point {MANIFEST_ENV} at a manifest file or unset it"
        ) from None
    except (OSError, UnicodeDecodeError) as error:
        raise ManifestError(f"weights manifest {path} cannot be read: {error}") from None
    try:
        return json.loads(text, parse_constant=_refuse_constant, parse_float=_finite_float)
    except json.JSONDecodeError as error:
        raise ManifestError(
            f"weights manifest {path} is not valid JSON: {error.msg} at line {error.lineno} column {error.colno}"
        ) from None
    except (ValueError, RecursionError) as error:
        raise ManifestError(f"weights manifest {path} is not valid JSON: {error}") from None


def _refuse_constant(name: str) -> None:
    raise ValueError(f"{name} is not a number JSON allows")


def _finite_float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise ValueError(f"the number {text[:40]} is too large")
    return value


def parse_manifest(raw: Any, path: Path | None = None, require_published: bool = False) -> Manifest:
    """Validate the JSON structure ``raw`` and build a :class:`Manifest` (all problems reported at once)."""
    where = str(path) if path else "<manifest>"
    problems: list[str] = []
    if not isinstance(raw, Mapping):
        raise ManifestError(f"{where}: expected a JSON object at the top level, found {type(raw).__name__}")
    version = raw.get("schema_version")
    if type(version) is not int or version not in READABLE_SCHEMA_VERSIONS:
        raise ManifestError(
            f"{where}: expected schema_version {SCHEMA_VERSION} (or {READABLE_SCHEMA_VERSIONS[0]}), found "
            f"{_shown(version)}; this densenet-zoo release reads only those versions (upgrade densenet-zoo or "
            "regenerate the manifest)"
        )
    unknown = sorted(str(key) for key in set(raw) - {"schema_version", "description", "models"})
    if unknown:
        problems.append(f"unknown top-level keys {_shown(unknown)}")
    description = raw.get("description", "")
    if not _is_text(description):
        problems.append(f"description: expected a text of at most {TEXT_LIMIT} characters, no control characters")
    models_raw = raw.get("models")
    if not isinstance(models_raw, Mapping) or not models_raw:
        raise ManifestError(f"{where}: expected a non-empty object 'models' mapping names to entries")
    models: dict[str, ModelEntry] = {}
    filenames: dict[str, str] = {}
    for name, entry_raw in models_raw.items():
        entry = _parse_entry(name, entry_raw, problems)
        if entry is None:
            continue
        for source in entry.sources:
            owner = filenames.setdefault(source.cache_name, name)
            if owner != name:
                problems.append(f"models.{name}: cache file name {source.cache_name!r} is already used by {owner}")
        models[name] = entry
    if require_published:
        _check_published(models_raw, models, problems)
    if problems:
        raise ManifestError(f"invalid weights manifest {where}:\n  - " + "\n  - ".join(problems))
    return Manifest(models=models, path=path, description=description)


def _check_published(models_raw: Mapping[str, Any], models: dict[str, ModelEntry], problems: list[str]) -> None:
    """The bundled manifest: exactly the eight DenseNets, and every published architecture of the other families."""
    densenets = [name for name, entry in models.items() if entry.family == "densenet"]
    missing = [name for name in MODEL_CONFIGS if name not in models_raw]
    extra = [name for name in densenets if name not in MODEL_CONFIGS]
    if missing:
        problems.append(f"missing published models {missing}")
    if extra:
        problems.append(f"unexpected DenseNets {extra}; the bundled manifest lists exactly {list(MODEL_CONFIGS)}")
    named = {entry.architecture for entry in models.values()}
    unserved = [name for name in MODULE_ARCHITECTURES if name not in named]
    if unserved:
        problems.append(f"no model has the published architectures {unserved}")


def _parse_entry(name: Any, entry_raw: Any, problems: list[str]) -> ModelEntry | None:
    at = f"models.{name}"
    if not isinstance(name, str) or not MODEL_NAME_PATTERN.fullmatch(name):
        problems.append(
            f"models.{_shown(name)}: model names are 1 to 64 lowercase letters, digits, '_' and single dots "
            "between them (starting with a letter or digit)"
        )
        return None
    if not isinstance(entry_raw, Mapping):
        problems.append(f"{at}: expected an object, found {type(entry_raw).__name__}")
        return None
    unknown = sorted(str(key) for key in set(entry_raw) - ENTRY_KEYS)
    if unknown:
        problems.append(f"{at}: unknown keys {_shown(unknown)}")
    architecture_name = entry_raw.get("architecture")
    architecture = _find_entry_architecture(at, name, architecture_name, problems)
    if architecture is None:
        return None
    family = _entry_family(at, entry_raw.get("family"), architecture, problems)
    if family is None:
        return None
    published = entry_raw.get("published") or {}
    if not isinstance(published, Mapping):
        problems.append(f"{at}.published: expected an object")
        published = {}
    unknown = sorted(str(key) for key in set(published) - PUBLISHED_KEYS)
    if unknown:
        problems.append(f"{at}.published: unknown keys {_shown(unknown)}")
    top1_error, top5_error = published.get("top1_error"), published.get("top5_error")
    for key, error in (("top1_error", top1_error), ("top5_error", top5_error)):
        if error is not None and (not _is_number(error) or not 0 <= error <= 100):
            problems.append(f"{at}.published.{key}: expected a percentage, found {error!r}")
    size_mb = published.get("size_mb")
    if size_mb is not None and (not _is_number(size_mb) or size_mb <= 0):
        problems.append(f"{at}.published.size_mb: expected a positive number, found {size_mb!r}")
    title, error_source = entry_raw.get("title", ""), published.get("source")
    for key, text in (("title", title), ("published.source", error_source)):
        if text is not None and not _is_text(text):
            problems.append(f"{at}.{key}: expected a text of at most {TEXT_LIMIT} characters, no control characters")
    sources_raw = entry_raw.get("sources")
    if not isinstance(sources_raw, list) or not sources_raw:
        problems.append(f"{at}.sources: expected a non-empty list")
        return None
    sources = []
    for index, source_raw in enumerate(sources_raw):
        source = _parse_source(f"{at}.sources[{index}]", source_raw, problems)
        if source is not None:
            sources.append(source)
    for index, source in enumerate(sources):
        if FAMILIES[family].loader == "module" and source.format != "t7":
            problems.append(f"{at}.sources[{index}].format: a {family} model loads from a 't7' file")
    return ModelEntry(
        name=name,
        config=architecture if isinstance(architecture, DenseNetConfig) else None,
        sources=tuple(sources),
        architecture=architecture_name,
        title=title if isinstance(title, str) else "",
        top1_error=top1_error,
        error_source=error_source,
        published_size_mb=size_mb,
        family=family,
        module_architecture=architecture if isinstance(architecture, ModuleArchitecture) else None,
        top5_error=top5_error,
    )


def _find_entry_architecture(
    at: str, name: str, architecture: Any, problems: list[str]
) -> DenseNetConfig | ModuleArchitecture | None:
    """The architecture an entry names; None (with the problem noted) when it names none we know."""
    found = find_architecture(architecture) if isinstance(architecture, str) else None
    if found is None:
        known = ", ".join(architecture_names()[:30])
        problems.append(
            f"{at}.architecture: {_shown(architecture)} is not an architecture densenet-zoo knows ({known}); "
            "name one of them, or define yours with zoo.registry.register_architecture before loading the manifest"
        )
        return None
    if name in MODEL_CONFIGS and architecture != name:
        problems.append(
            f"{at}.architecture: the published model {name} has the architecture {name!r}, not {architecture!r}"
        )
        return None
    return found


def _entry_family(
    at: str, family: Any, architecture: DenseNetConfig | ModuleArchitecture, problems: list[str]
) -> str | None:
    """The family an entry names (default: its architecture's), which must be its architecture's family."""
    own = architecture_family(architecture)
    if family is None:
        return own
    if not isinstance(family, str) or family not in FAMILIES:
        problems.append(f"{at}.family: expected one of {list(FAMILIES)}, found {_shown(family)}")
        return None
    if family != own:
        problems.append(f"{at}.family: the architecture belongs to the family {own!r}, not {family!r}")
        return None
    return family


def _parse_source(at: str, source_raw: Any, problems: list[str]) -> Source | None:
    if not isinstance(source_raw, Mapping):
        problems.append(f"{at}: expected an object, found {type(source_raw).__name__}")
        return None
    count = len(problems)
    kind = source_raw.get("type")
    allowed = {"type", "filename", "format", "sha256", "size", "digest"}
    if kind == "google_drive":
        allowed |= {"file_id", "resourcekey"}
        if not _is_drive_id(source_raw.get("file_id")):
            problems.append(f"{at}.file_id: a google_drive source needs a Drive file id, found {_shown(source_raw)}")
        if source_raw.get("resourcekey") is not None and not _is_drive_id(source_raw["resourcekey"]):
            problems.append(f"{at}.resourcekey: expected null or a Drive resource key, found {_shown(source_raw)}")
    elif kind == "url":
        allowed |= {"url"}
        url = source_raw.get("url")
        problem = url_problem(url)
        if problem is not None:
            problems.append(f"{at}.url: expected an http:// or https:// URL, found {_shown(url)}, which {problem}")
    elif kind == "huggingface":
        allowed |= {"repo_id", "revision"}
        _check_hub_source(at, source_raw, problems)
    else:
        problems.append(f"{at}.type: expected one of {SOURCE_TYPES}, found {_shown(kind)}")
    unknown = sorted(str(key) for key in set(source_raw) - allowed)
    if unknown:
        problems.append(f"{at}: unknown keys {_shown(unknown)}")
    filename = source_raw.get("filename")
    if kind != "huggingface":
        problem = filename_problem(filename)
        if problem is not None:
            problems.append(f"{at}.filename: expected a plain file name, found {_shown(filename)}: {problem}")
    file_format = source_raw.get("format")
    if file_format not in SOURCE_FORMATS:
        problems.append(f"{at}.format: expected one of {SOURCE_FORMATS}, found {_shown(file_format)}")
    sha256 = source_raw.get("sha256")
    if sha256 is not None and (not isinstance(sha256, str) or not _HEX.fullmatch(sha256)):
        problems.append(f"{at}.sha256: expected null or 8 to 64 lowercase hex digits, found {_shown(sha256)}")
    size = source_raw.get("size")
    if size is not None and (not isinstance(size, int) or isinstance(size, bool) or not 0 < size <= MAX_FILE_SIZE):
        problems.append(
            f"{at}.size: expected null or a positive byte count up to {MAX_FILE_SIZE}, found {_shown(size)}"
        )
    digest = _parse_digest(f"{at}.digest", source_raw.get("digest"), problems)
    if len(problems) != count:
        return None
    return Source(
        type=kind,
        filename=filename,
        format=file_format,
        sha256=sha256,
        size=size,
        url=source_raw.get("url"),
        file_id=source_raw.get("file_id"),
        resourcekey=source_raw.get("resourcekey"),
        repo_id=source_raw.get("repo_id"),
        revision=source_raw.get("revision"),
        digest=digest,
    )


def _parse_digest(at: str, digest_raw: Any, problems: list[str]) -> PublishedDigest | None:
    """A source's ``digest``: the md5 or sha1 its publisher gave, and where (None when absent or invalid)."""
    if digest_raw is None:
        return None
    if not isinstance(digest_raw, Mapping):
        problems.append(
            f"{at}: expected null or an object {{algorithm, value, published_in}}, found {_shown(digest_raw)}"
        )
        return None
    count = len(problems)
    unknown = sorted(str(key) for key in set(digest_raw) - DIGEST_KEYS)
    if unknown:
        problems.append(f"{at}: unknown keys {_shown(unknown)}")
    problem = digest_problem(digest_raw.get("algorithm"), digest_raw.get("value"))
    if problem is not None:
        problems.append(f"{at}: {problem}")
    published_in = digest_raw.get("published_in", "")
    if not _is_text(published_in):
        problems.append(f"{at}.published_in: expected a text of at most {TEXT_LIMIT} characters, no control characters")
    if len(problems) != count:
        return None
    return PublishedDigest(digest_raw["algorithm"], digest_raw["value"], published_in)


def _check_hub_source(at: str, source_raw: Mapping[str, Any], problems: list[str]) -> None:
    """The fields of a ``huggingface`` source: repository id, a pinned commit, a path in the repository."""
    count = len(problems)
    repo_id, revision, filename = source_raw.get("repo_id"), source_raw.get("revision"), source_raw.get("filename")
    for key, value, problem in (
        ("repo_id", repo_id, repo_id_problem(repo_id)),
        ("revision", revision, revision_problem(revision, pinned=True)),
        ("filename", filename, repo_filename_problem(filename)),
    ):
        if problem is not None:
            problems.append(f"{at}.{key}: {problem}, found {_shown(value)}")
    if len(problems) == count:
        cache_name = Source("huggingface", filename, "", repo_id=repo_id, revision=revision).cache_name
        problem = filename_problem(cache_name)
        if problem is not None:
            problems.append(f"{at}: the repo_id and filename are too long to name a cache file ({problem})")


def filename_problem(filename: Any) -> str | None:
    """Why ``filename`` cannot name a file in the cache, or None.

    It must be a plain name (letters, digits, ``.``, ``_``, ``-``; no
    directories, no ``..``, no leading dot; at most 128 characters) and must
    not be one of the cache's own files: a record, lock, partial download or
    its validator, or a converted ``NAME-SHA8.safetensors``.
    """
    if not isinstance(filename, str) or not _FILENAME.fullmatch(filename) or ".." in filename:
        return "1 to 128 letters, digits, '.', '_' or '-', starting with a letter or digit, without '..'"
    if filename.endswith(_RESERVED_SUFFIXES) or _CONVERTED_NAME.fullmatch(filename):
        return "the cache uses such names for its own files (records, locks, partial downloads, converted weights)"
    return None


def _is_text(value: Any) -> bool:
    """A title or note ``list`` and ``info`` may print: bounded, and no terminal escape can hide in it."""
    return isinstance(value, str) and printable(value, TEXT_LIMIT) == value


def _is_drive_id(value: Any) -> bool:
    return isinstance(value, str) and _DRIVE_ID.fullmatch(value) is not None


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def _shown(value: Any) -> str:
    """``repr(value)`` cut to a length fit for a message (a hostile manifest's strings can be huge)."""
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


def dump_manifest(raw: Mapping[str, Any]) -> str:
    """The canonical text of a manifest (2-space indent, trailing newline)."""
    return json.dumps(raw, indent=2, ensure_ascii=False) + "\n"


def pin_source(path: str | os.PathLike[str], name: str, filename: str, sha256: str, size: int) -> None:
    """Write the full ``sha256`` and exact ``size`` of one file into the manifest file, atomically.

    Every source of ``name`` with the cache file name ``filename`` is pinned
    (they are one file at several addresses). The file is re-validated before
    and after; a symlink (the packaged copy) is followed so that the real file
    is rewritten.
    """
    target = Path(path).resolve()
    raw = read_manifest_json(target)
    manifest = parse_manifest(raw, path=target)
    entry = manifest[name]
    matches = [index for index, source in enumerate(entry.sources) if source.cache_name == filename]
    if not matches:
        raise ManifestError(f"{target}: model {name!r} has no source with cache file name {filename!r}")
    for index in matches:
        source_raw = raw["models"][name]["sources"][index]
        previous = source_raw.get("sha256")
        if previous is not None and not sha256.startswith(previous):
            raise ManifestError(
                f"{target}: {name}/{filename} is recorded with sha256 {previous}, but the file has {sha256}; "
                "refusing to overwrite a published hash (the file differs from the published one)"
            )
        source_raw["sha256"] = sha256
        source_raw["size"] = int(size)
    parse_manifest(raw, path=target)
    write_text_atomic(target, dump_manifest(raw))
