"""The store: one verified, extracted, read-only directory per bundle sha256.

A bundle enters the store only through :func:`add_to_store`: full wheel verification (every
RECORD hash, paths, limits) and extraction in one pass into a staging directory, a check that
the wheel is the very file the index promised (sha256, size, name, version), compilation to
bytecode (:mod:`.bytecode`), and one rename.  So a directory named ``store/<sha256>`` is always
complete, bytecode included; a crash leaves at most a ``.staging-*`` directory, which the next
writer removes.
"""

from __future__ import annotations

import logging
import os
import secrets
import shutil
import threading
from pathlib import Path
from typing import TYPE_CHECKING

from dioptra_plugins.errors import IntegrityError, SyncError
from dioptra_plugins.fsutil import exchange_paths
from dioptra_plugins.plugindir.layout import STAGING_PREFIX, PluginDirLayout
from dioptra_plugins.plugindir.pylock import LockedPackage
from dioptra_plugins.syncing.download import FetchedBundle

if TYPE_CHECKING:
    from dioptra_plugins.bundle.verify import VerifiedBundle
    from dioptra_plugins.syncing.bytecode import BytecodeCompiler

logger = logging.getLogger(__name__)

_UNPACKING = threading.BoundedSemaphore(2)
"""Bundles verified and extracted at once in this process.  Inflating, hashing and writing
release the GIL, so two overlap; more threads would only fight over it (8 cost 250,000 futex
calls in a cold sync of 40).  Compiling waits outside it: helper processes do that work."""


def add_to_store(
    layout: PluginDirLayout,
    fetched: FetchedBundle,
    compiler: BytecodeCompiler | None = None,
    *,
    replace: bool = False,
) -> Path:
    """Verify the download ``fetched`` as its package and extract it into ``store/<sha256>``.

    Raises BundleError when the wheel is not a valid bundle and IntegrityError when it is not
    the file the index describes; in both cases the store is unchanged.  ``compiler`` compiles
    the bytecode (in this process when None).
    """
    from dioptra_plugins.bundle.extract import unpack_wheel

    package = fetched.package
    entry = layout.store_entry(package.sha256)
    if entry.is_dir() and not replace:
        return entry
    staging = layout.store / f"{STAGING_PREFIX}{secrets.token_hex(6)}"
    try:
        layout.store.mkdir(parents=True, exist_ok=True)
        # The download was checked against the index's sha256 as it arrived: not hashed again.
        with _UNPACKING:
            bundle = unpack_wheel(
                fetched.path,
                staging,
                content=fetched.content,
                source=fetched.arriving,
                sha256=package.sha256,
            )
        # A bundle still arriving was read as it came: trusted once the download matched.
        fetched.settle()
        _check_promise(bundle, package)
        _compile_and_place(bundle, staging, entry, compiler)
    except BaseException as error:
        shutil.rmtree(staging, ignore_errors=True)
        if isinstance(error, OSError):
            raise SyncError(
                f"cannot write {package.filename} into the store {layout.store}: "
                f"{error.strerror or error}"
            ) from error
        raise
    logger.info("stored %s %s as %s", package.name, package.version, package.sha256[:12])
    return entry


def _compile_and_place(
    bundle: VerifiedBundle, staging: Path, entry: Path, compiler: BytecodeCompiler | None
) -> None:
    """Compile the verified ``staging`` dir's modules, then make it ``entry`` in one rename."""
    from dioptra_plugins.syncing.bytecode import compile_entry

    sources = [
        f.path
        for f in bundle.files
        if f.path.endswith(".py") and not f.path.startswith(f"{bundle.dist_info}/")
    ]
    if compiler is None:
        compile_entry(staging, entry, sources)
    else:
        compiler.compile_entry(staging, entry, sources)
    if entry.is_dir():
        # A reinstall: the fresh entry and the old one trade places in one step, so the
        # generations that link to ``store/<sha256>`` never see it missing.
        exchange_paths(staging, entry)
        shutil.rmtree(staging, ignore_errors=True)  # the old entry, now under this name
    else:
        os.rename(staging, entry)


def _check_promise(bundle: VerifiedBundle, package: LockedPackage) -> None:
    """IntegrityError unless the wheel is the one the index lists (name, version, package)."""
    from packaging.utils import canonicalize_name, canonicalize_version

    # (what, found in the wheel, what the index promised, whether they agree).
    compared = [
        ("sha256", bundle.sha256, package.sha256, bundle.sha256 == package.sha256),
        ("size", str(bundle.size), str(package.size), bundle.size == package.size),
        ("project", bundle.name, package.name, bundle.name == canonicalize_name(package.name)),
        (
            "version",
            bundle.version,
            package.version,
            canonicalize_version(bundle.version) == canonicalize_version(package.version),
        ),
        ("package", bundle.top_level, package.top_level, bundle.top_level == package.top_level),
    ]
    differ = [(what, found, want) for what, found, want, same in compared if not same]
    if differ:
        raise IntegrityError(
            f"{package.filename} is not the bundle the index lists: "
            + "; ".join(f"{what} {found!r}, expected {want!r}" for what, found, want in differ),
            subject=package.filename,
            expected=", ".join(f"{what} {want}" for what, _, want in differ),
            found=", ".join(f"{what} {found}" for what, found, _ in differ),
        )
