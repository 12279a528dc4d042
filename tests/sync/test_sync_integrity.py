"""The store after real use (bytecode), gc that fails closed, and plugin dirs sync cannot write.

Every process here runs with bytecode writing on, the Python default, whatever the machine
running the suite exports.
"""

from __future__ import annotations

import json
import os
import random
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest
from synchelpers import CLI, publish_wheels

from dioptra_plugins import sync
from dioptra_plugins.errors import PluginDirError
from dioptra_plugins.plugindir.bytecode_manifest import MANIFEST_NAME
from dioptra_plugins.plugindir.gc import gc
from dioptra_plugins.plugindir.generations import generation_names
from dioptra_plugins.plugindir.layout import LOCK_FILENAME, PIN_DIR_VARIABLE, PluginDirLayout
from dioptra_plugins.plugindir.maintenance import rollback
from dioptra_plugins.plugindir.pins import pin_generation
from dioptra_plugins.plugindir.verify_dir import verify
from snapshots import tree_snapshot as snapshot


@pytest.fixture
def index(wheels: dict[str, Path], tmp_path: Path) -> str:
    url = str(tmp_path / "index")
    publish_wheels(url, [wheels["alpha-1.0.0"], wheels["alpha-1.1.0"], wheels["beta-1.0.0"]])
    return url


def bytecode_on() -> dict[str, str]:
    env = dict(os.environ)
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    env.pop("PYTHONPYCACHEPREFIX", None)
    return env


def python(code: str, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)],
        capture_output=True,
        text=True,
        env={**bytecode_on(), **env},
        check=True,
    )


def cli(*args: str, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [CLI, *args], capture_output=True, text=True, env={**bytecode_on(), **env}, check=False
    )


IMPORT_THROUGH_PLUGIN_DIRS = """
    from dioptra_plugins import plugin_dirs, pyplugs
    with plugin_dirs():
        print(pyplugs.call_task("alpha", "mod0", "task0", x=1))
        import beta.mod1
        print(beta.mod1.task1(2))
"""


# --- bytecode ------------------------------------------------------------------------------------


def test_imports_with_bytecode_on_write_nothing_and_verify_passes(
    index: str, tmp_path: Path
) -> None:
    plugin_dir = tmp_path / "plugins"
    sync(["alpha==1.1.0", "beta"], index=index, plugin_dir=plugin_dir)
    before = snapshot(plugin_dir)
    pycs = [p for p in before if p.endswith(".pyc")]
    assert len(pycs) == 8, pycs  # __init__ + 3 modules, for each of the two packages
    for _ in range(2):
        done = python(IMPORT_THROUGH_PLUGIN_DIRS, DIOPTRA_PLUGIN_DIR=str(plugin_dir))
        assert done.stdout.split() == ["alpha-1.1.0-0-1", "beta-1.0.0-1-2"]
        # The stable entry links on a plain sys.path, as a worker without our library has it.
        python("import alpha.mod2, beta.mod0", PYTHONPATH=str(plugin_dir))
        assert cli("tasks", "--plugin-dir", str(plugin_dir)).returncode == 0
        assert snapshot(plugin_dir) == before
    report = verify(plugin_dir)
    assert report.ok, report.problems
    assert report.files_checked >= 8 + len(pycs)


def test_the_recorded_bytecode_is_what_the_interpreter_uses(index: str, tmp_path: Path) -> None:
    plugin_dir = tmp_path / "plugins"
    sync(["alpha==1.0.0"], index=index, plugin_dir=plugin_dir)
    done = python(
        """
        import importlib.util, sys
        import alpha.mod0
        spec = alpha.mod0.__spec__
        print(spec.cached)
        data = open(spec.cached, "rb").read()
        print(int.from_bytes(data[4:8], "little"))
        """,
        PYTHONPATH=str(plugin_dir),
    )
    cached, flags = done.stdout.split()
    assert Path(cached).resolve().is_relative_to((plugin_dir / ".dioptra-plugins/store").resolve())
    assert flags == "3"  # PEP 552 checked-hash pyc


def store_file(plugin_dir: Path, relative: str) -> Path:
    (entry,) = [e for e in (plugin_dir / ".dioptra-plugins/store").iterdir()]
    return entry / relative


def test_a_planted_or_altered_pyc_is_reported(index: str, tmp_path: Path) -> None:
    plugin_dir = tmp_path / "plugins"
    sync(["alpha==1.0.0"], index=index, plugin_dir=plugin_dir)
    tag = sys.implementation.cache_tag
    recorded = store_file(plugin_dir, f"alpha/__pycache__/mod1.{tag}.pyc")
    os.chmod(recorded, 0o644)
    data = recorded.read_bytes()
    recorded.write_bytes(data[:-1] + bytes([data[-1] ^ 1]))
    planted = store_file(plugin_dir, "alpha/__pycache__/mod0.cpython-399.pyc")
    planted.write_bytes(b"not bytecode")
    problems = "\n".join(verify(plugin_dir).problems)
    assert f"mod1.{tag}.pyc: bytecode changed since sync compiled it" in problems
    assert "mod0.cpython-399.pyc: bytecode that sync did not write" in problems
    store_file(plugin_dir, MANIFEST_NAME).write_text("{")
    assert f"{MANIFEST_NAME}: unreadable" in "\n".join(verify(plugin_dir).problems)
    done = cli("verify", "--plugin-dir", str(plugin_dir))
    assert done.returncode == 1
    assert "Traceback" not in done.stderr


def test_a_module_that_does_not_compile_gets_no_bytecode(tmp_path: Path) -> None:
    from dioptra_plugins.plugindir.bytecode_manifest import BytecodeManifest
    from dioptra_plugins.syncing.bytecode import compile_entry

    staging = tmp_path / "staging"
    (staging / "pkg").mkdir(parents=True)
    (staging / "pkg" / "good.py").write_text("X = 1\n")
    (staging / "pkg" / "bad.py").write_text("def broken(:\n")
    manifest = compile_entry(staging, tmp_path / "final", ["pkg/good.py", "pkg/bad.py"])
    tag = sys.implementation.cache_tag
    assert list(manifest.files) == [f"pkg/__pycache__/good.{tag}.pyc"]
    assert BytecodeManifest.from_bytes((staging / MANIFEST_NAME).read_bytes()) == manifest
    assert not (staging / "pkg" / "__pycache__" / f"bad.{tag}.pyc").exists()


# --- gc fails closed -----------------------------------------------------------------------------


def test_gc_with_a_damaged_current_lock_keeps_what_current_links_to(
    index: str, tmp_path: Path
) -> None:
    plugin_dir = tmp_path / "plugins"
    layout = PluginDirLayout(plugin_dir)
    sync(["alpha==1.0.0"], index=index, plugin_dir=plugin_dir)
    sync(["beta"], index=index, plugin_dir=plugin_dir)
    sync(["alpha==1.0.0"], index=index, plugin_dir=plugin_dir)  # 000003, current
    lock = layout.generation_path("000003") / LOCK_FILENAME
    lock.write_text("this is not toml [[[")
    result = gc(plugin_dir, keep=0)
    assert result.kept == ["000002", "000003"]
    assert result.removed_generations == ["000001"]
    assert result.removed_store_entries == []  # 000002 holds alpha 1.1.0, 000003 alpha 1.0.0
    done = python("import alpha; print(alpha.VERSION)", PYTHONPATH=str(plugin_dir))
    assert done.stdout.strip() == "1.0.0"


def test_gc_refuses_when_a_kept_generation_cannot_be_read(index: str, tmp_path: Path) -> None:
    plugin_dir = tmp_path / "plugins"
    layout = PluginDirLayout(plugin_dir)
    sync(["alpha==1.0.0"], index=index, plugin_dir=plugin_dir)
    sync(["alpha==1.1.0"], index=index, plugin_dir=plugin_dir)
    sync(["beta"], index=index, plugin_dir=plugin_dir)
    previous = layout.generation_path("000002")
    for link in previous.iterdir():
        link.unlink()
    previous.rmdir()
    previous.write_text("a file where a generation should be")
    before = snapshot(plugin_dir)
    with pytest.raises(PluginDirError, match="generation 000002 cannot be read"):
        gc(plugin_dir, keep=0)
    assert snapshot(plugin_dir) == before
    done = cli("gc", "--plugin-dir", str(plugin_dir), "--keep", "0")
    assert done.returncode == 1
    assert "gc refused, nothing was deleted" in done.stderr
    assert "Traceback" not in done.stderr
    assert snapshot(plugin_dir) == before


def test_gc_refuses_an_unreadable_pin(index: str, tmp_path: Path) -> None:
    plugin_dir = tmp_path / "plugins"
    layout = PluginDirLayout(plugin_dir)
    sync(["alpha==1.0.0"], index=index, plugin_dir=plugin_dir)
    sync(["alpha==1.1.0"], index=index, plugin_dir=plugin_dir)
    sync(["beta"], index=index, plugin_dir=plugin_dir)
    layout.pins.mkdir(exist_ok=True)
    (layout.pins / f"{os.getpid()}-garbled.json").write_text('{"pid": ')
    with pytest.raises(PluginDirError, match=r"garbled\.json cannot be read"):
        gc(plugin_dir, keep=0)
    assert generation_names(layout) == ["000001", "000002", "000003"]


def test_gc_cleans_dead_tmp_pins_and_unreferenced_documents(
    index: str, tmp_path: Path, wheels: dict[str, Path]
) -> None:
    plugin_dir = tmp_path / "plugins"
    layout = PluginDirLayout(plugin_dir)
    sync(["alpha==1.0.0"], index=index, plugin_dir=plugin_dir)
    old_documents = {p.name for p in layout.documents.glob("*.json")} - {"root.json"}
    assert old_documents
    publish_wheels(index, [wheels["alpha-2.0.0"]])  # alpha's project document is replaced
    sync(["alpha==1.0.0"], index=index, plugin_dir=plugin_dir)
    dead = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    layout.pins.mkdir(exist_ok=True)
    (layout.pins / f"{dead}-abcd.tmp").write_text('{"pid": ')
    (layout.pins / f"{os.getpid()}-live.tmp").write_text('{"pid": ')  # being written right now
    result = gc(plugin_dir)
    assert set(result.removed_documents) == old_documents - {
        p.name for p in layout.documents.glob("*.json")
    }
    assert result.removed_documents
    assert not (layout.pins / f"{dead}-abcd.tmp").exists()
    assert (layout.pins / f"{os.getpid()}-live.tmp").exists()
    # The documents still named by the root stay cached: the next sync of a change is cheap.
    assert (layout.documents / "root.json").is_file()


# --- plugin dirs sync cannot write ---------------------------------------------------------------


def test_plugin_dir_that_is_a_file_or_under_a_file(index: str, tmp_path: Path) -> None:
    a_file = tmp_path / "plugins"
    a_file.write_text("")
    for plugin_dir in (a_file, a_file / "inner"):
        with pytest.raises(PluginDirError):
            sync(["alpha"], index=index, plugin_dir=plugin_dir)
        done = cli("sync", "alpha", "--index", index, "--plugin-dir", str(plugin_dir))
        assert done.returncode == 1, done.stderr
        assert done.stderr.startswith("error: "), done.stderr
        assert "Traceback" not in done.stderr
    assert a_file.read_text() == ""


@pytest.fixture
def read_only_view(tmp_path: Path) -> Iterator[tuple[Path, Path]]:
    """(writable dir, the same dir bind-mounted read-only): root cannot write through it."""
    if os.geteuid() != 0:
        pytest.skip("bind mounts need root")
    writable = tmp_path / "plugins"
    writable.mkdir()
    view = tmp_path / "plugins-ro"
    view.mkdir()
    mounted = subprocess.run(["mount", "--bind", str(writable), str(view)], check=False)
    if mounted.returncode != 0:
        pytest.skip("mount --bind is not permitted here")
    try:
        subprocess.run(["mount", "-o", "remount,bind,ro", str(view)], check=True)
        yield writable, view
    finally:
        subprocess.run(["umount", "-l", str(view)], check=False)


def test_read_only_plugin_dir(
    index: str, tmp_path: Path, read_only_view: tuple[Path, Path]
) -> None:
    writable, view = read_only_view
    sync(["alpha==1.0.0"], index=index, plugin_dir=writable)
    sync(["alpha==1.1.0", "beta"], index=index, plugin_dir=writable)
    pins = tmp_path / "runtime-pins"
    before = snapshot(writable)

    # What writes is refused, plainly.
    for args in (
        ("sync", "alpha==1.0.0", "--index", index),
        ("gc", "--keep", "0"),
        ("rollback",),
    ):
        done = cli(*args, "--plugin-dir", str(view))
        assert done.returncode == 1, (args, done.stderr)
        assert "read-only" in done.stderr.lower(), done.stderr
        assert "Traceback" not in done.stderr
    with pytest.raises(PluginDirError, match="Read-only file system"):
        rollback(view)

    # What reads works, and pins go to the runtime pin dir, where a gc of the dir sees them.
    env = {PIN_DIR_VARIABLE: str(pins)}
    done = cli("tasks", "--plugin-dir", str(view), "--json", **env)
    assert done.returncode == 0, done.stderr
    assert {t["function"] for t in json.loads(done.stdout)["tasks"]} >= {"task0", "task1"}
    done = cli("call", "alpha", "mod2", "task2", "-a", "x=5", "--plugin-dir", str(view), **env)
    assert done.returncode == 0, done.stderr
    assert "alpha-1.1.0-2-5" in done.stdout
    done = python(IMPORT_THROUGH_PLUGIN_DIRS, DIOPTRA_PLUGIN_DIR=str(view), **env)
    assert done.stdout.split() == ["alpha-1.1.0-0-1", "beta-1.0.0-1-2"]
    project = tmp_path / "project"
    project.mkdir()
    (project / "MLproject").write_text(
        f"name: ro\nentry_points:\n  main:\n    command: {sys.executable} job.py\n"
    )
    (project / "job.py").write_text(
        "from dioptra_plugins import plugin_dirs\n"
        "with plugin_dirs():\n"
        "    import alpha\n"
        "    print('ALPHA', alpha.VERSION)\n"
    )
    done = cli(
        "run",
        str(project),
        "--no-sync",
        "--plugin-dir",
        str(view),
        "--output-dir",
        str(tmp_path / "out"),
        **env,
    )
    assert done.returncode == 0, done.stderr
    assert "ALPHA 1.1.0" in done.stdout
    assert snapshot(writable) == before

    # A job on the read-only view pins generation 2; a gc of the writable dir keeps it.
    os.environ[PIN_DIR_VARIABLE] = str(pins)
    try:
        view_layout = PluginDirLayout(view)
        generation = view_layout.current_generation()
        assert generation is not None
        sync(["alpha==1.0.0"], index=index, plugin_dir=writable)  # 000003
        sync(["beta"], index=index, plugin_dir=writable)  # 000004
        with pin_generation(view_layout, generation) as pin:
            assert pin is not None
            assert pin.is_relative_to(pins)
            result = gc(writable, keep=0)
        assert "000002" in result.kept
        assert result.pinned == ["000002"]
    finally:
        del os.environ[PIN_DIR_VARIABLE]


def test_pinning_without_any_writable_pin_dir_runs_unpinned(
    index: str, tmp_path: Path, read_only_view: tuple[Path, Path], caplog: pytest.LogCaptureFixture
) -> None:
    writable, view = read_only_view
    sync(["alpha==1.0.0"], index=index, plugin_dir=writable)
    not_a_dir = tmp_path / "file"
    not_a_dir.write_text("")
    layout = PluginDirLayout(view)
    generation = layout.current_generation()
    assert generation is not None
    os.environ[PIN_DIR_VARIABLE] = str(view / "pins")  # read-only too
    try:
        with pin_generation(layout, generation) as pin:
            assert pin is None
    finally:
        del os.environ[PIN_DIR_VARIABLE]
    assert "running unpinned" in caplog.text


@pytest.fixture
def small_filesystem(tmp_path: Path) -> Iterator[Path]:
    """A real 4 MB tmpfs: writes past it fail with ENOSPC, as on a full disk."""
    if os.geteuid() != 0:
        pytest.skip("mounting a tmpfs needs root")
    mountpoint = tmp_path / "small"
    mountpoint.mkdir()
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=4m", "tmpfs", str(mountpoint)], check=False
    )
    if mounted.returncode != 0:
        pytest.skip("mount -t tmpfs is not permitted here")
    try:
        yield mountpoint
    finally:
        subprocess.run(["umount", "-l", str(mountpoint)], check=False)


def test_disk_full_during_extraction(index: str, tmp_path: Path, small_filesystem: Path) -> None:
    plugin_dir = small_filesystem / "plugins"
    sync(["alpha==1.0.0"], index=index, plugin_dir=plugin_dir)
    # A bundle whose wheel fits (about 17:1 compressed, under the zip-bomb limit) but whose
    # files do not.
    source = tmp_path / "src-roomy" / "roomy"
    source.mkdir(parents=True)
    (source / "__init__.py").write_text("")
    data = bytearray(6 * 1024 * 1024)
    data[::40] = random.Random(0).randbytes(len(data[::40]))
    (source / "data.bin").write_bytes(bytes(data))
    from dioptra_plugins.bundle.build import build_bundle

    publish_wheels(index, [build_bundle(source, tmp_path / "wheels", version="1.0.0")])
    before = snapshot(plugin_dir)
    done = cli("sync", "alpha==1.0.0", "roomy", "--index", index, "--plugin-dir", str(plugin_dir))
    assert done.returncode == 1
    assert "No space left on device" in done.stderr, done.stderr
    assert "Traceback" not in done.stderr
    after = snapshot(plugin_dir)
    # Nothing a reader sees changed; at most the verified download stayed in the cache.
    assert {k: v for k, v in after.items() if "/cache/" not in k} == {
        k: v for k, v in before.items() if "/cache/" not in k
    }
    assert not [k for k in after if ".staging-" in k]
    assert verify(plugin_dir).ok


def test_a_bundle_that_is_not_what_the_index_says_carries_the_facts(
    tmp_path: Path, wheels: dict[str, Path]
) -> None:
    from dataclasses import replace

    from dioptra_plugins.errors import IntegrityError
    from dioptra_plugins.index.documents import ProjectDocument, RootDocument
    from dioptra_plugins.index.reading import DocumentCache
    from dioptra_plugins.index.swap import change_root
    from dioptra_plugins.index.url import open_storage

    index = str(tmp_path / "index")
    publish_wheels(index, [wheels["alpha-1.0.0"]])

    def lie(root: RootDocument, documents: DocumentCache) -> dict[str, ProjectDocument]:
        document = documents.get(root, "alpha")
        assert document is not None
        return {"alpha": document.with_files([replace(document.files[0], version="1.0.1")])}

    change_root(open_storage(index), lie)
    plugin_dir = tmp_path / "plugins"
    with pytest.raises(IntegrityError) as caught:
        sync(["alpha"], index=index, plugin_dir=plugin_dir)
    assert caught.value.subject == "alpha-1.0.0-py3-none-any.whl"
    assert caught.value.expected == "version 1.0.1"
    assert caught.value.found == "version 1.0.0"
    assert "version '1.0.0', expected '1.0.1'" in str(caught.value)


def test_store_files_are_created_read_only(index: str, tmp_path: Path) -> None:
    import stat

    plugin_dir = tmp_path / "plugins"
    sync(["alpha==1.0.0"], index=index, plugin_dir=plugin_dir)
    store = plugin_dir / ".dioptra-plugins" / "store"
    files = [p for p in store.rglob("*") if p.is_file()]
    assert any(p.suffix == ".pyc" for p in files)
    assert any(p.name == MANIFEST_NAME for p in files)
    writable = [p for p in files if p.stat().st_mode & (stat.S_IWUSR | stat.S_IWGRP | stat.S_IWOTH)]
    assert writable == []
