"""The paths that keep a changed sync from growing with the installed set (issue 26): a
resolution of projects that need no other project of the index takes each one's best match
(what resolvelib would pin) without resolvelib's n * n checks; a switch takes the lock of the
generation it just built instead of reading it back; the current generation's bundles come
from state.json while the current lock is the one it recorded, else from the lock."""

from __future__ import annotations

import functools
import itertools
import json
import os
import random
from collections.abc import Callable
from pathlib import Path

import pytest
import tomli_w
from packaging.utils import canonicalize_name
from synchelpers import installed, publish_wheels

from dioptra_plugins import rollback, sync, verify
from dioptra_plugins.errors import ResolutionError
from dioptra_plugins.index.documents import RootDocument
from dioptra_plugins.index.keys import ROOT_KEY
from dioptra_plugins.index.url import open_storage
from dioptra_plugins.plugindir import generations, pylock
from dioptra_plugins.plugindir.layout import PluginDirLayout
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


@pytest.fixture
def parsed(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The sources of the locks parsed from now on."""
    sources: list[str] = []
    original = pylock.lock_from_toml

    def counted(data: bytes, source: str = "pylock.toml") -> pylock.Lock:
        sources.append(Path(source).parent.name)
        return original(data, source)

    monkeypatch.setattr(pylock, "lock_from_toml", counted)
    return sources


def test_a_changed_sync_parses_no_lock_while_state_json_agrees(
    index: str, tmp_path: Path, parsed: list[str]
) -> None:
    plugin_dir = tmp_path / "plugins"
    sync(["alpha<2"], index=index, plugin_dir=plugin_dir)
    result = sync(["alpha", "gamma"], index=index, plugin_dir=plugin_dir)
    assert result.upgraded == {"alpha": ("1.1.0", "2.0.0")}
    assert result.installed == {"gamma": "1.0.0"}
    # Neither the current generation's lock nor the one just built was parsed.
    assert parsed == []
    assert sync(["alpha"], index=index, plugin_dir=plugin_dir).removed == {"gamma": "1.0.0"}
    assert parsed == []
    assert installed(plugin_dir) == {"alpha": "2.0.0"}


def test_a_state_json_that_does_not_know_the_lock_falls_back_to_it(
    index: str, tmp_path: Path, parsed: list[str]
) -> None:
    plugin_dir = tmp_path / "plugins"
    sync(["alpha<2"], index=index, plugin_dir=plugin_dir)
    state_file = plugin_dir / ".dioptra-plugins" / "state.json"
    state = json.loads(state_file.read_text())
    # As a state.json written before it recorded the lock (or by a lying writer) reads.
    state["last_sync"]["lock_sha256"] = "0" * 64
    state["last_sync"]["bundles"] = {"alpha": "f" * 64}
    state_file.write_text(json.dumps(state))
    result = sync(["alpha"], index=index, plugin_dir=plugin_dir)
    assert result.upgraded == {"alpha": ("1.1.0", "2.0.0")}
    assert parsed == ["000001"]


def test_after_a_rollback_the_rolled_back_to_lock_is_read(
    index: str, tmp_path: Path, parsed: list[str]
) -> None:
    plugin_dir = tmp_path / "plugins"
    sync(["alpha<2"], index=index, plugin_dir=plugin_dir)
    sync(["alpha", "gamma"], index=index, plugin_dir=plugin_dir)
    rollback(plugin_dir, to=1)
    parsed.clear()
    result = sync(["alpha", "gamma"], index=index, plugin_dir=plugin_dir)
    # Generation 1 is current, not the 2 state.json describes: its own lock says what it holds.
    assert result.upgraded == {"alpha": ("1.1.0", "2.0.0")}
    assert result.installed == {"gamma": "1.0.0"}
    assert parsed[:1] == ["000001"]
    assert installed(plugin_dir) == {"alpha": "2.0.0", "gamma": "1.0.0"}


def test_a_sync_switches_without_reading_its_new_lock_back(
    index: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    plugin_dir = tmp_path / "plugins"
    sync(["alpha<2"], index=index, plugin_dir=plugin_dir)
    read: list[str] = []
    original = generations.read_generation_lock

    def counted(layout: PluginDirLayout, name: str) -> pylock.Lock:
        read.append(name)
        return original(layout, name)

    monkeypatch.setattr(generations, "read_generation_lock", counted)
    result = sync(["alpha", "gamma"], index=index, plugin_dir=plugin_dir)
    assert result.switched
    assert read == []
    assert installed(plugin_dir) == {"alpha": "2.0.0", "gamma": "1.0.0"}


def test_links_a_change_keeps_are_the_current_generations_own(index: str, tmp_path: Path) -> None:
    plugin_dir = tmp_path / "plugins"
    sync(["alpha<2", "gamma"], index=index, plugin_dir=plugin_dir)
    sync(["alpha", "gamma"], index=index, plugin_dir=plugin_dir)
    layout = PluginDirLayout(plugin_dir)
    first, second = layout.generation_path("000001"), layout.generation_path("000002")
    # gamma did not change: the same link, hard-linked; alpha did: a link of its own.
    assert (second / "gamma").lstat().st_ino == (first / "gamma").lstat().st_ino
    assert (second / "alpha").lstat().st_ino != (first / "alpha").lstat().st_ino
    assert os.readlink(second / "alpha") != os.readlink(first / "alpha")
    assert verify(plugin_dir).problems == []
    # A link of the current generation that does not read as it should is never reused.
    (second / "gamma").unlink()
    (second / "gamma").symlink_to("../../store/elsewhere/gamma")
    sync(["alpha<2", "gamma"], index=index, plugin_dir=plugin_dir)
    third = layout.generation_path("000003")
    assert os.readlink(third / "gamma") == os.readlink(first / "gamma")
    assert (third / "gamma").lstat().st_ino != (second / "gamma").lstat().st_ino
    assert installed(plugin_dir) == {"alpha": "1.1.0", "gamma": "1.0.0"}


def _whole_document(lock: pylock.Lock) -> bytes:
    """The lock as tomli_w writes it in one piece (what lock_to_toml wrote before)."""
    tool: dict[str, object] = {"index": lock.index, "requirements": list(lock.requirements)}
    if lock.generation is not None:
        tool["generation"] = lock.generation
    if lock.index_serial is not None:
        tool["index-serial"] = lock.index_serial
    packages = [
        pylock._package_table(p, pylock.index_as_url(p.index))
        for p in sorted(lock.packages, key=lambda p: p.name)
    ]
    document = {
        "lock-version": pylock.LOCK_VERSION,
        "created-by": pylock.TOOL,
        "packages": packages,
        "tool": {pylock.TOOL: tool},
    }
    return tomli_w.dumps(document).encode()


@pytest.mark.parametrize("index_url", ["s3://bucket/plugins", "/srv/index", "https://h/i/"])
@pytest.mark.parametrize("count", [0, 1, 5])
def test_a_lock_written_a_package_at_a_time_is_the_whole_documents_bytes(
    index_url: str, count: int
) -> None:
    provenances: list[dict[str, object] | None] = [
        None,
        {
            "vcs": "git",
            "url": 'https://example.org/r "q" \\ é\t\x00\x1b\x7f\n\r\b\f',
            "dirty": True,
        },
        {"vcs": "git", "commit": "0" * 40, "requested_ref": "main", "dirty": False},
        {"unknown": 1},  # an empty provenance table
    ]
    packages = tuple(
        pylock.LockedPackage(
            name=f"pkg-{i}",
            version=f"1.{i}",
            filename=f"pkg_{i}-1.{i}-py3-none-any.whl",
            sha256=f"{i:064x}",
            size=100 + i,
            top_level=f"pkg_{i}" if i != 2 else "ns.pkg_2",
            index=index_url,
            url=f"{index_url.rstrip('/')}/bundles/pkg-{i}",
            provenance=provenances[i % len(provenances)],
        )
        for i in range(count)
    )
    for lock in (
        pylock.Lock(packages=packages, index=index_url),
        pylock.Lock(
            packages=packages,
            index=index_url,
            generation="000007",
            index_serial=9,
            requirements=("pkg-0>=1", "pkg-1"),
        ),
    ):
        written = pylock.lock_to_toml(lock)
        assert written == _whole_document(lock)
        read = pylock.lock_from_toml(written).packages
        assert [(p.name, p.sha256, p.top_level) for p in read] == [
            (p.name, p.sha256, p.top_level) for p in packages
        ]
