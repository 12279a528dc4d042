"""Trusted views of a signed index: what its signed metadata says, and where the rest disagrees.

A bucket writer without keys can rewrite ``index.json``, project documents and bundles
consistently; workers that verify (``sync --trust``) ignore all of it.  The read-only views
(``index list``, ``show`` and ``check`` with ``--trust``) must see what those workers see, so
:func:`trusted_view` reads the index through the same :class:`~.trust.SignedStorage` a
verifying sync uses (ngclient, the root chain from the trusted root, a temporary metadata
directory: nothing is written anywhere), and then compares the unsigned documents with the
signed ones.  Every difference is a :class:`Disagreement`: facts as attributes, one sentence
for people.

Nothing here decides what to print or which exit code a difference deserves: ``list`` and
``show`` warn and show the signed view, ``check`` fails (DESIGN §10: views can be trusted views).
"""

from __future__ import annotations

import functools
import logging
import os
from dataclasses import asdict, dataclass, field
from typing import Any

from dioptra_plugins.errors import DioptraPluginsError, ObjectNotFoundError
from dioptra_plugins.hashing import sha256_hex
from dioptra_plugins.index.documents import FileEntry, ProjectDocument, ProjectEntry, RootDocument
from dioptra_plugins.index.keys import ROOT_KEY, bundle_key
from dioptra_plugins.index.reading import read_project
from dioptra_plugins.index.storage import Storage
from dioptra_plugins.signing.differences import FilePair, differing_projects, paired_files
from dioptra_plugins.signing.names import pending_key
from dioptra_plugins.signing.trust import SignedStorage

logger = logging.getLogger(__name__)

KINDS = ("root", "project", "latest", "document", "version", "file", "bundle", "yank")
"""What a :class:`Disagreement` is about: the root as a whole (``root``), a project present on
one side only (``project``), a project's latest version (``latest``), an unsigned project
document that cannot be read (``document``), a version or a file present on one side only
(``version``, ``file``), a bundle listed with other bytes (``bundle``: sha256 or size), a yank
state or reason (``yank``)."""


@dataclass(frozen=True)
class Disagreement:
    """One way the unsigned documents differ from the index's signed metadata."""

    kind: str
    """One of :data:`KINDS`."""
    message: str
    """One sentence naming the difference (no ``warning:`` prefix)."""
    project: str | None = None
    version: str | None = None
    key: str | None = None
    """The object concerned (``index.json``, a project document, a bundle), when there is one."""
    unsigned: str | None = None
    """What the unsigned documents say (None: nothing, the thing is absent there)."""
    signed: str | None = None
    """What the signed metadata says (None: nothing, the thing is absent there)."""

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class TrustedView:
    """An index as a verifying worker sees it, and how its unsigned documents differ."""

    url: str
    root: RootDocument
    """The root the signed metadata pins (the ``index.json`` target's exact bytes)."""
    root_sha256: str
    documents: dict[str, ProjectDocument] = field(default_factory=dict)
    """The signed project documents, each checked against its target (length and sha256)."""
    unreadable: dict[str, DioptraPluginsError] = field(default_factory=dict)
    """Projects of the signed root whose document is missing or is not the one signed."""
    unsigned_serial: int | None = None
    """The serial of the unsigned ``index.json`` (None: missing or unreadable)."""
    pending: bool = False
    """``tuf/pending/`` holds metadata that claims to sign the unsigned ``index.json`` (a
    publisher that died between its swap and its promotion, or a forgery: not verified here;
    ``index refresh`` verifies it and completes it)."""
    disagreements: list[Disagreement] = field(default_factory=list)

    @property
    def serial(self) -> int:
        return self.root.serial

    def about(self, project: str) -> list[Disagreement]:
        """The disagreements concerning ``project``, and those about the root as a whole."""
        return [d for d in self.disagreements if d.project in (None, project)]


def trusted_view(storage: Storage, trust: str | os.PathLike[str] | bytes) -> TrustedView:
    """Read ``storage`` through its signed metadata (verified against ``trust``, a trusted root
    file or its bytes) and compare the unsigned documents with it.

    Raises UsageError (an unusable trusted root) and TrustError (the signed metadata itself is
    refused: not signed, expired, rolled back, signed by other keys...), as ``sync --trust``
    would.  A signed project document that cannot be read is not raised: it is recorded in
    :attr:`TrustedView.unreadable`, so a check can report every problem at once.
    """
    signed = SignedStorage.wrap(storage, trust, None)  # no plugin dir: nothing kept anywhere
    verified = signed.verified()
    root = RootDocument.from_bytes(verified.root_bytes, what=f"{storage.url} (signed root)")
    view = TrustedView(storage.url, root, sha256_hex(verified.root_bytes))
    for name, entry in sorted(root.projects.items()):
        try:
            view.documents[name] = read_project(signed, name, entry)
        except DioptraPluginsError as error:
            view.unreadable[name] = error
    _compare(storage, view, verified.root_bytes)
    if view.disagreements:
        logger.info(
            "%s: the unsigned documents disagree with the signed metadata in %d ways",
            storage.url,
            len(view.disagreements),
        )
    return view


# --- the comparison ----------------------------------------------------------------------------


def _compare(storage: Storage, view: TrustedView, signed_bytes: bytes) -> None:
    found = view.disagreements
    signed_label = f"serial {view.serial} (sha256 {view.root_sha256})"
    try:
        data = storage.get(ROOT_KEY).data
    except ObjectNotFoundError:
        found.append(
            Disagreement(
                "root",
                f"{ROOT_KEY} does not exist; the signed metadata pins {signed_label}",
                key=ROOT_KEY,
                signed=signed_label,
            )
        )
        return
    if data == signed_bytes:
        view.unsigned_serial = view.serial
        return  # same root, same documents (they are named by their sha256): same bundles
    try:
        unsigned = RootDocument.from_bytes(data, what=f"{storage.url}/{ROOT_KEY}")
    except DioptraPluginsError as error:
        found.append(
            Disagreement(
                "root",
                f"{ROOT_KEY} is damaged ({error}); the signed metadata pins {signed_label}",
                key=ROOT_KEY,
                unsigned=f"damaged: {error}",
                signed=signed_label,
            )
        )
        return
    view.unsigned_serial = unsigned.serial
    unsigned_sha256 = sha256_hex(data)
    unsigned_label = f"serial {unsigned.serial} (sha256 {unsigned_sha256})"
    view.pending = _has_pending(storage, unsigned_sha256)
    pending = (
        f"; {pending_key('targets', unsigned_sha256)} claims to sign it (a publisher that died "
        "before promoting its signature, or a forgery): `dioptra-plugins index refresh` "
        "verifies it and completes it"
        if view.pending
        else ""
    )
    found.append(
        Disagreement(
            "root",
            f"{ROOT_KEY} is not the signed root: it is {unsigned_label}; the signed metadata "
            f"pins {signed_label}{pending}",
            key=ROOT_KEY,
            unsigned=unsigned_label,
            signed=signed_label,
        )
    )
    for name, unsigned_entry, signed_entry in differing_projects(
        unsigned.projects, view.root.projects
    ):
        _compare_project(storage, view, name, unsigned_entry, signed_entry)


def _has_pending(storage: Storage, root_sha256: str) -> bool:
    """Whether pending targets named by this root's sha256 exist (read, not verified)."""
    try:
        storage.get(pending_key("targets", root_sha256))
    except DioptraPluginsError:  # absent, or unreadable: nothing to point the operator at
        return False
    return True


def _compare_project(
    storage: Storage,
    view: TrustedView,
    name: str,
    unsigned_entry: ProjectEntry | None,
    signed_entry: ProjectEntry | None,
) -> None:
    found = view.disagreements
    if unsigned_entry is None or signed_entry is None:
        found.append(_one_sided_project(storage, name, unsigned_entry, signed_entry))
        return
    if unsigned_entry.latest != signed_entry.latest:
        unsigned_latest, signed_latest = unsigned_entry.latest or "-", signed_entry.latest or "-"
        found.append(
            Disagreement(
                "latest",
                f"{name}: latest {unsigned_latest} in {ROOT_KEY}, {signed_latest} signed",
                project=name,
                unsigned=unsigned_latest,
                signed=signed_latest,
            )
        )
    signed_document = view.documents.get(name)
    if signed_document is None or unsigned_entry.document == signed_entry.document:
        return  # unreadable signed document (a check problem), or the same document
    try:
        unsigned_document = read_project(storage, name, unsigned_entry)
    except DioptraPluginsError as error:
        found.append(
            Disagreement(
                "document",
                f"{name}: the unsigned document {ROOT_KEY} points at cannot be read: {error}",
                project=name,
                key=unsigned_entry.document,
                unsigned=f"unreadable: {error}",
                signed=signed_entry.document,
            )
        )
        return
    _compare_documents(view, name, unsigned_document, signed_document)


def _one_sided_project(
    storage: Storage,
    name: str,
    unsigned_entry: ProjectEntry | None,
    signed_entry: ProjectEntry | None,
) -> Disagreement:
    """A project that only one of the two roots lists."""
    if signed_entry is None:
        assert unsigned_entry is not None
        versions = _versions_text(storage, name, unsigned_entry)
        return Disagreement(
            "project",
            f"{name}: in {ROOT_KEY} ({versions}), not in the signed metadata",
            project=name,
            unsigned=versions,
        )
    signed_latest = signed_entry.latest or "-"
    return Disagreement(
        "project",
        f"{name}: signed (latest {signed_latest}), missing from {ROOT_KEY}",
        project=name,
        signed=f"latest {signed_latest}",
    )


def _versions_text(storage: Storage, name: str, entry: ProjectEntry) -> str:
    try:
        document = read_project(storage, name, entry)
    except DioptraPluginsError:
        return f"latest {entry.latest or '-'}"
    return "versions " + ", ".join(document.versions()) if document.versions() else "no versions"


def _compare_documents(
    view: TrustedView, name: str, unsigned: ProjectDocument, signed: ProjectDocument
) -> None:
    found = view.disagreements
    unsigned_versions, signed_versions = set(unsigned.versions()), set(signed.versions())
    for version in unsigned.versions():
        if version not in signed_versions:
            found.append(_one_sided_version(name, version, unsigned, signed=False))
    for version in signed.versions():
        if version not in unsigned_versions:
            found.append(_one_sided_version(name, version, signed, signed=True))
            continue
        for pair in paired_files(unsigned.files_of(version), signed.files_of(version)):
            found += _file_disagreements(name, version, pair)


def _one_sided_version(
    name: str, version: str, document: ProjectDocument, *, signed: bool
) -> Disagreement:
    """A version that only the signed (``signed``) or only the unsigned documents list."""
    files = ", ".join(f.filename for f in document.files_of(version))
    where = (
        f"signed ({files}), missing from the unsigned documents"
        if signed
        else f"in the unsigned documents ({files}), not signed"
    )
    return Disagreement(
        "version",
        f"{name} {version}: {where}",
        project=name,
        version=version,
        unsigned=None if signed else files,
        signed=files if signed else None,
    )


def _file_disagreements(name: str, version: str, pair: FilePair) -> list[Disagreement]:
    """How one file differs: listed on one side only, or its bytes, its yank, its other fields."""
    unsigned, signed = pair.unsigned, pair.signed
    if unsigned is None or signed is None:
        return [_one_sided_file(name, version, pair)]
    key = bundle_key(name, signed.filename)
    about = functools.partial(Disagreement, project=name, version=version, key=key)
    found: list[Disagreement] = []
    if pair.other_bytes:
        unsigned_bytes, signed_bytes = _bytes_text(unsigned), _bytes_text(signed)
        found.append(
            about(
                "bundle",
                f"{key}: the unsigned documents list {unsigned_bytes}; the signed targets pin "
                f"{signed_bytes}",
                unsigned=unsigned_bytes,
                signed=signed_bytes,
            )
        )
    if (unsigned.yanked, unsigned.yanked_reason) != (signed.yanked, signed.yanked_reason):
        unsigned_yank, signed_yank = _yank_text(unsigned), _yank_text(signed)
        found.append(
            about(
                "yank",
                f"{name} {version} ({signed.filename}): {unsigned_yank} in the unsigned "
                f"documents, {signed_yank} in the signed metadata",
                unsigned=unsigned_yank,
                signed=signed_yank,
            )
        )
    other = ", ".join(_other_fields(unsigned, signed))
    if other and not pair.other_bytes:
        found.append(
            about(
                "file",
                f"{key}: same bytes, but the unsigned documents differ from the signed metadata "
                f"in: {other}",
                unsigned=other,
                signed=other,
            )
        )
    return found


def _one_sided_file(name: str, version: str, pair: FilePair) -> Disagreement:
    """A file that only the signed or only the unsigned documents list."""
    key = bundle_key(name, pair.filename)
    where = (
        "in the unsigned documents, not a signed target"
        if pair.signed is None
        else "signed, missing from the unsigned documents"
    )
    return Disagreement(
        "file",
        f"{key}: {where}",
        project=name,
        version=version,
        key=key,
        unsigned=_bytes_text(pair.unsigned) if pair.unsigned else None,
        signed=_bytes_text(pair.signed) if pair.signed else None,
    )


_COMPARED = ("sha256", "size", "yanked", "yanked_reason")


def _other_fields(unsigned: FileEntry, signed: FileEntry) -> list[str]:
    left, right = unsigned.to_json(), signed.to_json()
    return [name for name in left if name not in _COMPARED and left[name] != right[name]]


def _bytes_text(file: FileEntry) -> str:
    return f"sha256 {file.sha256} ({file.size} bytes)"


def _yank_text(file: FileEntry) -> str:
    if not file.yanked:
        return "not yanked"
    return f"yanked ({file.yanked_reason})" if file.yanked_reason else "yanked"
