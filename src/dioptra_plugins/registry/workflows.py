"""Running plugins as workflow tasks: Prefect 1 (Dioptra's seeds) and Prefect 3, both optional.

Dioptra's entry points are Prefect 1 flows: ``call_task`` inside ``with Flow(...)`` adds a task
to the flow being built (``upstream_tasks`` and ``nout`` as Prefect 1 takes them).  Inside a
Prefect 3 flow run it submits a task, ``upstream_tasks`` becoming ``wait_for``.  Anywhere else
it calls the plugin.  With ``@task_nout(n)`` both engines hand back ``n`` results, so
``seed, rng = call_task(...)`` unpacks everywhere.

Nothing here imports Prefect to decide where it runs: a flow cannot be active in a process that
never imported Prefect, so plain scripts pay a ``sys.modules`` lookup for the workflow support.
As in Dioptra, the task functions need Prefect installed: without it (or with it hidden, a
``None`` in ``sys.modules``) they raise :class:`~dioptra_plugins.errors.PrefectDependencyError`.

(The module's name has no "prefect" in it on purpose: Dioptra's own tests hide Prefect by
deleting every module whose name contains "dioptra" and every one containing "prefect", and
fail on a name that is both.)
"""

from __future__ import annotations

import functools
import importlib.util
import sys
from collections.abc import Callable, Mapping, Sequence
from enum import Enum
from types import ModuleType
from typing import Any

from dioptra_plugins.errors import PrefectDependencyError
from dioptra_plugins.registry.marks import nout_of

INSTALL_HINT = "pip install 'dioptra-plugins[prefect]' (Prefect 3) or 'dioptra-plugins[prefect1]'"


class Engine(Enum):
    """Which Prefect is building or running the flow this thread is in."""

    PREFECT1 = 1  # inside ``with Flow(...)``: tasks are added to a graph, run later
    PREFECT3 = 3  # inside a ``@flow`` run: tasks are submitted now


@functools.cache
def _prefect_installed() -> bool:
    return importlib.util.find_spec("prefect") is not None


def require_prefect(what: str) -> None:
    """Raise :class:`PrefectDependencyError` unless Prefect can be imported."""
    if "prefect" in sys.modules:
        installed = sys.modules["prefect"] is not None  # None: hidden on purpose
    else:
        installed = _prefect_installed()
    if not installed:
        raise PrefectDependencyError(
            f'The package "prefect" is required to use {what}: {INSTALL_HINT}'
        )


def _import_prefect(what: str) -> ModuleType:
    require_prefect(what)
    try:
        import prefect
    except ImportError as error:
        raise PrefectDependencyError(
            f'The package "prefect" failed to import, needed by {what}: {error}'
        ) from error
    return prefect


def _major_version(prefect: ModuleType) -> int:
    version = str(getattr(prefect, "__version__", "0"))
    head = version.partition(".")[0]
    return int(head) if head.isdigit() else 0


def active_engine() -> Engine | None:
    """The engine whose flow this thread is inside, or None; never imports Prefect."""
    context_module = sys.modules.get("prefect.context")
    if context_module is not None:  # Prefect 2/3: the context is a module of context classes
        flow_run_context = getattr(context_module, "FlowRunContext", None)
        if flow_run_context is not None and flow_run_context.get() is not None:
            return Engine.PREFECT3
        return None
    prefect = sys.modules.get("prefect")
    context = getattr(prefect, "context", None) if prefect is not None else None
    # Prefect 1: ``prefect.context`` is a thread-local mapping; ``flow`` is set only while a
    # ``with Flow(...)`` block builds a flow (not while its tasks run).
    if isinstance(context, Mapping) and context.get("flow") is not None:
        return Engine.PREFECT1
    return None


def flow_run_active() -> bool:
    """True inside a Prefect flow (a Prefect 1 flow being built, a Prefect 3 flow running)."""
    return active_engine() is not None


def as_task(func: Callable[..., Any], name: str) -> Any:
    """``func`` as a task of the installed Prefect, named ``name``, with its ``@task_nout``."""
    prefect = _import_prefect("get_task")
    if _major_version(prefect) == 1:
        return prefect.task(name=name, nout=nout_of(func))(func)
    from prefect.cache_policies import NO_CACHE

    # Caching by inputs would silently skip a plugin call whose inputs hash alike (arrays,
    # models); Dioptra's tasks always ran, so ours do too.
    return prefect.task(name=name, cache_policy=NO_CACHE)(func)


def call_as_task(
    func: Callable[..., Any], name: str, args: Sequence[Any], kwargs: dict[str, Any]
) -> Any:
    """What ``call_task`` does with a plugin function, depending on the flow it is in."""
    require_prefect("call_task")
    upstream = list(kwargs.pop("upstream_tasks", None) or ())
    engine = active_engine()
    if engine is Engine.PREFECT1:
        return as_task(func, name)(*args, upstream_tasks=upstream or None, **kwargs)
    if engine is Engine.PREFECT3:
        future = as_task(func, name).submit(*args, wait_for=upstream, **kwargs)
        nout = nout_of(func)
        return future if nout is None else _split_future(future, name, nout)
    wait_for_upstream(upstream)
    return func(*args, **kwargs)


def _item(result: Sequence[Any], index: int) -> Any:
    return result[index]


def _split_future(future: Any, name: str, nout: int) -> tuple[Any, ...]:
    """One future per item of a Prefect 3 task's result (what Prefect 1 does for ``nout``)."""
    from prefect import task
    from prefect.cache_policies import NO_CACHE

    return tuple(
        task(name=f"{name}[{index}]", cache_policy=NO_CACHE)(_item).submit(future, index)
        for index in range(nout)
    )


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
