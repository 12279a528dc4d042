"""Real git repositories for the build-from-git tests, made in tmp_path with the git binary."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import zipfile
from pathlib import Path
from typing import Any

import pytest

DIOPTRA_MIRROR = Path("/work/.mirror/usnistgov+dioptra/repo")

TASKS = (
    "from dioptra_plugins.pyplugs import register\n\n\n"
    "@register\n"
    "def double(x: int) -> int:\n"
    '    """Twice x."""\n'
    "    return 2 * x\n"
)


def git_env(home: Path, when: int = 1_700_000_000) -> dict[str, str]:
    """A fixed identity and date: the same script makes the same commit ids."""
    stamp = f"@{when} +0000"
    return {
        "PATH": os.environ["PATH"],
        "HOME": str(home),
        "GIT_CONFIG_NOSYSTEM": "1",
        "GIT_AUTHOR_NAME": "Test",
        "GIT_AUTHOR_EMAIL": "test@example.org",
        "GIT_COMMITTER_NAME": "Test",
        "GIT_COMMITTER_EMAIL": "test@example.org",
        "GIT_AUTHOR_DATE": stamp,
        "GIT_COMMITTER_DATE": stamp,
        "LC_ALL": "C",
    }


class Repo:
    def __init__(self, path: Path) -> None:
        self.path = path
        self.home = path.parent / f".{path.name}-home"
        self.home.mkdir(exist_ok=True)
        self.clock = 1_700_000_000
        path.mkdir(parents=True, exist_ok=True)
        self.git("init", "-q", "-b", "main")

    def git(self, *args: str, check: bool = True) -> str:
        done = subprocess.run(
            ["git", "-c", "protocol.file.allow=always", *args],
            cwd=self.path,
            env=git_env(self.home, self.clock),
            capture_output=True,
            text=True,
            check=False,
        )
        if check and done.returncode != 0:
            raise AssertionError(f"git {' '.join(args)}: {done.stderr}")
        return done.stdout.strip()

    def write(self, relative: str, text: str) -> Path:
        path = self.path / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
        return path

    def commit(self, message: str = "change") -> str:
        self.clock += 60
        self.git("add", "-A")
        self.git("commit", "-q", "-m", message)
        return self.git("rev-parse", "HEAD")

    @property
    def url(self) -> str:
        return f"git+file://{self.path}"


def package_repo(path: Path, package: str = "labtasks") -> Repo:
    """A repository with one bare package folder at plugins/<package>, committed."""
    repo = Repo(path)
    repo.write(f"plugins/{package}/__init__.py", TASKS)
    repo.write("README.md", "plugins\n")
    repo.commit("first")
    return repo


def cli(
    *args: str, cwd: Path, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "dioptra_plugins", *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )


def manifest_of(wheel: Path) -> dict[str, Any]:
    with zipfile.ZipFile(wheel) as archive:
        (name,) = [n for n in archive.namelist() if n.endswith(".dist-info/dioptra_plugins.json")]
        document = json.loads(archive.read(name))
    assert isinstance(document, dict)
    return document


def need_dioptra_mirror() -> Path:
    if not (DIOPTRA_MIRROR / "HEAD").exists():
        pytest.skip(
            f"SKIPPED LOUDLY: Dioptra's public history is not mirrored at {DIOPTRA_MIRROR} "
            "(fetch usnistgov/dioptra there to run the tests against the real repository)"
        )
    return DIOPTRA_MIRROR
