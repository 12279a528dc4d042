"""Plugin sources in git: pip's VCS URLs, fetching one commit, exporting one of its trees.

``git+file:///path/repo@REF#subdirectory=DIR`` (also ``git+https://`` and ``git+ssh://``) is
parsed by :func:`parse_vcs_url`.  :func:`fetch` copies the commit REF names into a fresh bare
repository of ours (never a checkout: the source's hooks, filters and attributes never run), and
:func:`export_tree` writes one of its subtrees to a directory file by file from the objects, with
fixed modes: what gets built depends on the commit alone, not on the umask, the clock or where
the temporary directory is.

git always runs with a clean environment (no system or user config, no credential helpers, no
prompts, C locale, UTC), so neither the user's settings nor a waiting password prompt can change
or hang a build.  A URL's user part never reaches a log or an error message; a URL carrying a
password is refused outright, so it cannot end up recorded in a bundle.
"""

from __future__ import annotations

import logging
import os
import re
import subprocess
import tempfile
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from urllib.parse import quote, unquote, urlsplit, urlunsplit

from dioptra_plugins.errors import GitSourceError, UsageError

logger = logging.getLogger(__name__)

SCHEMES = ("file", "https", "http", "ssh")
_HEX = re.compile(r"[0-9a-f]{4,64}")
_FULL_ID = re.compile(r"[0-9a-f]{40}|[0-9a-f]{64}")
LFS_POINTER = b"version https://git-lfs.github.com/spec/v1"
FETCHED_REF = "refs/dioptra-plugins/source"


@dataclass(frozen=True)
class VcsUrl:
    """A parsed ``git+...`` URL.  ``fetch_url`` keeps a user name (a token) for git alone;
    ``url`` is the form that may be shown and recorded: ``git+`` and no user part."""

    fetch_url: str
    url: str
    ref: str | None
    subdirectory: str
    """``/``-separated, relative to the repository root; ``""`` for the root."""

    @property
    def repository_name(self) -> str:
        """The last part of the repository path without ``.git`` (``repo`` for a root package)."""
        tail = PurePosixPath(urlsplit(self.url[len("git+") :]).path).name
        return tail.removesuffix(".git") or "repository"


def is_vcs_url(text: str) -> bool:
    return text.startswith("git+")


def parse_vcs_url(text: str) -> VcsUrl:
    """Parse pip's VCS URL form; UsageError for anything else, never echoing a password."""
    if not is_vcs_url(text):
        raise UsageError("a git source starts with git+ (git+https://, git+ssh://, git+file://)")
    parts = urlsplit(text[len("git+") :])
    if parts.scheme not in SCHEMES:
        raise UsageError(
            f"git+{parts.scheme}:// is not supported: use one of "
            + ", ".join(f"git+{s}://" for s in SCHEMES)
        )
    try:
        password, username, port = parts.password, parts.username, parts.port
    except ValueError as error:
        raise UsageError(f"{redact(text)}: malformed address: {error}") from None
    if password is not None:
        # Recorded provenance is public: a password in it would be a leak signed with the bundle.
        raise UsageError(
            f"{redact(text)}: the URL carries a password; give credentials to git another way "
            "(an ssh key, a credential helper outside this tool): it is never recorded"
        )
    path, at, ref = parts.path.rpartition("@")
    if not at:
        path, ref = parts.path, ""
    if at and not ref:
        raise UsageError(f"{redact(text)}: '@' must be followed by a ref (branch, tag or commit)")
    if parts.scheme == "file" and parts.netloc not in ("", "localhost"):
        raise UsageError(f"{redact(text)}: a file URL names a local path (file:///path)")
    subdirectory = _subdirectory_of(parts.fragment, text)
    host = parts.hostname or ""
    netloc = host if port is None else f"{host}:{port}"
    if ":" in host:
        netloc = f"[{host}]" if port is None else f"[{host}]:{port}"
    public = urlunsplit((parts.scheme, netloc, path, "", ""))
    user = f"{quote(unquote(username), safe='')}@" if username else ""
    private = urlunsplit((parts.scheme, user + netloc, path, "", ""))
    if parts.scheme == "file":
        public = private = "file://" + path
    if not path or path == "/":
        raise UsageError(f"{redact(text)}: no repository path")
    return VcsUrl(private, "git+" + public, ref or None, subdirectory)


def _subdirectory_of(fragment: str, text: str) -> str:
    subdirectory = ""
    for item in fragment.split("&") if fragment else []:
        key, _, value = item.partition("=")
        if key == "subdirectory":
            subdirectory = unquote(value)
        elif key != "egg":
            raise UsageError(f"{redact(text)}: unknown URL fragment {key!r} (subdirectory=DIR)")
    return checked_subdirectory(subdirectory)


def checked_subdirectory(subdirectory: str) -> str:
    """A repository-relative directory, or UsageError when it could leave the repository."""
    if subdirectory.startswith("/") or re.match(r"[A-Za-z]:", subdirectory):
        raise UsageError(
            f"subdirectory {subdirectory!r} is absolute: it must be inside the repository"
        )
    if "\\" in subdirectory or "\0" in subdirectory:
        raise UsageError(f"subdirectory {subdirectory!r} holds a backslash or NUL")
    parts = [part for part in subdirectory.split("/") if part not in ("", ".")]
    if ".." in parts:
        raise UsageError(f"subdirectory {subdirectory!r} climbs out of the repository ('..')")
    return "/".join(parts)


def redact(url: str) -> str:
    """``url`` with any user and password removed (best effort on malformed input)."""
    return re.sub(r"(?<=://)[^/@\s]*@", "", url)


# --- running git ---------------------------------------------------------------------------------


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


# --- exporting a tree ----------------------------------------------------------------------------


@dataclass(frozen=True)
class TreeEntry:
    mode: str
    kind: str
    object_id: str
    path: str


def tree_id(commit: Commit, subdirectory: str) -> str:
    """The tree id of ``subdirectory`` at ``commit``; GitSourceError when it is not a directory
    of the commit (missing, a file, or reached through a symlink)."""
    if not subdirectory:
        return commit.git.text("rev-parse", f"{commit.id}^{{tree}}")
    # Each step must be a directory: a symlink on the way could lead out of the repository.
    walked = ""
    for part in subdirectory.split("/"):
        walked = f"{walked}/{part}" if walked else part
        entry = _entry(commit, walked)
        if entry is None:
            raise GitSourceError(f"commit {commit.id[:12]} has no {walked!r}")
        if entry.mode == "120000":
            raise GitSourceError(
                f"{walked!r} is a symlink in commit {commit.id[:12]}: a subdirectory is followed "
                "only through real directories, never out of the repository"
            )
        if entry.kind != "tree":
            raise GitSourceError(f"{walked!r} is not a directory in commit {commit.id[:12]}")
        last = entry
    return last.object_id


def _entry(commit: Commit, path: str) -> TreeEntry | None:
    output = commit.git.run("ls-tree", "-z", "--full-tree", commit.id, "--", path).stdout
    for entry in tree_entries(output):
        if entry.path == path:
            return entry
    return None


def tree_entries(output: bytes) -> Iterator[TreeEntry]:
    """The entries of ``git ls-tree -z`` output."""
    for record in output.split(b"\0"):
        if not record:
            continue
        head, _, path = record.partition(b"\t")
        mode, kind, object_id = head.decode().split()
        yield TreeEntry(mode, kind, object_id, path.decode("utf-8", errors="surrogateescape"))


def list_tree(commit: Commit, tree: str) -> list[TreeEntry]:
    """Every entry below ``tree`` (recursive; directories are implied by their files)."""
    return list(tree_entries(commit.git.run("ls-tree", "-r", "-z", tree).stdout))


def read_blob(commit: Commit, object_id: str) -> bytes:
    return commit.git.run("cat-file", "blob", object_id).stdout


def export_tree(commit: Commit, tree: str, target: Path, *, where: str) -> None:
    """Write ``tree``'s files under ``target`` (which must not exist) with fixed modes.

    Refuses (GitSourceError, nothing left behind by the caller's temporary directory) what a
    plugin package cannot hold: submodules (their code is not in this commit), symlinks (they
    can point anywhere) and Git LFS pointers (the file's real content is not in git).
    """
    entries = list_tree(commit, tree)
    problems = []
    for entry in entries:
        shown = f"{where}/{entry.path}" if where else entry.path
        if entry.kind == "commit":
            problems.append(f"{shown} is a git submodule: its code is not part of this commit")
        elif entry.mode == "120000":
            problems.append(f"{shown} is a symlink: a bundle holds regular files only")
    if problems:
        raise GitSourceError("cannot build from git:\n" + "\n".join(f"  - {p}" for p in problems))
    blobs = _read_blobs(commit, [entry.object_id for entry in entries])
    target.mkdir(parents=True)
    os.chmod(target, 0o755)  # noqa: S103 - a fixed mode, whatever the umask: hatchling records it
    for entry in entries:
        data = blobs[entry.object_id]
        shown = f"{where}/{entry.path}" if where else entry.path
        if data.startswith(LFS_POINTER):
            raise GitSourceError(
                f"cannot build from git: {shown} is a Git LFS pointer; the file's content is "
                "not in the repository (a plugin package keeps its files in git itself)"
            )
        path = target.joinpath(*entry.path.split("/"))
        make_parents(path.parent, target)
        path.write_bytes(data)
        # Fixed modes, whatever the umask: hatchling records them in the wheel.
        os.chmod(path, 0o755 if entry.mode == "100755" else 0o644)


def make_parents(directory: Path, top: Path) -> None:
    """``mkdir -p`` below ``top`` with mode 755 whatever the umask (hatchling records modes)."""
    missing = []
    while directory != top and not directory.exists():
        missing.append(directory)
        directory = directory.parent
    for folder in reversed(missing):
        folder.mkdir()
        os.chmod(folder, 0o755)  # noqa: S103 - as above


def _read_blobs(commit: Commit, object_ids: Sequence[str]) -> dict[str, bytes]:
    """All blobs in one ``git cat-file --batch`` (one process, not one per file)."""
    unique = sorted(set(object_ids))
    if not unique:
        return {}
    output = commit.git.run("cat-file", "--batch", input=("\n".join(unique) + "\n").encode()).stdout
    blobs: dict[str, bytes] = {}
    position = 0
    for object_id in unique:
        end = output.index(b"\n", position)
        header = output[position:end].decode().split()
        if len(header) != 3 or header[1] != "blob":
            raise GitSourceError(f"object {object_id} is missing from the fetched repository")
        size = int(header[2])
        start = end + 1
        blobs[object_id] = output[start : start + size]
        position = start + size + 1
    return blobs


def scratch_directory(prefix: str) -> tempfile.TemporaryDirectory[str]:
    """A temporary directory for a fetch and build, removed on every way out."""
    return tempfile.TemporaryDirectory(prefix=prefix)
