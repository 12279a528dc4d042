"""A root seen missing a moment ago is not a lost root when a concurrent writer created it.

Six first publishers at once on SeaweedFS: one read ``index.json`` missing, then two others
published (serials 1 and 2, each recorded in the history) before it listed the history, and
the lost-root guard refused its publish as if the root had been lost (a CI failure of the
catalogue's concurrency test).  The guard now looks at the root again before refusing.
"""

from __future__ import annotations

import pytest
from index_helpers import WheelMaker
from test_repair_history import remove_object

from dioptra_plugins.errors import PublishError
from dioptra_plugins.index.history import refuse_a_lost_root
from dioptra_plugins.index.keys import ROOT_KEY
from dioptra_plugins.index.reading import read_root
from dioptra_plugins.index.swap import change_root
from dioptra_plugins.index.url import open_storage
from dioptra_plugins.publishing.publish import publish


def test_a_root_created_since_it_was_seen_missing_is_not_lost(
    index_url: str, make_wheel: WheelMaker
) -> None:
    storage = open_storage(index_url)
    seen_missing = read_root(storage)  # the slow publisher's read, before anyone published
    assert not seen_missing.exists
    publish(storage, [make_wheel("first_pkg", "1.0")])
    publish(storage, [make_wheel("second_pkg", "1.0")])  # history now records serial 2

    refuse_a_lost_root(storage)  # the root is there: nothing to refuse

    # The slow writer's swap goes on from its stale read (here a change with nothing to do,
    # which returns right after the guard): before the fix, the guard raised here.
    result = change_root(storage, lambda root, documents: {}, first=seen_missing)
    assert not result.swapped
    publish(storage, [make_wheel("third_pkg", "1.0")])
    assert read_root(storage).root.serial == 3


def test_a_root_really_gone_is_still_refused(
    request: pytest.FixtureRequest, index_url: str, make_wheel: WheelMaker
) -> None:
    storage = open_storage(index_url)
    publish(storage, [make_wheel("first_pkg", "1.0")])
    publish(storage, [make_wheel("second_pkg", "1.0")])
    remove_object(request, index_url, ROOT_KEY)
    with pytest.raises(PublishError, match="the root was lost"):
        refuse_a_lost_root(storage)
