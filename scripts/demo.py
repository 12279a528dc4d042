"""The whole path in one command: build, publish, sync, run an attack experiment, show the lock.

    .venv/bin/python scripts/demo.py                      # a local folder index
    .venv/bin/python scripts/demo.py --index s3://bucket/plugins   # the same, against a bucket

Every step is a ``dioptra-plugins`` command, printed before it runs, so the demo doubles as a
walkthrough:

1. build the plugin packages in ``plugin-packages/`` into bundles (wheels);
2. publish them to the index;
3. sync them into a plugin dir (what a worker does at start-up);
4. run the ``examples/fgm_attack`` entry point, which syncs again (one request: nothing
   changed), pins the generation and writes ``run.json`` and ``pylock.toml`` to its output dir;
5. print the experiment's metrics and the lock it ran with.

Everything is written under ``--work-dir`` (default ``.demo/`` in the repository); the folders
the demo creates there are replaced on every run.
"""

from __future__ import annotations

import argparse
import json
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
PLUGIN_PACKAGES = [
    REPO / "plugin-packages" / "dioptra_builtins",
    REPO / "plugin-packages" / "dioptra_examples",
]
EXAMPLE = REPO / "examples" / "fgm_attack"
WORK_SUBDIRS = ("dist", "index", "plugins", "run")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--work-dir", type=Path, default=REPO / ".demo")
    parser.add_argument("--index", help="index URL (default: a folder in the work dir)")
    parser.add_argument("--epsilon", default="0.5", help="FGM attack strength")
    args = parser.parse_args()

    work = args.work_dir.absolute()
    for name in WORK_SUBDIRS:
        shutil.rmtree(work / name, ignore_errors=True)
    work.mkdir(parents=True, exist_ok=True)
    dist, plugins, out = work / "dist", work / "plugins", work / "run"
    index = args.index or str(work / "index")
    cli = dioptra_plugins_command()

    step("1. build the plugin packages into bundles")
    # --allow-dirty: the demo builds what is on disk, edits included (recorded as dirty: true),
    # so that trying a change to a shipped plugin is one `make demo` away.
    run([*cli, "build", *map(str, PLUGIN_PACKAGES), "-o", str(dist), "--allow-dirty"])
    step(f"2. publish the bundles to the index {index}")
    run([*cli, "publish", "--index", index, *map(str, sorted(dist.glob("*.whl")))])
    step("3. sync the plugin packages into a plugin dir (a worker's start-up)")
    requirements = EXAMPLE / "plugins.txt"
    run([*cli, "sync", "-r", str(requirements), "--index", index, "--plugin-dir", str(plugins)])
    step("4. run the FGM attack entry point on the synced plugins")
    code = run(
        [
            *cli,
            "run",
            str(EXAMPLE),
            "-P",
            f"epsilon={args.epsilon}",
            "-P",
            f"output={out / 'metrics.json'}",
            "--index",
            index,
            "--plugin-dir",
            str(plugins),
            "--output-dir",
            str(out),
        ],
        check=False,
    )
    if code != 0:
        print(f"the entry point failed with exit code {code}", file=sys.stderr)
        return code
    step(f"5. results in {out}")
    metrics = json.loads((out / "metrics.json").read_text())
    record = json.loads((out / "run.json").read_text())
    clean, adversarial = metrics["clean"]["accuracy"], metrics["adversarial"]["accuracy"]
    perturbation = metrics["perturbation"]
    print(f"accuracy clean       {clean:.3f}")
    print(f"accuracy adversarial {adversarial:.3f}  (epsilon {metrics['epsilon']})")
    print(f"perturbation         l2 mean {perturbation['l2_mean']:.3f}", end="")
    print(f", l_inf max {perturbation['l_inf_max']:.3f}")
    print(f"plugin generation    {record['generation']} in {record['plugin_dir']}")
    print(f"\nthe lock this run used ({out / 'pylock.toml'}):\n")
    print((out / "pylock.toml").read_text())
    return 0


def dioptra_plugins_command() -> list[str]:
    """The venv's ``dioptra-plugins`` (beside this interpreter), else the one on PATH."""
    beside = Path(sys.executable).parent / "dioptra-plugins"
    if beside.exists():
        return [str(beside)]
    found = shutil.which("dioptra-plugins")
    return [found] if found else [sys.executable, "-m", "dioptra_plugins"]


def step(title: str) -> None:
    print(f"\n== {title}", flush=True)


def run(command: list[str], *, check: bool = True) -> int:
    shown = [Path(command[0]).name if i == 0 else part for i, part in enumerate(command)]
    print("$ " + shlex.join(shown), flush=True)
    code = subprocess.run(command, check=False).returncode
    if check and code != 0:
        raise SystemExit(code)
    return code


if __name__ == "__main__":
    sys.exit(main())
