"""Dioptra 1.x ``dioptra.toml`` and ``[tool.dioptra-plugins]`` repositories, built and
published from git: declared metadata in the manifest, unchanged packages skipped."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from gitrepos import TASKS, Repo, cli, manifest_of, need_dioptra_mirror
from jsonschema import Draft202012Validator

from dioptra_plugins.bundle.dioptra_toml import parse_dioptra_toml, parse_pyproject_packages
from dioptra_plugins.bundle.git_build import GitBuildOptions, build_from_git
from dioptra_plugins.errors import GitSourceError
from dioptra_plugins.index.local import LocalStorage
from dioptra_plugins.publishing.from_git import publish_from_git

ROOT = Path(__file__).resolve().parents[2]

HELLO = (
    "from dioptra import pyplugs\n\n\n"
    "@pyplugs.register\n"
    "def hello(name: str) -> str:\n"
    '    """Say hello."""\n'
    '    return f"Hello, {name}"\n\n\n'
    "@pyplugs.register\n"
    "def shout(greeting: str) -> str:\n"
    "    return greeting.upper()\n"
)
ARTIFACTS = (
    "from dioptra.sdk.api.artifact import ArtifactTaskInterface\n\n\n"
    "class StringArtifactTask(ArtifactTaskInterface):\n"
    "    pass\n"
)
TOML = """
[[plugins]]
path = "plugins/hello_world"
description = "Greetings."

  [[plugins.tasks.functions]]
  filename = "tasks.py"
  name = "hello"
  input_params = [ { name = "name", type = "string", required = true } ]
  output_params = [ { name = "greeting", type = "string" } ]

  [[plugins.tasks.functions]]
  filename = "tasks.py"
  name = "shout"
  input_params = [ { name = "greeting", type = "string", required = false } ]
  output_params = [ { name = "loud", type = "string" } ]

[[plugins]]
path = "plugins/numtasks"
description = "A namespace folder without __init__.py."

[[plugins]]
path = "plugins/artifacts"
description = "Artifact tasks only."

  [[plugins.tasks.artifacts]]
  filename = "tasks.py"
  name = "StringArtifactTask"
  output_params = [ { name = "contents", type = "string" } ]

[[plugin_param_types]]
name = "np.ndarray"
description = "A numpy array."
"""


def dioptra_repo(path: Path) -> Repo:
    """A repository laid out like Dioptra 1.1's ``extra/``."""
    repo = Repo(path)
    repo.write("extra/dioptra.toml", TOML)
    repo.write("extra/plugins/hello_world/__init__.py", "")
    repo.write("extra/plugins/hello_world/tasks.py", HELLO)
    repo.write("extra/plugins/numtasks/tasks.py", TASKS)
    repo.write("extra/plugins/artifacts/__init__.py", "")
    repo.write("extra/plugins/artifacts/tasks.py", ARTIFACTS)
    repo.write("extra/entrypoints/hello.yaml", "tasks: {}\n")
    repo.commit("plugins")
    return repo


def test_declared_metadata_goes_into_each_manifest(tmp_path: Path) -> None:
    repo = dioptra_repo(tmp_path / "repo")
    built = build_from_git(
        f"{repo.url}#subdirectory=extra", tmp_path / "dist", GitBuildOptions("1.0")
    )
    by_name = {b.wheel.name.split("-")[0]: b for b in built}
    assert set(by_name) == {"hello_world", "numtasks", "artifacts"}
    hello = manifest_of(by_name["hello_world"].wheel)
    tasks = {t["function"]: t for t in hello["tasks"]}
    assert tasks["hello"]["input_params"] == [{"name": "name", "type": "string", "required": True}]
    assert tasks["shout"]["input_params"][0]["required"] is False
    assert tasks["hello"]["output_params"] == [{"name": "greeting", "type": "string"}]
    assert hello["dioptra"]["description"] == "Greetings."
    assert hello["dioptra"]["plugin_param_types"] == [
        {"name": "np.ndarray", "description": "A numpy array."}
    ]
    assert hello["provenance"]["build"]["declared_in"] == "extra/dioptra.toml"
    artifacts = manifest_of(by_name["artifacts"].wheel)
    assert artifacts["tasks"] == []
    assert artifacts["dioptra"]["artifacts"] == [
        {
            "module": "artifacts.tasks",
            "class": "StringArtifactTask",
            "output_params": [{"name": "contents", "type": "string"}],
        }
    ]
    schema = json.loads((ROOT / "registry-index" / "task-manifest.schema.json").read_text())
    for item in built:
        Draft202012Validator(schema).validate(manifest_of(item.wheel))
    shown = cli("inspect", str(by_name["artifacts"].wheel), cwd=tmp_path)
    assert "StringArtifactTask (artifact)" in shown.stdout
    assert "np.ndarray" in shown.stdout
    shown = cli("inspect", str(by_name["hello_world"].wheel), cwd=tmp_path)
    assert "greeting?: string" in shown.stdout


def test_rebuild_of_a_declared_package(tmp_path: Path) -> None:
    repo = dioptra_repo(tmp_path / "repo")
    built = build_from_git(
        f"{repo.url}@main#subdirectory=extra", tmp_path / "dist", GitBuildOptions("1.0")
    )
    for item in built:
        done = cli("inspect", str(item.wheel), "--rebuild", cwd=tmp_path)
        assert done.returncode == 0, done.stderr


def index_state(index: Path) -> dict[str, Any]:
    root = json.loads((index / "index.json").read_bytes())
    assert isinstance(root, dict)
    return root


def test_publish_from_git_skips_unchanged_packages(tmp_path: Path) -> None:
    repo = dioptra_repo(tmp_path / "repo")
    index = tmp_path / "index"
    url = f"{repo.url}@main#subdirectory=extra"
    first = cli("publish", url, "--version", "1.0", "--index", str(index), "--json", cwd=tmp_path)
    assert first.returncode == 0, first.stderr
    document = json.loads(first.stdout)
    assert sorted(f["name"] for f in document["files"]) == [
        "artifacts",
        "hello-world",
        "numtasks",
    ]
    before = (index / "index.json").read_bytes()
    listing = sorted(p.relative_to(index) for p in index.rglob("*"))

    again = cli("publish", url, "--version", "1.0", "--index", str(index), "--json", cwd=tmp_path)
    assert again.returncode == 0, again.stderr
    document = json.loads(again.stdout)
    assert document["files"] == []
    assert len(document["unchanged"]) == 3
    assert (index / "index.json").read_bytes() == before
    assert sorted(p.relative_to(index) for p in index.rglob("*")) == listing

    # One package changes: with a new version only that one is built and published.
    repo.write("extra/plugins/numtasks/more.py", "MORE = 1\n")
    repo.commit("numbers changed")
    changed = cli("publish", url, "--version", "1.1", "--index", str(index), "--json", cwd=tmp_path)
    assert changed.returncode == 0, changed.stderr
    document = json.loads(changed.stdout)
    assert [(f["name"], f["version"]) for f in document["files"]] == [("numtasks", "1.1")]
    assert sorted(u["name"] for u in document["unchanged"]) == ["artifacts", "hello-world"]

    # Changed metadata in dioptra.toml alone is a change too.
    repo.write("extra/dioptra.toml", TOML.replace("Greetings.", "Greetings, changed."))
    repo.commit("description")
    meta = cli("publish", url, "--version", "1.2", "--index", str(index), "--json", cwd=tmp_path)
    assert meta.returncode == 0, meta.stderr
    assert [f["name"] for f in json.loads(meta.stdout)["files"]] == ["hello-world"]

    shown = cli("index", "show", "hello-world", "--index", str(index), "--json", cwd=tmp_path)
    assert shown.returncode == 0, shown.stderr
    assert repo.git("rev-parse", "HEAD") in shown.stdout


def test_publish_from_git_into_a_library_storage(tmp_path: Path) -> None:
    repo = dioptra_repo(tmp_path / "repo")
    storage = LocalStorage(tmp_path / "index")
    url = f"{repo.url}#subdirectory=extra"
    result = publish_from_git(storage, url, GitBuildOptions("1.0"))
    assert result.published is not None
    assert len(result.published.files) == 3
    assert result.commit == repo.git("rev-parse", "HEAD")
    dry = publish_from_git(storage, url, GitBuildOptions("1.0"), dry_run=True)
    assert dry.published is None


def test_pyproject_declares_packages(tmp_path: Path) -> None:
    repo = Repo(tmp_path / "repo")
    repo.write("pyproject.toml", '[tool.dioptra-plugins]\npackages = ["src/alpha", "src/beta"]\n')
    repo.write("src/alpha/__init__.py", TASKS)
    repo.write("src/beta/__init__.py", TASKS)
    repo.commit("two")
    built = build_from_git(repo.url, tmp_path / "dist", GitBuildOptions("0.1"))
    assert sorted(b.wheel.name for b in built) == [
        "alpha-0.1-py3-none-any.whl",
        "beta-0.1-py3-none-any.whl",
    ]
    assert {b.provenance.build.declared_in for b in built} == {"pyproject.toml"}
    assert "dioptra" not in manifest_of(built[0].wheel)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("[[plugins]\n", "not valid TOML"),
        ("title = 'x'\n", "no [[plugins]]"),
        ("[[plugins]]\ndescription = 'x'\n", "plugins[0].path"),
        ("[[plugins]]\npath = '../up'\n", "climbs out"),
        ("[[plugins]]\npath = '/abs'\n", "absolute"),
        ("[[plugins]]\npath = 'a'\n[[plugins]]\npath = 'a/'\n", "declared twice"),
        (
            "[[plugins]]\npath = 'a'\n[[plugins.tasks.functions]]\n"
            "filename = 'x.txt'\nname = 'f'\n",
            "filename",
        ),
        (
            "[[plugins]]\npath = 'a'\n[[plugins.tasks.functions]]\nfilename = 'x.py'\nname = 'f'\n"
            "input_params = [ { name = 'n' } ]\n",
            "input_params[0].type",
        ),
        (
            "[[plugins]]\npath = 'a'\n[[plugins.tasks.functions]]\nfilename = 'x.py'\nname = 'f'\n"
            "input_params = [ { name = 'n', type = 'int', required = 'yes' } ]\n",
            "required",
        ),
        ("[[plugins]]\npath = 'a'\n[[plugin_param_types]]\ndescription = 'x'\n", "has no name"),
    ],
)
def test_malformed_dioptra_toml(text: str, message: str) -> None:
    with pytest.raises(GitSourceError, match=message.replace("[", r"\[")):
        parse_dioptra_toml(text.encode(), "extra/dioptra.toml")


def test_malformed_pyproject_declarations() -> None:
    assert parse_pyproject_packages(b"[project]\nname = 'x'\n", "pyproject.toml") is None
    with pytest.raises(GitSourceError, match="packages"):
        parse_pyproject_packages(b"[tool.dioptra-plugins]\n", "pyproject.toml")
    with pytest.raises(GitSourceError, match="empty"):
        parse_pyproject_packages(b"[tool.dioptra-plugins]\npackages = []\n", "pyproject.toml")
    with pytest.raises(GitSourceError, match="climbs out"):
        parse_pyproject_packages(b"[tool.dioptra-plugins]\npackages = ['..']\n", "p")


def test_dioptra_toml_naming_a_missing_path_writes_nothing(tmp_path: Path) -> None:
    repo = dioptra_repo(tmp_path / "repo")
    repo.write("extra/dioptra.toml", TOML + '\n[[plugins]]\npath = "plugins/gone"\n')
    repo.commit("missing")
    index = tmp_path / "index"
    done = cli(
        "publish",
        f"{repo.url}#subdirectory=extra",
        "--version",
        "1",
        "--index",
        str(index),
        cwd=tmp_path,
    )
    assert done.returncode == 1
    assert "plugins/gone" in done.stderr
    assert "Traceback" not in done.stderr
    assert not index.exists()


def test_dioptra_toml_naming_a_missing_file(tmp_path: Path) -> None:
    repo = dioptra_repo(tmp_path / "repo")
    repo.write("extra/dioptra.toml", TOML.replace('filename = "tasks.py"', 'filename = "gone.py"'))
    repo.commit("missing file")
    with pytest.raises(GitSourceError, match=r"gone\.py"):
        build_from_git(f"{repo.url}#subdirectory=extra", tmp_path / "d", GitBuildOptions("1"))
    assert not (tmp_path / "d").exists()


def test_malformed_dioptra_toml_in_a_repository(tmp_path: Path) -> None:
    repo = dioptra_repo(tmp_path / "repo")
    repo.write("extra/dioptra.toml", "[[plugins]\n")
    repo.commit("broken")
    done = cli("build", f"{repo.url}#subdirectory=extra", "--version", "1", "-o", "d", cwd=tmp_path)
    assert done.returncode == 1
    assert "extra/dioptra.toml" in done.stderr
    assert not (tmp_path / "d").exists()


def test_dioptra_extra_publishes_from_git_in_one_command(tmp_path: Path) -> None:
    mirror = need_dioptra_mirror()
    index = tmp_path / "index"
    url = f"git+file://{mirror}@5ff20c18#subdirectory=extra"
    done = cli("publish", url, "--version", "1.0", "--index", str(index), "--json", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    document = json.loads(done.stdout)
    assert sorted(f["name"] for f in document["files"]) == [
        "artifacts",
        "hello-world",
        "sklearn-classify",
    ]
    assert document["commit"].startswith("5ff20c18")
    shown = cli("index", "show", "hello-world", "--index", str(index), "--json", cwd=tmp_path)
    assert shown.returncode == 0, shown.stderr
    text = shown.stdout
    assert '"input_params"' in text
    assert document["commit"] in text
    again = cli("publish", url, "--version", "1.0", "--index", str(index), "--json", cwd=tmp_path)
    assert again.returncode == 0, again.stderr
    assert json.loads(again.stdout)["files"] == []


def test_tasks_json_shows_declared_parameters_after_sync(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from dioptra_plugins.syncing.engine import sync

    for variable in ("DIOPTRA_PLUGIN_DIR", "DIOPTRA_PLUGINS_INDEX"):
        monkeypatch.delenv(variable, raising=False)
    repo = Repo(tmp_path / "repo")
    repo.write(
        "extra/dioptra.toml",
        '[[plugins]]\npath = "plugins/greetings"\ndescription = "Hi."\n'
        '[[plugins.tasks.functions]]\nfilename = "tasks.py"\nname = "hello"\n'
        'input_params = [ { name = "name", type = "string" } ]\n'
        'output_params = [ { name = "greeting", type = "string" } ]\n',
    )
    repo.write("extra/plugins/greetings/__init__.py", "")
    repo.write(
        "extra/plugins/greetings/tasks.py",
        HELLO.replace("from dioptra import pyplugs", "from dioptra_plugins import pyplugs"),
    )
    repo.commit("greetings")
    index = tmp_path / "index"
    publish_from_git(LocalStorage(index), f"{repo.url}#subdirectory=extra", GitBuildOptions("1"))
    plugin_dir = tmp_path / "plugins"
    sync(["greetings"], index=str(index), plugin_dir=plugin_dir)
    done = cli("tasks", "--plugin-dir", str(plugin_dir), "--json", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    tasks = {t["function"]: t for t in json.loads(done.stdout)["tasks"]}
    assert tasks["hello"]["input_params"] == [{"name": "name", "type": "string", "required": True}]
    assert tasks["hello"]["output_params"] == [{"name": "greeting", "type": "string"}]
    assert "input_params" not in tasks["shout"]
    assert tasks["hello"]["provenance"]["commit"] == repo.git("rev-parse", "HEAD")
