"""Writing a derived page (the PEP 503 pages, the catalogue): never over a newer one.

Pages are views of a root; two writers of different roots may race on one page. Each page
carries the serial it was made from, and a writer replaces a page by compare-and-swap only
while what is there should give way (``keep`` says when it should not).
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from dioptra_plugins.errors import ConflictError, ObjectNotFoundError
from dioptra_plugins.index.storage import Storage

log = logging.getLogger(__name__)

ATTEMPTS = 5


def write_page_unless(
    storage: Storage,
    key: str,
    page: bytes,
    keep: Callable[[bytes], bool],
    *,
    probably_absent: bool = False,
) -> bool:
    """Put ``page`` at ``key`` unless ``keep(current page)``; True if written.

    ``probably_absent`` (a page this change creates) tries a create-only write first, which
    saves the read; if the page exists after all, the read-compare-swap follows.
    """
    if probably_absent:
        try:
            storage.replace(key, page, None)
            return True
        except ConflictError:
            pass
    for _attempt in range(ATTEMPTS):
        try:
            current = storage.get(key)
        except ObjectNotFoundError:
            etag = None
        else:
            if keep(current.data):
                return False
            etag = current.etag
        try:
            storage.replace(key, page, etag)
        except ConflictError:
            continue
        return True
    log.warning("gave up writing %s after %d conflicts (a newer page wins)", key, ATTEMPTS)
    return False
