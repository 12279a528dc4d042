"""The pyplugs API over a Registry: Dioptra's behaviour, and errors from the import machinery."""

from __future__ import annotations

import threading

import pytest
from registry_helpers import PluginArea

from dioptra_plugins import pyplugs
from dioptra_plugins.errors import (
    DioptraPluginsError,
    PluginImportError,
    UnknownPackageError,
    UnknownPluginError,
    UnknownPluginFunctionError,
)
from dioptra_plugins.registry.registry import PluginInfo, Registry

METRICS = '''
"""Distance metrics."""
from dioptra_plugins import pyplugs


@pyplugs.register
def l2(x, y):
    """L2 distance.

    Square root of the sum of squares.
        (indented line)
    """
    return sum((a - b) ** 2 for a, b in zip(x, y)) ** 0.5


@pyplugs.register(sort_value=-1)
def linf(x, y):
    return max(abs(a - b) for a, b in zip(x, y))


def not_a_plugin():
    return 0
'''

FIRST = """
from dioptra_plugins.pyplugs import register

@register(sort_value=5)
def late():
    return "late"
"""

SECOND = """
from dioptra_plugins.pyplugs import register

@register(sort_value=1)
def early(value=1, *, scale=2):
    return value * scale
"""


def test_dioptra_plugininfo_fields() -> None:
    assert PluginInfo._fields == (
        "package_name",
        "plugin_name",
        "func_name",
        "func",
        "description",
        "doc",
        "module_doc",
        "sort_value",
        "label",  # upstream pyplugs 0.5's ninth field, after Dioptra's eight
    )
    assert pyplugs.PluginInfo is PluginInfo
    assert pyplugs.Registry is Registry


def test_register_bare_and_with_arguments_only_marks(area: PluginArea) -> None:
    @pyplugs.register
    def bare() -> None: ...

    @pyplugs.register(sort_value=3)
    def with_args() -> None: ...

    assert pyplugs.plugin_mark(bare) == pyplugs.PluginMark(sort_value=0)
    assert pyplugs.plugin_mark(with_args) == pyplugs.PluginMark(sort_value=3)
    assert pyplugs.plugin_mark(lambda: None) is None


def test_names_funcs_info_call(area: PluginArea, registry: Registry) -> None:
    package = area.package(
        {"metrics.py": METRICS, "a_first.py": FIRST, "b_second.py": SECOND, "_private.py": FIRST}
    )
    assert registry.names(package) == ["metrics", "b_second", "a_first"]  # by sort_value
    assert registry.funcs(package, "metrics") == ["l2", "linf"]  # registration order
    info = registry.info(package, "metrics", "l2")
    assert info.package_name == package
    assert info.plugin_name == "metrics"
    assert info.func_name == "l2"
    assert info.description == "L2 distance."
    assert info.doc == "Square root of the sum of squares.\n    (indented line)"
    assert info.module_doc == "Distance metrics."
    assert info.sort_value == 0
    # func=None: the first registered function (as pyplugs), not the lowest sort_value
    assert registry.info(package, "metrics").func_name == "l2"
    assert registry.call(package, "metrics", "l2", [0, 3], [4, 0]) == 5.0
    assert registry.call(package, "metrics", None, [0, 3], [4, 0]) == 5.0
    assert registry.call(package, "b_second", "early", 3, scale=10) == 30
    assert registry.get(package, "a_first")() == "late"
    assert registry.exists(package, "metrics")
    assert not registry.exists(package, "missing")
    assert not registry.exists(f"{package}_nope", "metrics")


def test_module_functions_and_factories_use_the_default_registry(area: PluginArea) -> None:
    package = area.package({"metrics.py": METRICS})
    assert pyplugs.names(package) == ["metrics"]
    assert pyplugs.funcs(package, "metrics") == ["l2", "linf"]
    assert pyplugs.info(package, "metrics", "l2").func_name == "l2"
    assert pyplugs.exists(package, "metrics")
    assert pyplugs.get(package, "metrics", "linf")([1], [5]) == 4
    assert pyplugs.call(package, "metrics", "linf", [1], [5]) == 4
    assert pyplugs.call_task(package, "metrics", "linf", [1], [6]) == 5
    assert pyplugs.names_factory(package)() == ["metrics"]
    assert pyplugs.funcs_factory(package)("metrics") == ["l2", "linf"]
    assert pyplugs.info_factory(package)("metrics", "l2").description == "L2 distance."
    assert pyplugs.exists_factory(package)("metrics")
    assert pyplugs.get_factory(package)("metrics", "l2")([0], [2]) == 2.0
    assert pyplugs.call_factory(package)("metrics", "l2", [0], [3]) == 3.0
    assert pyplugs.call_task_factory(package)("metrics", "l2", [0], [4]) == 4.0
    assert pyplugs.get_task_factory(package)("metrics", "l2").name.endswith("metrics.l2")


def test_imported_plugins_belong_to_their_own_module(area: PluginArea, registry: Registry) -> None:
    package = area.package(
        {
            "metrics.py": METRICS,
            "reexport.py": "from .metrics import l2\nfrom dioptra_plugins import pyplugs\n"
            "@pyplugs.register\ndef own():\n    return l2([0], [1])\n",
        }
    )
    assert registry.funcs(package, "reexport") == ["own"]
    assert registry.call(package, "reexport") == 1.0


def test_parity_with_upstream_pyplugs(area: PluginArea, registry: Registry) -> None:
    """The same plugin written for upstream pyplugs 0.5.4 and for us answers the same."""
    upstream = pytest.importorskip("pyplugs")  # the bench extra; installed in the dev venv
    body = METRICS.replace("from dioptra_plugins import pyplugs", "{import_line}")
    ours = area.package(
        {"metrics.py": body.format(import_line="from dioptra_plugins import pyplugs")}
    )
    theirs = area.package({"metrics.py": body.format(import_line="import pyplugs")})
    assert registry.names(ours) == upstream.names(theirs)
    assert registry.funcs(ours, "metrics") == upstream.funcs(theirs, "metrics")
    for func in ("l2", "linf"):
        mine, reference = (
            registry.info(ours, "metrics", func),
            upstream.info(theirs, "metrics", func),
        )
        for field in ("plugin_name", "func_name", "description", "doc", "module_doc", "sort_value"):
            assert getattr(mine, field) == getattr(reference, field), field
        assert registry.call(ours, "metrics", func, [1, 2], [4, 6]) == upstream.call(
            theirs, "metrics", func, None, [1, 2], [4, 6]
        )
    assert registry.info(ours, "metrics").func_name == upstream.info(theirs, "metrics").func_name
    assert registry.exists(ours, "metrics") == upstream.exists(theirs, "metrics")
    assert registry.exists(ours, "nope") == upstream.exists(theirs, "nope")


# --- error classification ------------------------------------------------------------------------


def test_unknown_package(area: PluginArea, registry: Registry) -> None:
    with pytest.raises(UnknownPackageError, match="does not exist"):
        registry.call("no_such_package_x1", "mod")
    with pytest.raises(UnknownPackageError):
        registry.names("no_such_package_x1")
    with pytest.raises(UnknownPackageError):  # the parent is what is missing
        registry.info("no_such_package_x1.sub", "mod")


def test_module_is_not_a_package(area: PluginArea, registry: Registry) -> None:
    package = area.package({"metrics.py": METRICS})
    with pytest.raises(UnknownPackageError, match="not a package"):
        registry.info(f"{package}.metrics", "l2")


def test_unknown_plugin_and_function(area: PluginArea, registry: Registry) -> None:
    package = area.package({"metrics.py": METRICS, "plain.py": "X = 1\n"})
    with pytest.raises(UnknownPluginError):
        registry.info(package, "missing")
    with pytest.raises(UnknownPluginError):  # a module that registers nothing
        registry.funcs(package, "plain")
    with pytest.raises(UnknownPluginFunctionError):
        registry.call(package, "metrics", "nope")
    with pytest.raises(UnknownPluginFunctionError):
        registry.info(package, "metrics", "not_a_plugin")


def test_missing_helper_is_an_import_error_of_the_plugin(
    area: PluginArea, registry: Registry
) -> None:
    # The missing helper's name contains the package name: message-text matching (as upstream
    # pyplugs does) would call this "unknown package"; the import machinery knows better.
    package = area.package({})
    area.write(
        f"{package}/uses_helper.py",
        f"import os\nfrom {package}._helper import thing\n",
    )
    with pytest.raises(PluginImportError) as caught:
        registry.info(package, "uses_helper")
    error = caught.value
    assert error.file == str(area.path(f"{package}/uses_helper.py"))
    assert error.line == 2
    assert "ModuleNotFoundError" in error.message
    assert f"{package}._helper" in error.message
    assert isinstance(error, DioptraPluginsError)
    assert registry.error(f"{package}.uses_helper") is not None
    with pytest.raises(PluginImportError):  # exists() does not hide a broken plugin
        registry.exists(package, "uses_helper")


def test_syntax_error_names_file_and_line(area: PluginArea, registry: Registry) -> None:
    package = area.package({"broken.py": "x = 1\n\ndef f(:\n    pass\n"})
    with pytest.raises(PluginImportError) as caught:
        registry.call(package, "broken")
    assert caught.value.file == str(area.path(f"{package}/broken.py"))
    assert caught.value.line == 3
    assert "SyntaxError" in caught.value.message


def test_exception_at_import_registers_nothing(area: PluginArea, registry: Registry) -> None:
    package = area.package(
        {
            "boom.py": "from dioptra_plugins import pyplugs\n@pyplugs.register\ndef f():\n"
            "    return 1\nraise RuntimeError('kaboom')\n"
        }
    )
    with pytest.raises(PluginImportError, match="kaboom") as caught:
        registry.call(package, "boom")
    assert caught.value.line == 5
    assert registry.plugins(package) == []
    assert f"{package}.boom" not in registry.modules()


def test_broken_package_init_is_not_an_unknown_package(
    area: PluginArea, registry: Registry
) -> None:
    package = area.package({"__init__.py": "import definitely_missing_module_zz9\n"})
    with pytest.raises(PluginImportError) as caught:
        registry.names(package)
    assert caught.value.line == 1
    assert caught.value.file == str(area.path(f"{package}/__init__.py"))


def test_one_broken_plugin_does_not_hide_the_others(area: PluginArea, registry: Registry) -> None:
    package = area.package({"good.py": SECOND, "bad.py": "def f(:\n"})
    assert registry.names(package) == ["good"]
    failures = registry.load_package(package)
    assert [f.module for f in failures] == [f"{package}.bad"]


def test_plugin_without_package(area: PluginArea, registry: Registry) -> None:
    name = f"toplevel_{area.package({})}"
    area.packages.append(name)
    area.write(f"{name}.py", SECOND)
    assert registry.call("", name, "early", 2) == 4
    assert registry.info("", name).package_name == ""


def test_module_imported_before_the_registry_is_adopted(
    area: PluginArea, registry: Registry
) -> None:
    import importlib

    package = area.package({"metrics.py": METRICS})
    module = importlib.import_module(f"{package}.metrics")
    assert registry.get(package, "metrics", "l2") is module.l2


def test_concurrent_first_loads_execute_the_module_once(
    area: PluginArea, registry: Registry
) -> None:
    package = area.package(
        {
            "counted.py": "import builtins\n"
            "builtins.__dict__.setdefault('_zz_count', []).append(1)\n" + SECOND
        }
    )
    import builtins

    builtins.__dict__["_zz_count"] = []
    threads = [
        threading.Thread(target=registry.call, args=(package, "counted", "early")) for _ in range(8)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert builtins.__dict__.pop("_zz_count") == [1]


def test_a_dioptra_style_script_runs_with_only_its_imports_changed(area: PluginArea) -> None:
    """An entry-point script for Dioptra's pyplugs, imports changed, in a fresh process."""
    import os
    import subprocess
    import sys

    package = area.package({"metrics.py": METRICS, "b_second.py": SECOND})
    script = f"""
from dioptra_plugins import pyplugs            # was: from dioptra import pyplugs
from dioptra_plugins import plugin_dirs        # was: dioptra.sdk.utilities.paths...

with plugin_dirs():
    call = pyplugs.call_factory({package!r})
    names = pyplugs.names_factory({package!r})
    print(names(), call("metrics", "l2", [0, 3], [4, 0]), pyplugs.call({package!r}, "b_second"))
    try:
        pyplugs.call({package!r}, "nope")
    except pyplugs.UnknownPluginError as error:
        print("unknown plugin")
"""
    env = {**os.environ, "DIOPTRA_PLUGIN_DIR": str(area.root)}
    result = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, env=env, check=True
    )
    assert result.stdout.splitlines() == ["['metrics', 'b_second'] 5.0 2", "unknown plugin"]
