"""The paths that keep a changed sync from growing with the installed set (issue 26): a
resolution of projects that need no other project of the index takes each one's best match
(what resolvelib would pin) without resolvelib's n * n checks; a switch takes the lock of the
generation it just built instead of reading it back."""

from __future__ import annotations

import functools
import itertools
import random
from collections.abc import Callable
from pathlib import Path

import pytest
from packaging.utils import canonicalize_name
from synchelpers import installed, publish_wheels

from dioptra_plugins import sync
from dioptra_plugins.errors import ResolutionError
from dioptra_plugins.index.documents import RootDocument
from dioptra_plugins.index.keys import ROOT_KEY
from dioptra_plugins.index.url import open_storage
from dioptra_plugins.plugindir import generations
from dioptra_plugins.syncing import resolve as resolving
from dioptra_plugins.syncing.index_view import IndexView
from dioptra_plugins.syncing.requirements import parse_requirements

PROJECTS = ["alpha", "beta", "omega", "gamma"]
SPECIFIERS = ["", ">=1", "<2", "==1.0.*", "!=1.1.0", ">=3", "==2.0.0", "~=1.0"]


@pytest.fixture
def index(wheels: dict[str, Path], tmp_path: Path) -> str:
    url = str(tmp_path / "index")
    publish_wheels(url, wheels.values())
    return url


def _view(index: str) -> IndexView:
    storage = open_storage(index)
    return IndexView(storage, RootDocument.from_bytes(storage.get(ROOT_KEY).data), None)


def _outcome(run: Callable[[], list[resolving.Candidate]]) -> object:
    """What a resolution gave: the chosen (name, version) pairs, or the error's message."""
    try:
        chosen = run()
    except ResolutionError as error:
        return str(error)
    return [(c.name, str(c.version)) for c in chosen]


def test_the_short_path_chooses_what_resolvelib_chooses(index: str) -> None:
    view = _view(index)
    generator = random.Random(26)
    cases = [
        [f"{p}{s}" for p, s in zip(names, specs, strict=True)]
        for size in (1, 2, 3)
        for names in itertools.combinations(PROJECTS, size)
        for specs in [generator.choices(SPECIFIERS, k=size) for _ in range(4)]
    ]
    cases += [["alpha>=1", "alpha<2"], ["alpha", "alpha==2.0.0", "gamma"], ["alpha>=3", "gamma"]]
    for requirements in cases:
        parsed = parse_requirements(requirements)
        wants = [resolving.Wanted(canonicalize_name(r.name), r.specifier, None) for r in parsed]
        provider = resolving.IndexProvider(view)
        full = _outcome(functools.partial(resolving._resolved, provider, view, wants))
        either = _outcome(functools.partial(resolving.resolve, view, parsed))
        assert either == full, requirements


def test_independent_projects_are_chosen_without_resolvelib(
    index: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def no_resolver(*args: object) -> None:
        raise AssertionError("resolvelib was asked")

    monkeypatch.setattr(resolving, "Resolver", no_resolver)
    plugin_dir = tmp_path / "plugins"
    sync(["alpha<2", "gamma"], index=index, plugin_dir=plugin_dir)
    assert installed(plugin_dir) == {"alpha": "1.1.0", "gamma": "1.0.0"}
    # A project that needs another one of the index is resolvelib's to resolve.
    with pytest.raises(AssertionError, match="resolvelib was asked"):
        sync(["beta"], index=index, plugin_dir=plugin_dir)
    assert installed(plugin_dir) == {"alpha": "1.1.0", "gamma": "1.0.0"}


def test_a_sync_switches_without_reading_its_new_lock_back(
    index: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    plugin_dir = tmp_path / "plugins"
    sync(["alpha<2"], index=index, plugin_dir=plugin_dir)
    read: list[str] = []
    original = generations.read_generation_lock

    def counted(layout: object, name: str) -> object:
        read.append(name)
        return original(layout, name)  # type: ignore[arg-type]

    monkeypatch.setattr(generations, "read_generation_lock", counted)
    result = sync(["alpha", "gamma"], index=index, plugin_dir=plugin_dir)
    assert result.switched
    # The current generation's lock, to compare against; never the one just built.
    assert read == ["000001"]
    assert installed(plugin_dir) == {"alpha": "2.0.0", "gamma": "1.0.0"}
