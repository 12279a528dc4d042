"""Dioptra 0.x's real plugin trees (tests/fixtures/dioptra): build, publish, sync, verify, find.

``task-plugins/dioptra_builtins`` is a PEP 420 namespace package (no ``__init__.py``); the
examples' plugins are subpackages of one shared ``dioptra_custom`` namespace, each published as
its own bundle (one portion each) and merged again in the plugin dir.  Nothing of them is
executed to build or publish them.  Importing them needs what they import (structlog, mlflow,
tensorflow, ART, Dioptra's SDK): the tests check each module imports or fails only for a
third-party module this environment lacks, never for the namespace layout.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import textwrap
import zipfile
from pathlib import Path
from typing import Any

import pytest
from synchelpers import publish_wheels

from dioptra_plugins import sync
from dioptra_plugins.bundle.build import build_bundle
from dioptra_plugins.bundle.verify import verify_wheel
from dioptra_plugins.index.documents import ProjectDocument
from dioptra_plugins.plugindir.layout import PluginDirLayout
from dioptra_plugins.plugindir.verify_dir import verify

FIXTURES = Path(__file__).parents[1] / "fixtures" / "dioptra"
ORIGINAL_IMPORT = "from dioptra import pyplugs"
MIGRATED_IMPORT = "from dioptra_plugins import pyplugs"
"""The one change a Dioptra plugin module needs to run on dioptra-plugins."""

BUILTIN_TASKS = {
    "dioptra_builtins.artifacts.mlflow": [
        "download_all_artifacts_in_run",
        "upload_data_frame_artifact",
        "upload_directory_as_tarball_artifact",
        "upload_file_as_artifact",
    ],
    "dioptra_builtins.artifacts.utils": [
        "extract_tarfile",
        "make_directories",
        "extract_tarfile_in_unique_subdir",
    ],
    "dioptra_builtins.attacks.fgm": ["create_adversarial_fgm_dataset"],
    "dioptra_builtins.metrics.distance": ["get_distance_metric_list", "get_distance_metric"],
    "dioptra_builtins.metrics.performance": [
        "get_performance_metric_list",
        "get_performance_metric",
    ],
    "dioptra_builtins.random.rng": ["init_rng"],
    "dioptra_builtins.random.sample": ["draw_random_integer", "draw_random_integers"],
    "dioptra_builtins.registry.art": ["load_wrapped_tensorflow_keras_classifier"],
    "dioptra_builtins.registry.mlflow": [
        "add_model_to_registry",
        "get_experiment_name",
        "load_tensorflow_keras_classifier",
    ],
    "dioptra_builtins.tracking.mlflow": [
        "log_metrics",
        "log_parameters",
        "log_tensorflow_keras_estimator",
    ],
}
FGM_TASKS = {
    "dioptra_custom.custom_fgm_plugins.attacks_fgm": ["create_adversarial_fgm_dataset"],
    "dioptra_custom.custom_fgm_plugins.data_tensorflow": [
        "create_image_dataset",
        "get_n_classes_from_directory_iterator",
        "rescale",
    ],
    "dioptra_custom.custom_fgm_plugins.defenses_image_preprocessing": ["create_defended_dataset"],
    "dioptra_custom.custom_fgm_plugins.estimators_keras_classifiers": ["init_classifier"],
    "dioptra_custom.custom_fgm_plugins.tensorflow": ["register_init_model"],
}
SQUEEZE_TASKS = {
    "dioptra_custom.feature_squeezing.cw_inf_plugin": ["create_adversarial_cw_inf_dataset"],
    "dioptra_custom.feature_squeezing.cw_l2_plugin": ["create_adversarial_cw_l2_dataset"],
    "dioptra_custom.feature_squeezing.deepfool_plugin": ["create_adversarial_deepfool_dataset"],
    "dioptra_custom.feature_squeezing.init_model_plugin": ["load_and_test_model"],
    "dioptra_custom.feature_squeezing.jsma_plugin": ["create_adversarial_jsma_dataset"],
    "dioptra_custom.feature_squeezing.squeeze_plugin": ["feature_squeeze"],
}
PROJECTS = {
    "dioptra-builtins": ("dioptra_builtins", BUILTIN_TASKS),
    "dioptra-custom-custom-fgm-plugins": ("dioptra_custom.custom_fgm_plugins", FGM_TASKS),
    "dioptra-custom-feature-squeezing": ("dioptra_custom.feature_squeezing", SQUEEZE_TASKS),
}


def tasks_by_module(manifest: dict[str, Any]) -> dict[str, list[str]]:
    found: dict[str, list[str]] = {}
    for task in manifest["tasks"]:
        found.setdefault(task["module"], []).append(task["function"])
    return found


def build_tree(tree: Path, out: Path) -> dict[str, Path]:
    """The three bundles a Dioptra user publishes: the builtins, and two examples' portions."""
    custom = tree / "examples" / "task-plugins" / "dioptra_custom"
    sources = [
        (tree / "task-plugins" / "dioptra_builtins", None),
        (custom / "custom_fgm_plugins", "dioptra_custom"),
        (custom / "feature_squeezing", "dioptra_custom"),
    ]
    wheels = [build_bundle(s, out, version="0.0.0", namespace=n) for s, n in sources]
    return {verify_wheel(wheel).name: wheel for wheel in wheels}


@pytest.fixture(scope="module")
def migrated_tree(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A copy of the fixtures with the one migration change made: the pyplugs import line."""
    tree = tmp_path_factory.mktemp("dioptra") / "tree"
    shutil.copytree(FIXTURES, tree)
    changed = 0
    for path in tree.rglob("*.py"):
        text = path.read_text()
        if ORIGINAL_IMPORT in text:
            path.write_text(text.replace(ORIGINAL_IMPORT, MIGRATED_IMPORT))
            changed += 1
    assert changed == 21  # every plugin module of the fixtures, and nothing else changed
    return tree


@pytest.fixture(scope="module")
def synced(migrated_tree: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    work = tmp_path_factory.mktemp("dioptra-sync")
    wheels = build_tree(migrated_tree, work / "dist")
    index = str(work / "index")
    publish_wheels(index, wheels.values())
    plugin_dir = work / "plugins"
    result = sync(sorted(PROJECTS), index=index, plugin_dir=plugin_dir, ignore_env_deps=True)
    return {"wheels": wheels, "index": index, "plugin_dir": plugin_dir, "result": result}


def test_upstream_tree_builds_as_it_is_without_running_it(tmp_path: Path) -> None:
    # The fixtures exactly as Dioptra ships them: ``from dioptra import pyplugs`` everywhere.
    caches_before = sorted(FIXTURES.rglob("__pycache__"))
    wheels = build_tree(FIXTURES, tmp_path / "dist")
    assert sorted(wheels) == sorted(PROJECTS)
    for name, wheel in wheels.items():
        package, expected = PROJECTS[name]
        bundle = verify_wheel(wheel)
        assert bundle.top_level == package
        assert bundle.manifest["package"] == package
        assert tasks_by_module(bundle.manifest) == expected
    with zipfile.ZipFile(wheels["dioptra-builtins"]) as archive:
        names = archive.namelist()
    assert "dioptra_builtins/__init__.py" not in names  # still a namespace package
    assert "dioptra_builtins/random/__init__.py" in names
    with zipfile.ZipFile(wheels["dioptra-custom-feature-squeezing"]) as archive:
        names = archive.namelist()
    assert not any(n.endswith("__init__.py") for n in names)  # a namespace portion
    # Nothing was imported or compiled to build them (these modules cannot even be imported
    # here: structlog, tensorflow and Dioptra's SDK are not installed).
    assert sorted(FIXTURES.rglob("__pycache__")) == caches_before
    assert not [m for m in sys.modules if m.split(".")[0] in ("dioptra_builtins", "dioptra_custom")]


def test_migrated_tree_has_the_same_tasks(synced: dict[str, Any]) -> None:
    for name, wheel in synced["wheels"].items():
        assert tasks_by_module(verify_wheel(wheel).manifest) == PROJECTS[name][1]


def test_index_documents_carry_the_portions(synced: dict[str, Any]) -> None:
    for name, (package, expected) in PROJECTS.items():
        (path,) = (Path(synced["index"]) / "projects" / name).glob("*.json")
        document = ProjectDocument.from_bytes(path.read_bytes(), what=str(path))
        (entry,) = document.files
        assert entry.top_level == package
        assert tasks_by_module(dict(entry.manifest)) == expected


def test_synced_dir_merges_the_examples_into_one_namespace(synced: dict[str, Any]) -> None:
    plugin_dir: Path = synced["plugin_dir"]
    assert synced["result"].installed == dict.fromkeys(PROJECTS, "0.0.0")
    layout = PluginDirLayout(plugin_dir)
    generation = layout.generation_path(synced["result"].generation)
    assert sorted(os.listdir(generation)) == ["dioptra_builtins", "dioptra_custom", "pylock.toml"]
    assert os.path.islink(generation / "dioptra_builtins")
    custom = generation / "dioptra_custom"
    assert custom.is_dir()
    assert not custom.is_symlink()
    assert sorted(os.listdir(custom)) == ["custom_fgm_plugins", "feature_squeezing"]
    for portion in os.listdir(custom):
        assert os.readlink(custom / portion).startswith("../../../store/")
    assert {
        entry.name: os.readlink(entry) for entry in plugin_dir.iterdir() if entry.is_symlink()
    } == {
        "dioptra_builtins": ".dioptra-plugins/current/dioptra_builtins",
        "dioptra_custom": ".dioptra-plugins/current/dioptra_custom",
    }
    report = verify(plugin_dir)
    assert report.ok, report.problems


IMPORT_EACH = """
import importlib, importlib.util, json
from dioptra_plugins import plugin_dirs
from dioptra_plugins.registry.registry import Registry

modules = json.loads({modules!r})
registry = Registry()
report = {{}}
with plugin_dirs():
    for module in modules:
        package, _, plugin = module.rpartition(".")
        try:
            importlib.import_module(module)
        except ModuleNotFoundError as error:
            missing = error.name or ""
            report[module] = {{
                "missing": missing,
                "installed": importlib.util.find_spec(missing.split(".")[0]) is not None,
            }}
            continue
        report[module] = {{"funcs": registry.funcs(package, plugin)}}
print(json.dumps(report))
"""


def run_in_plugin_dir(plugin_dir: Path, code: str, extra_path: Path | None = None) -> str:
    env = {**os.environ, "DIOPTRA_PLUGIN_DIR": str(plugin_dir)}
    env.pop("PYTHONPATH", None)
    if extra_path is not None:
        env["PYTHONPATH"] = str(extra_path)
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=env, check=False
    )
    assert done.returncode == 0, done.stderr
    return done.stdout.strip().splitlines()[-1]


STRUCTLOG_STAND_IN = {
    "structlog/__init__.py": "from structlog import stdlib\n\n\ndef get_logger(*a, **k):\n"
    "    return stdlib.get_logger()\n",
    "structlog/stdlib.py": "import logging\n\nBoundLogger = logging.Logger\n\n\n"
    "def get_logger(*a, **k):\n    return logging.getLogger('structlog-stand-in')\n",
}


def structlog_path(tmp_path: Path) -> Path | None:
    """A directory with a stand-in structlog when this environment lacks the real one.

    Dioptra's builtins use structlog for their module loggers only; with the stand-in on the
    path, the modules that need nothing else (``random.rng``, ``random.sample``,
    ``artifacts.utils``) import and run."""
    import importlib.util

    if importlib.util.find_spec("structlog") is not None:
        return None
    extra = tmp_path / "stand-in"
    for relative, text in STRUCTLOG_STAND_IN.items():
        (extra / relative).parent.mkdir(parents=True, exist_ok=True)
        (extra / relative).write_text(text)
    return extra


@pytest.mark.parametrize("stand_in", [False, True], ids=["venv", "structlog-stand-in"])
def test_each_plugin_module_imports_or_lacks_only_a_third_party_module(
    synced: dict[str, Any], tmp_path: Path, stand_in: bool
) -> None:
    expected = {m: f for _, tasks in PROJECTS.values() for m, f in tasks.items()}
    code = IMPORT_EACH.format(modules=json.dumps(sorted(expected)))
    extra = structlog_path(tmp_path) if stand_in else None
    report = json.loads(run_in_plugin_dir(synced["plugin_dir"], code, extra))
    assert sorted(report) == sorted(expected)
    if stand_in:
        imported = {m for m, outcome in report.items() if "funcs" in outcome}
        assert imported >= {
            "dioptra_builtins.random.rng",
            "dioptra_builtins.random.sample",
            "dioptra_builtins.artifacts.utils",
        }
    for module, outcome in report.items():
        if "funcs" in outcome:
            assert outcome["funcs"] == expected[module], module
            continue
        # Only what this environment does not have: never the namespace layout itself.
        assert not outcome["installed"], (module, outcome)
        assert outcome["missing"].split(".")[0] not in ("dioptra_builtins", "dioptra_custom")


def test_pyplugs_finds_and_calls_the_random_plugins(synced: dict[str, Any], tmp_path: Path) -> None:
    extra = structlog_path(tmp_path)
    code = textwrap.dedent(
        """
        import json
        from dioptra_plugins import plugin_dirs, pyplugs
        with plugin_dirs():
            names = pyplugs.names("dioptra_builtins.random")
            funcs = pyplugs.funcs("dioptra_builtins.random", "sample")
            seed, rng = pyplugs.call("dioptra_builtins.random", "rng", "init_rng", 7)
            drawn = pyplugs.call(
                "dioptra_builtins.random", "sample", "draw_random_integer", rng, 0, 10
            )
            exists = pyplugs.exists("dioptra_builtins.random", "rng")
            module = pyplugs.get("dioptra_builtins.random", "rng", "init_rng").__module__
        print(json.dumps([names, funcs, seed, drawn, exists, module]))
        """
    )
    names, funcs, seed, drawn, exists, module = json.loads(
        run_in_plugin_dir(synced["plugin_dir"], code, extra)
    )
    assert names == ["rng", "sample"]
    assert funcs == ["draw_random_integer", "draw_random_integers"]
    assert seed == 7
    assert 0 <= drawn < 10
    assert exists is True
    assert module == "dioptra_builtins.random.rng"
    # Importing the plugins wrote nothing the verifier objects to (bytecode included).
    report = verify(synced["plugin_dir"])
    assert report.ok, report.problems
