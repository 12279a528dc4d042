"""Write the catalogue into an index's ``site/``: all of it, or what one change touched.

The catalogue is a view of the root and the project documents it pins (each bundle's task
manifest is copied into its file entry at publish time), written beside them and never read
as an input: no command takes anything from ``site/`` but the serial a page was rendered from,
which keeps a slower writer from replacing a newer page.

Costs.  :func:`write_site` reads the root, every project document (in parallel) and whether
the index is signed, then writes every page.  :func:`update_site`, called after a publish or
a yank has won its root swap, rewrites only the home page, the search data and the changed
projects' pages: per page one read (the serial and the ETag a compare-and-swap needs) and one
write (a new project's page: one create-only write), plus one read of the signing timestamp and
one of each project document the change did not already hold (the home page lists every
project's task count and summary; they are read in parallel).
"""

from __future__ import annotations

import logging
import re
from collections.abc import Collection, Iterable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from dioptra_plugins.catalogue.model import Project, project_view
from dioptra_plugins.catalogue.render import (
    HOME,
    SEARCH_DATA,
    project_page_name,
    render_home,
    render_project,
    render_search_data,
)
from dioptra_plugins.errors import DioptraPluginsError, ObjectNotFoundError
from dioptra_plugins.hashing import sha256_hex
from dioptra_plugins.index.documents import ProjectDocument, RootDocument
from dioptra_plugins.index.packs import read_documents
from dioptra_plugins.index.pages import write_page_unless
from dioptra_plugins.index.reading import read_existing_root
from dioptra_plugins.index.storage import Storage
from dioptra_plugins.signing.names import TIMESTAMP_KEY

log = logging.getLogger(__name__)

SITE_DIR = "site"
HOME_KEY = f"{SITE_DIR}/{HOME}"
SEARCH_DATA_KEY = f"{SITE_DIR}/{SEARCH_DATA}"
_SERIAL = re.compile(rb"dioptra-plugins:serial\D{0,20}(\d{1,19})")
_READERS = 16


def project_page_key(name: str) -> str:
    return f"{SITE_DIR}/{project_page_name(name)}"


@dataclass(frozen=True)
class SiteResult:
    url: str
    serial: int
    projects: int
    tasks: int
    signed: bool
    written: tuple[str, ...]
    """Keys of the pages written (a page already up to date, or newer, is left as it is)."""


def write_site(storage: Storage) -> SiteResult:
    """Render the whole catalogue of the index as it is now (``index site``)."""
    snapshot = read_existing_root(storage)
    root = snapshot.root
    documents = dict(sorted(read_documents(storage, root, snapshot.sha256, strict=True).items()))
    return _write(storage, root, documents, list(documents))


def update_site(
    storage: Storage,
    root: RootDocument,
    changed: Iterable[ProjectDocument],
    new_projects: Collection[str] = (),
) -> None:
    """After a root swap: rewrite the pages ``changed`` touches, from ``root``.

    ``new_projects`` (projects the swap created) have no page yet: theirs is written
    create-only first, which saves the read.

    Never fails the change it follows (the index is already changed and correct; the catalogue
    is only a view of it): a failure is logged with the command that rebuilds the catalogue.
    """
    held = {document.name: document for document in changed}
    try:
        documents = _read_documents(storage, root, held)
        _write(storage, root, documents, list(held), frozenset(new_projects))
    except Exception as error:
        # Whatever went wrong (a storage error, or a bug in rendering a document nobody
        # foresaw), the publish or yank already happened: report it and let it succeed.
        _not_updated(storage, error)


def refresh_site(storage: Storage) -> None:
    """:func:`write_site` after a change every page shows (the index became signed), never
    failing the change it follows: a failure is logged with the command that rebuilds it."""
    try:
        write_site(storage)
    except Exception as error:  # the change already happened; the catalogue is only a view
        _not_updated(storage, error)


def _not_updated(storage: Storage, error: Exception) -> None:
    log.warning(
        "the task catalogue of %s was not updated (%s); `dioptra-plugins index site --index %s` "
        "rebuilds it",
        storage.url,
        error,
        storage.url,
        exc_info=not isinstance(error, DioptraPluginsError),  # a bug keeps its traceback
    )


def _read_documents(
    storage: Storage, root: RootDocument, held: Mapping[str, ProjectDocument]
) -> dict[str, ProjectDocument]:
    """Every document of ``root``: ``held`` ones as they are, the rest read (from the pack
    the swap just wrote when the index has one: its bytes are this root's canonical ones)."""
    documents = {name: held[name] for name in root.projects if name in held}
    missing = [name for name in root.projects if name not in held]
    if missing:
        root_sha256 = sha256_hex(root.to_bytes())
        documents.update(
            read_documents(storage, root, root_sha256, missing, strict=True, jobs=_READERS)
        )
    return dict(sorted(documents.items()))


def is_signed(storage: Storage) -> bool:
    """Whether the index carries TUF metadata (one request)."""
    try:
        storage.get(TIMESTAMP_KEY)
    except ObjectNotFoundError:
        return False
    return True


def _write(
    storage: Storage,
    root: RootDocument,
    documents: Mapping[str, ProjectDocument],
    pages_of: list[str],
    new_projects: frozenset[str] = frozenset(),
) -> SiteResult:
    signed = is_signed(storage)
    projects = [project_view(document) for document in documents.values()]
    by_name: dict[str, Project] = {project.name: project for project in projects}
    pages = [
        (HOME_KEY, render_home(projects, root.serial, signed)),
        (SEARCH_DATA_KEY, render_search_data(projects, root.serial)),
    ]
    pages.extend(
        (project_page_key(name), render_project(by_name[name], root.serial, signed))
        for name in pages_of
        if name in by_name
    )
    absent = {project_page_key(name) for name in new_projects}
    with ThreadPoolExecutor(max_workers=min(8, len(pages))) as pool:
        written = list(
            pool.map(
                lambda page: _write_page(
                    storage, page[0], page[1], root.serial, probably_absent=page[0] in absent
                ),
                pages,
            )
        )
    keys = tuple(key for (key, _), done in zip(pages, written, strict=True) if done)
    log.info("catalogue of %s at serial %d: wrote %d pages", storage.url, root.serial, len(keys))
    return SiteResult(
        url=storage.url,
        serial=root.serial,
        projects=len(projects),
        tasks=sum(len(p.shown.tasks) for p in projects if p.shown),
        signed=signed,
        written=keys,
    )


def page_serial(page: bytes) -> int:
    """The root serial a catalogue page was rendered from; -1 when it names none."""
    match = _SERIAL.search(page[:4096])
    return int(match.group(1)) if match else -1


def _write_page(
    storage: Storage, key: str, page: bytes, serial: int, *, probably_absent: bool = False
) -> bool:
    """Put ``page`` at ``key`` unless the page there is newer or the same; True if written.

    ``probably_absent``: try a create-only write first (one request instead of two); if the
    page exists after all, the read-compare-swap follows.
    """
    return write_page_unless(
        storage,
        key,
        page,
        lambda current: current == page or page_serial(current) > serial,
        probably_absent=probably_absent,
    )
