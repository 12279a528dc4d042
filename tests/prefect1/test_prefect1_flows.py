"""Dioptra's seeds' entry points are Prefect 1 flows: they run over our pyplugs unchanged but
for the import line.  Real Prefect 1.4 (``flow.run()`` executes the tasks in this process)."""

from __future__ import annotations

import sys
from pathlib import Path

import prefect
import pytest
from prefect import Flow, Parameter
from prefect.tasks.core.function import FunctionTask

from dioptra_plugins import pyplugs
from dioptra_plugins.errors import PrefectDependencyError
from dioptra_plugins.registry import workflows
from dioptra_plugins.registry.registry import Registry
from prefect1.seeds import SeedTree, expected_draws


def test_this_is_prefect_1() -> None:
    assert prefect.__version__.startswith("1.")


def test_image_resizer_flow_honours_upstream_tasks(seeds: SeedTree, tmp_path: Path) -> None:
    """The user guide's "Image Resizer": rotate waits for resize through upstream_tasks."""
    data = f"{seeds.namespace}.data"
    with Flow("Image Resizer") as flow:
        assert workflows.active_engine() is workflows.Engine.PREFECT1
        data_dir, image_size = Parameter("data_dir"), Parameter("image_size")
        resize_output = pyplugs.call_task(
            data, "images", "resize", data_dir=data_dir, image_size=image_size
        )
        rotated = pyplugs.call_task(
            data,
            "images",
            "rotate",
            data_dir=data_dir,
            image_size=image_size,
            upstream_tasks=[resize_output],
        )
    assert isinstance(resize_output, FunctionTask)
    assert resize_output.name == f"{data}.images.resize"
    assert resize_output in flow.upstream_tasks(rotated)  # the edge is in the graph
    state = flow.run(parameters={"data_dir": str(tmp_path), "image_size": (28, 32)})
    assert state.is_successful()
    assert state.result[resize_output].result == str(tmp_path / "resized.json")
    assert state.result[rotated].result == {"rotated": [32, 28], "asked": [28, 32]}


def test_fgm_flow_unpacks_task_nout_results(seeds: SeedTree) -> None:
    """The FGM entry point's shape: ``seed, rng = call_task(...)`` with ``@task_nout(2)``."""
    ns = seeds.namespace
    with Flow("Fast Gradient Method") as flow:
        seed, eps = Parameter("seed"), Parameter("eps")
        seed, rng = pyplugs.call_task(f"{ns}.random", "rng", "init_rng", seed=seed)
        tensorflow_global_seed = pyplugs.call_task(
            f"{ns}.random", "sample", "draw_random_integer", rng=rng
        )
        dataset_seed = pyplugs.call_task(f"{ns}.random", "sample", "draw_random_integer", rng=rng)
        adversarial = pyplugs.call_task(
            f"{ns}.attacks",
            "fgm",
            "create_adversarial_examples",
            values=[1.0, 2.0],
            eps=eps,
            seed=dataset_seed,
        )
        distance = pyplugs.call_task(
            f"{ns}.attacks", "fgm", "distance", clean=[1.0, 2.0], adversarial=adversarial
        )
        counted = pyplugs.call_task(f"{ns}.attacks", "fgm", "needs_json", values=adversarial)
    state = flow.run(parameters={"seed": 42, "eps": 0.25})
    assert state.is_successful()
    assert state.result[seed].result == 42
    draws = {state.result[tensorflow_global_seed].result, state.result[dataset_seed].result}
    assert draws == set(expected_draws(42, 2))  # the two draws share one generator
    assert state.result[distance].result == 0.25
    assert state.result[counted].result == 2


def test_without_task_nout_a_tuple_result_does_not_unpack(seeds: SeedTree) -> None:
    with pytest.raises(TypeError), Flow("no nout"):
        _first, _second = pyplugs.call_task(
            f"{seeds.namespace}.random", "sample", "draw_random_integer", rng=None
        )


def test_outside_a_flow_call_task_calls_the_plugin(seeds: SeedTree) -> None:
    """With Prefect 1 imported and no flow being built, call_task is a plain call."""
    assert "prefect" in sys.modules
    assert workflows.active_engine() is None
    seed, rng = pyplugs.call_task(f"{seeds.namespace}.random", "rng", "init_rng", seed=7)
    assert seed == 7
    draw = pyplugs.call_task(f"{seeds.namespace}.random", "sample", "draw_random_integer", rng=rng)
    assert draw == expected_draws(7, 1)[0]


def test_a_plugin_running_as_a_task_calls_plugins_directly(seeds: SeedTree, tmp_path) -> None:
    """While a flow runs, Prefect 1's context has no flow: nested call_task is a plain call."""
    nested = tmp_path / "nested"
    nested.mkdir()
    (nested / "outer_mod.py").write_text(
        "from dioptra_plugins import pyplugs\n"
        "@pyplugs.register\n"
        "def outer(ns):\n"
        "    seed, rng = pyplugs.call_task(f'{ns}.random', 'rng', 'init_rng', seed=3)\n"
        "    return pyplugs.call_task(f'{ns}.random', 'sample', 'draw_random_integer', rng=rng)\n"
    )
    sys.path.insert(0, str(nested))
    try:
        with Flow("nested") as flow:
            result = pyplugs.call_task("", "outer_mod", "outer", ns=seeds.namespace)
        state = flow.run()
    finally:
        sys.path.remove(str(nested))
        sys.modules.pop("outer_mod", None)
    assert state.is_successful(), state.result[result].message
    assert state.result[result].result == expected_draws(3, 1)[0]


def test_get_task_is_a_prefect1_task_with_nout(seeds: SeedTree) -> None:
    registry = Registry()
    init_rng = registry.get_task(f"{seeds.namespace}.random", "rng", "init_rng")
    assert isinstance(init_rng, FunctionTask)
    assert init_rng.nout == 2
    assert init_rng.name == f"{seeds.namespace}.random.rng.init_rng"
    with Flow("get_task") as flow:
        seed, _rng = init_rng(seed=11)
    state = flow.run()
    assert state.result[seed].result == 11


@pytest.mark.parametrize("name", ["get_task", "call_task"])
def test_prefect_hidden_is_a_prefect_dependency_error(seeds, monkeypatch, name) -> None:
    monkeypatch.setitem(sys.modules, "prefect", None)
    with pytest.raises(PrefectDependencyError, match="prefect"):
        getattr(pyplugs, name)(f"{seeds.namespace}.random", "rng", "init_rng")
    with pytest.raises(PrefectDependencyError):
        getattr(pyplugs, f"{name}_factory")(f"{seeds.namespace}.random")
