"""The version of dioptra-plugins (also in pyproject.toml; a test holds them equal)."""

__version__ = "0.1.0"
