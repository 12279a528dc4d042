"""The publisher's side: every write to an index, with its signing and catalogue policy.

:mod:`.operations` is the public face (``publish``, ``yank``, ``init_index``, ``repair``,
``refresh``, ``renew``, ``check_index``); :mod:`.publish`, :mod:`.yank`, :mod:`.initialize`,
:mod:`.repair` and :mod:`.from_git` write; :mod:`.check` reads everything a root reaches.  They
stand above :mod:`dioptra_plugins.index` (storage and documents), :mod:`dioptra_plugins.signing`
(TUF metadata) and :mod:`dioptra_plugins.catalogue` (the static site), which never call back up.
"""
