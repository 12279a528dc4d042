"""The plugin dir and its writer side: the layout (:mod:`.layout`), generations and the atomic
switch (:mod:`.generations`), the lock file (:mod:`.pylock`), the writer lock, sync state,
pins, verification, gc and rollback (:mod:`.operations` is the public face), and the
``sys.path`` entries that import from it (:mod:`.syspath`)."""
