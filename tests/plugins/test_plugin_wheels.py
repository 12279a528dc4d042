"""The shipped plugin packages build into verified bundles whose manifests match the code."""

from __future__ import annotations

import pytest
from shipped_plugins import PROJECT_DIRS, registered_tasks

from dioptra_plugins.bundle.build import build_bundle
from dioptra_plugins.bundle.verify import VerifiedBundle, verify_wheel


@pytest.fixture(scope="module")
def bundles(tmp_path_factory: pytest.TempPathFactory) -> dict[str, VerifiedBundle]:
    out = tmp_path_factory.mktemp("dist")
    return {
        package: verify_wheel(build_bundle(project, out))
        for package, project in PROJECT_DIRS.items()
    }


def test_each_wheel_holds_one_package_and_its_dist_info(
    bundles: dict[str, VerifiedBundle],
) -> None:
    for package, bundle in bundles.items():
        assert bundle.top_level == package
        assert bundle.version == "1.0.0"
        roots = {file.path.split("/")[0] for file in bundle.files}
        assert roots == {package, f"{package}-1.0.0.dist-info"}
        assert not [f.path for f in bundle.files if "test" in f.path or f.path.endswith(".pyc")]


def test_dependencies_are_declared(bundles: dict[str, VerifiedBundle]) -> None:
    assert bundles["dioptra_builtins"].name == "dioptra-builtins"
    assert sorted(bundles["dioptra_builtins"].requires_dist) == ["dioptra-plugins", "numpy>=1.26"]
    assert bundles["dioptra_examples"].name == "dioptra-examples"
    assert sorted(bundles["dioptra_examples"].requires_dist) == [
        "dioptra-builtins<2,>=1.0",
        "dioptra-plugins",
        "numpy>=1.26",
    ]
    assert bundles["dioptra_examples"].requires_python == ">=3.11"


def test_manifests_list_exactly_the_registered_functions(
    bundles: dict[str, VerifiedBundle],
) -> None:
    in_manifests = {
        (task["module"], task["function"], task["sort_value"])
        for bundle in bundles.values()
        for task in bundle.manifest["tasks"]
    }
    at_runtime = {
        (module, name, function.__dioptra_plugin__.sort_value)  # type: ignore[attr-defined]
        for module, name, function in registered_tasks()
    }
    assert in_manifests == at_runtime
    fgm = next(t for t in bundles["dioptra_builtins"].manifest["tasks"] if t["function"] == "fgm")
    assert fgm["module"] == "dioptra_builtins.attacks.fgm"
    assert fgm["doc"].startswith("Adversarial copies of x moved epsilon along the loss gradient")
