"""index repair (rebuild index.json from the immutable documents) and honest emptiness: a
missing index is an error that says so, never an empty table."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from index_helpers import WheelMaker

from dioptra_plugins.errors import ObjectNotFoundError, UsageError
from dioptra_plugins.index.reading import read_root
from dioptra_plugins.index.storage import Storage
from dioptra_plugins.publishing.check import check_index
from dioptra_plugins.publishing.publish import publish
from dioptra_plugins.publishing.repair import repair_index
from dioptra_plugins.publishing.yank import set_yanked

CLI = str(Path(sys.executable).parent / "dioptra-plugins")


def cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([CLI, *args], capture_output=True, text=True, check=False)


@pytest.fixture
def published(storage: Storage, make_wheel: WheelMaker) -> Storage:
    publish(storage, [make_wheel("demo_pkg", "1.0.0"), make_wheel("other_pkg", "1.0.0")])
    publish(storage, [make_wheel("demo_pkg", "1.1.0")])
    return storage


def test_a_corrupted_root_is_rebuilt(published: Storage, index_url: str) -> None:
    before = read_root(published)
    published.replace("index.json", b"{ this is not json", before.etag)
    assert cli("index", "list", "--index", index_url).returncode == 1
    done = cli("index", "repair", "--index", index_url, "--json")
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    assert result["previous_root"] == "damaged"
    assert result["projects"] == {"demo-pkg": 2, "other-pkg": 1}
    after = read_root(published).root
    assert after.serial > before.root.serial  # workers that saw the old root accept it
    assert after.projects["demo-pkg"].latest == "1.1.0"
    assert check_index(published).ok
    listed = cli("index", "list", "--index", index_url)
    assert listed.returncode == 0
    assert "demo-pkg" in listed.stdout


def test_a_lost_root_is_rebuilt_and_a_missing_bundle_left_out(
    make_wheel: WheelMaker, tmp_path: Path
) -> None:
    from dioptra_plugins.index.url import open_storage

    directory = tmp_path / "local-index"  # objects deleted by hand: a local directory
    storage = open_storage(str(directory))
    publish(storage, [make_wheel("demo_pkg", "1.0.0"), make_wheel("other_pkg", "1.0.0")])
    publish(storage, [make_wheel("demo_pkg", "1.1.0")])
    (directory / "index.json").unlink()
    (directory / "bundles/other-pkg/other_pkg-1.0.0-py3-none-any.whl").unlink()
    result = repair_index(storage)
    assert result.previous_root == "missing"
    assert result.projects == {"demo-pkg": 2}
    assert result.missing_bundles == ["bundles/other-pkg/other_pkg-1.0.0-py3-none-any.whl"]
    assert check_index(storage).ok


def test_a_valid_root_is_left_alone_unless_forced(published: Storage) -> None:
    set_yanked(published, "demo-pkg", "1.0.0", yanked=True, reason="broken")
    with pytest.raises(UsageError, match="nothing to repair"):
        repair_index(published)
    result = repair_index(published, force=True, serial=99)
    assert result.serial == 99
    assert read_root(published).root.serial == 99


def test_a_missing_index_is_an_error_not_an_empty_table(index_url: str) -> None:
    for args in (("index", "list"), ("index", "show", "demo-pkg")):
        done = cli(*args, "--index", index_url)
        assert done.returncode == 1, (args, done.stdout)
        assert "no index at" in done.stderr
        assert "Traceback" not in done.stderr
    done = cli("yank", "demo-pkg==1.0.0", "--reason", "x", "--index", index_url)
    assert done.returncode == 1
    assert "no index at" in done.stderr


def test_yank_on_a_missing_index_raises_not_found(storage: Storage) -> None:
    with pytest.raises(ObjectNotFoundError, match="no index at"):
        set_yanked(storage, "demo-pkg", "1.0.0", yanked=True)


def test_publish_dry_run_from_the_cli(
    storage: Storage, index_url: str, make_wheel: WheelMaker
) -> None:
    wheel = make_wheel("demo_pkg", "1.0.0")
    done = cli("publish", str(wheel), "--index", index_url, "--dry-run", "--json")
    assert done.returncode == 0, done.stderr
    document = json.loads(done.stdout)
    assert document["dry_run"] is True
    assert [f["status"] for f in document["files"]] == ["would publish"]
    assert not read_root(storage).exists
