"""The task manifest follows a module's imports, not the name ``register``."""

from __future__ import annotations

import textwrap

import pytest

from dioptra_plugins.bundle.manifest import is_import_name, tasks_in_source


def tasks(source: str) -> list[str]:
    found = tasks_in_source(textwrap.dedent(source).encode(), "pkg.mod", "pkg/mod.py")
    return [task["function"] for task in found]


@pytest.mark.parametrize(
    "source",
    [
        "from dioptra_plugins.pyplugs import register as reg\n@reg\ndef task(): ...\n",
        "import dioptra_plugins.pyplugs as pp\n@pp.register()\ndef task(): ...\n",
        "import dioptra_plugins.pyplugs\n@dioptra_plugins.pyplugs.register\ndef task(): ...\n",
        "from dioptra_plugins import pyplugs as p\n@p.register(sort_value=2)\ndef task(): ...\n",
        "from dioptra_plugins.registry.marks import register\n@register\ndef task(): ...\n",
        # Dioptra's own spelling, unchanged, and upstream pyplugs'.
        "from dioptra import pyplugs\n@pyplugs.register\ndef task(): ...\n",
        "import dioptra.pyplugs\n@dioptra.pyplugs.register\ndef task(): ...\n",
        "import pyplugs\n@pyplugs.register\ndef task(): ...\n",
        "from pyplugs import register\n@register()\ndef task(): ...\n",
        "from dioptra_plugins.pyplugs import *\n@register\ndef task(): ...\n",
        # A module-level alias, and an import under ``try`` as optional-dependency code has.
        "from dioptra_plugins import pyplugs\nmark = pyplugs.register\n@mark\ndef task(): ...\n",
        "try:\n    from dioptra import pyplugs\nexcept ImportError:\n    pyplugs = None\n"
        "@pyplugs.register\ndef task(): ...\n",
    ],
)
def test_register_is_found_through_imports(source: str) -> None:
    assert tasks(source) == ["task"]


@pytest.mark.parametrize(
    "source",
    [
        # Unrelated ``register``s are not invented.
        "import other\n@other.register\ndef task(): ...\n",
        "from atexit import register\n@register\ndef task(): ...\n",
        "@register\ndef task(): ...\n",  # never imported
        "from dioptra_plugins import pyplugs\n@pyplugs.registered\ndef task(): ...\n",
        # Rebound after the import: the decorator is whatever the name holds by then.
        "from dioptra_plugins.pyplugs import register\n"
        "def register(f):\n    return f\n@register\ndef task(): ...\n",
        "from dioptra_plugins.pyplugs import register\nfrom functools import cache as register\n"
        "@register\ndef task(): ...\n",
        # A relative ``pyplugs`` is the plugin package's own module, not the registry.
        "from . import pyplugs\n@pyplugs.register\ndef task(): ...\n",
    ],
)
def test_unrelated_register_is_not_a_task(source: str) -> None:
    assert tasks(source) == []


def test_registered_class_is_listed_with_its_constructor() -> None:
    source = '''
        from dioptra_plugins import pyplugs

        @pyplugs.register(label="estimators")
        class Scaler:
            """Scales its input."""

            def __init__(self, factor: float = 2.0) -> None:
                self.factor = factor

        @pyplugs.register
        class Empty:
            pass
    '''
    found = tasks_in_source(textwrap.dedent(source).encode(), "pkg.mod", "pkg/mod.py")
    by_name = {task["function"]: task for task in found}
    assert by_name["Scaler"]["kind"] == "class"
    assert by_name["Scaler"]["signature"] == "(factor: float=2.0)"
    assert by_name["Scaler"]["doc"] == "Scales its input."
    assert by_name["Scaler"]["label"] == "estimators"
    assert by_name["Empty"]["signature"] == "()"


def test_dioptra_stack_of_decorators_is_one_task() -> None:
    source = """
        from dioptra import pyplugs
        from dioptra.sdk.utilities.decorators import require_package

        @pyplugs.register
        @require_package("tensorflow")
        def load(name: str) -> None:
            ...

        @pyplugs.register
        @pyplugs.task_nout(2)
        def init_rng(seed: int = -1):
            ...
    """
    assert tasks(source) == ["load", "init_rng"]


@pytest.mark.parametrize(
    ("name", "ok"),
    [
        ("dioptra_builtins", True),
        ("dioptra_custom.fgm_plugins", True),
        ("../x", False),
        ("dioptra_custom/../x", False),
        ("dioptra_custom..x", False),
        (".x", False),
        ("x.", False),
        ("", False),
        ("a/b", False),
        ("a.b-c", False),
        (".".join(["a"] * 17), False),
    ],
)
def test_import_names_can_never_be_paths(name: str, ok: bool) -> None:
    assert is_import_name(name) is ok
