"""dioptra-plugins: versioned, verified, atomically synced task plugins."""

__version__ = "0.1.0"
