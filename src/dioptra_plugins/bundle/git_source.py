"""Plugin sources in git: fetching the one commit a ``git+`` URL names.

:func:`fetch` copies the commit REF names into a fresh bare repository of ours (never a
checkout: the source's hooks, filters and attributes never run); :mod:`.git_tree` reads and
exports its trees and :mod:`.vcs_url` parses the URL.

git always runs with a clean environment (no system or user config, no credential helpers, no
prompts, C locale, UTC), so neither the user's settings nor a waiting password prompt can change
or hang a build.  A URL's user part never reaches a log or an error message.
"""

from __future__ import annotations

import logging
import os
import re
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import unquote

from dioptra_plugins.bundle.vcs_url import VcsUrl, redact
from dioptra_plugins.errors import GitSourceError

logger = logging.getLogger(__name__)

_HEX = re.compile(r"[0-9a-f]{4,64}")
_FULL_ID = re.compile(r"[0-9a-f]{40}|[0-9a-f]{64}")
FETCHED_REF = "refs/dioptra-plugins/source"


def git_environment(home: Path) -> dict[str, str]:
    """A clean environment for git: nothing from the user's config, no prompts, no helpers."""
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": str(home),
        "XDG_CONFIG_HOME": str(home),
        "GIT_CONFIG_NOSYSTEM": "1",
        "GIT_CONFIG_GLOBAL": os.devnull,
        "GIT_TERMINAL_PROMPT": "0",
        "GIT_ASKPASS": "",
        "SSH_ASKPASS": "",
        # A remote that stops answering fails the fetch instead of hanging the build.
        "GIT_SSH_COMMAND": "ssh -o BatchMode=yes -o ConnectTimeout=30 -o ServerAliveInterval=30",
        "GIT_HTTP_LOW_SPEED_LIMIT": "1",
        "GIT_HTTP_LOW_SPEED_TIME": "60",
        "LC_ALL": "C",
        "LANG": "C",
        "TZ": "UTC",
    }
    if "SSH_AUTH_SOCK" in os.environ:
        # An agent holds keys without prompting: the one credential source left to ssh.
        env["SSH_AUTH_SOCK"] = os.environ["SSH_AUTH_SOCK"]
    return env


class Git:
    """git commands against one repository (``git_dir``), in a clean environment."""

    def __init__(self, git_dir: Path | None, home: Path, *, secret: str | None = None) -> None:
        self.git_dir = git_dir
        self.env = git_environment(home)
        self.secret = secret
        """A fetch URL that may hold a user name: removed from every message git prints."""

    def run(
        self, *args: str, input: bytes | None = None, check: bool = True
    ) -> subprocess.CompletedProcess[bytes]:
        command = ["git", "-c", "credential.helper=", "-c", "core.askPass=", *args]
        if self.git_dir is not None:
            command[1:1] = ["--git-dir", str(self.git_dir)]
        try:
            result = subprocess.run(
                command, env=self.env, input=input, capture_output=True, check=False
            )
        except FileNotFoundError as error:
            raise GitSourceError("git is not installed (no `git` on PATH)") from error
        if check and result.returncode != 0:
            raise GitSourceError(f"git {args[0]} failed: {self.message(result)}")
        return result

    def message(self, result: subprocess.CompletedProcess[bytes]) -> str:
        text = result.stderr.decode(errors="replace").strip() or "(no output)"
        if self.secret:
            text = text.replace(self.secret, redact(self.secret))
        return redact(" ".join(text.splitlines()[-3:]))

    def text(self, *args: str) -> str:
        return self.run(*args).stdout.decode(errors="replace").strip()


# --- fetching one commit -------------------------------------------------------------------------


@dataclass(frozen=True)
class Commit:
    """A commit fetched into (or found in) a repository of ours."""

    git: Git
    id: str
    time: int
    """Committer time (seconds since the epoch): the build's SOURCE_DATE_EPOCH."""
    tags: tuple[str, ...]
    """Tags that point at the commit (short names), for a version when nothing else gives one."""


def fetch(source: VcsUrl, workdir: Path, *, ref: str | None = None) -> Commit:
    """Fetch the commit ``ref`` (default: the URL's ref, else the remote's HEAD) into
    ``workdir/repo.git``; GitSourceError when it does not exist or cannot be fetched."""
    wanted = ref if ref is not None else source.ref
    home = workdir / "home"
    home.mkdir(exist_ok=True)
    git_dir = workdir / "repo.git"
    git = Git(git_dir, home, secret=source.fetch_url)
    git.run("init", "--quiet", "--bare", str(git_dir))
    shown = redact(source.url)
    listing = git.run("ls-remote", "--", source.fetch_url, check=False)
    if listing.returncode != 0:
        raise GitSourceError(f"cannot read {shown}: {git.message(listing)}")
    refs = _parse_ls_remote(listing.stdout.decode(errors="replace"))
    name = _remote_ref(refs, wanted)
    if name is None and wanted is not None and _HEX.fullmatch(wanted):
        wanted = _full_id(source, wanted, git) or wanted
    commit_id: str | None
    if name is not None:
        _fetch(git, source, f"+{name}:{FETCHED_REF}", shown)
        commit_id = _resolve(git, FETCHED_REF)
    elif wanted is not None and _FULL_ID.fullmatch(wanted):
        # Only the commit itself (depth 1): its tree is all a build needs, and history the
        # source lacks (a partial mirror, a shallow clone) does not matter.
        fetch_args = ["fetch", "--quiet", "--depth=1", "--no-tags", "--", source.fetch_url, wanted]
        result = git.run(*fetch_args, check=False)
        commit_id = _resolve(git, wanted) if result.returncode == 0 else None
    elif wanted is not None and _HEX.fullmatch(wanted):
        commit_id = _fetch_everything(git, source, wanted, shown)
    else:
        what = f"ref {wanted!r}" if wanted else "a HEAD"
        raise GitSourceError(f"{shown} has no {what} (no such branch, tag or commit)")
    if commit_id is None:
        raise GitSourceError(_missing_commit(source, wanted, shown))
    tags = tuple(
        sorted(
            ref.removeprefix("refs/tags/")
            for ref, target in refs.items()
            if ref.startswith("refs/tags/") and target == commit_id
        )
    )
    return Commit(git, commit_id, _commit_time(git, commit_id), tags)


def _missing_commit(source: VcsUrl, wanted: str | None, shown: str) -> str:
    message = f"{shown} has no commit {wanted!r}"
    if source.fetch_url.startswith("file://"):
        local = Path(unquote(source.fetch_url[len("file://") :]))
        for candidate in (local / ".git" / "shallow", local / "shallow"):
            if candidate.exists():
                return (
                    f"{message}: the repository is a shallow clone without that commit "
                    "(fetch more history there: git fetch --unshallow)"
                )
    return message


def _parse_ls_remote(text: str) -> dict[str, str]:
    """Ref name -> commit id, annotated tags peeled to their commit."""
    refs: dict[str, str] = {}
    for line in text.splitlines():
        target, _, name = line.partition("\t")
        if name.endswith("^{}"):
            refs[name[:-3]] = target
        else:
            refs.setdefault(name, target)
    return refs


def _remote_ref(refs: dict[str, str], wanted: str | None) -> str | None:
    if wanted is None:
        return "HEAD" if "HEAD" in refs else None
    for name in (wanted, f"refs/heads/{wanted}", f"refs/tags/{wanted}"):
        if name in refs and (name == "HEAD" or name.startswith("refs/")):
            return name
    return None


def _full_id(source: VcsUrl, abbreviated: str, git: Git) -> str | None:
    """An abbreviated commit id resolved in a local source repository (file:// only: a remote
    one can only be asked for refs, so its history is fetched instead)."""
    if not source.fetch_url.startswith("file://"):
        return None
    local = unquote(source.fetch_url[len("file://") :])
    result = Git(None, Path(git.env["HOME"])).run(
        "-C", local, "rev-parse", "--verify", "--quiet", f"{abbreviated}^{{commit}}", check=False
    )
    text = result.stdout.decode().strip()
    return text if result.returncode == 0 and _FULL_ID.fullmatch(text) else None


def _fetch(git: Git, source: VcsUrl, refspec: str, shown: str, depth: bool = True) -> None:
    extra = ["--depth=1"] if depth else []
    result = git.run(
        "fetch", "--quiet", *extra, "--no-tags", "--", source.fetch_url, refspec, check=False
    )
    if result.returncode != 0:
        raise GitSourceError(f"cannot fetch from {shown}: {git.message(result)}")


def _fetch_everything(git: Git, source: VcsUrl, wanted: str, shown: str) -> str | None:
    # An abbreviated commit id can only be resolved against the history: fetch all of it.
    _fetch(git, source, "+refs/heads/*:refs/dioptra-plugins/heads/*", shown, depth=False)
    _fetch(git, source, "+refs/tags/*:refs/dioptra-plugins/tags/*", shown, depth=False)
    return _resolve(git, wanted)


def _resolve(git: Git, name: str) -> str | None:
    result = git.run("rev-parse", "--verify", "--quiet", f"{name}^{{commit}}", check=False)
    text = result.stdout.decode().strip()
    return text if result.returncode == 0 and _FULL_ID.fullmatch(text) else None


def _commit_time(git: Git, commit: str) -> int:
    return int(git.text("show", "-s", "--format=%ct", commit))


def local_commit(repository: Path, home: Path, revision: str = "HEAD") -> Commit:
    """The commit ``revision`` of a work tree's own repository (nothing fetched)."""
    git_dir = Path(Git(None, home).text("-C", str(repository), "rev-parse", "--absolute-git-dir"))
    git = Git(git_dir, home)
    commit_id = _resolve(git, revision)
    if commit_id is None:
        raise GitSourceError(f"{repository}: no commit {revision!r} (an empty repository?)")
    tags = tuple(sorted(git.text("tag", "--points-at", commit_id).split()))
    return Commit(git, commit_id, _commit_time(git, commit_id), tags)


def scratch_directory(prefix: str) -> tempfile.TemporaryDirectory[str]:
    """A temporary directory for a fetch and build, removed on every way out."""
    return tempfile.TemporaryDirectory(prefix=prefix)
