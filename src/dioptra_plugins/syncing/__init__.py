"""Syncing a plugin dir: resolve, download, verify, store and switch atomically (DESIGN §5).

The function users call is :func:`dioptra_plugins.sync` (defined in :mod:`.engine`).  The plugin
dir it writes, and the operations on a synced dir (list, rollback, verify, gc), belong to
:mod:`dioptra_plugins.plugindir`.
"""
