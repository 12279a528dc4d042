"""call_task/get_task with real Prefect 3, inside its test harness (a real local API server)."""

from __future__ import annotations

import concurrent.futures
import threading
import time
from collections.abc import Iterator

# Prefect is the `prefect` extra, which the test install includes: a missing Prefect fails
# these tests loudly instead of skipping them.
import prefect  # noqa: F401
import pytest

from dioptra_plugins import workflows

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
def steps(area) -> str:
    return area.package({"steps.py": STEPS})


def test_outside_a_flow_call_task_waits_for_upstream_then_calls(steps, registry) -> None:
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


def test_outside_a_flow_a_failed_upstream_stops_the_call(steps, registry) -> None:
    upstream: concurrent.futures.Future[str] = concurrent.futures.Future()
    upstream.set_exception(RuntimeError("upstream failed"))
    with pytest.raises(RuntimeError, match="upstream failed"):
        registry.call_task(steps, "steps", "record", "never", upstream_tasks=[upstream])
    assert registry.call(steps, "steps", "seen") == []


def test_inside_a_flow_call_task_submits_tasks_with_wait_for(
    prefect_harness, steps, registry
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


def test_get_task_wraps_the_plugin(prefect_harness, steps, registry) -> None:
    from prefect import Task, flow

    task = registry.get_task(steps, "steps", "record")
    assert isinstance(task, Task)
    assert task.fn is registry.get(steps, "steps", "record")
    assert task.name == f"{steps}.steps.record"

    @flow
    def run() -> str:
        return str(task("direct"))

    assert run() == "direct"
