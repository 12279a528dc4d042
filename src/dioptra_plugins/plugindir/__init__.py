"""The plugin dir: its layout (:mod:`.layout`), generation pins (:mod:`.pins`) and the
``sys.path`` entries that import from it (:mod:`.syspath`)."""
