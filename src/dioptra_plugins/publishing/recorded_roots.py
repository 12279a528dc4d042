"""Which recorded root ``index repair`` writes again: the newest committed one, or the one
the caller chose (:mod:`dioptra_plugins.publishing.repair` has the whole story).

Every root swap records its new root first (:mod:`dioptra_plugins.index.history`), so the
records at the newest serial are the candidates; when several remain and nothing tells which
was committed, the refusal names each and how they differ.  Records that cannot be read are
reported in ``skipped`` (the repair's result), not used.
"""

from __future__ import annotations

import logging
import re

from dioptra_plugins.errors import DioptraPluginsError, RepairRefusedError, UsageError
from dioptra_plugins.index.history import HistoryRecord, read_record
from dioptra_plugins.index.keys import ROOT_KEY
from dioptra_plugins.index.reading import read_project
from dioptra_plugins.index.storage import Storage

logger = logging.getLogger(__name__)

_MIN_CHOICE = 8
"""Hex digits of a recorded root's sha256 that ``choose`` needs at least."""


def newest_committed(
    storage: Storage, records: dict[int, list[str]], skipped: list[str]
) -> HistoryRecord:
    """The newest committed record; RepairRefusedError when that cannot be told."""
    top = max(records)
    found: dict[str, HistoryRecord] = {}
    unreadable: list[str] = []
    for key in records[top]:
        try:
            record = read_record(storage, key)
        except DioptraPluginsError as error:
            logger.warning("index repair: cannot use %s: %s", key, error)
            skipped.append(key)
            unreadable.append(key)
            continue
        found[record.root_sha256] = record
    candidates = list(found.values())
    # Every record's base was read from index.json, so it names a committed root: a candidate
    # that another record was based on was committed.
    proven = [c for c in candidates if any(r.base_sha256 == c.root_sha256 for r in candidates)]
    if len(candidates) == 1 and not unreadable:
        return candidates[0]
    if len(proven) == 1:
        return proven[0]
    raise _ambiguous(storage, top, candidates, unreadable)


def chosen_record(
    storage: Storage, records: dict[int, list[str]], choose: str, skipped: list[str]
) -> HistoryRecord:
    """The record whose root's sha256 starts with ``choose``; UsageError if none or several."""
    wanted = choose.strip().lower()
    if len(wanted) < _MIN_CHOICE or not re.fullmatch(r"[0-9a-f]+", wanted):
        raise UsageError(
            f"`choose` {choose!r}: give the sha256 of a recorded root, or its first "
            f"{_MIN_CHOICE} hex digits or more",
            parameters=("choose",),
        )
    matches = [
        key
        for keys in records.values()
        for key in keys
        if key.rsplit("-", 1)[1].removesuffix(".json").startswith(wanted)
    ]
    if len(matches) != 1:
        found = "no recorded root" if not matches else f"{len(matches)} recorded roots"
        raise UsageError(
            f"`choose` {choose}: {found} of {storage.url} start with it", parameters=("choose",)
        )
    try:
        return read_record(storage, matches[0])
    except DioptraPluginsError as error:
        skipped.append(matches[0])
        raise UsageError(
            f"`choose` {choose}: {matches[0]} cannot be used: {error}", parameters=("choose",)
        ) from None


def _ambiguous(
    storage: Storage, serial: int, candidates: list[HistoryRecord], unreadable: list[str]
) -> RepairRefusedError:
    lines = [f"  {c.root_sha256}: {_describe(storage, c, candidates)}" for c in candidates]
    lines += [f"  {key}: unreadable" for key in unreadable]
    what = f"which of the {len(candidates) + len(unreadable)} roots recorded at serial {serial}"
    return RepairRefusedError(
        f"{storage.url}/{ROOT_KEY} is lost or damaged and {what} was committed cannot be known "
        "(a writer that lost its swap, or died before it, leaves its record); they differ in:\n"
        + "\n".join(lines)
        + "\npass --choose SHA (8 or more hex digits) to write one of them again",
        unknown=[f"{what} was committed"],
        candidates=[c.root_sha256 for c in candidates],
        needed="--choose SHA",
    )


def _describe(storage: Storage, record: HistoryRecord, others: list[HistoryRecord]) -> str:
    """The projects where this recorded root differs from the other candidates."""
    differing = sorted(
        name
        for name in {n for o in others for n in o.root.projects} | set(record.root.projects)
        if any(o.root.projects.get(name) != record.root.projects.get(name) for o in others)
    )
    parts = []
    for name in differing:
        entry = record.root.projects.get(name)
        if entry is None:
            parts.append(f"{name} absent")
            continue
        try:
            document = read_project(storage, name, entry)
        except DioptraPluginsError:
            parts.append(f"{name} document {entry.sha256[:12]} (unreadable)")
            continue
        versions = [
            f"{v} yanked ({files[0].yanked_reason or 'no reason'})" if files[0].yanked else v
            for v in document.versions()
            for files in [document.files_of(v)]
        ]
        parts.append(f"{name} {', '.join(versions) or 'no versions'}")
    return "; ".join(parts) or "nothing (same projects)"
