"""What a zip member of an untrusted wheel may be: its name, its kind, and the damage it shows.

Shared by verification (which refuses) and extraction (which must still never write outside
its target, nor crash on an archive that changed after it was verified).
"""

from __future__ import annotations

import re
import stat
import struct
import zipfile
import zlib
from collections.abc import Iterable, Iterator

_DRIVE = re.compile(r"^[A-Za-z]:")


def _lzma_errors() -> tuple[type[Exception], ...]:
    try:
        import lzma
    except ImportError:  # a Python without lzma: zipfile then refuses LZMA entries itself
        return ()
    return (lzma.LZMAError,)


DAMAGED_ZIP_ERRORS: tuple[type[Exception], ...] = (
    zipfile.BadZipFile,  # bad central directory, local header or CRC
    zipfile.LargeZipFile,
    zlib.error,  # a corrupt deflate stream
    *_lzma_errors(),
    EOFError,  # compressed data that ends before the entry does
    RuntimeError,  # NotImplementedError (method, version, strong encryption), passwords
    ValueError,  # UnicodeDecodeError for names flagged UTF-8, bad seeks
    OverflowError,  # offsets and sizes beyond what the platform can seek to
    struct.error,
    OSError,  # bzip2's "Invalid data stream", and the file itself failing
)
"""What :mod:`zipfile` and the decompressors under it raise on a damaged archive.

Bytes of an archive are untrusted, so any of these means "damaged", never a crash."""


def name_problems(name: str) -> list[str]:
    """Why an archive member name could escape or confuse the directory it is extracted into."""
    problems = []
    if "\x00" in name:
        problems.append(f"{name!r}: NUL byte in name")
    if "\\" in name:
        problems.append(f"{name!r}: backslash in name")
    if name.startswith("/"):
        problems.append(f"{name!r}: absolute path")
    if _DRIVE.match(name):
        problems.append(f"{name!r}: drive letter in path")
    parts = name.rstrip("/").split("/")
    if ".." in parts:
        problems.append(f"{name!r}: '..' in path")
    if any(part in ("", ".") for part in parts) and not name.startswith("/"):
        problems.append(f"{name!r}: empty or '.' path component")
    return problems


def is_dir(info: zipfile.ZipInfo) -> bool:
    # ZipInfo.is_dir() fails with IndexError on the empty name a damaged directory can hold.
    return info.filename.endswith("/")


def entry_kind_problem(info: zipfile.ZipInfo) -> str | None:
    mode = info.external_attr >> 16
    if info.flag_bits & 0x1:
        return f"{info.filename!r}: encrypted entry"
    kind = stat.S_IFMT(mode)
    # No file-type bits (many tools, hatchling included, store only permissions) means a
    # regular file or, with a trailing slash, a directory.
    if kind in (0, stat.S_IFREG) or (kind == stat.S_IFDIR and is_dir(info)):
        return None
    if kind == stat.S_IFLNK:
        return f"{info.filename!r}: symbolic link"
    return f"{info.filename!r}: special file (mode {oct(mode)})"


def damage(error: BaseException) -> str:
    """A damaged-archive error as a user reads it: what kind of damage, then the details."""
    if isinstance(error, zlib.error):
        return f"corrupt compressed data ({error})"
    if isinstance(error, EOFError):
        return "compressed data ends early (truncated or corrupt entry)"
    if isinstance(error, NotImplementedError):
        return f"unsupported zip feature ({error})"
    if isinstance(error, UnicodeDecodeError):
        return f"an entry name is not valid UTF-8 ({error})"
    return str(error) or type(error).__name__


def ancestors(name: str) -> Iterator[str]:
    """Every directory a member name implies: ``a/b/c`` -> ``a``, ``a/b``."""
    parts = name.rstrip("/").split("/")
    for end in range(1, len(parts)):
        yield "/".join(parts[:end])


def package_root(names: Iterable[str], top: str, max_depth: int) -> str:
    """The import package that member ``names`` under directory ``top`` ship, dotted.

    That is ``top`` itself, unless ``top`` is a namespace directory holding nothing but one
    subdirectory: then the package is that subdirectory, and so on down.  So a wheel of
    ``dioptra_custom/fgm_plugins/...`` ships the namespace portion ``dioptra_custom.fgm_plugins``,
    and one of ``dioptra_builtins/{random,metrics}/...`` the namespace ``dioptra_builtins``; a
    regular package stops the descent at once (its ``__init__.py`` is a file in it).  Stops after
    ``max_depth`` parts (the caller refuses a name that deep).
    """
    under = [name for name in names if name.startswith(f"{top}/")]
    parts = [top]
    while len(parts) <= max_depth:
        prefix = "/".join(parts) + "/"
        children: set[str] = set()
        for name in under:
            if name.startswith(prefix):
                head, sep, _rest = name[len(prefix) :].partition("/")
                if not sep:
                    return ".".join(parts)  # a file right in this directory
                children.add(head)
        if len(children) != 1:
            break
        parts.append(children.pop())
    return ".".join(parts)
