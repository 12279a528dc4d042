"""Building from git against ``uv build --wheel``, and republishing an unchanged commit (issue 23).

Workload: one git repository (made with the git binary in a temporary directory) holding N
plugin packages (default 40), each a hatchling project of 10 modules with registered tasks,
declared in the root ``pyproject.toml`` as ``[tool.dioptra-plugins] packages``.  Timed as the
commands a user runs (interpreter start-up included), interleaved, order alternating per round:

- ours: ``dioptra-plugins build git+file:///repo@main -o DIR`` (fetch the commit, export each
  package's tree from git objects, build each reproducibly with provenance, verify each);
- baseline: ``uv build --wheel --no-build-isolation --offline`` of each package folder of a
  checkout of the same commit (one uv process per package, as a CI loop would run it: uv
  builds one source per invocation), run 1 at a time and N in parallel (as many as cores);
- republish: ``dioptra-plugins publish git+file:///repo@main --index DIR`` of a commit the
  index already has (every package skipped by its tree id before anything is built), and the
  first publish of the commit for reference.

Medians over the rounds are printed as a Markdown table, then each round's times and its
ratios (ours over uv in the same round, so load that changes between rounds cancels out).

Run: .venv/bin/python bench/bench_build_git.py [--packages 40] [--rounds 3]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

BIN = Path(sys.executable).parent
CLI = str(BIN / "dioptra-plugins")
MODULES = 10

TASK = '''from dioptra_plugins.pyplugs import register


@register
def task_{n}(x: int, scale: float = 1.0) -> float:
    """Scale x ({n})."""
    return x * scale


def helper_{n}(values: list[int]) -> int:
    return sum(values) + {n}
'''


def git(repo: Path, *args: str) -> None:
    env = {
        "PATH": os.environ["PATH"],
        "HOME": str(repo.parent),
        "GIT_CONFIG_NOSYSTEM": "1",
        "GIT_AUTHOR_NAME": "bench",
        "GIT_AUTHOR_EMAIL": "bench@example.org",
        "GIT_COMMITTER_NAME": "bench",
        "GIT_COMMITTER_EMAIL": "bench@example.org",
        "GIT_AUTHOR_DATE": "@1700000000 +0000",
        "GIT_COMMITTER_DATE": "@1700000000 +0000",
    }
    subprocess.run(["git", *args], cwd=repo, env=env, check=True, capture_output=True)


def make_repository(root: Path, packages: int) -> tuple[Path, list[str]]:
    repo = root / "repo"
    repo.mkdir()
    git(repo, "init", "-q", "-b", "main")
    paths = []
    for number in range(packages):
        name = f"benchpkg{number:03d}"
        project = repo / "plugins" / name
        (project / name).mkdir(parents=True)
        (project / "pyproject.toml").write_text(
            '[build-system]\nrequires = ["hatchling"]\nbuild-backend = "hatchling.build"\n'
            f'[project]\nname = "{name}"\nversion = "1.0"\nrequires-python = ">=3.11"\n'
        )
        (project / name / "__init__.py").write_text("")
        for module in range(MODULES):
            (project / name / f"m{module:02d}.py").write_text(TASK.format(n=module))
        paths.append(f"plugins/{name}")
    (repo / "pyproject.toml").write_text(
        "[tool.dioptra-plugins]\npackages = [" + ", ".join(f'"{p}"' for p in paths) + "]\n"
    )
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", "bench packages")
    return repo, paths


def timed(command: list[str], cwd: Path) -> float:
    started = time.perf_counter()
    done = subprocess.run(command, cwd=cwd, capture_output=True, text=True, check=False)
    elapsed = time.perf_counter() - started
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(command)} failed:\n{done.stderr[-2000:]}")
    return elapsed


def ours(repo: Path, work: Path) -> float:
    out = work / "ours"
    shutil.rmtree(out, ignore_errors=True)
    return timed([CLI, "build", f"git+file://{repo}@main", "-o", str(out), "-q"], work)


def uv_build(checkout: Path, paths: list[str], work: Path, parallel: int) -> float:
    out = work / f"uv{parallel}"
    shutil.rmtree(out, ignore_errors=True)
    uv = shutil.which("uv", path=str(BIN)) or "uv"

    def one(path: str) -> None:
        command = [
            uv, "build", "--wheel", "--no-build-isolation", "--offline", "-q",
            "--python", sys.executable, "-o", str(out), str(checkout / path),
        ]  # fmt: skip
        done = subprocess.run(command, capture_output=True, text=True, check=False)
        if done.returncode != 0:
            raise SystemExit(f"uv build {path} failed:\n{done.stderr[-2000:]}")

    started = time.perf_counter()
    with ThreadPoolExecutor(max_workers=parallel) as pool:
        list(pool.map(one, paths))
    return time.perf_counter() - started


def publish(repo: Path, index: Path, work: Path) -> tuple[float, dict[str, object]]:
    started = time.perf_counter()
    done = subprocess.run(
        [CLI, "publish", f"git+file://{repo}@main", "--index", str(index), "--json"],
        cwd=work,
        capture_output=True,
        text=True,
        check=False,
    )
    elapsed = time.perf_counter() - started
    if done.returncode != 0:
        raise SystemExit(f"publish failed:\n{done.stderr[-2000:]}")
    document: dict[str, object] = json.loads(done.stdout)
    return elapsed, document


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--packages", type=int, default=40)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    cores = os.cpu_count() or 1
    with tempfile.TemporaryDirectory(prefix="bench-build-git-") as tmp:
        work = Path(tmp)
        repo, paths = make_repository(work, args.packages)
        checkout = work / "checkout"
        subprocess.run(
            ["git", "clone", "-q", str(repo), str(checkout)], check=True, capture_output=True
        )
        times: dict[str, list[float]] = {"ours": [], "uv1": [], "uvN": []}
        for round_number in range(args.rounds):
            order = ["ours", "uv1", "uvN"]
            if round_number % 2:
                order.reverse()
            for name in order:
                if name == "ours":
                    times[name].append(ours(repo, work))
                elif name == "uv1":
                    times[name].append(uv_build(checkout, paths, work, 1))
                else:
                    times[name].append(uv_build(checkout, paths, work, cores))
        first_publish, republish = [], []
        for _ in range(args.rounds):
            index = work / "index"
            shutil.rmtree(index, ignore_errors=True)
            elapsed, document = publish(repo, index, work)
            first_publish.append(elapsed)
            assert len(document["files"]) == args.packages  # type: ignore[arg-type]
            elapsed, document = publish(repo, index, work)
            republish.append(elapsed)
            assert document["files"] == [], document
        # Reproducibility, while we are here: two of our builds are byte-identical.
        ours(repo, work)
        first = {p.name: p.read_bytes() for p in (work / "ours").iterdir()}
        ours(repo, work)
        second = {p.name: p.read_bytes() for p in (work / "ours").iterdir()}
        identical = first == second

    def median(values: list[float]) -> str:
        return f"{statistics.median(values):.2f} s"

    print(f"{args.packages} packages x {MODULES} modules, {args.rounds} rounds, {cores} cores\n")
    print("| what | median wall time |")
    print("|---|---|")
    print(f"| `dioptra-plugins build git+file://…@main` (all, with provenance) | "
          f"{median(times['ours'])} |")  # fmt: skip
    print(f"| `uv build --wheel` per package, 1 at a time | {median(times['uv1'])} |")
    print(f"| `uv build --wheel` per package, {cores} at a time | {median(times['uvN'])} |")
    print(f"| `publish git+…` first time (build + upload) | {median(first_publish)} |")
    print(f"| `publish git+…` unchanged commit (all skipped) | {median(republish)} |")
    print("\n| round | ours | uv 1 at a time | uv N at a time | ours / uv 1 | ours / uv N |")
    print("|---|---|---|---|---|---|")
    rounds = zip(times["ours"], times["uv1"], times["uvN"], strict=True)
    for number, (mine, one, many) in enumerate(rounds):
        print(
            f"| {number + 1} | {mine:.2f} s | {one:.2f} s | {many:.2f} s | "
            f"{mine / one:.2f} | {mine / many:.2f} |"
        )
    ratios = [mine / many for mine, many in zip(times["ours"], times["uvN"], strict=True)]
    print(f"\nmedian per-round ratio ours / uv N at a time: {statistics.median(ratios):.2f}")
    print(f"two builds byte-identical: {identical}")


if __name__ == "__main__":
    main()
