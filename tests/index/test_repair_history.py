"""index repair from the root history (issue 21, item 5): yanks and their reasons survive a
damaged root, the serial never moves back to or below one a worker accepted, and what repair
cannot know it says, and refuses unless told.

Every scenario runs on a local directory, moto and SeaweedFS (``index_url``), with real workers
(``sync`` into a plugin dir) where the claim is about workers.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from index_helpers import WheelMaker

from dioptra_plugins import sync
from dioptra_plugins.errors import PublishError, RepairRefusedError, UsageError
from dioptra_plugins.index.documents import ProjectDocument, RootDocument
from dioptra_plugins.index.history import HistoryRecord, history_keys
from dioptra_plugins.index.keys import ROOT_KEY, history_key
from dioptra_plugins.index.reading import RootSnapshot, read_project, read_root
from dioptra_plugins.index.storage import Storage
from dioptra_plugins.index.url import open_storage
from dioptra_plugins.publishing.check import check_index
from dioptra_plugins.publishing.publish import publish
from dioptra_plugins.publishing.repair import repair_index
from dioptra_plugins.publishing.yank import set_yanked
from snapshots import installed

CLI = str(Path(sys.executable).parent / "dioptra-plugins")


def cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([CLI, *args], capture_output=True, text=True, check=False, timeout=120)


def repaired(index_url: str, *options: str) -> dict[str, Any]:
    done = cli("index", "repair", "--index", index_url, "--json", *options)
    assert done.returncode == 0, done.stderr
    result: dict[str, Any] = json.loads(done.stdout)
    return result


def remove_object(request: pytest.FixtureRequest, index_url: str, key: str) -> None:
    """Delete one object behind the library's back, as a lost file or a stray ``aws s3 rm``."""
    if not index_url.startswith("s3://"):
        (Path(index_url) / key).unlink()
        return
    backend = request.getfixturevalue("index_backend")
    server = request.getfixturevalue(f"{backend}_server")
    bucket, _, prefix = index_url.removeprefix("s3://").partition("/")
    server.client().delete_object(Bucket=bucket, Key=f"{prefix}/{key}" if prefix else key)


def demo_versions(storage: Storage) -> dict[str, tuple[bool, str | None]]:
    """demo-pkg's versions in the current root: version -> (yanked, reason)."""
    root = read_root(storage).root
    document = read_project(storage, "demo-pkg", root.projects["demo-pkg"])
    return {f.version: (f.yanked, f.yanked_reason) for f in document.files}


def _yanked_key(document: ProjectDocument, version: str, reason: str) -> str:
    from dataclasses import replace

    files = [
        replace(f, yanked=True, yanked_reason=reason) if f.version == version else f
        for f in document.files
    ]
    return document.with_files(files).key


def documents_of(storage: Storage, name: str) -> list[ProjectDocument]:
    return [
        ProjectDocument.from_bytes(storage.get(info.key).data)
        for info in storage.list(f"projects/{name}/")
    ]


# --- item 5, first scenario --------------------------------------------------------------------


def test_a_damaged_root_after_a_yank_keeps_the_yank_and_workers_skip_it(
    index_url: str, storage: Storage, make_wheel: WheelMaker, tmp_path: Path
) -> None:
    publish(storage, [make_wheel("demo_pkg", "1.0.0")])
    publish(storage, [make_wheel("demo_pkg", "1.1.0")])
    # A reason whose yanked document sorts after the unyanked one by key: the documents alone
    # then cannot tell (same files, same upload times), and a rebuild from them that breaks the
    # tie by key order (main's) takes the unyanked one: the bug made certain, not likely.
    unyanked = read_project(storage, "demo-pkg", read_root(storage).root.projects["demo-pkg"])
    reason = next(
        r
        for r in (f"broken build {n}" for n in range(100))
        if _yanked_key(unyanked, "1.1.0", r) > unyanked.key
    )
    set_yanked(storage, "demo-pkg", "1.1.0", yanked=True, reason=reason)
    worker = tmp_path / "worker"
    assert sync(["demo_pkg"], index=index_url, plugin_dir=worker).installed == {"demo-pkg": "1.0.0"}
    before = read_root(storage)
    storage.replace(ROOT_KEY, before.root.to_bytes()[:40], before.etag)  # a truncated write

    result = repaired(index_url)
    assert result["previous_root"] == "damaged"
    assert result["source"].startswith("history/")
    after = read_root(storage).root
    assert after.projects == before.root.projects  # the very documents, yank and reason
    assert after.serial == before.root.serial + 1
    assert demo_versions(storage) == {"1.0.0": (False, None), "1.1.0": (True, reason)}
    assert check_index(storage).ok
    assert not [key for key in check_index(storage).unreferenced if key.startswith("history/")]

    fresh = tmp_path / "fresh"
    assert sync(["demo_pkg"], index=index_url, plugin_dir=fresh).installed == {"demo-pkg": "1.0.0"}
    again = sync(["demo_pkg"], index=index_url, plugin_dir=worker)
    assert installed(worker) == {"demo-pkg": "1.0.0"}
    assert not again.switched


# --- item 5, second scenario -------------------------------------------------------------------


def test_force_then_a_lost_root_then_repair_never_moves_the_serial_back(
    index_url: str,
    storage: Storage,
    make_wheel: WheelMaker,
    tmp_path: Path,
    request: pytest.FixtureRequest,
) -> None:
    publish(storage, [make_wheel("demo_pkg", "1.0.0")])
    publish(storage, [make_wheel("demo_pkg", "1.1.0"), make_wheel("other_pkg", "1.0.0")])
    projects = read_root(storage).root.projects
    assert repaired(index_url, "--force")["serial"] == 3
    assert repaired(index_url, "--force")["serial"] == 4  # no new document: documents can't tell
    assert read_root(storage).root.projects == projects
    worker = tmp_path / "worker"
    sync(["demo_pkg", "other_pkg"], index=index_url, plugin_dir=worker)
    state = json.loads((worker / ".dioptra-plugins" / "state.json").read_text())
    assert 4 in [entry.get("serial") for entry in _index_entries(state)]

    remove_object(request, index_url, ROOT_KEY)
    result = repaired(index_url)
    assert result["previous_root"] == "missing"
    assert result["serial"] == 5  # above every serial recorded, so above every one accepted
    assert read_root(storage).root.projects == projects
    again = sync(["demo_pkg", "other_pkg"], index=index_url, plugin_dir=worker)
    assert installed(worker) == {"demo-pkg": "1.1.0", "other-pkg": "1.0.0"}
    assert not again.switched
    fresh = tmp_path / "fresh"
    assert sync(["demo_pkg"], index=index_url, plugin_dir=fresh).installed == {"demo-pkg": "1.1.0"}


def _index_entries(state: Any) -> list[dict[str, Any]]:
    """The per-index entries of a state.json, whatever its nesting (serial per index URL)."""
    indexes = state.get("indexes", {})
    values = indexes.values() if isinstance(indexes, dict) else indexes
    return [v for v in values if isinstance(v, dict)]


def test_a_valid_root_forced_goes_above_a_record_a_dead_writer_left(
    storage: Storage, make_wheel: WheelMaker
) -> None:
    publish(storage, [make_wheel("demo_pkg", "1.0.0")])
    root = read_root(storage)
    # A writer recorded serial 2 and died before its swap: the record is all that is left.
    ghost = root.root.with_projects({})
    storage.put_new(
        history_key(2, _sha(ghost.to_bytes())),
        HistoryRecord.of(ghost, ghost.to_bytes(), _sha(root.root.to_bytes())).to_bytes(),
    )
    result = repair_index(storage, force=True)
    assert result.serial == 3
    assert result.source == ROOT_KEY
    assert read_root(storage).root.projects == root.root.projects
    with pytest.raises(UsageError, match="would move the serial back"):
        repair_index(storage, force=True, serial=3)


def _sha(data: bytes) -> str:
    import hashlib

    return hashlib.sha256(data).hexdigest()


# --- concurrent writers ------------------------------------------------------------------------


def test_a_lost_root_after_concurrent_writers(
    index_url: str,
    storage: Storage,
    make_wheel: WheelMaker,
    request: pytest.FixtureRequest,
) -> None:
    from concurrent.futures import ThreadPoolExecutor

    publish(storage, [make_wheel("demo_pkg", "1.0.0")])
    wheels = {
        writer: [make_wheel(f"pkg_{writer}", f"1.{n}.0") for n in range(3)] for writer in range(4)
    }

    def write(writer: int) -> int:
        own = open_storage(index_url)  # a storage (and connection pool) per writer
        attempts = 0
        for wheel in wheels[writer]:
            attempts += publish(own, [wheel], max_workers=1).attempts
        set_yanked(own, "demo-pkg", "1.0.0", yanked=writer % 2 == 0, reason=f"w{writer}")
        return attempts

    with ThreadPoolExecutor(max_workers=4) as pool:
        attempts = sum(pool.map(write, range(4)))
    before = read_root(storage)
    records = history_keys(storage)
    top = max(records)
    assert top == before.root.serial
    # Losers removed their own records: one per serial, that of the committed root.
    assert all(len(keys) == 1 for keys in records.values()), (records, attempts)
    assert records[top] == [history_key(top, _sha(before.root.to_bytes()))]

    remove_object(request, index_url, ROOT_KEY)
    with pytest.raises(PublishError, match="index repair"):
        publish(storage, [make_wheel("late_pkg", "1.0.0")])  # would start again at serial 1
    assert not read_root(storage).exists
    result = repair_index(storage)
    after = read_root(storage).root
    assert after.projects == before.root.projects
    assert after.serial == top + 1
    assert result.source == records[top][0]


def test_a_loser_keeps_a_record_the_winner_swapped_in_with_the_same_bytes(
    storage: Storage, make_wheel: WheelMaker
) -> None:
    """Two identical yanks race: the loser created the record, the winner found it there and
    swapped those very bytes in.  The loser must not remove the record of a committed root."""
    publish(storage, [make_wheel("demo_pkg", "1.0.0"), make_wheel("demo_pkg", "1.1.0")])
    stale = read_root(storage)
    original_put = storage.put_new
    raced: list[int] = []

    def put_then_race(key: str, data: Any) -> str:
        etag = original_put(key, data)
        if key.startswith("history/") and not raced:
            raced.append(1)
            # The winner, with its own storage object, after our record and before our swap.
            winner = set_yanked(open_storage(storage.url), "demo-pkg", "1.1.0", yanked=True)
            raced.append(winner.serial)
        return etag

    storage.put_new = put_then_race  # type: ignore[method-assign]
    from dioptra_plugins.index.swap import change_root

    def yank(root: RootDocument, documents: Any) -> dict[str, ProjectDocument]:
        document = documents.get(root, "demo-pkg")
        files = [f if f.version != "1.1.0" or f.yanked else _yanked(f) for f in document.files]
        return {} if files == list(document.files) else {"demo-pkg": document.with_files(files)}

    swap = change_root(storage, yank, first=stale, sleep=lambda _s: None)
    assert raced[1] == stale.root.serial + 1
    assert not swap.swapped  # the second attempt found the yank done
    committed = read_root(storage).root
    assert history_keys(storage)[committed.serial] == [
        history_key(committed.serial, _sha(committed.to_bytes()))
    ]


def _yanked(file: Any) -> Any:
    from dataclasses import replace

    return replace(file, yanked=True, yanked_reason=None)


def test_a_loser_removes_its_record(storage: Storage, make_wheel: WheelMaker) -> None:
    publish(storage, [make_wheel("demo_pkg", "1.0.0")])
    stale = read_root(storage)
    publish(open_storage(storage.url), [make_wheel("other_pkg", "1.0.0")])  # wins serial 2
    from dioptra_plugins.index.swap import change_root

    documents = documents_of(storage, "demo-pkg")

    def add(root: RootDocument, _documents: Any) -> dict[str, ProjectDocument]:
        return {"third-pkg": ProjectDocument("third-pkg", documents[0].files[:0])}

    swap = change_root(storage, add, first=stale, sleep=lambda _s: None)
    assert swap.attempts == 2
    assert swap.root.serial == 3
    records = history_keys(storage)
    assert sorted(records) == [1, 2, 3]
    assert all(len(keys) == 1 for keys in records.values())


# --- one extra request per swap ----------------------------------------------------------------


def test_a_swap_costs_one_create_only_put_more(
    index_url: str, make_wheel: WheelMaker, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The same yank on twin indexes, with and without the record: one request apart."""
    from dioptra_plugins.index import swap

    wheels = [make_wheel("demo_pkg", "1.0.0"), make_wheel("demo_pkg", "1.1.0")]
    twins = [open_storage(f"{index_url}-with"), open_storage(f"{index_url}-without")]
    for twin in twins:
        publish(twin, wheels)
    costs = []
    for twin in twins:
        if twin is twins[1]:
            monkeypatch.setattr(swap, "record_swap", lambda *_args: None)
        start = twin.requests
        assert set_yanked(twin, "demo-pkg", "1.1.0", yanked=True, reason="broken").serial == 2
        costs.append(twin.requests - start)
    assert costs[0] == costs[1] + 1, costs
    root = read_root(twins[0]).root
    assert history_keys(twins[0])[2] == [history_key(2, _sha(root.to_bytes()))]
    assert 2 not in history_keys(twins[1])


# --- without history ---------------------------------------------------------------------------


def test_an_index_without_history_is_refused_then_rebuilt_when_told(
    index_url: str, storage: Storage, make_wheel: WheelMaker, request: pytest.FixtureRequest
) -> None:
    publish(storage, [make_wheel("demo_pkg", "1.0.0"), make_wheel("demo_pkg", "1.1.0")])
    set_yanked(storage, "demo-pkg", "1.1.0", yanked=True, reason="broken")
    for keys in history_keys(storage).values():  # as an older dioptra-plugins left it
        for key in keys:
            remove_object(request, index_url, key)
    remove_object(request, index_url, ROOT_KEY)

    done = cli("index", "repair", "--index", index_url)
    assert done.returncode == 1, done.stdout
    assert "Traceback" not in done.stderr
    assert "no history" in done.stderr
    assert "order of yanks" in done.stderr
    assert "highest serial" in done.stderr
    assert "--serial N" in done.stderr
    assert "--without-history" in done.stderr
    with pytest.raises(RepairRefusedError) as refused:
        repair_index(storage, without_history=True)  # the serial is still not stated
    assert refused.value.needed == "--serial N --without-history"
    assert len(refused.value.unknown) == 2
    with pytest.raises(RepairRefusedError):
        repair_index(storage, serial=9)  # nor is the risk to the yanks accepted
    assert not read_root(storage).exists

    result = repaired(index_url, "--serial", "9", "--without-history")
    assert result["serial"] == 9
    assert result["source"] == "project documents (no history)"
    assert read_root(storage).root.serial == 9
    assert set(demo_versions(storage)) == {"1.0.0", "1.1.0"}
    # From now on the index has history: a second loss needs no statement.
    remove_object(request, index_url, ROOT_KEY)
    assert repaired(index_url)["serial"] == 10


def test_a_damaged_root_newer_than_the_history_is_refused(
    storage: Storage, make_wheel: WheelMaker
) -> None:
    publish(storage, [make_wheel("demo_pkg", "1.0.0")])
    snapshot = read_root(storage)
    # Swapped by a writer that kept no record (an older dioptra-plugins), then damaged.
    storage.replace(ROOT_KEY, b'{"format":1,"projects":{"demo-pkg":{"docu', snapshot.etag)
    assert repair_index(storage).serial == 2  # no serial visible: the history covers it
    now = read_root(storage)
    storage.replace(ROOT_KEY, b'{"format":1,"projects":{},"serial":7,', now.etag)
    with pytest.raises(RepairRefusedError, match="serial 7, above the newest history record"):
        repair_index(storage)
    with pytest.raises(UsageError, match="at least 8"):
        repair_index(storage, serial=7, without_history=True)
    assert repair_index(storage, serial=8, without_history=True).serial == 8


# --- a publisher killed between its record and its swap ----------------------------------------

KILLED_PUBLISHER = """
import os, signal, sys
from pathlib import Path
from dioptra_plugins.publishing.publish import publish
from dioptra_plugins.index.url import open_storage

url, *wheels = sys.argv[1:]
storage = open_storage(url)
original = storage.put_new

def put_new(key, data):
    etag = original(key, data)
    if key.startswith("history/"):
        os.kill(os.getpid(), signal.SIGKILL)  # recorded, not swapped
    return etag

storage.put_new = put_new
publish(storage, [Path(w) for w in wheels], max_workers=1)
"""


def killed_publish(index_url: str, wheel: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-c", KILLED_PUBLISHER, index_url, str(wheel)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == -9, done.stderr


def test_a_publisher_killed_between_record_and_swap_then_repair(
    index_url: str, storage: Storage, make_wheel: WheelMaker, request: pytest.FixtureRequest
) -> None:
    publish(storage, [make_wheel("demo_pkg", "1.0.0")])
    killed_publish(index_url, make_wheel("demo_pkg", "2.0.0"))
    assert read_root(storage).root.serial == 1  # never swapped
    assert sorted(history_keys(storage)) == [1, 2]  # but recorded
    assert check_index(storage).ok
    with pytest.raises(UsageError, match="nothing to repair"):
        repair_index(storage)

    committed = publish(storage, [make_wheel("demo_pkg", "3.0.0")])
    assert committed.serial == 2
    root = read_root(storage).root
    assert len(history_keys(storage)[2]) == 2  # the dead writer's and the committed one

    remove_object(request, index_url, ROOT_KEY)
    done = cli("index", "repair", "--index", index_url)
    assert done.returncode == 1
    assert "which of the 2 roots recorded at serial 2" in done.stderr
    assert "demo-pkg 1.0.0, 2.0.0" in done.stderr
    assert "demo-pkg 1.0.0, 3.0.0" in done.stderr
    assert not read_root(storage).exists
    with pytest.raises(RepairRefusedError) as refused:
        repair_index(storage)
    assert len(refused.value.candidates) == 2
    assert _sha(root.to_bytes()) in refused.value.candidates

    result = repaired(index_url, "--choose", _sha(root.to_bytes())[:12])
    assert result["serial"] == 3
    assert read_root(storage).root.projects == root.projects


def test_a_killed_publish_then_a_lost_root_is_completed_by_repair(
    index_url: str, storage: Storage, make_wheel: WheelMaker, request: pytest.FixtureRequest
) -> None:
    """The newest record of a dead writer is all repair has: it completes that publish (its
    bundle and document were written before the record) at a serial above it."""
    publish(storage, [make_wheel("demo_pkg", "1.0.0")])
    killed_publish(index_url, make_wheel("demo_pkg", "2.0.0"))
    remove_object(request, index_url, ROOT_KEY)
    result = repair_index(storage)
    assert result.serial == 3
    assert set(demo_versions(storage)) == {"1.0.0", "2.0.0"}
    assert check_index(storage).ok


# --- hostile or damaged records, and the hook ----------------------------------------------------


def test_damaged_and_forged_records(storage: Storage, make_wheel: WheelMaker) -> None:
    publish(storage, [make_wheel("demo_pkg", "1.0.0")])
    root = read_root(storage)
    good = history_keys(storage)[1][0]
    # A record whose content names another root than its key: never used.
    forged = root.root.with_projects({})
    storage.put_new(
        history_key(2, "0" * 64), HistoryRecord.of(forged, forged.to_bytes(), None).to_bytes()
    )
    storage.replace(ROOT_KEY, b"\x00garbage", root.etag)
    with pytest.raises(RepairRefusedError) as refused:
        repair_index(storage)  # the newest serial's only record is unreadable: it may be the one
    assert refused.value.candidates == []
    result = repair_index(storage, choose=good.split("-")[1][:8])
    assert result.serial == 3  # above the forged serial all the same
    assert read_root(storage).root.projects == root.root.projects
    with pytest.raises(UsageError, match="hex digits"):
        repair_index(storage, force=True, choose="abc")
    with pytest.raises(UsageError, match="no recorded root"):
        repair_index(storage, force=True, choose="abcdef0123")
    # With --force, a chosen record replaces even a valid root (its serial still goes up).
    first = history_keys(storage)[1][0].split("-")[1][:10]
    assert repair_index(storage, force=True, choose=first).serial == 4


def test_a_serial_at_the_limit_is_refused_not_wrapped(
    storage: Storage, make_wheel: WheelMaker
) -> None:
    publish(storage, [make_wheel("demo_pkg", "1.0.0")])
    storage.put_new(history_key(2**63 - 1, "f" * 64), b"not a record")
    with pytest.raises(UsageError, match="no serial is left"):
        repair_index(storage, force=True)


def test_repair_calls_before_replace_and_a_refusal_writes_nothing(
    index_url: str, storage: Storage, make_wheel: WheelMaker, request: pytest.FixtureRequest
) -> None:
    publish(storage, [make_wheel("demo_pkg", "1.0.0")])
    old = read_root(storage).root
    remove_object(request, index_url, ROOT_KEY)
    seen: list[tuple[RootSnapshot, RootDocument, bytes]] = []

    def refuse(base: RootSnapshot, new: RootDocument, data: bytes) -> None:
        seen.append((base, new, data))
        raise PublishError("not signed")

    records = history_keys(storage)
    with pytest.raises(PublishError, match="not signed"):
        repair_index(storage, before_replace=refuse)
    assert not read_root(storage).exists
    assert history_keys(storage) == records
    base, new, data = seen[0]
    assert not base.exists
    assert base.root == RootDocument.empty()
    assert new.serial == 2
    assert new.projects == old.projects
    assert data == new.to_bytes()

    result = repair_index(storage, before_replace=lambda *args: seen.append(args))
    assert result.serial == 2
    assert len(seen) == 2
    assert history_keys(storage)[2] == [history_key(2, _sha(seen[1][2]))]


# --- the format ----------------------------------------------------------------------------------

REGISTRY_INDEX = Path(__file__).resolve().parents[2] / "registry-index"


def test_records_match_their_schema_and_the_example(
    storage: Storage, make_wheel: WheelMaker
) -> None:
    from jsonschema import Draft202012Validator

    schema = json.loads((REGISTRY_INDEX / "history-record.schema.json").read_text())
    Draft202012Validator.check_schema(schema)
    validator = Draft202012Validator(schema)
    example = (REGISTRY_INDEX / "examples" / "history-record.json").read_bytes()
    validator.validate(json.loads(example))
    root_example = (REGISTRY_INDEX / "examples" / "index.json").read_bytes().rstrip(b"\n")
    record = HistoryRecord.from_bytes(example, history_key(1, _sha(root_example)))
    assert record.root_bytes == root_example
    assert record.base_sha256 == _sha(RootDocument.empty().to_bytes())

    publish(storage, [make_wheel("demo_pkg", "1.0.0")])
    set_yanked(storage, "demo-pkg", "1.0.0", yanked=True, reason="broken")
    for serial, keys in history_keys(storage).items():
        (key,) = keys
        validator.validate(json.loads(storage.get(key).data))
        assert HistoryRecord.from_bytes(storage.get(key).data, key).serial == serial


def test_init_records_its_root_and_never_starts_a_lost_index_again(
    index_url: str, storage: Storage, make_wheel: WheelMaker, request: pytest.FixtureRequest
) -> None:
    from dioptra_plugins.publishing.initialize import init_index

    init_index(storage)
    assert history_keys(storage) == {0: [history_key(0, _sha(RootDocument.empty().to_bytes()))]}
    remove_object(request, index_url, ROOT_KEY)
    assert repair_index(storage).serial == 1  # even an empty index has a history to go by
    publish(storage, [make_wheel("demo_pkg", "1.0.0")])
    remove_object(request, index_url, ROOT_KEY)
    with pytest.raises(PublishError, match="index repair"):
        init_index(storage)  # an empty root at serial 0 would drop demo-pkg and go back
    assert not read_root(storage).exists
    assert repair_index(storage).serial == 3
