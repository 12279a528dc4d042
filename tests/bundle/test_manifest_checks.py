"""What ``manifest_problems`` says of each task shape: the one-expression check of the common
shape only decides "well formed"; every other task gets the field-by-field verdict."""

from __future__ import annotations

from typing import Any

import pytest

from dioptra_plugins.bundle.manifest import manifest_problems

PLAIN = {
    "module": "pkg.mod",
    "function": "task",
    "signature": "(x: int) -> int",
    "doc": "Double x.",
    "line": 3,
    "sort_value": 0,
}


def problems_of(task: Any) -> list[str]:
    return manifest_problems({"format": 1, "package": "pkg", "tasks": [PLAIN, task]}, "pkg")


@pytest.mark.parametrize(
    "task",
    [
        PLAIN,
        {**PLAIN, "kind": "class", "label": "Doubler"},
        {**PLAIN, "input_params": [{"name": "x"}], "output_params": []},
        {**PLAIN, "line": True},  # a bool is an int to isinstance, as before
        {**PLAIN, "unknown": object()},  # fields nobody reads are not checked
    ],
    ids=["plain", "kind-and-label", "params", "bool-line", "unknown-field"],
)
def test_well_formed_tasks_have_no_problems(task: dict[str, Any]) -> None:
    assert problems_of(task) == []


@pytest.mark.parametrize(
    ("task", "expected"),
    [
        (["not", "an", "object"], ["task 1 is not an object"]),
        ({**PLAIN, "module": None}, ["task 1 has no valid 'module'"]),
        ({k: v for k, v in PLAIN.items() if k != "doc"}, ["task 1 has no valid 'doc'"]),
        ({**PLAIN, "line": "3"}, ["task 1 has no valid 'line'"]),
        ({**PLAIN, "label": 7}, ["task 1 has an invalid 'label'"]),
        ({**PLAIN, "kind": ["class"]}, ["task 1 has an invalid 'kind'"]),
        ({**PLAIN, "input_params": [1]}, ["task 1 has an invalid 'input_params'"]),
        ({**PLAIN, "output_params": {}}, ["task 1 has an invalid 'output_params'"]),
        (
            {"module": 1, "function": 2, "signature": "()", "doc": "", "line": 1},
            ["task 1 has no valid 'module'", "task 1 has no valid 'function'"],
        ),
    ],
    ids=[
        "list",
        "module-null",
        "doc-missing",
        "line-text",
        "label-number",
        "kind-list",
        "params-not-objects",
        "params-not-a-list",
        "two-fields",
    ],
)
def test_each_malformed_task_is_named_with_every_problem(task: Any, expected: list[str]) -> None:
    assert problems_of(task) == [f"dioptra_plugins.json: {problem}" for problem in expected]
