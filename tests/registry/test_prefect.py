"""call_task/get_task with real Prefect 3, inside its test harness (a real local API server).

The seeds' flow shapes (``tests/prefect1/seeds.py``, also run under Prefect 1 there) are
written as Prefect 3 flows here: the same plugin calls, ``@flow`` instead of ``with Flow``."""

from __future__ import annotations

import concurrent.futures
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

# Prefect is the `prefect` extra, which the test install includes: a missing Prefect fails
# these tests loudly instead of skipping them.
import prefect  # noqa: F401
import pytest
from registry_helpers import PluginArea

from dioptra_plugins import pyplugs
from dioptra_plugins.errors import PrefectDependencyError
from dioptra_plugins.registry import workflows
from dioptra_plugins.registry.registry import Registry
from prefect1.seeds import SeedTree, expected_draws, write_seed_tree

STEPS = """
import time
from dioptra_plugins import pyplugs

DONE = []

@pyplugs.register
def record(tag, delay=0.0):
    time.sleep(delay)
    DONE.append(tag)
    return tag

@pyplugs.register
def seen():
    return list(DONE)
"""


@pytest.fixture(scope="session")
def prefect_harness() -> Iterator[None]:
    from prefect.testing.utilities import prefect_test_harness

    with prefect_test_harness(server_startup_timeout=120):
        yield


@pytest.fixture
def steps(area: PluginArea) -> str:
    return area.package({"steps.py": STEPS})


def test_outside_a_flow_call_task_waits_for_upstream_then_calls(
    steps: str, registry: Registry
) -> None:
    assert not workflows.flow_run_active()
    upstream: concurrent.futures.Future[str] = concurrent.futures.Future()

    def finish_later() -> None:
        time.sleep(0.2)
        registry.call(steps, "steps", "record", "upstream")
        upstream.set_result("upstream")

    thread = threading.Thread(target=finish_later)
    thread.start()
    result = registry.call_task(steps, "steps", "seen", upstream_tasks=[upstream])
    thread.join()
    assert result == ["upstream"]


def test_outside_a_flow_a_failed_upstream_stops_the_call(steps: str, registry: Registry) -> None:
    upstream: concurrent.futures.Future[str] = concurrent.futures.Future()
    upstream.set_exception(RuntimeError("upstream failed"))
    with pytest.raises(RuntimeError, match="upstream failed"):
        registry.call_task(steps, "steps", "record", "never", upstream_tasks=[upstream])
    assert registry.call(steps, "steps", "seen") == []


def test_inside_a_flow_call_task_submits_tasks_with_wait_for(
    prefect_harness: None, steps: str, registry: Registry
) -> None:
    from prefect import flow
    from prefect.futures import PrefectFuture

    @flow
    def pipeline() -> tuple[bool, list[str]]:
        assert workflows.flow_run_active()
        slow = registry.call_task(steps, "steps", "record", "slow", delay=0.5)
        after = registry.call_task(steps, "steps", "seen", upstream_tasks=[slow])
        return isinstance(after, PrefectFuture), after.result()

    is_future, seen = pipeline()
    assert is_future
    assert seen == ["slow"]  # `seen` ran only after `slow` finished: wait_for was honoured


def test_get_task_wraps_the_plugin(prefect_harness: None, steps: str, registry: Registry) -> None:
    from prefect import Task, flow

    task = registry.get_task(steps, "steps", "record")
    assert isinstance(task, Task)
    assert task.fn is registry.get(steps, "steps", "record")
    assert task.name == f"{steps}.steps.record"

    @flow
    def run() -> str:
        return str(task("direct"))

    assert run() == "direct"


@pytest.fixture
def seeds(area: PluginArea) -> SeedTree:
    tree = write_seed_tree(area.root)
    area.packages.extend(tree.top_level_names)  # forgotten from sys.modules afterwards
    return tree


def test_image_resizer_flow_under_prefect3(
    prefect_harness: None, seeds: SeedTree, tmp_path: Path
) -> None:
    from prefect import flow

    data = f"{seeds.namespace}.data"

    @flow(name="Image Resizer")
    def image_resizer(data_dir: str, image_size: list[int]) -> dict[str, list[int]]:
        assert workflows.active_engine() is workflows.Engine.PREFECT3
        resize_output = pyplugs.call_task(
            data, "images", "resize", data_dir=data_dir, image_size=image_size
        )
        rotated = pyplugs.call_task(
            data,
            "images",
            "rotate",
            data_dir=data_dir,
            image_size=image_size,
            upstream_tasks=[resize_output],  # rotate reads what resize wrote
        )
        return rotated.result()  # type: ignore[no-any-return]

    assert image_resizer(str(tmp_path), [28, 32]) == {"rotated": [32, 28], "asked": [28, 32]}


def test_fgm_flow_unpacks_task_nout_under_prefect3(prefect_harness: None, seeds: SeedTree) -> None:
    from prefect import flow
    from prefect.futures import PrefectFuture

    ns = seeds.namespace

    @flow(name="Fast Gradient Method")
    def fgm(seed: int, eps: float) -> tuple[int, set[int], float, int]:
        seed_out, rng = pyplugs.call_task(f"{ns}.random", "rng", "init_rng", seed=seed)
        assert isinstance(seed_out, PrefectFuture)
        assert isinstance(rng, PrefectFuture)
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
        draws = {tensorflow_global_seed.result(), dataset_seed.result()}
        return seed_out.result(), draws, distance.result(), counted.result()

    seed, draws, distance, counted = fgm(42, 0.25)
    assert seed == 42
    assert draws == set(expected_draws(42, 2))
    assert distance == 0.25
    assert counted == 2


def test_task_nout_unpacks_outside_a_flow(seeds: SeedTree) -> None:
    assert workflows.active_engine() is None
    seed, rng = pyplugs.call_task(f"{seeds.namespace}.random", "rng", "init_rng", seed=5)
    assert seed == 5
    assert rng.randint(0, 2**31 - 1) == expected_draws(5, 1)[0]


@pytest.mark.parametrize("name", ["get_task", "call_task"])
def test_prefect_hidden_is_a_prefect_dependency_error(
    seeds: SeedTree, monkeypatch: pytest.MonkeyPatch, name: str
) -> None:
    monkeypatch.setitem(sys.modules, "prefect", None)
    with pytest.raises(PrefectDependencyError, match="prefect"):
        getattr(pyplugs, name)(f"{seeds.namespace}.random", "rng", "init_rng")
    with pytest.raises(PrefectDependencyError):
        getattr(pyplugs, f"{name}_factory")(f"{seeds.namespace}.random")


def test_prefect_absent_is_a_prefect_dependency_error(area: PluginArea, tmp_path: Path) -> None:
    """A real process without Prefect installed (no site-packages at all: ``python -S``)."""
    import os
    import subprocess
    from pathlib import Path

    import dioptra_plugins

    package = area.package({"steps.py": STEPS})
    source = Path(dioptra_plugins.__file__).resolve().parents[1]
    script = f"""
import importlib.util, sys
sys.path[:0] = [{str(source)!r}, {str(area.root)!r}]
assert importlib.util.find_spec("prefect") is None
from dioptra_plugins import pyplugs
print(pyplugs.call({package!r}, "steps", "record", "plain call"))
for name in ("get_task", "call_task", "get_task_factory", "call_task_factory"):
    try:
        arguments = ({package!r},) if name.endswith("factory") else ({package!r}, "steps")
        getattr(pyplugs, name)(*arguments)
    except pyplugs.PrefectDependencyError as error:
        print(name, "PrefectDependencyError", "prefect" in str(error))
"""
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONHOME")}
    result = subprocess.run(
        [sys.executable, "-S", "-c", script], capture_output=True, text=True, env=env
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == [
        "plain call",
        "get_task PrefectDependencyError True",
        "call_task PrefectDependencyError True",
        "get_task_factory PrefectDependencyError True",
        "call_task_factory PrefectDependencyError True",
    ]
