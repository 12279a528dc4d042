"""The catalogue's pages without a browser: what they hold, what they escape, which pages a
change rewrites, on every index backend (a local dir, moto and SeaweedFS)."""

from __future__ import annotations

import json
import logging
import re
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from sitehelpers import COMMIT, HOSTILE_SOURCE, add_provenance

from dioptra_plugins.bundle.build import build_bundle
from dioptra_plugins.catalogue import update_site, write_site
from dioptra_plugins.catalogue.model import (
    MAX_SIGNATURE,
    parse_signature,
    project_view,
    provenance_of,
)
from dioptra_plugins.catalogue.render import render_project, render_search_data
from dioptra_plugins.catalogue.site import HOME_KEY, SEARCH_DATA_KEY, page_serial
from dioptra_plugins.cli.main import main
from dioptra_plugins.errors import StorageError
from dioptra_plugins.index.documents import FileEntry, ProjectDocument
from dioptra_plugins.index.reading import read_existing_root, read_project
from dioptra_plugins.index.storage import Storage
from dioptra_plugins.index.url import open_storage
from dioptra_plugins.publishing.publish import publish
from dioptra_plugins.publishing.yank import set_yanked

SHA = "a" * 64


def package(tmp_path: Path, name: str, source: str) -> Path:
    folder = tmp_path / "src" / name
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "__init__.py").write_text(source)
    return folder


def task_source(doc: str, function: str = "work") -> str:
    return (
        "from dioptra_plugins import pyplugs\n\n\n@pyplugs.register\n"
        f"def {function}(alpha: int = 1, *, beta: str) -> float:\n    {doc!r}\n"
    )


def wheel(tmp_path: Path, name: str, version: str, doc: str = "Does work.", **kw: Any) -> Path:
    source = package(tmp_path / f"{name}-{version}", name, task_source(doc))
    return build_bundle(source, tmp_path / "dist", version=version, **kw)


def site_pages(storage: Storage) -> dict[str, bytes]:
    return {info.key: storage.get(info.key).data for info in storage.list("site/")}


def entry(manifest: dict[str, Any] | None = None, **fields: Any) -> FileEntry:
    values: dict[str, Any] = {
        "filename": "demo_pkg-1.0.0-py3-none-any.whl",
        "version": "1.0.0",
        "sha256": SHA,
        "size": 10,
        "requires_python": None,
        "requires_dist": (),
        "yanked": False,
        "yanked_reason": None,
        "upload_time": "2026-01-01T00:00:00Z",
        "core_metadata_sha256": SHA,
        "top_level": "demo_pkg",
        "manifest": manifest or {"format": 1, "package": "demo_pkg", "tasks": []},
    }
    return FileEntry(**(values | fields))


# --- what publish, yank and `index site` write --------------------------------------------


def test_publish_writes_the_catalogue_and_later_rewrites_only_what_it_touched(
    storage: Storage, tmp_path: Path
) -> None:
    publish(storage, [wheel(tmp_path, "alpha_pkg", "1.0.0"), wheel(tmp_path, "beta_pkg", "1.0.0")])
    first = site_pages(storage)
    assert sorted(first) == [
        "site/alpha-pkg.html",
        "site/beta-pkg.html",
        "site/index.html",
        "site/search.js",
    ]
    assert {page_serial(page) for page in first.values()} == {1}

    publish(storage, [wheel(tmp_path, "alpha_pkg", "1.1.0", doc="Does more work.")])
    second = site_pages(storage)
    # beta's page was not rewritten: same bytes, still from serial 1.
    assert second["site/beta-pkg.html"] == first["site/beta-pkg.html"]
    assert {key for key in second if second[key] != first[key]} == {
        "site/alpha-pkg.html",
        "site/index.html",
        "site/search.js",
    }
    assert page_serial(second["site/alpha-pkg.html"]) == 2
    assert b"Does more work." in second["site/index.html"]  # the summary of the latest
    assert b"1.1.0" in second["site/alpha-pkg.html"]


def test_yank_and_unyank_rewrite_the_project_page(storage: Storage, tmp_path: Path) -> None:
    publish(storage, [wheel(tmp_path, "alpha_pkg", "1.0.0"), wheel(tmp_path, "alpha_pkg", "2.0.0")])
    set_yanked(storage, "alpha-pkg", "2.0.0", yanked=True, reason="off by one & <worse>")
    page = storage.get("site/alpha-pkg.html").data.decode()
    assert "yanked: off by one &amp; &lt;worse&gt;" in page
    home = storage.get(HOME_KEY).data.decode()
    assert re.search(r"alpha-pkg</a></td><td>1\.0\.0</td>", home)  # latest falls back
    set_yanked(storage, "alpha-pkg", "2.0.0", yanked=False)
    page = storage.get("site/alpha-pkg.html").data.decode()
    assert "yanked:" not in page
    assert re.search(r"alpha-pkg</a></td><td>2\.0\.0</td>", storage.get(HOME_KEY).data.decode())


def test_index_site_writes_everything_and_then_nothing(
    storage: Storage, index_url: str, tmp_path: Path
) -> None:
    publish(storage, [wheel(tmp_path, "alpha_pkg", "1.0.0")])
    if "://" not in index_url:  # a local index as published before the catalogue existed
        for page in (Path(index_url) / "site").iterdir():
            page.unlink()
    runner = CliRunner()
    result = runner.invoke(main, ["index", "site", "--index", index_url, "--json"])
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report["projects"] == 1
    assert report["tasks"] == 1
    assert report["signed"] is False
    expected = ["site/alpha-pkg.html", "site/index.html", "site/search.js"]
    if "://" not in index_url:
        assert sorted(report["written"]) == expected
    assert sorted(site_pages(storage)) == expected
    again = json.loads(
        runner.invoke(main, ["index", "site", "--index", index_url, "--json"]).stdout
    )
    assert again["written"] == []  # up to date: nothing rewritten


def test_index_site_text_output_points_at_the_local_page(tmp_path: Path) -> None:
    index = tmp_path / "index"
    publish(open_storage(str(index)), [wheel(tmp_path, "alpha_pkg", "1.0.0")])
    result = CliRunner().invoke(main, ["index", "site", "--index", str(index)])
    assert result.exit_code == 0, result.output
    assert f"open {(index / 'site' / 'index.html').as_uri()}" in result.output


def test_index_site_of_a_missing_index_is_an_error(tmp_path: Path) -> None:
    result = CliRunner().invoke(main, ["index", "site", "--index", str(tmp_path / "nothing")])
    assert result.exit_code == 1
    assert "no index at" in result.output
    assert not (tmp_path / "nothing" / "site").exists()


def test_a_signed_index_says_so(storage: Storage, tmp_path: Path) -> None:
    publish(storage, [wheel(tmp_path, "alpha_pkg", "1.0.0")])
    assert b"unsigned index" in storage.get("site/alpha-pkg.html").data
    storage.put_new("tuf/timestamp.json", b"{}")  # all the catalogue asks: is there TUF metadata
    assert write_site(storage).signed
    page = storage.get("site/alpha-pkg.html").data
    assert b">signed index<" in page
    assert b"unsigned index" not in page


def test_an_older_writer_never_replaces_a_newer_page(storage: Storage, tmp_path: Path) -> None:
    publish(storage, [wheel(tmp_path, "alpha_pkg", "1.0.0")])
    old_root = read_existing_root(storage).root
    old_document = read_project(storage, "alpha-pkg", old_root.projects["alpha-pkg"])
    publish(storage, [wheel(tmp_path, "alpha_pkg", "1.1.0")])
    newer = site_pages(storage)
    update_site(storage, old_root, [old_document])  # a slow publisher of serial 1, late
    assert site_pages(storage) == newer


def test_a_catalogue_that_cannot_be_written_does_not_fail_the_publish(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    class NoSite:
        """A local index whose site/ cannot be written (a full disk, a denied prefix...)."""

        def __init__(self, inner: Storage) -> None:
            self.inner = inner

        def __getattr__(self, name: str) -> Any:
            return getattr(self.inner, name)

        def replace(self, key: str, data: bytes, if_match: str | None) -> str:
            if key.startswith("site/"):
                raise StorageError(f"cannot write {key}: denied")
            return self.inner.replace(key, data, if_match)

    storage = open_storage(str(tmp_path / "index"))
    with caplog.at_level(logging.WARNING, logger="dioptra_plugins.catalogue.site"):
        result = publish(NoSite(storage), [wheel(tmp_path, "alpha_pkg", "1.0.0")])
    assert result.swapped
    assert read_existing_root(storage).root.projects["alpha-pkg"].latest == "1.0.0"
    assert "task catalogue" in caplog.text
    assert "index site" in caplog.text
    assert not list(storage.list("site/"))


def test_the_catalogue_is_never_read_as_input(storage: Storage, tmp_path: Path) -> None:
    """Garbage (even claiming a huge serial) in site/ changes nothing a command reports, and
    ``index site`` rebuilds the pages from the documents alone."""
    publish(storage, [wheel(tmp_path, "alpha_pkg", "1.0.0")])
    for key in ("site/index.html", "site/search.js", "site/alpha-pkg.html"):
        current = storage.get(key)
        storage.replace(key, b"garbage", current.etag)
    publish(storage, [wheel(tmp_path, "alpha_pkg", "1.1.0")])
    assert read_existing_root(storage).root.projects["alpha-pkg"].latest == "1.1.0"
    assert b"1.1.0" in storage.get("site/alpha-pkg.html").data


# --- escaping, signatures, provenance ------------------------------------------------------


def test_hostile_text_is_escaped_in_every_page(tmp_path: Path) -> None:
    source = package(tmp_path, "hostile_pkg", HOSTILE_SOURCE)
    index = tmp_path / "index"
    storage = open_storage(str(index))
    publish(storage, [build_bundle(source, tmp_path / "dist", version="1.0.0")])
    set_yanked(storage, "hostile-pkg", "1.0.0", yanked=True, reason="</div><script>x()</script>")
    for key, page in site_pages(storage).items():
        text = page.decode()
        assert "<script>alert" not in text, key
        assert "<img" not in text, key
        assert "<b " not in text, key
        assert "<script>x()" not in text, key
    data = storage.get(SEARCH_DATA_KEY).data
    assert b"<" not in data
    assert b">" not in data
    # The text survives the escaping: the JSON decodes back to the docstring.
    decoded = json.loads(data.decode().split(" = ", 1)[1].rstrip().rstrip(";"))
    assert decoded["tasks"][0]["doc"].startswith("<script>alert(1)</script>")


def test_search_data_cannot_end_its_script() -> None:
    document = ProjectDocument(
        name="demo-pkg",
        files=(
            entry(
                {
                    "format": 1,
                    "package": "demo_pkg",
                    "tasks": [
                        {
                            "module": "demo_pkg",
                            "function": "f",
                            "signature": "()",
                            "doc": "</script><!-- \u2028 & <\u2029",
                            "line": 1,
                        }
                    ],
                }
            ),
        ),
    )
    data = render_search_data([project_view(document)], 3)
    assert data.isascii()
    for forbidden in (b"<", b">", b"&", "\u2028".encode()):
        assert forbidden not in data


@pytest.mark.parametrize(
    ("signature", "names", "returns"),
    [
        ("()", [], None),
        ("(x, /, y: int=2, *args: str, z, w: bool=False, **kw) -> None", None, "None"),
        ("(model: LogisticRegressionModel, eps: float=0.3) -> dict[str, float]", None, None),
    ],
)
def test_signatures_are_parsed_without_running_them(
    signature: str, names: list[str] | None, returns: str | None
) -> None:
    parameters, parsed_returns = parse_signature(signature)
    assert parameters is not None
    if names is not None:
        assert [p.name for p in parameters] == names
    if returns is not None:
        assert parsed_returns == returns


def test_parameter_kinds_types_and_defaults() -> None:
    parameters, returns = parse_signature("(x, /, y: int=2, *args: str, z, w: bool=False, **kw)")
    assert parameters is not None
    assert [(p.name, p.kind, p.annotation, p.default) for p in parameters] == [
        ("x", "positional-only", None, None),
        ("y", "positional or keyword", "int", "2"),
        ("args", "*args", "str", None),
        ("z", "keyword-only", None, None),
        ("w", "keyword-only", "bool", "False"),
        ("kw", "**kwargs", None, None),
    ]
    assert returns is None


@pytest.mark.parametrize(
    "signature",
    [
        "(x: int = __import__('os').system('touch /tmp/pwned-catalogue')",  # unbalanced
        "(): pass\nimport os\ndef g(",  # a second statement smuggled in
        "(" + "[" * 5000 + "]" * 5000 + ")",  # too deep for the parser
        "(" + "x, " * MAX_SIGNATURE + ")",  # too long
        "(\x00)",
    ],
)
def test_a_signature_that_is_not_one_is_shown_as_text(signature: str) -> None:
    assert parse_signature(signature) == (None, None)


def test_a_default_is_never_evaluated(tmp_path: Path) -> None:
    marker = tmp_path / "ran"
    parameters, _ = parse_signature(f"(x=open({str(marker)!r}, 'w'))")
    assert parameters is not None
    assert parameters[0].default == f"open({str(marker)!r}, 'w')"
    assert not marker.exists()


def test_provenance_from_a_build_from_git_links_the_commit() -> None:
    manifest = add_provenance({"format": 1, "package": "demo_pkg", "tasks": []})
    provenance = provenance_of(entry(manifest))
    assert provenance is not None
    assert provenance.commit == COMMIT
    assert provenance.repository == "git+https://github.com/example/plugins.git"
    assert provenance.repository_href == "https://github.com/example/plugins"
    assert provenance.commit_href == f"https://github.com/example/plugins/commit/{COMMIT}"
    assert provenance.ref == "v2.0.0"
    assert provenance.dirty is False
    assert ("tree", "89abcdef0123456789abcdef0123456789abcdef") in provenance.other


@pytest.mark.parametrize(
    "url",
    [
        "git+javascript:alert(1)",
        "javascript:alert(1)",
        "git+file:///srv/repo",
        "git+ssh://git@example.org/repo.git",
        'git+https://example.org/"onmouseover="alert(1)',
        "git+https://user:secret@example.org/repo.git",
        "git+https://example.org/repo with space",
    ],
)
def test_only_plain_web_repositories_become_links(url: str) -> None:
    manifest = {
        "format": 1,
        "package": "demo_pkg",
        "tasks": [],
        "provenance": {"url": url, "commit": COMMIT},
    }
    provenance = provenance_of(entry(manifest))
    assert provenance is not None
    assert provenance.repository_href is None
    assert provenance.commit_href is None
    page = render_project(project_view(ProjectDocument("demo-pkg", (entry(manifest),))), 1, False)
    assert b'href="javascript' not in page
    assert b'href="git+' not in page
    assert b'"onmouseover' not in page


@pytest.mark.parametrize(
    "provenance",
    [None, "a string", 42, [], {"url": 7, "commit": ["x"], "dirty": "yes", "build": {"a": 1}}],
)
def test_odd_provenance_is_tolerated(provenance: object) -> None:
    manifest = {"format": 1, "package": "demo_pkg", "tasks": [], "provenance": provenance}
    found = provenance_of(entry(manifest))
    if isinstance(provenance, dict):
        assert found is not None
        assert (found.repository, found.commit, found.dirty) == (None, None, None)
    else:
        assert found is None
    render_project(project_view(ProjectDocument("demo-pkg", (entry(manifest),))), 1, False)


def test_project_page_lists_versions_files_hashes_and_tasks(tmp_path: Path) -> None:
    index = tmp_path / "index"
    storage = open_storage(str(index))
    first = wheel(tmp_path, "alpha_pkg", "1.0.0", requires=["numpy>=1.26"])
    second = wheel(tmp_path, "alpha_pkg", "1.1.0", finish_manifest=add_provenance)
    publish(storage, [first, second])
    page = (index / "site" / "alpha-pkg.html").read_text()
    document = read_project(
        storage, "alpha-pkg", read_existing_root(storage).root.projects["alpha-pkg"]
    )
    for file in document.files:
        assert file.sha256 in page  # in full
        assert f"{file.size:,} bytes" in page
        assert f'href="../bundles/alpha-pkg/{file.filename}"' in page
    assert "<code>numpy&gt;=1.26</code>" in page
    assert 'id="v-1.0.0"' in page
    assert 'id="v-1.1.0"' in page
    assert 'id="task-alpha_pkg.work"' in page
    assert "<td><code>beta</code></td><td><code>str</code></td>" in page
    assert "keyword-only" in page
    assert "returns <code>float</code>" in page
    assert f'href="https://github.com/example/plugins/commit/{COMMIT}"' in page


def test_pages_on_s3_carry_their_content_type(
    storage: Storage, index_url: str, tmp_path: Path
) -> None:
    """S3 website hosting and CDNs serve the Content-Type stored with the object: a page
    stored as binary/octet-stream would download instead of render."""
    if not index_url.startswith("s3://"):
        pytest.skip("a local index has no stored content types")
    import boto3

    publish(storage, [wheel(tmp_path, "alpha_pkg", "1.0.0")])
    bucket, prefix = index_url[len("s3://") :].split("/", 1)
    client = boto3.session.Session().client("s3")  # from this test's AWS environment
    types = {
        key: client.head_object(Bucket=bucket, Key=f"{prefix}/{key}")["ContentType"]
        for key in ("site/index.html", "site/alpha-pkg.html", "site/search.js", "index.json")
    }
    assert types == {
        "site/index.html": "text/html; charset=utf-8",
        "site/alpha-pkg.html": "text/html; charset=utf-8",
        "site/search.js": "text/javascript; charset=utf-8",
        "index.json": "application/json",
    }


def test_a_project_without_docstrings_is_summarized_by_its_task_names() -> None:
    tasks = [
        {"module": "demo_pkg", "function": f"task_{n}", "signature": "()", "doc": "", "line": 1}
        for n in range(5)
    ]
    manifest = {"format": 1, "package": "demo_pkg", "tasks": tasks}
    project = project_view(ProjectDocument("demo-pkg", (entry(manifest),)))
    assert project.summary == "Tasks task_0, task_1, task_2, ..."


class Recording:
    """A storage that records which operations touched which ``site/`` keys."""

    def __init__(self, inner: Storage) -> None:
        self.inner = inner
        self.calls: list[tuple[str, str]] = []

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)

    def get(self, key: str) -> Any:
        self._record("get", key)
        return self.inner.get(key)

    def replace(self, key: str, data: bytes, if_match: str | None) -> str:
        self._record("replace" if if_match else "create", key)
        return self.inner.replace(key, data, if_match)

    def _record(self, operation: str, key: str) -> None:
        if key.startswith("site/"):
            self.calls.append((operation, key))


def test_a_new_project_costs_its_page_one_write(storage: Storage, tmp_path: Path) -> None:
    publish(storage, [wheel(tmp_path, "alpha_pkg", "1.0.0")])
    recording = Recording(storage)
    publish(recording, [wheel(tmp_path, "beta_pkg", "1.0.0")])
    assert sorted(recording.calls) == [
        ("create", "site/beta-pkg.html"),  # new: created without a read
        ("get", "site/index.html"),
        ("get", "site/search.js"),
        ("replace", "site/index.html"),
        ("replace", "site/search.js"),
    ]  # alpha's page is not touched at all
    recording.calls.clear()
    publish(recording, [wheel(tmp_path, "beta_pkg", "1.1.0")])
    assert ("get", "site/beta-pkg.html") in recording.calls
    assert ("replace", "site/beta-pkg.html") in recording.calls


DIOPTRA_TOML = """
[[plugins]]
path = "plugins/hello_world"
description = "Say hello <b>politely</b>"

  [[plugins.tasks.functions]]
  filename = "tasks.py"
  name = "hello"
  input_params = [
    { name = "name", type = "string", required = true },
    { name = "loudness", type = "integer", required = false },
  ]
  output_params = [ { name = "greeting", type = "string" } ]

  [[plugins.tasks.artifacts]]
  filename = "tasks.py"
  name = "GreetingArtifact"
  output_params = [ { name = "text", type = "<script>x()</script>" } ]

[[plugin_param_types]]
name = "np.ndarray"
description = "A numpy array"
"""
HELLO = '''
from dioptra import pyplugs


@pyplugs.register
def hello(name: str, shout: bool = False) -> str:
    """Greets someone by name."""
    return name


class GreetingArtifact:
    pass
'''


def test_a_dioptra_1x_repository_shows_what_its_dioptra_toml_declares(tmp_path: Path) -> None:
    """A bundle built from a Dioptra 1.x ``dioptra.toml`` (a real git repository) carries the
    declared inputs, outputs, artifact tasks, parameter types and description: the project
    page shows them, escaped, and the search finds a task by a declared input's name."""
    import subprocess

    repo = tmp_path / "repo"
    package_dir = repo / "extra" / "plugins" / "hello_world"
    package_dir.mkdir(parents=True)
    (repo / "extra" / "dioptra.toml").write_text(DIOPTRA_TOML)
    (package_dir / "__init__.py").write_text("")
    (package_dir / "tasks.py").write_text(HELLO)
    git = ["git", "-C", str(repo), "-c", "user.email=t@example.org", "-c", "user.name=t"]
    subprocess.run([*git, "init", "-q"], check=True)
    subprocess.run([*git, "add", "-A"], check=True)
    subprocess.run([*git, "commit", "-qm", "plugins"], check=True)
    dist, index = tmp_path / "dist", tmp_path / "index"
    runner = CliRunner()
    built = runner.invoke(
        main,
        ["build", f"git+{repo.as_uri()}#subdirectory=extra", "--version", "1.0.0", "-o", str(dist)],
    )
    assert built.exit_code == 0, built.output
    publish(open_storage(str(index)), sorted(dist.glob("*.whl")))
    page = (index / "site" / "hello-world.html").read_text()
    assert '<p class="lead">Say hello &lt;b&gt;politely&lt;/b&gt;</p>' in page
    assert "declared in dioptra.toml" in page
    assert "<td>input</td><td><code>loudness</code></td><td><code>integer</code></td>" in page
    assert "<td>optional</td>" in page
    assert "<td>output</td><td><code>greeting</code></td>" in page
    assert "<code>GreetingArtifact</code>" in page
    assert "<code>&lt;script&gt;x()&lt;/script&gt;</code>" in page
    assert "<td><code>np.ndarray</code></td><td>A numpy array</td>" in page
    home = (index / "site" / "index.html").read_text()
    assert "<td>Say hello &lt;b&gt;politely&lt;/b&gt;</td>" in home  # the summary
    data = json.loads((index / "site" / "search.js").read_text().split(" = ", 1)[1][:-2])
    assert data["tasks"][0]["params"] == ["name", "shout", "loudness"]


@pytest.mark.parametrize(
    "section",
    [
        "text",
        [],
        {"description": 7, "artifacts": "no", "plugin_param_types": [1, {"name": 2}]},
        {"artifacts": [1, {"class": None, "output_params": [{"name": 3}, "x"]}]},
    ],
)
def test_an_odd_dioptra_section_is_tolerated(section: object) -> None:
    task = {
        "module": "demo_pkg",
        "function": "f",
        "signature": "()",
        "doc": "",
        "line": 1,
        "input_params": [{"name": "a", "type": 5, "required": "yes"}, "junk", {"type": "x"}],
        "output_params": "none",
    }
    manifest = {"format": 1, "package": "demo_pkg", "tasks": [task], "dioptra": section}
    project = project_view(ProjectDocument("demo-pkg", (entry(manifest),)))
    shown = project.shown
    assert shown is not None
    assert [(d.name, d.type, d.required) for d in shown.tasks[0].inputs] == [("a", "", None)]
    assert shown.tasks[0].outputs == ()
    render_project(project, 1, False)
    render_search_data([project], 1)


def test_concurrent_publishers_leave_the_newest_catalogue(storage: Storage, tmp_path: Path) -> None:
    """Six publishers at once, each a new project: every page ends at the final serial's view
    (a slower writer never puts back an older home page or search data)."""
    from concurrent.futures import ThreadPoolExecutor

    names = [f"pkg_{n}" for n in range(6)]
    wheels = {name: wheel(tmp_path, name, "1.0.0") for name in names}
    with ThreadPoolExecutor(max_workers=6) as pool:
        list(pool.map(lambda name: publish(storage, [wheels[name]]), names))
    root = read_existing_root(storage).root
    assert root.serial == 6
    home = storage.get(HOME_KEY).data
    assert page_serial(home) == 6
    for name in names:
        assert f'href="{name.replace("_", "-")}.html"'.encode() in home
    data = storage.get(SEARCH_DATA_KEY).data
    assert page_serial(data) == 6
    assert data.count(b'"task":"work"') == 6


def test_a_bug_in_rendering_does_not_fail_the_publish(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    import dioptra_plugins.catalogue.site as site

    def broken(*args: object) -> bytes:
        raise TypeError("a renderer bug")

    monkeypatch.setattr(site, "render_home", broken)
    storage = open_storage(str(tmp_path / "index"))
    with caplog.at_level(logging.WARNING, logger="dioptra_plugins.catalogue.site"):
        result = publish(storage, [wheel(tmp_path, "alpha_pkg", "1.0.0")])
    assert result.swapped
    assert "a renderer bug" in caplog.text
    assert "Traceback" in caplog.text  # an unexpected error keeps its traceback in the log


def test_signing_an_existing_index_updates_its_catalogue(tmp_path: Path) -> None:
    index, keys = tmp_path / "index", tmp_path / "keys"
    publish(open_storage(str(index)), [wheel(tmp_path, "alpha_pkg", "1.0.0")])
    assert "unsigned index" in (index / "site" / "alpha-pkg.html").read_text()
    runner = CliRunner()
    generated = runner.invoke(main, ["keys", "generate", str(keys)])
    assert generated.exit_code == 0, generated.output
    signed = runner.invoke(main, ["index", "init", str(index), "--signed", "--keys", str(keys)])
    assert signed.exit_code == 0, signed.output
    for page in ("alpha-pkg.html", "index.html"):
        text = (index / "site" / page).read_text()
        assert ">signed index<" in text, page
        assert "unsigned index" not in text, page
