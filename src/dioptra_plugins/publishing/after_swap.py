"""What a publish or a yank does once its root swap is in: sign, then regenerate the pages.

The order matters: the signature goes first, because a worker that verifies reads the signed
metadata, not the pages; the PEP 503 pages and the catalogue of the changed projects follow.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from dioptra_plugins.catalogue.site import update_site
from dioptra_plugins.index.simple import update_simple_pages
from dioptra_plugins.index.storage import Storage
from dioptra_plugins.index.swap import SwapResult

if TYPE_CHECKING:
    from dioptra_plugins.signing.outcome import SignResult
    from dioptra_plugins.signing.policy import SignedWriter


def finish_swap(
    storage: Storage, swap: SwapResult, writer: SignedWriter | None
) -> SignResult | None:
    """Sign the swapped root (``writer``: a signed index) and update the pages it changed;
    nothing when the swap changed nothing.  What was signed, or None."""
    if not swap.swapped:
        return None
    signed = writer.after_swap(swap.root) if writer is not None else None
    update_simple_pages(storage, swap.root, swap.changed, swap.new_projects)
    update_site(storage, swap.root, swap.changed, swap.new_projects)  # the catalogue
    return signed
