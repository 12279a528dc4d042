"""Many writers, one plugin dir: the lock serializes them; a stuck holder is named on timeout;
``sync --every`` keeps a dir current with one request per idle interval."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from synchelpers import CLI, installed, publish_wheels

from dioptra_plugins import sync
from dioptra_plugins.errors import LockTimeoutError
from dioptra_plugins.plugindir.generations import generation_names
from dioptra_plugins.plugindir.layout import PluginDirLayout
from dioptra_plugins.plugindir.state import read_state
from dioptra_plugins.plugindir.verify_dir import verify
from dioptra_plugins.plugindir.writer_lock import writer_lock
from faultproxy import FaultProxy
from s3servers import S3Server

SETS = {"beta": {"alpha": "1.1.0", "beta": "1.0.0"}, "alpha==1.0.0": {"alpha": "1.0.0"}}


def test_eight_concurrent_syncs_are_serialized(wheels: dict[str, Path], tmp_path: Path) -> None:
    index = str(tmp_path / "index")
    publish_wheels(index, [wheels["alpha-1.0.0"], wheels["alpha-1.1.0"], wheels["beta-1.0.0"]])
    plugin_dir = tmp_path / "plugins"
    requirements = ["beta", "alpha==1.0.0"] * 4
    processes = [
        subprocess.Popen(
            [CLI, "sync", requirement, "--index", index, "--plugin-dir", str(plugin_dir), "--json"],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for requirement in requirements
    ]
    results = []
    for process in processes:
        out, err = process.communicate(timeout=120)
        assert process.returncode == 0, err
        results.append(json.loads(out))
    layout = PluginDirLayout(plugin_dir)
    # Every switch made one complete, consecutively numbered generation.
    switched = sorted(r["generation"] for r in results if r["switched"])
    assert switched == generation_names(layout)
    assert switched == [f"{n:06d}" for n in range(1, len(switched) + 1)]
    # The final state is what the last sync (the one state.json records) asked for.
    last = read_state(layout.state_file).requirements
    assert last in SETS
    assert installed(plugin_dir) == SETS[last]
    assert verify(plugin_dir).ok


def test_lock_timeout_names_the_holder(tmp_path: Path) -> None:
    layout = PluginDirLayout(tmp_path / "plugins")
    with writer_lock(layout.lock_file), pytest.raises(LockTimeoutError) as caught:
        sync(["alpha"], index=str(tmp_path / "index"), plugin_dir=layout.root, lock_timeout=0.2)
    assert f"locked by process {os.getpid()}" in str(caught.value)
    # Released: the next holder gets it at once and the pid is cleared on release.
    with writer_lock(layout.lock_file, timeout=0):
        pass
    assert layout.lock_file.read_text() == ""


@pytest.fixture
def s3_index(
    moto_server: S3Server, monkeypatch: pytest.MonkeyPatch, wheels: dict[str, Path]
) -> Iterator[str]:
    moto_server.apply(monkeypatch)
    bucket = moto_server.create_bucket("every")
    url = f"s3://{bucket}/plugins"
    publish_wheels(url, [wheels["alpha-1.0.0"], wheels["beta-1.0.0"]])
    yield url
    moto_server.delete_bucket(bucket)


def test_sync_every_one_request_per_idle_interval(
    s3_index: str,
    moto_server: S3Server,
    wheels: dict[str, Path],
    tmp_path: Path,
) -> None:
    plugin_dir = tmp_path / "plugins"
    interval = 0.4
    with FaultProxy(moto_server.endpoint) as proxy:
        env = {**os.environ, "AWS_ENDPOINT_URL": proxy.url}
        started = time.monotonic()
        keeper = subprocess.Popen(
            [
                CLI,
                "sync",
                "beta",
                "--every",
                str(interval),
                "--index",
                s3_index,
                "--plugin-dir",
                str(plugin_dir),
                "--json",
            ],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=env,
        )
        try:
            assert keeper.stdout is not None
            first = json.loads(keeper.stdout.readline())
            # The control for the bound below: start-up and a whole first sync, on this machine
            # as loaded as it is now.
            first_sync = time.monotonic() - started
            assert first["installed"] == {"alpha": "1.0.0", "beta": "1.0.0"}
            after_first = proxy.count()
            time.sleep(interval * 5.5)
            # At most one request per interval (5.5 intervals slept): a busy box only makes
            # fewer.  Then at least one per idle round, counted by its heartbeat, not by time.
            assert len(proxy.seen[after_first:]) <= 7
            for _round in range(2):
                assert json.loads(keeper.stdout.readline())["switched"] is False
            idle = proxy.seen[after_first:]
            assert len(idle) >= 2
            assert all(s.path.endswith("/index.json") and s.method == "GET" for s in idle)

            publish_wheels(s3_index, [wheels["alpha-1.1.0"]])  # directly, not through the proxy
            published = time.monotonic()
            # Idle intervals print heartbeats (switched: false) until the switch.
            switch = json.loads(keeper.stdout.readline())
            while not switch["switched"]:
                assert switch["event"] == "sync"
                switch = json.loads(keeper.stdout.readline())
            # Noticed within one interval, plus the time the sync itself takes (no longer than
            # the first, cold one): three times that, not a default interval or never.
            assert time.monotonic() - published < 3 * (interval + first_sync)
            assert switch["upgraded"] == {"alpha": ["1.0.0", "1.1.0"]}
            assert installed(plugin_dir) == {"alpha": "1.1.0", "beta": "1.0.0"}

            keeper.send_signal(signal.SIGTERM)
            out, err = keeper.communicate(timeout=10)
            assert keeper.returncode == 0, err
            for line in out.splitlines():  # only heartbeats after the switch
                assert json.loads(line)["switched"] is False
        finally:
            if keeper.poll() is None:
                keeper.kill()
                keeper.communicate()
    assert verify(plugin_dir).ok
