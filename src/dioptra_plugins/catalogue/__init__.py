"""The task catalogue: static HTML pages under an index's ``site/`` (``index site``).

:mod:`.model` turns project documents into views, :mod:`.render` turns views into pages,
:mod:`.assets` holds the stylesheet and the search script, :mod:`.site` reads the index and
writes the pages (everything, or what one publish or yank touched).
"""

from __future__ import annotations

from dioptra_plugins.catalogue.site import SiteResult, update_site, write_site

__all__ = ["SiteResult", "update_site", "write_site"]
