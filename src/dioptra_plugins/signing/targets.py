"""What one serial of the signed index signs: the root's bytes, its project documents, bundles.

The root's exact bytes travel in the target named like the root (``index.json``), in its
``custom.index_root``: :func:`index_targets` puts them there, :func:`carried_root` takes them
out for the writer and the reader alike.

Project documents and bundles are immutable and named by their sha256, so the targets of an
unchanged project are copied from the previous targets; only changed projects' documents are
read (through :mod:`dioptra_plugins.index.reading`, the one reader of project documents).
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

from tuf.api.exceptions import LengthOrHashMismatchError
from tuf.api.metadata import TargetFile, Targets  # type: ignore[attr-defined]

from dioptra_plugins.errors import DioptraPluginsError, IndexFormatError
from dioptra_plugins.hashing import sha256_hex
from dioptra_plugins.index.documents import ProjectEntry, RootDocument
from dioptra_plugins.index.keys import ROOT_KEY, bundle_key
from dioptra_plugins.index.reading import read_project_and_bytes
from dioptra_plugins.index.storage import Storage
from dioptra_plugins.signing import SigningError


def index_targets(
    storage: Storage,
    root: RootDocument,
    root_bytes: bytes,
    previous: Targets | None,
) -> dict[str, TargetFile]:
    """Every target of ``root``: its bytes, each current project document, each bundle.

    A project whose document the previous targets already list (documents are named by
    their sha256, so same key, same bundles) is copied; the others are read.
    """
    files = {
        ROOT_KEY: TargetFile(
            len(root_bytes),
            {"sha256": sha256_hex(root_bytes)},
            ROOT_KEY,
            {"custom": {"index_root": root_bytes.decode()}},
        )
    }
    known = previous.targets if previous is not None else {}
    bundles: dict[str, dict[str, TargetFile]] = {}
    for path, target in known.items():
        if path.startswith("bundles/"):
            bundles.setdefault(path.split("/")[1], {})[path] = target
    missing: list[tuple[str, ProjectEntry]] = []
    for name, entry in root.projects.items():
        listed = known.get(entry.document)
        if listed is not None and listed.hashes.get("sha256") == entry.sha256:
            files[entry.document] = listed
            files.update(bundles.get(name, {}))
        else:
            missing.append((name, entry))

    def read(item: tuple[str, ProjectEntry]) -> dict[str, TargetFile]:
        return _document_targets(storage, *item)

    if len(missing) > 1:
        with ThreadPoolExecutor(max_workers=min(8, len(missing))) as pool:
            for found in pool.map(read, missing):
                files.update(found)
    else:
        for item in missing:
            files.update(read(item))
    return files


def carried_root(target: TargetFile | None, what: str, error: type[DioptraPluginsError]) -> bytes:
    """The exact index root bytes the ``index.json`` target carries, checked against its length
    and sha256; ``error`` (SigningError for a writer, TrustError for a reader) when it carries
    none or other bytes, ``what`` naming the metadata in its message."""
    custom = target.custom if target is not None else None
    text = custom.get("index_root") if isinstance(custom, dict) else None
    if target is None or not isinstance(text, str):
        raise error(f"{what}: its signed targets carry no {ROOT_KEY} root")
    data = text.encode()
    try:
        target.verify_length_and_hashes(data)
    except LengthOrHashMismatchError as mismatch:
        raise error(f"{what}: the signed {ROOT_KEY} does not match: {mismatch}") from None
    return data


def _document_targets(storage: Storage, name: str, entry: ProjectEntry) -> dict[str, TargetFile]:
    """The project document of ``entry`` and each bundle it lists, as targets."""
    try:
        document, data = read_project_and_bytes(storage, name, entry)
    except IndexFormatError as error:
        raise SigningError(
            f"refusing to sign a damaged index: {error} (see `dioptra-plugins index check`)"
        ) from error
    files = {entry.document: TargetFile(len(data), {"sha256": entry.sha256}, entry.document)}
    for file in document.files:
        key = bundle_key(name, file.filename)
        files[key] = TargetFile(file.size, {"sha256": file.sha256}, key)
    return files
