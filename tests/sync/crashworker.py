"""A sync worker for the crash tests: imports everything, says "ready", then on "go A B" syncs
alternately to the requirement sets A and B (comma-separated) until it is killed."""

from __future__ import annotations

import sys

# Import everything a sync uses up front, so the kill lands in sync work, not in imports.
import dioptra_plugins.bundle.extract
import dioptra_plugins.bundle.verify
import dioptra_plugins.index.documents
import dioptra_plugins.index.url
import dioptra_plugins.plugindir.maintenance
import dioptra_plugins.syncing.download
import dioptra_plugins.syncing.resolve
import dioptra_plugins.syncing.store  # noqa: F401
from dioptra_plugins.syncing.engine import sync


def main() -> None:
    index, plugin_dir = sys.argv[1:3]
    print("ready", flush=True)
    targets = [t.split(",") for t in sys.stdin.readline().split()[1:]]
    turn = 0
    while True:
        sync(targets[turn % len(targets)], index=index, plugin_dir=plugin_dir)
        turn += 1


if __name__ == "__main__":
    main()
