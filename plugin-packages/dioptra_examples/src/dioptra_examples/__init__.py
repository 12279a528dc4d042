"""Example task plugins built on dioptra_builtins: synthetic data and a small attack experiment."""

__version__ = "1.0.0"
