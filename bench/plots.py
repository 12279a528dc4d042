"""Plots of the benchmark results, as SVG files for bench/README.md.

The bench scripts that have something to plot save their raw numbers as JSON in
``bench/results/`` (not committed: machine-specific) and call :func:`render`, which draws every
plot whose results exist into ``bench/plots/`` (committed, shown in the README):

- ``sync-scaling.svg``: cold sync time against bundle count, one line per tool
  (``bench_sync_scaling.py``);
- ``reload-latency.svg``: the distribution of edit-to-visible latencies, ours against
  watchfiles + ``importlib.reload`` and a process restart (``bench_reload.py``).

Run: .venv/bin/python bench/plots.py  (re-draws from the saved results)
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

BENCH = Path(__file__).resolve().parent
RESULTS = BENCH / "results"
PLOTS = BENCH / "plots"
SYNC_SCALING = "sync_scaling.json"
RELOAD = "reload.json"

_OURS = ["#2456a6", "#6c8fd6"]
_OTHERS = ["#c2410c", "#f59e0b", "#166534", "#7c3aed", "#6b7280"]


def _colours(tools: list[str]) -> list[str]:
    """Blues for dioptra-plugins, warm and other colours for the tools it is compared with."""
    ours, others = iter(_OURS * 3), iter(_OTHERS * 3)
    return [next(ours) if t.startswith("dioptra-plugins") else next(others) for t in tools]


def save_results(name: str, results: dict[str, Any]) -> Path:
    """Write one bench script's raw results to ``bench/results/<name>``."""
    RESULTS.mkdir(exist_ok=True)
    path = RESULTS / name
    path.write_text(json.dumps(results, indent=1, sort_keys=True) + "\n")
    return path


def render(results: Path = RESULTS, out: Path = PLOTS) -> list[Path]:
    """Draw every plot whose results are in ``results``; returns the files written."""
    written = []
    if (results / SYNC_SCALING).is_file():
        data = json.loads((results / SYNC_SCALING).read_text())
        written.append(plot_sync_scaling(data, out / "sync-scaling.svg"))
    if (results / RELOAD).is_file():
        data = json.loads((results / RELOAD).read_text())
        written.append(plot_reload_latency(data, out / "reload-latency.svg"))
    return written


def _pyplot() -> Any:
    import matplotlib

    matplotlib.use("svg")  # no display, no GUI toolkit
    import matplotlib.pyplot as plt

    plt.rcParams.update(
        {
            "svg.fonttype": "none",  # text stays text: smaller files, readable diffs
            "svg.hashsalt": "dioptra-plugins",  # the same results give the same bytes
            "font.size": 10,
            "axes.spines.top": False,
            "axes.spines.right": False,
            "axes.grid": True,
            "grid.alpha": 0.3,
        }
    )
    return plt


def plot_sync_scaling(data: dict[str, Any], path: Path) -> Path:
    """``data``: {"counts": [5, 10, ...], "tools": {tool: [median seconds per count]},
    "runs": {tool: [[seconds of each round] per count]}, "meta": {...}}."""
    plt = _pyplot()
    figure, axes = plt.subplots(figsize=(7, 4.2))
    counts = data["counts"]
    tools = data["tools"]
    for colour, (tool, medians) in zip(_colours(list(tools)), tools.items(), strict=True):
        axes.plot(counts, medians, marker="o", color=colour, label=tool)
        for count, runs in zip(counts, data.get("runs", {}).get(tool, []), strict=False):
            axes.scatter([count] * len(runs), runs, color=colour, s=8, alpha=0.35)
    axes.set_xlabel("bundles in the sync (25 modules each)")
    axes.set_ylabel("cold sync, seconds (line: median; dots: runs)")
    axes.set_xticks(counts)
    axes.set_ylim(bottom=0)
    axes.set_title(_title("Cold sync time against bundle count", data.get("meta", {})))
    axes.legend(frameon=False)
    return _save(plt, figure, path, data.get("meta", {}))


def plot_reload_latency(data: dict[str, Any], path: Path) -> Path:
    """``data``: {"latencies_ms": {tool: [ms of each save]}, "missed": {tool: n}, "meta": {}}:
    one cumulative distribution per tool, on a log axis (restarts are 10x slower)."""
    plt = _pyplot()
    figure, axes = plt.subplots(figsize=(7, 4.2))
    latencies = data["latencies_ms"]
    for colour, (tool, values) in zip(_colours(list(latencies)), latencies.items(), strict=True):
        if not values:
            continue
        ordered = sorted(values)
        fractions = [(index + 1) / len(ordered) for index in range(len(ordered))]
        missed = data.get("missed", {}).get(tool)
        label = tool if not missed else f"{tool} ({missed} saves never seen)"
        axes.step(ordered, fractions, where="post", color=colour, label=label)
        middle = ordered[len(ordered) // 2]
        axes.axvline(middle, color=colour, linestyle=":", linewidth=1)
    axes.set_xscale("log")
    axes.set_xlabel("edit saved -> new code visible, ms (log scale; dotted: median)")
    axes.set_ylabel("fraction of saves")
    axes.set_ylim(0, 1.02)
    axes.set_title(_title("Reload latency distribution", data.get("meta", {})))
    axes.legend(frameon=False, loc="upper left")
    return _save(plt, figure, path, data.get("meta", {}))


def _title(title: str, meta: dict[str, Any]) -> str:
    return f"{title} ({meta['date']})" if meta.get("date") else title


def _save(plt: Any, figure: Any, path: Path, meta: dict[str, Any]) -> Path:
    if meta.get("note"):
        figure.text(0.01, 0.01, meta["note"], fontsize=7, color="#5b6574")
    figure.tight_layout(rect=(0, 0.04 if meta.get("note") else 0, 1, 1))
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, format="svg", metadata={"Date": None})
    plt.close(figure)
    return path


def main() -> None:
    for path in render():
        print(f"wrote {path.relative_to(BENCH.parent)}")


if __name__ == "__main__":
    main()
