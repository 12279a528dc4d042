"""Syncing a plugin dir: resolve, download, verify, store and switch atomically (DESIGN §5).

The function users call is :func:`dioptra_plugins.sync` (defined in :mod:`.engine`); the other
operations on a synced dir are :mod:`.maintenance` (list, rollback), :mod:`.verify_dir` and
:mod:`.gc`.
"""
