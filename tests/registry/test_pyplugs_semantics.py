"""pyplugs' semantics as upstream 0.3.2/0.5.4 and Dioptra's fork have them, on real files.

The vendored suites (tests/vendor) check the same against the projects' own tests; these cover
what they do not: decorators from other modules, Dioptra's positional ``call``, classes,
namespace packages, and the exceptions Dioptra's code catches.
"""

from __future__ import annotations

from typing import Any

import pytest
from registry_helpers import PluginArea

from dioptra_plugins import pyplugs
from dioptra_plugins.errors import (
    DioptraPluginsError,
    LoadFailure,
    PluginImportError,
    PrefectDependencyError,
    UnknownPluginFunctionError,
)
from dioptra_plugins.registry.registry import Registry

# A decorator defined in another module, as Dioptra's @require_package: the registered object's
# code is the wrapper's, whose line says nothing about where the plugin is defined.
WRAPPERS = """
from functools import wraps


def require_package(name):
    def decorator(func):
        @wraps(func)
        def wrapper(*args, **kwargs):
            return func(*args, **kwargs)
        return wrapper
    return decorator
"""

# Shaped like Dioptra's registry/mlflow.py: two plain functions, then a wrapped one.
MLFLOW = """
from dioptra_plugins import pyplugs
from {package}.helpers.wrappers import require_package


@pyplugs.register
def add_model_to_registry(name):
    return f"added {{name}}"


@pyplugs.register(sort_value=-5)
def get_experiment_name():
    return "experiment"


@pyplugs.register
@require_package("json")
def load_keras_classifier(name):
    return f"loaded {{name}}"
"""

LABELS = """
from dioptra_plugins import pyplugs


@pyplugs.register(label="metric")
def accuracy(a, b):
    return "accuracy"


@pyplugs.register
def plain_one():
    return "one"


@pyplugs.register(label="metric", sort_value=3)
def precision(a, b):
    return "precision"


@pyplugs.register(label="loss")
def hinge():
    return "hinge"


@pyplugs.register
def plain_two():
    return "two"
"""

CLASSES = """
from dioptra_plugins import pyplugs


@pyplugs.register
class Estimator:
    @staticmethod
    def fit():
        return "fit"


class Subclass(Estimator):  # inherits the mark attribute, but is not registered itself
    pass


@pyplugs.register
def train():
    return "trained"
"""


def test_default_is_the_first_registered_even_behind_a_wrapper(
    area: PluginArea, registry: Registry
) -> None:
    package = area.package({"helpers/__init__.py": "", "helpers/wrappers.py": WRAPPERS})
    area.write(f"{package}/mlflow.py", MLFLOW.format(package=package))
    assert registry.funcs(package, "mlflow") == [
        "add_model_to_registry",
        "get_experiment_name",
        "load_keras_classifier",
    ]
    # Not the lowest sort_value (get_experiment_name), not the wrapper's early line.
    assert registry.info(package, "mlflow").func_name == "add_model_to_registry"
    assert registry.call(package, "mlflow", None, "m") == "added m"
    wrapped = registry.info(package, "mlflow", "load_keras_classifier")
    assert wrapped.func.__code__.co_filename.endswith("wrappers.py")
    assert registry.call(package, "mlflow", "load_keras_classifier", "m") == "loaded m"


def test_names_sort_by_the_default_functions_sort_value(
    area: PluginArea, registry: Registry
) -> None:
    package = area.package(
        {
            # default sort_value 0, although another function has -100
            "alpha.py": "from dioptra_plugins import pyplugs\n"
            "@pyplugs.register\ndef a():\n    pass\n"
            "@pyplugs.register(sort_value=-100)\ndef b():\n    pass\n",
            "beta.py": "from dioptra_plugins import pyplugs\n"
            "@pyplugs.register(sort_value=-1)\ndef c():\n    pass\n",
            "gamma.py": "from dioptra_plugins import pyplugs\n"
            "@pyplugs.register(sort_value=1)\ndef d():\n    pass\n",
        }
    )
    assert registry.names(package) == ["beta", "alpha", "gamma"]


def test_labels_as_upstream_pyplugs_0_5(area: PluginArea, registry: Registry) -> None:
    package = area.package({"ops.py": LABELS})
    assert registry.labels(package, "ops") == {"metric", "loss"}
    assert registry.funcs(package, "ops") == ["plain_one", "plain_two"]  # label None only
    assert registry.funcs(package, "ops", label="metric") == ["accuracy", "precision"]
    assert registry.info(package, "ops").func_name == "plain_one"
    assert registry.info(package, "ops", label="metric").func_name == "accuracy"
    assert registry.info(package, "ops", "precision", "metric").sort_value == 3
    assert registry.get(package, "ops", label="loss")() == "hinge"
    assert registry.call(package, "ops", None, 1, 2, label="metric") == "accuracy"
    assert registry.call(package, "ops", "precision", 1, 2, label="metric") == "precision"
    with pytest.raises(UnknownPluginFunctionError, match="label 'metric'"):
        registry.info(package, "ops", "plain_one", label="metric")  # strict, as upstream
    with pytest.raises(UnknownPluginFunctionError):
        registry.call(package, "ops", "accuracy", 1, 2)  # labelled: needs its label
    with pytest.raises(UnknownPluginFunctionError):
        registry.info(package, "ops", label="nope")
    assert pyplugs.labels_factory(package)("ops") == {"metric", "loss"}
    assert pyplugs.funcs_factory(package)("ops", label="loss") == ["hinge"]


def test_typed_forms_and_dioptras_positional_call(area: PluginArea, registry: Registry) -> None:
    package = area.package({"ops.py": LABELS})
    assert registry.get_typed(package, "ops", "", "plain_two")() == "two"
    assert registry.call_typed(package, "ops", "", "accuracy", 1, 2, label="metric") == ("accuracy")
    assert pyplugs.get_typed(package, "ops", "")() == "one"
    assert pyplugs.call_typed(package, "ops", "", func="plain_two") == "two"
    # Dioptra's call(package, plugin, func, *args): arguments after func are the plugin's.
    assert pyplugs.call(package, "ops", "accuracy", "x", "y", label="metric") == "accuracy"


def test_a_registered_class_is_a_plugin_its_subclass_is_not(
    area: PluginArea, registry: Registry
) -> None:
    package = area.package({"models.py": CLASSES})
    assert registry.funcs(package, "models") == ["Estimator", "train"]
    estimator: Any = registry.info(package, "models").func  # the class, from source written above
    assert estimator.fit() == "fit"
    assert [info.func_name for info in registry.plugins(package)] == ["Estimator", "train"]


def test_namespace_packages_as_dioptra_ships_its_task_plugins(
    area: PluginArea, registry: Registry
) -> None:
    """``task-plugins/dioptra_builtins`` has no __init__.py, nor have its subfolders."""
    name = f"ns_{area.package({})}"  # a unique top-level name, cleaned up with the area
    area.packages.append(name)
    plugin = (
        "from dioptra_plugins import pyplugs\n@pyplugs.register\ndef {0}():\n    return '{0}'\n"
    )
    area.write(f"{name}/random/rng.py", plugin.format("init_rng"))
    area.write(f"{name}/random/sample.py", plugin.format("draw"))
    area.write(f"{name}/deep/er/still.py", plugin.format("deepest"))
    area.write(f"{name}/assets/readme.txt", "not python")
    assert not area.path(f"{name}/__init__.py").exists()
    assert pyplugs.names(f"{name}.random") == ["rng", "sample"]
    assert pyplugs.call(f"{name}.random", "rng") == "init_rng"
    assert registry.load_package(name, recursive=True) == []
    assert sorted(info.func_name for info in registry.plugins(name)) == [
        "deepest",
        "draw",
        "init_rng",
    ]


def test_plugin_import_error_is_an_import_error(area: PluginArea, registry: Registry) -> None:
    package = area.package({"broken.py": "import no_such_module_qq7\n"})
    with pytest.raises(ImportError) as caught:  # what code written for pyplugs catches
        registry.call(package, "broken")
    error = caught.value
    assert isinstance(error, PluginImportError)
    assert isinstance(error, DioptraPluginsError)
    assert error.name == f"{package}.broken"
    assert error.path == str(area.path(f"{package}/broken.py"))
    # One failure-location type for import errors and reload events.
    assert error.failure == LoadFailure(error.path, 1, error.message)
    assert registry.error(f"{package}.broken") == error.failure


def test_dioptras_exception_names_are_importable_from_pyplugs() -> None:
    assert pyplugs.PrefectDependencyError is PrefectDependencyError
    for name in ("UnknownPackageError", "UnknownPluginError", "UnknownPluginFunctionError"):
        assert issubclass(getattr(pyplugs, name), pyplugs.BasePyPlugsException)
        assert issubclass(getattr(pyplugs, name), pyplugs.PyPlugsError)
