"""Built-in Dioptra task plugins implemented on numpy arrays.

Each subpackage groups plugin modules by concern (artifacts, random, metrics, data, attacks,
estimators, tracking); the registry imports a plugin module only when one of its tasks is used.
"""

__version__ = "1.0.0"
