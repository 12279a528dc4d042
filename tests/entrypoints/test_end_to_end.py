"""The whole path through the real CLI: build -> publish -> run --sync, on SeaweedFS and locally.

Also: a publish (and sync, and gc) of new versions while a job runs does not change the code
that job imports; the next run uses the new version.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
import signal
import subprocess
import sys
import time
import tomllib
from pathlib import Path

import pytest
from entrypoint_projects import make_project

from dioptra_plugins.bundle.build import build_bundle

REPO = Path(__file__).resolve().parents[2]
PLUGIN_PACKAGES = REPO / "plugin-packages"
EXAMPLE = REPO / "examples" / "fgm_attack"
CLI = [sys.executable, "-m", "dioptra_plugins"]
REQUIREMENTS = ["dioptra-builtins>=1,<2", "dioptra-examples>=1,<2"]


def examples_variant(source_root: Path, version: str, marker: str) -> Path:
    """A copy of dioptra_examples at ``version`` whose datasets module carries ``MARKER``."""
    target = source_root / f"dioptra_examples-{version}"
    shutil.copytree(PLUGIN_PACKAGES / "dioptra_examples", target)
    pyproject = target / "pyproject.toml"
    pyproject.write_text(
        pyproject.read_text().replace('version = "1.0.0"', f'version = "{version}"')
    )
    package = target / "src" / "dioptra_examples"
    init = package / "__init__.py"
    init.write_text(init.read_text().replace('"1.0.0"', f'"{version}"'))
    with (package / "datasets.py").open("a") as datasets:
        datasets.write(f"\nMARKER = {marker!r}\n")
    return target


@pytest.fixture(scope="module")
def wheels(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """The shipped packages at 1.0.0 and two later dioptra_examples versions, built once."""
    root = tmp_path_factory.mktemp("wheels")
    dist = root / "dist"
    built = {
        "builtins": build_bundle(PLUGIN_PACKAGES / "dioptra_builtins", dist),
        "examples-1.0.0": build_bundle(PLUGIN_PACKAGES / "dioptra_examples", dist),
    }
    for version, marker in (("1.1.0", "v2"), ("1.2.0", "v3")):
        source = examples_variant(root / "src", version, marker)
        built[f"examples-{version}"] = build_bundle(source, dist)
    return built


@pytest.fixture(autouse=True)
def _clean_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for variable in ("DIOPTRA_PLUGIN_DIR", "DIOPTRA_PLUGINS_INDEX", "MLFLOW_TRACKING_URI"):
        monkeypatch.delenv(variable, raising=False)


def cli(*args: str | Path, check: bool = True) -> subprocess.CompletedProcess[str]:
    done = subprocess.run(
        [*CLI, *map(str, args)], capture_output=True, text=True, timeout=240, env=dict(os.environ)
    )
    if check:
        assert done.returncode == 0, f"{args}: {done.stdout}\n{done.stderr}"
    return done


@pytest.mark.parametrize("index_backend", ["local", "seaweedfs"])
def test_publish_then_run_with_sync(
    index_url: str, wheels: dict[str, Path], tmp_path: Path
) -> None:
    cli("publish", "--index", index_url, wheels["builtins"], wheels["examples-1.0.0"])
    plugin_dir, out = tmp_path / "plugins", tmp_path / "out"
    sync_args = [arg for requirement in REQUIREMENTS for arg in ("--sync", requirement)]
    done = cli(
        "run", EXAMPLE, *sync_args,
        "--index", index_url, "--plugin-dir", plugin_dir, "--output-dir", out,
        "-P", "epsilon=0.5", "-P", "samples=200", "-P", f"output={out / 'metrics.json'}",
    )  # fmt: skip
    assert "accuracy" in done.stdout
    assert "metrics written to" in done.stdout
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["epsilon"] == 0.5
    assert metrics["test_samples"] == 50
    assert metrics["clean"]["accuracy"] > metrics["adversarial"]["accuracy"]
    assert metrics["perturbation"]["l_inf_max"] == pytest.approx(0.5)
    assert metrics["plugins"] == {"dioptra_builtins": "1.0.0", "dioptra_examples": "1.0.0"}
    lock = tomllib.loads((out / "pylock.toml").read_text())
    locked = {p["name"]: p for p in lock["packages"]}
    assert set(locked) == {"dioptra-builtins", "dioptra-examples"}
    wheel_hash = locked["dioptra-examples"]["wheels"][0]["hashes"]["sha256"]
    assert wheel_hash == hashlib.sha256(wheels["examples-1.0.0"].read_bytes()).hexdigest()
    record = json.loads((out / "run.json").read_text())
    assert record["exit_code"] == 0
    assert record["synced_from"] == "--sync"
    assert record["plugins"] == {"dioptra-builtins": "1.0.0", "dioptra-examples": "1.0.0"}
    assert record["generation"] == "000001"
    assert record["parameters"]["epsilon"] == "0.5"


JOB = """\
import os, sys, time
from dioptra_plugins import pyplugs
from dioptra_plugins.plugindir.syspath import plugin_dirs

ready, go = sys.argv[1:3]
with plugin_dirs():
    import dioptra_examples
    version = dioptra_examples.__version__
    open(ready, "w").close()
    while not os.path.exists(go):
        time.sleep(0.05)
    # Imported only now, after new versions were published, synced and collected.
    pyplugs.call_task("dioptra_examples", "datasets", "make_blobs", n_samples=20)
    import dioptra_examples.datasets as datasets
    print("VERSIONS", version, getattr(datasets, "MARKER", "v1"), flush=True)
"""


@pytest.fixture
def job_project(tmp_path: Path) -> tuple[Path, Path, Path]:
    ready, go = tmp_path / "ready", tmp_path / "go"
    project = make_project(
        tmp_path / "job",
        """\
        name: pinned-job
        entry_points:
          main:
            parameters: {ready: path, go: path}
            command: python job.py {ready} {go}
        """,
        **{"job.py": JOB, "plugins.txt": "\n".join(REQUIREMENTS) + "\n"},
    )
    return project, ready, go


@pytest.mark.parametrize("index_backend", ["seaweedfs"])
def test_publish_during_a_run_does_not_change_the_jobs_code(
    index_url: str,
    wheels: dict[str, Path],
    tmp_path: Path,
    job_project: tuple[Path, Path, Path],
) -> None:
    project, ready, go = job_project
    plugin_dir = tmp_path / "plugins"
    cli("publish", "--index", index_url, wheels["builtins"], wheels["examples-1.0.0"])
    run_args = [
        *CLI, "run", str(project), "--index", index_url, "--plugin-dir", str(plugin_dir),
        "-P", f"ready={ready}", "-P", f"go={go}",
    ]  # fmt: skip
    first_out = tmp_path / "first"
    job = subprocess.Popen(
        [*run_args, "--output-dir", str(first_out)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=dict(os.environ),
        start_new_session=True,  # so that a failure can stop the job's whole process tree
    )
    try:
        deadline = time.monotonic() + 120
        while not ready.exists():
            assert job.poll() is None, job.communicate()
            assert time.monotonic() < deadline, "the job never became ready"
            time.sleep(0.05)
        # Two new versions land and are synced into the job's own plugin dir, then gc runs
        # with --keep 0: only the job's pin keeps its generation alive.
        for version in ("1.1.0", "1.2.0"):
            cli("publish", "--index", index_url, wheels[f"examples-{version}"])
            cli("sync", *REQUIREMENTS, "--index", index_url, "--plugin-dir", plugin_dir)
        cli("gc", "--keep", "0", "--plugin-dir", plugin_dir)
        assert (plugin_dir / ".dioptra-plugins" / "generations" / "000001").is_dir()
        switched = os.readlink(plugin_dir / ".dioptra-plugins" / "current")
        assert switched.endswith("000003")
        go.touch()
        stdout, stderr = job.communicate(timeout=120)
    finally:
        go.touch()
        with contextlib.suppress(subprocess.TimeoutExpired):
            job.wait(timeout=30)
        with contextlib.suppress(ProcessLookupError):
            os.killpg(job.pid, signal.SIGKILL)
        job.wait()
    assert job.returncode == 0, stderr
    assert "VERSIONS 1.0.0 v1" in stdout
    assert json.loads((first_out / "run.json").read_text())["generation"] == "000001"
    assert 'version = "1.0.0"' in (first_out / "pylock.toml").read_text()

    # The next run (its plugins.txt sync finds nothing new) uses the newest version.
    ready.unlink()
    second_out = tmp_path / "second"
    done = subprocess.run(
        [*run_args, "--output-dir", str(second_out)],
        capture_output=True,
        text=True,
        timeout=240,
        env=dict(os.environ),
    )
    assert done.returncode == 0, done.stderr
    assert "VERSIONS 1.2.0 v3" in done.stdout
    assert json.loads((second_out / "run.json").read_text())["generation"] == "000003"
    assert 'version = "1.2.0"' in (second_out / "pylock.toml").read_text()
