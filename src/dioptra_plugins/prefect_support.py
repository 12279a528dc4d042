"""Running plugins as Prefect 3 tasks, with Prefect as an optional dependency.

Nothing here imports Prefect until it is needed, and :func:`flow_run_active` does not import it
at all: a flow cannot be running in a process that never imported Prefect, so plain scripts
pay nothing for the workflow support.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Sequence
from typing import Any

from dioptra_plugins.errors import RegistryError


def flow_run_active() -> bool:
    """True inside a Prefect flow run (in this thread)."""
    if "prefect" not in sys.modules:
        return False
    from prefect.context import FlowRunContext

    return FlowRunContext.get() is not None


def as_task(func: Callable[..., Any], name: str) -> Any:
    """``func`` wrapped as a Prefect task named ``name`` (results are never cached by input)."""
    try:
        from prefect import task
        from prefect.cache_policies import NO_CACHE
    except ImportError as error:
        raise RegistryError(
            "running plugins as Prefect tasks needs Prefect 3: "
            "pip install 'dioptra-plugins[prefect]'"
        ) from error
    # Caching by inputs would silently skip a plugin call whose inputs hash alike (arrays,
    # models); Dioptra's tasks always ran, so ours do too.
    return task(name=name, cache_policy=NO_CACHE)(func)


def submit(
    func: Callable[..., Any],
    name: str,
    args: Sequence[Any],
    kwargs: dict[str, Any],
    upstream: Sequence[Any],
) -> Any:
    """Submit ``func`` as a task of the running flow; returns the Prefect future."""
    return as_task(func, name).submit(*args, wait_for=list(upstream), **kwargs)


def wait_for_upstream(upstream: Sequence[Any]) -> None:
    """Wait for each upstream object: ``.result()`` (which re-raises its failure) or ``.wait()``."""
    for item in upstream:
        result = getattr(item, "result", None)
        if callable(result):
            result()
            continue
        wait = getattr(item, "wait", None)
        if callable(wait):
            wait()
