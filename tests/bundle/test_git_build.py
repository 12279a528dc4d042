"""``build`` from git: URLs, work-tree folders, provenance, reproducibility and refusals."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from gitrepos import TASKS, Repo, cli, manifest_of, need_dioptra_mirror, package_repo

from dioptra_plugins.bundle.git_build import GitBuildOptions, build_from_git
from dioptra_plugins.bundle.vcs_url import parse_vcs_url, redact
from dioptra_plugins.errors import BuildError, UsageError


def test_build_from_url_records_provenance_and_takes_the_tag_version(tmp_path: Path) -> None:
    repo = package_repo(tmp_path / "repo")
    repo.git("tag", "v1.2.0")
    commit = repo.git("rev-parse", "HEAD")
    url = f"{repo.url}@v1.2.0#subdirectory=plugins/labtasks"
    done = cli("build", url, "-o", "dist", "--json", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    (entry,) = json.loads(done.stdout)["built"]
    assert entry["version"] == "1.2.0"
    assert entry["name"] == "labtasks"
    provenance = entry["provenance"]
    assert provenance == {
        "vcs": "git",
        "url": repo.url,
        "commit": commit,
        "requested_ref": "v1.2.0",
        "subdirectory": "plugins/labtasks",
        "tree": repo.git("rev-parse", f"{commit}:plugins/labtasks"),
        "dirty": False,
        "build": {
            "version": "1.2.0",
            "name": None,
            "namespace": None,
            "requires": [],
            "declared_in": None,
        },
    }
    shown = cli("inspect", entry["wheel"], "--json", cwd=tmp_path)
    assert shown.returncode == 0, shown.stderr
    assert json.loads(shown.stdout)["provenance"] == provenance
    text = cli("inspect", entry["wheel"], cwd=tmp_path).stdout
    assert commit in text
    assert "plugins/labtasks" in text


def test_provenance_is_part_of_the_verified_bytes(tmp_path: Path) -> None:
    """The provenance is in RECORD: changing it breaks the bundle's verification."""
    import zipfile

    from dioptra_plugins.bundle.verify import verify_wheel
    from dioptra_plugins.errors import BundleError

    repo = package_repo(tmp_path / "repo")
    (built,) = build_from_git(
        f"{repo.url}#subdirectory=plugins/labtasks", tmp_path / "dist", GitBuildOptions("1")
    )
    forged = tmp_path / "forged" / built.wheel.name
    forged.parent.mkdir()
    with zipfile.ZipFile(built.wheel) as source, zipfile.ZipFile(forged, "w") as dest:
        for info in source.infolist():
            data = source.read(info)
            if info.filename.endswith("dioptra_plugins.json"):
                data = data.replace(built.provenance.commit.encode(), b"0" * 40)
            dest.writestr(info, data)
    with pytest.raises(BundleError, match=r"dioptra_plugins\.json"):
        verify_wheel(forged)


def test_same_url_builds_byte_identical_bundles_anywhere_anytime(tmp_path: Path) -> None:
    """Different time zones, locales, umasks, working directories and clock times."""
    repo = package_repo(tmp_path / "repo")
    repo.write("plugins/labtasks/run.sh", "#!/bin/sh\n")
    os.chmod(repo.path / "plugins/labtasks/run.sh", 0o755)
    repo.write("plugins/labtasks/sub/deep.py", "X = 1\n")
    repo.commit("more")
    url = f"{repo.url}@main#subdirectory=plugins/labtasks"
    wheels = []
    for number, (zone, umask, lang) in enumerate(
        [("UTC", "022", "C"), ("Asia/Kathmandu", "077", "C.UTF-8")]
    ):
        cwd = tmp_path / f"cwd{number}"
        cwd.mkdir()
        env = dict(os.environ, TZ=zone, LC_ALL=lang, SOURCE_DATE_EPOCH="12345")
        command = (
            f"umask {umask} && exec {sys.executable} -m dioptra_plugins build '{url}' "
            f"--version 1.0 -o out --json"
        )
        done = subprocess.run(
            ["sh", "-c", command], cwd=cwd, env=env, capture_output=True, text=True, check=False
        )
        assert done.returncode == 0, done.stderr
        wheels.append(Path(json.loads(done.stdout)["built"][0]["wheel"]))
        time.sleep(1.1)  # a later second on the clock: it must not matter
    assert wheels[0].read_bytes() == wheels[1].read_bytes()


def test_the_commit_time_is_the_source_date_epoch(tmp_path: Path) -> None:
    import zipfile

    repo = package_repo(tmp_path / "repo")
    (built,) = build_from_git(
        f"{repo.url}#subdirectory=plugins/labtasks", tmp_path / "dist", GitBuildOptions("1")
    )
    commit_time = int(repo.git("show", "-s", "--format=%ct", "HEAD"))
    stamp = time.gmtime(commit_time)[:6]
    with zipfile.ZipFile(built.wheel) as archive:
        assert {info.date_time for info in archive.infolist()} == {stamp}


def test_versions_metadata_then_option_then_tag_else_refused(tmp_path: Path) -> None:
    repo = package_repo(tmp_path / "repo")
    repo.write(
        "project/pyproject.toml",
        '[build-system]\nrequires = ["hatchling"]\nbuild-backend = "hatchling.build"\n'
        '[project]\nname = "proj-tasks"\nversion = "3.1"\nrequires-python = ">=3.11"\n'
        '[tool.hatch.build.targets.wheel]\npackages = ["proj_tasks"]\n',
    )
    repo.write("project/proj_tasks/__init__.py", TASKS)
    repo.commit("project")
    repo.git("tag", "v9.0")
    # The project's own metadata wins over --version and tags.
    (project,) = build_from_git(
        f"{repo.url}#subdirectory=project", tmp_path / "a", GitBuildOptions(version="7")
    )
    assert project.wheel.name == "proj_tasks-3.1-py3-none-any.whl"
    (given,) = build_from_git(
        f"{repo.url}#subdirectory=plugins/labtasks", tmp_path / "b", GitBuildOptions(version="7")
    )
    assert given.wheel.name == "labtasks-7-py3-none-any.whl"
    (tagged,) = build_from_git(f"{repo.url}#subdirectory=plugins/labtasks", tmp_path / "c")
    assert tagged.wheel.name == "labtasks-9.0-py3-none-any.whl"
    repo.write("plugins/labtasks/more.py", "Y = 2\n")
    repo.commit("untagged")
    done = cli("build", f"{repo.url}@main#subdirectory=plugins/labtasks", "-o", "d", cwd=tmp_path)
    assert done.returncode == 2
    assert "no version" in done.stderr
    assert "Traceback" not in done.stderr
    assert not (tmp_path / "d").exists()


def test_work_tree_folder_clean_dirty_and_allow_dirty(tmp_path: Path) -> None:
    repo = package_repo(tmp_path / "repo")
    folder = repo.path / "plugins" / "labtasks"
    head = repo.git("rev-parse", "HEAD")
    clean = cli("build", str(folder), "--version", "1", "-o", "clean", "--json", cwd=tmp_path)
    assert clean.returncode == 0, clean.stderr
    (entry,) = json.loads(clean.stdout)["built"]
    assert entry["provenance"]["commit"] == head
    assert entry["provenance"]["dirty"] is False
    assert entry["provenance"]["subdirectory"] == "plugins/labtasks"
    # Bytecode left by a run is not a change.
    (folder / "__pycache__").mkdir()
    (folder / "__pycache__" / "x.cpython-311.pyc").write_bytes(b"\0")
    assert cli("build", str(folder), "--version", "1", "-o", "c2", cwd=tmp_path).returncode == 0

    for change in ("modified", "untracked"):
        if change == "modified":
            (folder / "__init__.py").write_text(TASKS + "\nEDITED = True\n")
        else:
            repo.git("checkout", "--", ".")
            (folder / "new.py").write_text("NEW = 1\n")
        refused = cli("build", str(folder), "--version", "1", "-o", "dirty", cwd=tmp_path)
        assert refused.returncode == 1, change
        assert "dirty" in refused.stderr
        assert "Traceback" not in refused.stderr
        assert not (tmp_path / "dirty").exists()
    # A change elsewhere in the repository does not make this folder dirty.
    (folder / "new.py").unlink()
    repo.write("README.md", "edited\n")
    assert cli("build", str(folder), "--version", "1", "-o", "c3", cwd=tmp_path).returncode == 0

    (folder / "__init__.py").write_text(TASKS + "\nEDITED = True\n")
    allowed = cli(
        "build",
        str(folder),
        "--version",
        "1",
        "-o",
        "dirty",
        "--allow-dirty",
        "--json",
        cwd=tmp_path,
    )
    assert allowed.returncode == 0, allowed.stderr
    (entry,) = json.loads(allowed.stdout)["built"]
    assert entry["provenance"]["dirty"] is True
    import zipfile

    with zipfile.ZipFile(entry["wheel"]) as archive:
        assert b"EDITED" in archive.read("labtasks/__init__.py")


def test_folder_outside_any_work_tree_builds_as_before(tmp_path: Path) -> None:
    folder = tmp_path / "loose" / "looseplug"
    folder.mkdir(parents=True)
    (folder / "__init__.py").write_text(TASKS)
    done = cli("build", str(folder), "--version", "1", "-o", "dist", "--json", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["built"][0]["provenance"] is None


# --- refusals ------------------------------------------------------------------------------------


def refused(tmp_path: Path, url: str, *extra: str) -> subprocess.CompletedProcess[str]:
    out = tmp_path / "never"
    done = cli("build", url, "--version", "1", "-o", str(out), *extra, cwd=tmp_path)
    assert done.returncode in (1, 2), done
    assert "Traceback" not in done.stderr, done.stderr
    assert not out.exists(), "a refused build left its output directory"
    return done


def test_a_ref_that_does_not_exist(tmp_path: Path) -> None:
    repo = package_repo(tmp_path / "repo")
    done = refused(tmp_path, f"{repo.url}@no-such-branch#subdirectory=plugins/labtasks")
    assert "no-such-branch" in done.stderr
    done = refused(tmp_path, f"{repo.url}@{'ab' * 20}#subdirectory=plugins/labtasks")
    assert "ab" * 20 in done.stderr


@pytest.mark.parametrize(
    ("subdirectory", "message"),
    [("../outside", "climbs out"), ("/etc", "absolute"), ("plugins/../../x", "climbs out")],
)
def test_a_subdirectory_escaping_the_repository(
    tmp_path: Path, subdirectory: str, message: str
) -> None:
    repo = package_repo(tmp_path / "repo")
    done = refused(tmp_path, f"{repo.url}#subdirectory={subdirectory}")
    assert done.returncode == 2
    assert message in done.stderr


def test_a_subdirectory_through_a_symlink_out(tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "__init__.py").write_text(TASKS)
    repo = package_repo(tmp_path / "repo")
    (repo.path / "escape").symlink_to(outside)
    (repo.path / "inner").symlink_to("plugins")
    repo.commit("links")
    done = refused(tmp_path, f"{repo.url}#subdirectory=escape")
    assert "symlink" in done.stderr
    done = refused(tmp_path, f"{repo.url}#subdirectory=inner/labtasks")
    assert "symlink" in done.stderr
    # The same through a work tree: a folder that resolves out of the tree.
    done = refused(tmp_path, str(repo.path / "escape"))
    assert "out of its work tree" in done.stderr


def test_a_url_with_a_password_is_refused_and_never_shown(tmp_path: Path) -> None:
    done = refused(tmp_path, "git+https://alice:s3cr3t-token@example.org/repo.git@main")
    assert done.returncode == 2
    assert "password" in done.stderr
    assert "s3cr3t" not in done.stderr + done.stdout
    with pytest.raises(UsageError) as caught:
        parse_vcs_url("git+ssh://bob:hunter2@example.org/r.git")
    assert "hunter2" not in str(caught.value)


def test_user_parts_are_never_recorded_or_shown() -> None:
    parsed = parse_vcs_url(
        "git+https://ghp_token@example.org:8443/org/repo.git@v1#subdirectory=a/b"
    )
    assert parsed.url == "git+https://example.org:8443/org/repo.git"
    assert parsed.fetch_url == "https://ghp_token@example.org:8443/org/repo.git"
    assert parsed.ref == "v1"
    assert parsed.subdirectory == "a/b"
    assert redact("cannot reach https://ghp_token@example.org/x") == (
        "cannot reach https://example.org/x"
    )
    with pytest.raises(UsageError):
        parse_vcs_url("git+ftp://example.org/repo")
    with pytest.raises(UsageError):
        parse_vcs_url("git+file://otherhost/repo")
    with pytest.raises(UsageError, match="fragment"):
        parse_vcs_url("git+file:///repo#egg=x&bogus=1")


def test_a_token_in_a_failing_url_is_not_in_the_error(tmp_path: Path) -> None:
    # Nothing listens on port 9 of loopback: git fails fast, and its message is redacted.
    done = refused(tmp_path, "git+http://sekret-token@127.0.0.1:9/repo.git@main", "-vv")
    assert "sekret-token" not in done.stderr + done.stdout
    assert "127.0.0.1" in done.stderr
    as_json = refused(tmp_path, "git+http://sekret-token@127.0.0.1:9/r.git", "--json", "-vv")
    assert "sekret-token" not in as_json.stderr + as_json.stdout
    assert json.loads(as_json.stdout)["kind"] == "GitSourceError"


def test_a_shallow_clone_without_the_commit(tmp_path: Path) -> None:
    repo = package_repo(tmp_path / "repo")
    old = repo.git("rev-parse", "HEAD")
    repo.write("plugins/labtasks/more.py", "Y = 2\n")
    repo.commit("second")
    shallow = tmp_path / "shallow"
    subprocess.run(
        ["git", "clone", "-q", "--depth=1", f"file://{repo.path}", str(shallow)],
        check=True,
        env={"PATH": os.environ["PATH"], "HOME": str(tmp_path)},
    )
    done = refused(tmp_path, f"git+file://{shallow}@{old}#subdirectory=plugins/labtasks")
    assert "shallow" in done.stderr


def test_a_submodule_inside_a_package(tmp_path: Path) -> None:
    other = package_repo(tmp_path / "other", "othertasks")
    repo = package_repo(tmp_path / "repo")
    repo.git("submodule", "add", "-q", f"file://{other.path}", "plugins/labtasks/vendored")
    repo.commit("submodule")
    done = refused(tmp_path, f"{repo.url}#subdirectory=plugins/labtasks")
    assert "submodule" in done.stderr
    assert "plugins/labtasks/vendored" in done.stderr


def test_an_lfs_pointer_inside_a_package(tmp_path: Path) -> None:
    repo = package_repo(tmp_path / "repo")
    repo.write(
        "plugins/labtasks/model.bin",
        "version https://git-lfs.github.com/spec/v1\noid sha256:" + "0" * 64 + "\nsize 12\n",
    )
    repo.commit("lfs")
    done = refused(tmp_path, f"{repo.url}#subdirectory=plugins/labtasks")
    assert "LFS" in done.stderr
    assert "model.bin" in done.stderr


def test_a_symlink_inside_a_package(tmp_path: Path) -> None:
    repo = package_repo(tmp_path / "repo")
    (repo.path / "plugins/labtasks/passwd").symlink_to("/etc/passwd")
    repo.commit("link")
    done = refused(tmp_path, f"{repo.url}#subdirectory=plugins/labtasks")
    assert "symlink" in done.stderr


def test_a_repository_that_declares_nothing(tmp_path: Path) -> None:
    repo = Repo(tmp_path / "repo")
    repo.write("docs/index.md", "nothing to build\n")
    repo.commit("docs")
    done = refused(tmp_path, f"{repo.url}#subdirectory=docs")
    assert "declares no plugin package" in done.stderr
    done = refused(tmp_path, repo.url)
    assert "declares no plugin package" in done.stderr


def test_a_missing_subdirectory(tmp_path: Path) -> None:
    repo = package_repo(tmp_path / "repo")
    done = refused(tmp_path, f"{repo.url}#subdirectory=plugins/nope")
    assert "plugins/nope" in done.stderr


def test_a_failed_second_package_leaves_nothing(tmp_path: Path) -> None:
    """Several packages are delivered only once all of them are built."""
    repo = package_repo(tmp_path / "repo")
    repo.write("plugins/broken/__init__.py", "def (:\n")
    repo.write(
        "pyproject.toml",
        '[tool.dioptra-plugins]\npackages = ["plugins/labtasks", "plugins/broken"]\n',
    )
    repo.commit("broken")
    with pytest.raises(BuildError, match=r"broken/__init__\.py"):
        build_from_git(repo.url, tmp_path / "out", GitBuildOptions("1"))
    assert not (tmp_path / "out").exists()


def test_dioptra_0x_builtins_build_twice_byte_identical(tmp_path: Path) -> None:
    mirror = need_dioptra_mirror()
    url = f"git+file://{mirror}@c8f2c010#subdirectory=task-plugins/dioptra_builtins"
    first = build_from_git(url, tmp_path / "one", GitBuildOptions("1.0"))
    second = build_from_git(url, tmp_path / "two", GitBuildOptions("1.0"))
    assert len(first) == len(second) == 1
    assert first[0].wheel.read_bytes() == second[0].wheel.read_bytes()
    manifest = manifest_of(first[0].wheel)
    assert manifest["package"] == "dioptra_builtins"
    assert manifest["provenance"]["commit"].startswith("c8f2c010")
    assert manifest["tasks"], "Dioptra's builtins register tasks"
