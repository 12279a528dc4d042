"""Bundles: plugin packages built into wheels by hatchling, verified before anything trusts them.

``build`` makes a bundle, ``manifest`` reads task plugins from source without importing it,
``verify`` checks a wheel completely and describes it, ``extract`` writes a verified bundle into
a directory and nowhere else.
"""
