"""``inspect WHEEL --rebuild``: fetch the recorded commit, build again, compare byte for byte."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from gitrepos import TASKS, Repo, cli, package_repo

from dioptra_plugins.bundle.build import build_bundle
from dioptra_plugins.bundle.git_build import GitBuildOptions, build_from_git
from dioptra_plugins.bundle.provenance import PROVENANCE_KEY
from dioptra_plugins.errors import BuildError


def test_rebuild_of_a_git_bundle_is_identical(tmp_path: Path) -> None:
    repo = package_repo(tmp_path / "repo")
    repo.git("tag", "v2.0")
    (built,) = build_from_git(f"{repo.url}@v2.0#subdirectory=plugins/labtasks", tmp_path / "d")
    # Later commits and a moved tag do not matter: the recorded commit is fetched.
    repo.write("plugins/labtasks/later.py", "Z = 3\n")
    repo.commit("later")
    repo.git("tag", "-f", "v2.0")
    done = cli("inspect", str(built.wheel), "--rebuild", "--json", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    document = json.loads(done.stdout)
    assert document["rebuild"] == {"identical": True, "sha256": document["sha256"]}
    text = cli("inspect", str(built.wheel), "--rebuild", cwd=tmp_path)
    assert text.returncode == 0
    assert "byte-identical" in text.stdout


def test_rebuild_names_every_differing_file(tmp_path: Path) -> None:
    """A bundle whose provenance claims a commit it was not built from."""
    repo = package_repo(tmp_path / "repo")
    (genuine,) = build_from_git(
        f"{repo.url}#subdirectory=plugins/labtasks", tmp_path / "d", GitBuildOptions("1")
    )
    claimed = genuine.provenance.to_json()
    edited = tmp_path / "edited" / "labtasks"
    edited.mkdir(parents=True)
    (edited / "__init__.py").write_text(TASKS + "\nBACKDOOR = True\n")
    (edited / "extra.py").write_text("E = 1\n")

    def claim(manifest: dict[str, Any]) -> dict[str, Any]:
        return {**manifest, PROVENANCE_KEY: claimed}

    forged = build_bundle(edited, tmp_path / "forged", version="1", finish_manifest=claim)
    done = cli("inspect", str(forged), "--rebuild", cwd=tmp_path)
    assert done.returncode == 1
    assert "labtasks/__init__.py: content differs" in done.stderr
    assert "labtasks/extra.py: only in the bundle" in done.stderr
    assert "RECORD: content differs" in done.stderr
    assert "Traceback" not in done.stderr
    as_json = cli("inspect", str(forged), "--rebuild", "--json", cwd=tmp_path)
    assert as_json.returncode == 1
    assert json.loads(as_json.stdout)["kind"] == "RebuildMismatchError"


def test_rebuild_of_a_dirty_or_sourceless_bundle_fails(tmp_path: Path) -> None:
    repo = package_repo(tmp_path / "repo")
    folder = repo.path / "plugins" / "labtasks"
    (folder / "__init__.py").write_text(TASKS + "\nEDIT = 1\n")
    dirty = cli(
        "build", str(folder), "--version", "1", "-o", "d", "--allow-dirty", "--json", cwd=tmp_path
    )
    assert dirty.returncode == 0, dirty.stderr
    wheel = json.loads(dirty.stdout)["built"][0]["wheel"]
    done = cli("inspect", wheel, "--rebuild", cwd=tmp_path)
    assert done.returncode == 1
    assert "dirty" in done.stderr

    loose = tmp_path / "loose" / "loosetasks"
    loose.mkdir(parents=True)
    (loose / "__init__.py").write_text(TASKS)
    plain = build_bundle(loose, tmp_path / "plain", version="1")
    done = cli("inspect", str(plain), "--rebuild", cwd=tmp_path)
    assert done.returncode == 1
    assert "records no source" in done.stderr


def test_rebuild_when_the_commit_is_gone(tmp_path: Path) -> None:
    repo = package_repo(tmp_path / "repo")
    repo.write("plugins/labtasks/more.py", "M = 1\n")
    repo.commit("second")
    (built,) = build_from_git(
        f"{repo.url}@main#subdirectory=plugins/labtasks", tmp_path / "d", GitBuildOptions("1")
    )
    # History rewritten: the commit is no longer reachable, and pruned.
    repo.git("reset", "-q", "--hard", "HEAD~1")
    repo.git("reflog", "expire", "--expire=now", "--all")
    repo.git("gc", "-q", "--prune=now")
    done = cli("inspect", str(built.wheel), "--rebuild", cwd=tmp_path)
    assert done.returncode == 1
    assert built.provenance.commit in done.stderr
    assert "Traceback" not in done.stderr


@pytest.mark.parametrize(
    ("change", "problem"),
    [
        ({"subdirectory": "../outside"}, "subdirectory"),
        ({"subdirectory": "/etc"}, "subdirectory"),
        ({"url": "git+ext::sh -c touch% /tmp/pwned"}, "url"),
        ({"url": "git+https://user:pw@example.org/r.git"}, "credentials"),
        ({"url": "git+https://example.org/r.git@main"}, "url"),
        ({"commit": "abc"}, "commit"),
        ({"dirty": "no"}, "dirty"),
        ({"build": {"declared_in": "../dioptra.toml"}}, "declared_in"),
    ],
)
def test_a_hostile_provenance_is_refused_before_anything_fetches_it(
    tmp_path: Path, change: dict[str, Any], problem: str
) -> None:
    """A bundle's provenance says what --rebuild fetches: verification refuses a bad one."""
    repo = package_repo(tmp_path / "repo")
    (genuine,) = build_from_git(
        f"{repo.url}#subdirectory=plugins/labtasks", tmp_path / "d", GitBuildOptions("1")
    )
    claimed = {**genuine.provenance.to_json(), **change}
    loose = tmp_path / "loose" / "labtasks"
    loose.mkdir(parents=True)
    (loose / "__init__.py").write_text(TASKS)

    def claim(manifest: dict[str, Any]) -> dict[str, Any]:
        return {**manifest, PROVENANCE_KEY: claimed}

    with pytest.raises(BuildError, match=problem):
        build_bundle(loose, tmp_path / "hostile", version="1", finish_manifest=claim)


def test_an_empty_work_tree_is_refused(tmp_path: Path) -> None:
    repo = Repo(tmp_path / "repo")
    folder = repo.path / "emptytasks"
    folder.mkdir()
    (folder / "__init__.py").write_text(TASKS)
    done = cli("build", str(folder), "--version", "1", "-o", "d", cwd=tmp_path)
    assert done.returncode == 1
    assert "no commit" in done.stderr
    assert not (tmp_path / "d").exists()


def test_rebuild_of_a_clean_work_tree_build(tmp_path: Path) -> None:
    repo = package_repo(tmp_path / "repo")
    folder = repo.path / "plugins" / "labtasks"
    built = cli("build", str(folder), "--version", "1", "-o", "d", "--json", cwd=tmp_path)
    assert built.returncode == 0, built.stderr
    wheel = json.loads(built.stdout)["built"][0]["wheel"]
    assert json.loads(built.stdout)["built"][0]["provenance"]["requested_ref"] is None
    # The same commit through its URL builds the same bytes as the work tree did.
    (from_url,) = build_from_git(
        f"{repo.url}#subdirectory=plugins/labtasks", tmp_path / "u", GitBuildOptions("1")
    )
    assert from_url.wheel.read_bytes() == Path(wheel).read_bytes()
    done = cli("inspect", wheel, "--rebuild", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
