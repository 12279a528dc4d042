"""The PEP 503 "simple" view of an index, so that pip and uv can install bundles too.

Beside every HTML page, its PEP 691 JSON form (``index.json``; a static host serves it for
``Accept: application/vnd.pypi.simple.v1+json``).  Each link carries the sha256 of the wheel's
core metadata (PEP 658, PEP 714), published beside the wheel as ``<wheel>.metadata``, so
resolvers need not download a wheel to read its requirements.

The pages are derived from the root and never read by sync.  Every page records the root serial
it was rendered from; a writer replaces a page only by compare-and-swap and never over a page
rendered from a newer root, so concurrent publishers leave the newest view in place.
"""

from __future__ import annotations

import html
import json
import re
from collections.abc import Collection, Iterable
from concurrent.futures import ThreadPoolExecutor

from dioptra_plugins.index.documents import ProjectDocument, RootDocument
from dioptra_plugins.index.keys import (
    SIMPLE_ROOT_JSON_KEY,
    SIMPLE_ROOT_KEY,
    simple_project_json_key,
    simple_project_key,
)
from dioptra_plugins.index.pages import write_page_unless
from dioptra_plugins.index.storage import Storage

_SERIAL = re.compile(rb'<meta name="dioptra-plugins:serial" content="(\d+)">')
API_VERSION = "1.1"  # PEP 691, with PEP 700's size, upload-time and versions
SERIAL_FIELD = "_dioptra-plugins:serial"  # PEP 691 reserves "_"-prefixed meta keys for tools


def render_root_page(root: RootDocument) -> bytes:
    links = "\n".join(
        f'    <a href="{html.escape(name)}/">{html.escape(name)}</a><br>'
        for name in sorted(root.projects)
    )
    return _page("Simple index", root.serial, links)


def render_project_page(document: ProjectDocument, serial: int) -> bytes:
    lines = []
    for entry in document.files:
        href = f"../../bundles/{document.name}/{entry.filename}#sha256={entry.sha256}"
        attributes = [f'href="{html.escape(href)}"']
        # PEP 658 (and its PEP 714 spelling): <wheel>.metadata holds these bytes.
        metadata = html.escape(f"sha256={entry.core_metadata_sha256}")
        attributes.append(f'data-dist-info-metadata="{metadata}"')
        attributes.append(f'data-core-metadata="{metadata}"')
        if entry.requires_python:
            attributes.append(f'data-requires-python="{html.escape(entry.requires_python)}"')
        if entry.yanked:
            attributes.append(f'data-yanked="{html.escape(entry.yanked_reason or "")}"')
        lines.append(f"    <a {' '.join(attributes)}>{html.escape(entry.filename)}</a><br>")
    return _page(f"Links for {document.name}", serial, "\n".join(lines))


def _page(title: str, serial: int, body: str) -> bytes:
    return (
        "<!DOCTYPE html>\n<html>\n  <head>\n"
        '    <meta name="pypi:repository-version" content="1.0">\n'
        f'    <meta name="dioptra-plugins:serial" content="{serial}">\n'
        f"    <title>{html.escape(title)}</title>\n  </head>\n  <body>\n"
        f"    <h1>{html.escape(title)}</h1>\n{body}\n  </body>\n</html>\n"
    ).encode()


def render_root_json(root: RootDocument) -> bytes:
    """PEP 691's JSON form of the root page (``simple/index.json``)."""
    document = {
        "meta": {"api-version": API_VERSION, SERIAL_FIELD: root.serial},
        "projects": [{"name": name} for name in sorted(root.projects)],
    }
    return json.dumps(document, sort_keys=True).encode()


def render_project_json(document: ProjectDocument, serial: int) -> bytes:
    """PEP 691's JSON form of a project page (``simple/<name>/index.json``), PEP 700 fields too."""
    files = []
    for entry in document.files:
        metadata = {"sha256": entry.core_metadata_sha256}
        files.append(
            {
                "filename": entry.filename,
                "url": f"../../bundles/{document.name}/{entry.filename}",
                "hashes": {"sha256": entry.sha256},
                "requires-python": entry.requires_python,
                "yanked": (entry.yanked_reason or True) if entry.yanked else False,
                "core-metadata": metadata,
                "dist-info-metadata": metadata,
                "size": entry.size,
                "upload-time": entry.upload_time,
            }
        )
    page = {
        "meta": {"api-version": API_VERSION, SERIAL_FIELD: serial},
        "name": document.name,
        "files": files,
        "versions": document.versions(),
    }
    return json.dumps(page, sort_keys=True).encode()


def page_serial(page: bytes) -> int:
    """The root serial a page (HTML or PEP 691 JSON) was rendered from; -1 if unreadable."""
    if page.lstrip().startswith(b"{"):
        try:
            serial = json.loads(page)["meta"][SERIAL_FIELD]
        except (ValueError, KeyError, TypeError):
            return -1
        return serial if isinstance(serial, int) else -1
    match = _SERIAL.search(page)
    return int(match.group(1)) if match else -1


def write_page(
    storage: Storage, key: str, page: bytes, serial: int, *, probably_absent: bool = False
) -> bool:
    """Put ``page`` at ``key`` unless a page from a newer root is there; True if written.

    ``probably_absent`` (a project this swap created) tries a create-only write first, which
    saves the read; if the page exists after all, the normal read-compare-swap follows.
    """
    return write_page_unless(
        storage,
        key,
        page,
        lambda current: page_serial(current) >= serial,
        probably_absent=probably_absent,
    )


def update_simple_pages(
    storage: Storage,
    root: RootDocument,
    documents: Iterable[ProjectDocument],
    new_projects: Collection[str] = (),
) -> None:
    """Regenerate the pages of the projects given (those that changed) and the root page."""
    documents = list(documents)
    pages = []
    for document in documents:
        new = document.name in new_projects
        pages.append(
            (simple_project_key(document.name), render_project_page(document, root.serial), new)
        )
        pages.append(
            (
                simple_project_json_key(document.name),
                render_project_json(document, root.serial),
                new,
            )
        )
    # The root page lists project names only: rewrite it when a project appeared (or for a
    # fresh index), not on every publish, which would make every publisher contend for it.
    if new_projects or not documents:
        pages.append((SIMPLE_ROOT_KEY, render_root_page(root), False))
        pages.append((SIMPLE_ROOT_JSON_KEY, render_root_json(root), False))

    def write(item: tuple[str, bytes, bool]) -> bool:
        key, page, absent = item
        return write_page(storage, key, page, root.serial, probably_absent=absent)

    if len(pages) <= 2:
        for item in pages:
            write(item)
        return
    with ThreadPoolExecutor(max_workers=min(8, len(pages))) as pool:
        list(pool.map(write, pages))
