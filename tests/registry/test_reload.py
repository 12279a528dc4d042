"""Registry.reload as a transaction: every pitfall of reloading a module by hand."""

from __future__ import annotations

import importlib
import os
import sys
import threading

import pytest
from registry_helpers import EventLog, PluginArea

from dioptra_plugins.errors import UnknownPluginError
from dioptra_plugins.registry.registry import Registry
from dioptra_plugins.registry.reload import ReloadEvent

PLUGIN = """
from dioptra_plugins import pyplugs

@pyplugs.register
def answer():
    return {value}

@pyplugs.register
def other():
    return "other"
"""


def plugin(value: object) -> str:
    return PLUGIN.format(value=repr(value))


def test_in_place_edit(area: PluginArea, registry: Registry) -> None:
    package = area.package({"mod.py": plugin(1)})
    assert registry.call(package, "mod", "answer") == 1
    area.write(f"{package}/mod.py", plugin(2))
    event = registry.reload(f"{package}.mod")
    assert event == ReloadEvent(f"{package}.mod", changed=("answer",))
    assert registry.call(package, "mod", "answer") == 2
    assert sys.modules[f"{package}.mod"].answer() == 2
    assert sys.modules[package].mod is sys.modules[f"{package}.mod"]


def test_same_second_same_size_edit_ignores_the_stale_pyc(
    area: PluginArea, registry: Registry
) -> None:
    package = area.package({"mod.py": plugin(1)})
    path = area.path(f"{package}/mod.py")
    module = importlib.import_module(f"{package}.mod")  # writes a .pyc for version 1
    assert list((path.parent / "__pycache__").glob("mod.*.pyc"))
    stat = path.stat()
    area.write(f"{package}/mod.py", plugin(7))  # same size
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns))  # same mtime: the .pyc looks valid
    assert path.stat().st_size == stat.st_size
    assert module.answer() == 1
    assert registry.reload(f"{package}.mod").changed == ("answer",)
    assert registry.call(package, "mod", "answer") == 7


def test_syntax_error_keeps_the_old_version_and_reports(
    area: PluginArea, registry: Registry
) -> None:
    package = area.package({"mod.py": plugin(1)})
    registry.call(package, "mod")
    area.write(f"{package}/mod.py", "from dioptra_plugins import pyplugs\n\ndef answer(:\n")
    event = registry.reload(f"{package}.mod")
    assert event.error is not None
    assert event.error.file == str(area.path(f"{package}/mod.py"))
    assert event.error.line == 3
    assert "SyntaxError" in event.error.message
    assert registry.error(f"{package}.mod") == event.error
    assert registry.errors() == {f"{package}.mod": event.error}
    assert registry.call(package, "mod", "answer") == 1
    area.write(f"{package}/mod.py", plugin(3))
    assert registry.reload(f"{package}.mod").ok
    assert registry.error(f"{package}.mod") is None
    assert registry.call(package, "mod", "answer") == 3


def test_exception_at_import_keeps_old_and_leaks_no_registrations(
    area: PluginArea, registry: Registry
) -> None:
    package = area.package({"mod.py": plugin(1)})
    registry.call(package, "mod")
    old_module = sys.modules[f"{package}.mod"]
    broken = plugin(2) + "\n@pyplugs.register\ndef leaked():\n    pass\n\n1 / 0\n"
    area.write(f"{package}/mod.py", broken)
    event = registry.reload(f"{package}.mod")
    assert event.error is not None
    assert "ZeroDivisionError" in event.error.message
    assert event.error.line == broken.count("\n")
    assert registry.funcs(package, "mod") == ["answer", "other"]
    assert registry.call(package, "mod", "answer") == 1
    assert sys.modules[f"{package}.mod"] is old_module


def test_function_removed(area: PluginArea, registry: Registry) -> None:
    package = area.package({"mod.py": plugin(1)})
    registry.call(package, "mod")
    area.write(
        f"{package}/mod.py",
        "from dioptra_plugins import pyplugs\n@pyplugs.register\ndef answer():\n    return 1\n",
    )
    event = registry.reload(f"{package}.mod")
    assert event.removed == ("other",)
    assert event.changed == ()  # answer's code is the same
    assert registry.funcs(package, "mod") == ["answer"]
    with pytest.raises(Exception, match="other"):
        registry.call(package, "mod", "other")


def test_file_deleted_unregisters(area: PluginArea, registry: Registry) -> None:
    package = area.package({"mod.py": plugin(1)})
    registry.call(package, "mod")
    area.path(f"{package}/mod.py").unlink()
    event = registry.reload(f"{package}.mod")
    assert event.unloaded
    assert event.removed == ("answer", "other")
    assert f"{package}.mod" not in sys.modules
    assert not hasattr(sys.modules[package], "mod")
    with pytest.raises(UnknownPluginError):
        registry.call(package, "mod")
    assert not registry.exists(package, "mod")


def test_helper_edit_reloads_dependents_in_order(
    area: PluginArea, registry: Registry, event_log: EventLog
) -> None:
    package = area.package(
        {
            "_helper.py": "VALUE = 1\n",
            "_middle.py": "from ._helper import VALUE\nDOUBLE = VALUE * 2\n",
            "top.py": "from dioptra_plugins import pyplugs\nfrom . import _middle\n"
            "from ._helper import VALUE\n"
            "@pyplugs.register\ndef f():\n    return (VALUE, _middle.DOUBLE)\n",
            "unrelated.py": plugin(0),
        }
    )
    assert registry.call(package, "top") == (1, 2)
    registry.call(package, "unrelated")
    area.write(f"{package}/_helper.py", "VALUE = 5\n")
    registry.reload(f"{package}._helper")
    assert [e.module for e in event_log.drain(0.05)] == [
        f"{package}._helper",
        f"{package}._middle",
        f"{package}.top",
    ]
    assert registry.call(package, "top") == (5, 10)


def test_failed_dependency_keeps_dependents_old(
    area: PluginArea, registry: Registry, event_log: EventLog
) -> None:
    package = area.package(
        {
            "_helper.py": "VALUE = 1\n",
            "top.py": "from dioptra_plugins import pyplugs\nfrom ._helper import VALUE\n"
            "@pyplugs.register\ndef f():\n    return VALUE\n",
        }
    )
    assert registry.call(package, "top") == 1
    area.write(f"{package}/_helper.py", "VALUE = (\n")
    event = registry.reload(f"{package}._helper")
    assert event.error is not None
    assert [e.module for e in event_log.drain(0.05)] == [f"{package}._helper"]
    assert registry.call(package, "top") == 1


def test_relative_imports_and_package_reload(area: PluginArea, registry: Registry) -> None:
    package = area.package(
        {
            "__init__.py": "NAME = 'v1'\n",
            "sub/__init__.py": "",
            "sub/tools.py": "from .. import NAME\nfrom dioptra_plugins import pyplugs\n"
            "@pyplugs.register\ndef name():\n    return NAME\n",
        }
    )
    assert registry.call(f"{package}.sub", "tools") == "v1"
    area.write(f"{package}/__init__.py", "NAME = 'v2'\n")
    assert registry.reload(package).ok
    assert sys.modules[package].sub is sys.modules[f"{package}.sub"]  # submodules kept
    assert registry.call(f"{package}.sub", "tools") == "v2"  # a dependent of the package


def test_reload_of_an_unknown_module_reports(registry: Registry) -> None:
    event = registry.reload("no_such_module_qq7")
    assert event.error is not None
    assert "no_such_module_qq7" in event.error.message


def test_subscribe_and_unsubscribe(area: PluginArea, registry: Registry) -> None:
    package = area.package({"mod.py": plugin(1)})
    registry.call(package, "mod")
    seen: list[ReloadEvent] = []

    def broken_subscriber(event: ReloadEvent) -> None:
        raise RuntimeError("subscribers cannot break reloads")

    registry.subscribe(broken_subscriber)
    unsubscribe = registry.subscribe(seen.append)
    area.write(f"{package}/mod.py", plugin(2))
    registry.reload(f"{package}.mod")
    unsubscribe()
    registry.reload(f"{package}.mod")
    assert [e.changed for e in seen] == [("answer",)]
    assert seen[0].to_dict() == {
        "module": f"{package}.mod",
        "added": [],
        "changed": ["answer"],
        "removed": [],
        "unloaded": False,
        "recovered": False,
        "error": None,
    }


def test_reload_if_changed_skips_identical_source(area: PluginArea, registry: Registry) -> None:
    package = area.package({"mod.py": plugin(1)})
    registry.call(package, "mod")
    os.utime(area.path(f"{package}/mod.py"))  # touch
    assert registry.reload_if_changed(f"{package}.mod") is None
    area.write(f"{package}/mod.py", plugin(2))
    event = registry.reload_if_changed(f"{package}.mod")
    assert event is not None
    assert event.changed == ("answer",)


def test_calls_from_another_thread_never_miss_during_reloads(
    area: PluginArea, registry: Registry
) -> None:
    package = area.package({"mod.py": plugin(0)})
    registry.call(package, "mod", "answer")
    stop = threading.Event()
    failures: list[BaseException] = []
    results: set[object] = set()

    def reader() -> None:
        while not stop.is_set():
            try:
                results.add(registry.call(package, "mod", "answer"))
                registry.call(package, "mod", "other")
            except BaseException as error:  # any miss at all fails the test
                failures.append(error)
                return

    thread = threading.Thread(target=reader)
    thread.start()
    try:
        for version in range(1, 101):
            area.write(f"{package}/mod.py", plugin(version), style="replace")
            assert registry.reload(f"{package}.mod").ok
    finally:
        stop.set()
        thread.join()
    assert failures == []
    assert registry.call(package, "mod", "answer") == 100
    assert len(results) > 1  # the reader really ran during the reloads


WRAPPED = """
from functools import wraps

from dioptra_plugins import pyplugs


def require_package(func):  # stands in for a decorator imported from another module
    @wraps(func)
    def wrapper(*args, **kwargs):
        return func(*args, **kwargs)
    return wrapper


@pyplugs.register
def first():
    return "first"


@pyplugs.register
@require_package
def wrapped():
    return {value}
"""


def test_an_edit_behind_a_wrapper_is_a_change_and_order_survives(
    area: PluginArea, registry: Registry
) -> None:
    package = area.package({"mod.py": WRAPPED.format(value=1)})
    assert registry.call(package, "mod", "wrapped") == 1
    area.write(f"{package}/mod.py", WRAPPED.format(value=2))
    event = registry.reload(f"{package}.mod")
    assert event.changed == ("wrapped",)  # the wrapper's code is the same; what it wraps is not
    assert registry.call(package, "mod", "wrapped") == 2
    assert registry.funcs(package, "mod") == ["first", "wrapped"]
    assert registry.call(package, "mod") == "first"


def test_a_reload_and_a_first_load_fail_alike(area: PluginArea, registry: Registry) -> None:
    """One load-from-source step: the same failure facts, whether first load or reload."""
    broken = "x = 1\nraise KeyError('nope')\n"
    first = area.package({"mod.py": broken})
    with pytest.raises(ImportError) as caught:
        registry.call(first, "mod")
    second = area.package({"mod.py": plugin(1)})
    registry.call(second, "mod")
    area.write(f"{second}/mod.py", broken)
    event = registry.reload(f"{second}.mod")
    assert event.error is not None
    failure = caught.value.failure  # type: ignore[attr-defined]
    assert (
        (failure.line, failure.message)
        == (event.error.line, event.error.message)
        == (
            2,
            "KeyError: 'nope'",
        )
    )
    assert registry.error(f"{first}.mod") == failure
    assert registry.error(f"{second}.mod") == event.error
