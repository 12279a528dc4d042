"""The commit a bundle was built from travels with it: index show, sync's pylock.toml, list,
tasks --json, run.json and the MLflow run's tags."""

from __future__ import annotations

import json
import sys
import tomllib
from pathlib import Path

import pytest
from gitrepos import Repo, cli

from dioptra_plugins.bundle.git_build import GitBuildOptions
from dioptra_plugins.entrypoints.run import RunRequest, run_entry_point
from dioptra_plugins.index.local import LocalStorage
from dioptra_plugins.plugindir.pylock import lock_from_toml, lock_to_toml
from dioptra_plugins.publishing.from_git import publish_from_git
from dioptra_plugins.syncing.engine import sync

TASKS = (
    "from dioptra_plugins.pyplugs import register\n\n\n"
    "@register\n"
    "def triple(x: int) -> int:\n"
    '    """Three times x."""\n'
    "    return 3 * x\n"
)


@pytest.fixture
def synced(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[Repo, Path, Path]:
    for variable in ("DIOPTRA_PLUGIN_DIR", "DIOPTRA_PLUGINS_INDEX", "MLFLOW_TRACKING_URI"):
        monkeypatch.delenv(variable, raising=False)
    repo = Repo(tmp_path / "repo")
    repo.write("plugins/tracedtasks/__init__.py", "")
    repo.write("plugins/tracedtasks/tasks.py", TASKS)
    repo.write("pyproject.toml", '[tool.dioptra-plugins]\npackages = ["plugins/tracedtasks"]\n')
    repo.commit("traced")
    index = tmp_path / "index"
    publish_from_git(LocalStorage(index), f"{repo.url}@main", GitBuildOptions("1.0"))
    plugin_dir = tmp_path / "plugins"
    sync(["tracedtasks"], index=str(index), plugin_dir=plugin_dir)
    return repo, index, plugin_dir


def test_index_show_lock_list_and_tasks_name_the_commit(
    tmp_path: Path, synced: tuple[Repo, Path, Path]
) -> None:
    repo, index, plugin_dir = synced
    commit = repo.git("rev-parse", "HEAD")
    shown = cli("index", "show", "tracedtasks", "--index", str(index), cwd=tmp_path)
    assert shown.returncode == 0, shown.stderr
    assert f"source {repo.url} {commit}" in shown.stdout

    lock_file = plugin_dir / ".dioptra-plugins" / "current" / "pylock.toml"
    lock = tomllib.loads(lock_file.read_text())
    (package,) = lock["packages"]
    provenance = package["tool"]["dioptra-plugins"]["provenance"]
    assert provenance["commit"] == commit
    assert provenance["url"] == repo.url
    assert provenance["subdirectory"] == "plugins/tracedtasks"
    assert provenance["dirty"] is False
    assert provenance["requested-ref"] == "main"
    # Read back and written again, the lock keeps it.
    again = lock_from_toml(lock_file.read_bytes())
    assert lock_to_toml(again) == lock_file.read_bytes()

    listed = cli("list", "--plugin-dir", str(plugin_dir), "--json", cwd=tmp_path)
    assert listed.returncode == 0, listed.stderr
    (entry,) = json.loads(listed.stdout)["packages"]
    assert entry["provenance"]["commit"] == commit
    table = cli("list", "--plugin-dir", str(plugin_dir), cwd=tmp_path)
    assert f"git {commit[:12]}" in table.stdout

    tasks = cli("tasks", "--plugin-dir", str(plugin_dir), "--json", cwd=tmp_path)
    assert tasks.returncode == 0, tasks.stderr
    (task,) = json.loads(tasks.stdout)["tasks"]
    assert task["function"] == "triple"
    assert task["provenance"]["commit"] == commit


def test_run_json_and_mlflow_tags_name_the_commit(
    tmp_path: Path, synced: tuple[Repo, Path, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    repo, _index, plugin_dir = synced
    commit = repo.git("rev-parse", "HEAD")
    project = tmp_path / "project"
    project.mkdir()
    (project / "MLproject").write_text(
        f'name: traced\nentry_points:\n  main:\n    command: "{sys.executable} -c pass"\n'
    )
    tracking = None
    try:
        import mlflow  # noqa: F401
    except ImportError:
        pass
    else:
        tracking = (tmp_path / "mlruns").as_uri()
        monkeypatch.setenv("MLFLOW_TRACKING_URI", tracking)
        monkeypatch.setenv("MLFLOW_ALLOW_FILE_STORE", "true")
        for variable in ("MLFLOW_RUN_ID", "MLFLOW_EXPERIMENT_ID", "MLFLOW_EXPERIMENT_NAME"):
            monkeypatch.delenv(variable, raising=False)
    request = RunRequest(project, plugin_dir=plugin_dir, output_dir=tmp_path / "out")
    assert run_entry_point(request).exit_code == 0
    record = json.loads((tmp_path / "out" / "run.json").read_text())
    assert record["plugin_sources"]["tracedtasks"]["commit"] == commit
    assert record["plugin_sources"]["tracedtasks"]["url"] == repo.url
    if tracking is None:
        pytest.skip("SKIPPED LOUDLY: mlflow is not installed; run.json was checked, tags not")
    from mlflow.tracking import MlflowClient

    (run,) = MlflowClient(tracking).search_runs(["0"])
    assert run.data.tags["dioptra.plugin.tracedtasks.commit"] == commit
    assert run.data.tags["dioptra.plugin.tracedtasks.source"] == repo.url
