"""pip's VCS URLs for plugin sources: ``git+file:///path/repo@REF#subdirectory=DIR``.

:func:`parse_vcs_url` accepts ``git+file://``, ``git+https://``, ``git+http://`` and
``git+ssh://``.  A URL's user part never reaches a log or an error message (:func:`redact`); a
URL carrying a password is refused outright, so it cannot end up recorded in a bundle.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import PurePosixPath
from urllib.parse import quote, unquote, urlsplit, urlunsplit

from dioptra_plugins.errors import UsageError

SCHEMES = ("file", "https", "http", "ssh")


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
