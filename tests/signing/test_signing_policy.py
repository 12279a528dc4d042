"""The signing policy (issue 21, items 1, 2 and 4): never sign what the targets key did not sign.

The bucket writer here has write access to the bucket and no key: it publishes into an unsigned
copy of the index and uploads that copy's ``index.json``, ``projects/`` and ``bundles/`` over
the signed index, ``tuf/`` untouched (``publish_as_bucket_writer``).  Every test runs on a local
directory and on SeaweedFS.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
from signhelpers import (
    installed,
    publish_as_bucket_writer,
    publish_signed,
    run_cli,
    says,
)
from tuf.api.metadata import Metadata, Timestamp  # type: ignore[attr-defined]

import dioptra_plugins
from dioptra_plugins import sync
from dioptra_plugins.errors import DioptraPluginsError, ObjectNotFoundError
from dioptra_plugins.index.url import open_storage
from dioptra_plugins.publishing.publish import publish as library_publish
from dioptra_plugins.publishing.repair import repair_index
from dioptra_plugins.publishing.yank import set_yanked
from dioptra_plugins.signing import SigningError, UnsignedRootError
from dioptra_plugins.signing.names import PENDING_DIR, TIMESTAMP_KEY
from tampering import overwrite, read_object


@pytest.fixture
def trust(keys: Path, tmp_path: Path) -> Path:
    worker_root = tmp_path / "worker-root.json"
    shutil.copyfile(keys / "root.json", worker_root)
    return worker_root


@pytest.fixture
def cron_keys(keys: Path, tmp_path: Path) -> Path:
    """What the cron job that refreshes holds: the timestamp key and the public root."""
    cron = tmp_path / "cron-keys"
    cron.mkdir(mode=0o700)
    for name in ("timestamp.pem", "root.json"):
        shutil.copyfile(keys / name, cron / name)
    (cron / "timestamp.pem").chmod(0o600)
    return cron


@pytest.fixture
def synced(
    signed_index: str, keys: Path, trust: Path, wheels: dict[str, Path], tmp_path: Path
) -> Path:
    """alpha 1.0.0 published (signed) and synced by a trusted worker into ``plugins``."""
    publish_signed(signed_index, keys, [wheels["alpha-1.0.0"]])
    plugin_dir = tmp_path / "plugins"
    assert sync(["alpha"], index=signed_index, plugin_dir=plugin_dir, trust=trust).installed == {
        "alpha": "1.0.0"
    }
    return plugin_dir


def every_object(index_url: str) -> dict[str, bytes]:
    storage = open_storage(index_url)
    return {
        info.key: storage.get(info.key).data
        for info in storage.list("")
        if not info.key.startswith(".")  # a backend's own files (SeaweedFS: .tmp/...)
    }


def timestamp(index_url: str) -> Timestamp:
    return Metadata[Timestamp].from_bytes(read_object(index_url, TIMESTAMP_KEY)).signed


def call_alpha(plugin_dir: Path) -> str:
    """What ``dioptra-plugins call alpha tasks run`` prints: the installed code, run."""
    result = run_cli("call", "alpha", "tasks", "run", "--plugin-dir", str(plugin_dir))
    assert result.returncode == 0, result.stderr
    return result.stdout.strip()


def one_error(result: subprocess.CompletedProcess[str], code: int = 1) -> str:
    assert result.returncode == code, (result.stdout, result.stderr)
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("error: ")
    assert "Traceback" not in result.stderr
    return lines[0]


# --- item 1: refresh never signs a bucket writer's root ---------------------------------------


@pytest.mark.parametrize("key_dir", ["full", "cron"])
def test_refresh_never_signs_a_bucket_writers_root_whatever_keys_it_holds(
    key_dir: str,
    synced: Path,
    signed_index: str,
    keys: Path,
    cron_keys: Path,
    trust: Path,
    wheels: dict[str, Path],
    tmp_path: Path,
) -> None:
    publish_as_bucket_writer(signed_index, [wheels["evil-alpha-1.1.0"]], tmp_path)
    # The tampered index is consistent: a worker that does not verify takes the evil release.
    unverified = tmp_path / "unverified"
    sync(["alpha"], index=signed_index, plugin_dir=unverified)
    assert says(unverified, "alpha") == "pwned"
    before = timestamp(signed_index)
    signed_targets = {k: v for k, v in every_object(signed_index).items() if k.startswith("tuf/")}

    chosen = keys if key_dir == "full" else cron_keys
    cli = run_cli("index", "refresh", "--index", signed_index, "--keys", str(chosen))
    line = one_error(cli)
    assert "alpha 1.1.0: alpha-1.1.0-py3-none-any.whl is not signed" in line
    assert "refresh signed none of it" in line
    assert "targets.pem" not in line
    assert "snapshot.pem" not in line
    assert "signed:" not in cli.stdout
    with pytest.raises(UnsignedRootError) as caught:
        dioptra_plugins.refresh(index=signed_index, keys=chosen)
    assert [(d.project, d.version, d.change) for d in caught.value.differences] == [
        ("alpha", "1.1.0", "not signed")
    ]
    assert caught.value.renewed

    # Only the timestamp moved: a new one for the same signed snapshot (workers do not freeze).
    after = timestamp(signed_index)
    assert after.version > before.version
    assert after.snapshot_meta == before.snapshot_meta
    now = {k: v for k, v in every_object(signed_index).items() if k.startswith("tuf/")}
    assert {k: v for k, v in now.items() if k != TIMESTAMP_KEY} == {
        k: v for k, v in signed_targets.items() if k != TIMESTAMP_KEY
    }
    # The trusted worker stays on 1.0.0, and so does the code it runs; a new one gets 1.0.0.
    again = sync(["alpha"], index=signed_index, plugin_dir=synced, trust=trust)
    assert not again.switched
    assert installed(synced) == {"alpha": "1.0.0"}
    assert call_alpha(synced) == '"1.0.0"'
    fresh = tmp_path / "fresh"
    sync(["alpha"], index=signed_index, plugin_dir=fresh, trust=trust)
    assert installed(fresh) == {"alpha": "1.0.0"}
    assert call_alpha(fresh) == '"1.0.0"'


def test_a_yank_undone_by_a_bucket_writer_is_reported_and_restored(
    synced: Path,
    signed_index: str,
    keys: Path,
    trust: Path,
    wheels: dict[str, Path],
    tmp_path: Path,
) -> None:
    publish_signed(signed_index, keys, [wheels["alpha-1.1.0"]])
    dioptra_plugins.yank("alpha", "1.1.0", index=signed_index, reason="broken", keys=keys)
    # The bucket writer unyanks in its copy (set_yanked on the local copy) and uploads it.
    copy = tmp_path / "copy"
    storage = open_storage(signed_index)
    for info in storage.list(""):
        if not info.key.startswith(("tuf/", ".")):
            (copy / info.key).parent.mkdir(parents=True, exist_ok=True)
            (copy / info.key).write_bytes(storage.get(info.key).data)
    set_yanked(open_storage(str(copy)), "alpha", "1.1.0", yanked=False)
    for path in copy.rglob("*"):
        if path.is_file():
            overwrite(signed_index, path.relative_to(copy).as_posix(), path.read_bytes())
    with pytest.raises(UnsignedRootError) as caught:
        dioptra_plugins.refresh(index=signed_index, keys=keys)
    assert [str(d) for d in caught.value.differences] == [
        "alpha 1.1.0: unyanked in index.json, yanked signed"
    ]
    # A publisher puts the signed root back (serial above the bucket writer's); then every
    # operation works again, and the yank holds for workers that do not verify either.
    found_serial = caught.value.found_serial
    assert found_serial is not None
    restored = dioptra_plugins.renew(index=signed_index, keys=keys, restore=True)
    assert restored.serial == found_serial + 1
    assert dioptra_plugins.refresh(index=signed_index, keys=keys).timestamp == "written"
    unverified = tmp_path / "unverified"
    assert sync(["alpha"], index=signed_index, plugin_dir=unverified).installed == {
        "alpha": "1.0.0"
    }
    assert not sync(["alpha"], index=signed_index, plugin_dir=synced, trust=trust).switched
    assert installed(synced) == {"alpha": "1.0.0"}
    with pytest.raises(DioptraPluginsError, match="nothing to restore"):
        dioptra_plugins.renew(index=signed_index, keys=keys, restore=True)


# --- item 2 and the crash: refresh with the timestamp key only ------------------------------


def _publish_and_die_before_promotion(index_url: str, keys: Path, wheel: Path) -> None:
    """A real publish in its own process, SIGKILLed right after it won its root swap.

    The narrow hook: the child replaces ``SignedWriter.after_swap`` (the step that puts the
    signature made before the swap in place) by a SIGKILL of itself.
    """
    code = (
        "import os, signal, sys\n"
        "from dioptra_plugins.signing import policy\n"
        "policy.SignedWriter.after_swap = lambda self, root=None: os.kill(os.getpid(), "
        "signal.SIGKILL)\n"
        "import dioptra_plugins\n"
        "dioptra_plugins.publish(sys.argv[1], index=sys.argv[2], keys=sys.argv[3])\n"
    )
    child = subprocess.run(
        [sys.executable, "-c", code, str(wheel), index_url, str(keys)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        env={**os.environ},
    )
    assert child.returncode == -signal.SIGKILL, child.stderr


def test_a_publisher_killed_after_its_swap_is_completed_by_a_timestamp_only_refresh(
    synced: Path,
    signed_index: str,
    keys: Path,
    cron_keys: Path,
    trust: Path,
    wheels: dict[str, Path],
) -> None:
    before = timestamp(signed_index)
    _publish_and_die_before_promotion(signed_index, keys, wheels["alpha-1.1.0"])
    root = json.loads(read_object(signed_index, "index.json"))
    assert root["serial"] == before.snapshot_meta.version  # swapped: serial + 1
    assert timestamp(signed_index) == before  # nothing promoted, the timestamp unchanged
    assert any(True for _ in open_storage(signed_index).list(f"{PENDING_DIR}/"))
    assert sync(["alpha"], index=signed_index, plugin_dir=synced, trust=trust).not_modified

    done = run_cli("index", "refresh", "--index", signed_index, "--keys", str(cron_keys), "--json")
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    assert result["completed"]
    assert result["wrote_snapshot"]
    assert result["serial"] == root["serial"]
    upgraded = sync(["alpha"], index=signed_index, plugin_dir=synced, trust=trust)
    assert upgraded.upgraded == {"alpha": ("1.0.0", "1.1.0")}
    assert call_alpha(synced) == '"1.1.0"'
    # Refresh again: a plain new timestamp.
    again = dioptra_plugins.refresh(index=signed_index, keys=cron_keys)
    assert not again.completed
    assert not again.wrote_snapshot


def test_a_publisher_builds_on_a_crashed_publishers_root(
    synced: Path,
    signed_index: str,
    keys: Path,
    trust: Path,
    wheels: dict[str, Path],
) -> None:
    _publish_and_die_before_promotion(signed_index, keys, wheels["alpha-1.1.0"])
    published = dioptra_plugins.publish(
        [wheels["p0-1.0.0"]], index=signed_index, keys=os.fspath(keys)
    )
    assert published.signed is not None
    assert published.signed.timestamp == "written"
    result = sync(["alpha", "p0"], index=signed_index, plugin_dir=synced, trust=trust)
    assert installed(synced) == {"alpha": "1.1.0", "p0": "1.0.0"}
    assert result.upgraded == {"alpha": ("1.0.0", "1.1.0")}


# --- publishers never build on an unchecked base ---------------------------------------------


@pytest.mark.parametrize("how", ["python", "cli", "yank", "init"])
def test_a_writer_with_keys_refuses_a_tampered_root_and_writes_nothing(
    how: str,
    synced: Path,
    signed_index: str,
    keys: Path,
    wheels: dict[str, Path],
    tmp_path: Path,
) -> None:
    publish_as_bucket_writer(signed_index, [wheels["evil-alpha-1.1.0"]], tmp_path)
    before = every_object(signed_index)
    if how == "cli":
        line = one_error(
            run_cli("publish", str(wheels["p0-1.0.0"]), "--index", signed_index,
                    "--keys", str(keys))
        )  # fmt: skip
        assert "alpha 1.1.0: alpha-1.1.0-py3-none-any.whl is not signed" in line
        assert "nothing was changed" in line
    else:
        writes: dict[str, Callable[[], object]] = {
            "python": lambda: dioptra_plugins.publish(
                wheels["p0-1.0.0"], index=signed_index, keys=keys
            ),
            "yank": lambda: dioptra_plugins.yank("alpha", "1.0.0", index=signed_index, keys=keys),
            "init": lambda: dioptra_plugins.init_index(signed_index, signed=True, keys=keys),
        }
        with pytest.raises(UnsignedRootError) as caught:
            writes[how]()
        assert [(d.project, d.version, d.change) for d in caught.value.differences] == [
            ("alpha", "1.1.0", "not signed")
        ]
    if how == "init":  # refresh semantics: at most a new timestamp of the signed state
        before.pop(TIMESTAMP_KEY)
        after = every_object(signed_index)
        after.pop(TIMESTAMP_KEY)
        assert after == before
    else:
        assert every_object(signed_index) == before


def test_a_lost_index_json_is_not_replaced_by_an_empty_root(
    synced: Path, signed_index: str, keys: Path, trust: Path, wheels: dict[str, Path]
) -> None:
    storage = open_storage(signed_index)
    if signed_index.startswith("s3://"):
        pytest.skip("deleting an object is the same code path on both backends")
    (Path(signed_index) / "index.json").unlink()
    with pytest.raises(SigningError, match=r"index\.json is missing"):
        dioptra_plugins.init_index(signed_index)
    with pytest.raises(UnsignedRootError, match=r"alpha 1\.0\.0: .* is signed but not in"):
        dioptra_plugins.publish(wheels["p0-1.0.0"], index=signed_index, keys=keys)
    with pytest.raises(ObjectNotFoundError):
        storage.get("index.json")
    dioptra_plugins.renew(index=signed_index, keys=keys, restore=True)
    publish_signed(signed_index, keys, [wheels["p0-1.0.0"]])
    sync(["alpha", "p0"], index=signed_index, plugin_dir=synced, trust=trust)
    assert installed(synced) == {"alpha": "1.0.0", "p0": "1.0.0"}


# --- item 4: the policy holds for Python callers ---------------------------------------------


def test_python_writes_without_keys_to_a_signed_index_raise_and_write_nothing(
    synced: Path, signed_index: str, wheels: dict[str, Path]
) -> None:
    before = every_object(signed_index)
    storage = open_storage(signed_index)
    attempts: list[Callable[[], object]] = [
        lambda: dioptra_plugins.publish([wheels["alpha-1.1.0"]], index=signed_index),
        lambda: library_publish(storage, [wheels["alpha-1.1.0"]]),  # the path of item 4
        lambda: dioptra_plugins.yank("alpha", "1.0.0", index=signed_index),
        lambda: dioptra_plugins.unyank("alpha", "1.0.0", index=signed_index),
        lambda: set_yanked(storage, "alpha", "1.0.0", yanked=True),
    ]
    for attempt in attempts:
        with pytest.raises(SigningError, match="is a signed index: pass --keys KEYDIR"):
            attempt()
        assert every_object(signed_index) == before
    # The repair function itself, called without a signing hook (as from older code).
    with pytest.raises(SigningError, match="is a signed index: repair it with its keys"):
        repair_index(storage, force=True)
    assert every_object(signed_index) == before


def test_the_public_api_has_real_signatures() -> None:
    import inspect

    for name in ("publish", "yank", "unyank", "refresh", "renew", "repair", "init_index"):
        function = getattr(dioptra_plugins, name)
        assert name in dioptra_plugins.__all__
        assert inspect.isfunction(function), name
        assert function.__doc__
    parameters = inspect.signature(dioptra_plugins.publish).parameters
    assert next(iter(parameters)) == "wheels"
    for name in ("index", "keys", "dry_run"):
        assert parameters[name].kind is inspect.Parameter.KEYWORD_ONLY, name


def test_renew_signs_the_same_content_under_the_next_serial(
    synced: Path, signed_index: str, keys: Path, cron_keys: Path, trust: Path
) -> None:
    before = json.loads(read_object(signed_index, "index.json"))
    renewed = dioptra_plugins.renew(index=signed_index, keys=keys)
    after = json.loads(read_object(signed_index, "index.json"))
    assert renewed.serial == after["serial"] == before["serial"] + 1
    assert after["projects"] == before["projects"]
    assert renewed.metadata_expires is not None
    # The cron job cannot renew: it holds no targets key, and says what renew needs.
    with pytest.raises(SigningError, match=r"has no targets\.pem and snapshot\.pem, which index"):
        dioptra_plugins.renew(index=signed_index, keys=cron_keys)
    assert not sync(["alpha"], index=signed_index, plugin_dir=synced, trust=trust).switched
    assert installed(synced) == {"alpha": "1.0.0"}


def test_concurrent_signed_publishers_with_the_library_lose_nothing(
    signed_index: str, keys: Path, trust: Path, wheels: dict[str, Path], tmp_path: Path
) -> None:
    code = (
        "import sys, dioptra_plugins\n"
        "dioptra_plugins.publish(sys.argv[1], index=sys.argv[2], keys=sys.argv[3])\n"
    )
    children = [
        subprocess.Popen(
            [sys.executable, "-c", code, str(wheels[f"p{n}-1.0.0"]), signed_index, str(keys)],
            stderr=subprocess.PIPE,
            text=True,
        )
        for n in range(4)
    ]
    for child in children:
        _out, err = child.communicate(timeout=180)
        assert child.returncode == 0, err
    wanted = [f"p{n}" for n in range(4)]
    plugin_dir = tmp_path / "plugins"
    sync(wanted, index=signed_index, plugin_dir=plugin_dir, trust=trust)
    assert installed(plugin_dir) == dict.fromkeys(wanted, "1.0.0")


def test_a_publisher_overtaken_by_another_signed_publish_retries_and_loses_nothing(
    signed_index: str, keys: Path, trust: Path, wheels: dict[str, Path], tmp_path: Path
) -> None:
    """Publisher A read the root; B published and signed before A's swap (deterministically:
    B runs inside A's upload progress callback).  A's base is then older than the signed state:
    not a bucket writer's root, only a stale one; A retries on B's root."""
    overtaken: list[str] = []

    def publish_b(_filename: str) -> None:
        if not overtaken:
            overtaken.append("b")
            publish_signed(signed_index, keys, [wheels["p1-1.0.0"]])

    a = dioptra_plugins.publish(
        [wheels["p0-1.0.0"]], index=signed_index, keys=keys, progress=publish_b
    )
    assert overtaken
    assert a.attempts == 2
    assert a.signed is not None
    assert a.signed.timestamp == "written"
    plugin_dir = tmp_path / "plugins"
    sync(["p0", "p1"], index=signed_index, plugin_dir=plugin_dir, trust=trust)
    assert installed(plugin_dir) == {"p0": "1.0.0", "p1": "1.0.0"}


def test_repair_of_a_signed_index_signs_only_the_signed_content(
    synced: Path,
    signed_index: str,
    keys: Path,
    trust: Path,
    wheels: dict[str, Path],
    tmp_path: Path,
) -> None:
    serial = json.loads(read_object(signed_index, "index.json"))["serial"]
    overwrite(signed_index, "index.json", b"{damaged")
    before = every_object(signed_index)
    with pytest.raises(SigningError, match="is a signed index: pass --keys KEYDIR"):
        dioptra_plugins.repair(index=signed_index)
    assert every_object(signed_index) == before
    # With the keys: rebuilt from the root history, the signed content, signed again above.
    repaired = dioptra_plugins.repair(index=signed_index, keys=keys)
    assert repaired.serial > serial
    assert repaired.signed is not None
    assert repaired.signed.serial == repaired.serial
    assert not sync(["alpha"], index=signed_index, plugin_dir=synced, trust=trust).switched
    publish_signed(signed_index, keys, [wheels["alpha-1.1.0"]])
    assert sync(["alpha"], index=signed_index, plugin_dir=synced, trust=trust).upgraded == {
        "alpha": ("1.0.0", "1.1.0")
    }
    # A bucket writer's root (its history record the newest) is not what repair signs.
    publish_as_bucket_writer(signed_index, [wheels["alpha-1.2.0"]], tmp_path)
    overwrite(signed_index, "index.json", b"{damaged")
    before = every_object(signed_index)
    with pytest.raises(UnsignedRootError, match=r"alpha 1\.2\.0: .* is not signed"):
        dioptra_plugins.repair(index=signed_index, keys=keys)
    assert every_object(signed_index) == before
    dioptra_plugins.renew(index=signed_index, keys=keys, restore=True)
    assert not sync(["alpha"], index=signed_index, plugin_dir=synced, trust=trust).switched
    assert installed(synced) == {"alpha": "1.1.0"}
