"""An S3 endpoint that accepts connections and never answers, and an unknown AWS profile.

The silent endpoint is a real listening socket on 127.0.0.1 (a fixture thread accepts and holds
every connection without reading or writing).  With ``--timeout 1`` (or the variable) each
command must fail with one clear message in about 3 attempts x 1 s, logging every retry, where
it once waited 181 s.
"""

from __future__ import annotations

import json
import logging
import os
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner
from index_helpers import WheelMaker

from dioptra_plugins.cli.main import main
from dioptra_plugins.errors import DioptraPluginsError, StorageError, UsageError
from dioptra_plugins.index.s3 import S3Storage
from dioptra_plugins.index.timeouts import DEFAULT_TIMEOUT, TIMEOUT_VARIABLE, index_timeout
from dioptra_plugins.index.url import open_storage
from s3servers import S3Server

# 3 attempts x 1 s of waiting, plus botocore's non-throttling backoff (50 ms, 100 ms).
TIMEOUT = 1.0
ATTEMPTS = 3
WAITING = ATTEMPTS * TIMEOUT


def upper_bound(control: float) -> float:
    """Three times the expected time: the waiting plus everything else, ``control``.

    ``control`` is the same call measured in the same run against an endpoint that refuses at
    once (start-up, imports, retries and their backoff: all but the waiting), so a loaded
    machine raises the bound with the time it takes.  A command that ignored the timeout would
    wait 3 x 10 s (the default), and one that hung would never end: both still fail.
    """
    return 3 * (WAITING + control)


class SilentEndpoint:
    """Accepts TCP connections on 127.0.0.1 and never sends a byte."""

    def __init__(self) -> None:
        self.listener = socket.socket()
        self.listener.bind(("127.0.0.1", 0))
        self.listener.listen(16)
        self.listener.settimeout(0.1)
        self.port = self.listener.getsockname()[1]
        self.url = f"http://127.0.0.1:{self.port}"
        self.connections: list[socket.socket] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._accept, daemon=True)
        self._thread.start()

    def _accept(self) -> None:
        while not self._stop.is_set():
            try:
                connection, _address = self.listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            self.connections.append(connection)

    def close(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)
        for connection in self.connections:
            connection.close()
        self.listener.close()


@pytest.fixture
def silent() -> Iterator[S3Server]:
    """A silent endpoint with fake credentials; ``silent.pid`` is unused (no process)."""
    endpoint = SilentEndpoint()
    try:
        yield S3Server("silent", endpoint.url, "silent-test-key", "silent-test-secret")
    finally:
        endpoint.close()


@pytest.fixture
def refused() -> Iterator[S3Server]:
    """An endpoint that refuses every connection at once: a bound socket that never listens."""
    closed = socket.socket()
    closed.bind(("127.0.0.1", 0))
    try:
        url = f"http://127.0.0.1:{closed.getsockname()[1]}"
        yield S3Server("refused", url, "refused-test-key", "refused-test-secret")
    finally:
        closed.close()


@pytest.fixture
def silent_env(silent: S3Server, monkeypatch: pytest.MonkeyPatch) -> S3Server:
    silent.apply(monkeypatch)
    monkeypatch.delenv(TIMEOUT_VARIABLE, raising=False)
    monkeypatch.delenv("AWS_MAX_ATTEMPTS", raising=False)
    monkeypatch.delenv("AWS_RETRY_MODE", raising=False)
    return silent


def _timed_failure(storage: object) -> float:
    """Seconds until reading index.json from ``storage`` fails with a StorageError."""
    assert isinstance(storage, S3Storage)
    started = time.monotonic()
    with pytest.raises(StorageError):
        storage.get("index.json")
    return time.monotonic() - started


def _retry_lines(text: str) -> list[str]:
    return [line for line in text.splitlines() if "retrying S3" in line]


def test_library_fails_within_attempts_times_timeout(
    silent_env: S3Server,
    refused: S3Server,
    caplog: pytest.LogCaptureFixture,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # The control: the same read from an endpoint that refuses at once.
    monkeypatch.setenv("AWS_ENDPOINT_URL", refused.endpoint)
    control = _timed_failure(open_storage("s3://silent-bucket/plugins", timeout=TIMEOUT))
    monkeypatch.setenv("AWS_ENDPOINT_URL", silent_env.endpoint)
    caplog.clear()
    storage = open_storage("s3://silent-bucket/plugins", timeout=TIMEOUT)
    caplog.set_level(logging.WARNING, logger="dioptra_plugins.index.s3")
    started = time.monotonic()
    with pytest.raises(StorageError) as caught:
        storage.get("index.json")
    elapsed = time.monotonic() - started
    assert WAITING * 0.95 <= elapsed < upper_bound(control)
    message = str(caught.value)
    assert message == (
        "cannot read s3://silent-bucket/plugins/index.json: the S3 endpoint "
        f"{silent_env.endpoint} did not answer within 1 s (3 attempts); to wait longer per "
        f"attempt, pass --timeout SECONDS or set {TIMEOUT_VARIABLE}"
    )
    retries = [r for r in caplog.records if r.name == "dioptra_plugins.index.s3"]
    assert [r.levelno for r in retries] == [logging.WARNING, logging.WARNING]
    lines = [r.getMessage() for r in retries]
    for attempt, line in zip((2, 3), lines, strict=True):
        assert line.startswith(
            f"retrying S3 GetObject {silent_env.endpoint}/silent-bucket/plugins/index.json "
            f"(attempt {attempt} of 3) after ReadTimeoutError: Read timeout"
        )
    assert storage.requests == ATTEMPTS
    text = message + "\n".join(lines)
    assert silent_env.secret_key not in text
    assert silent_env.access_key not in text


def test_each_operation_reports_the_timeout(silent_env: S3Server) -> None:
    storage = S3Storage("silent-bucket", "p", timeout=0.3)
    calls: list[tuple[str, Callable[[], object]]] = [
        ("write", lambda: storage.put_new("index.json", b"{}")),
        ("list", lambda: list(storage.list("bundles/"))),
        ("access", storage.prepare),
        ("read", lambda: storage.open("bundles/x/x-1-py3-none-any.whl")),
    ]
    for action, call in calls:
        with pytest.raises(StorageError, match=f"cannot {action} .*did not answer within 0.3 s"):
            call()


def test_timeout_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    monkeypatch.delenv("AWS_MAX_ATTEMPTS", raising=False)
    monkeypatch.delenv(TIMEOUT_VARIABLE, raising=False)

    def settings(storage: object) -> tuple[float, float, float, int]:
        assert isinstance(storage, S3Storage)
        config = storage._client.meta.config
        # botocore sets the timeouts on Config in __init__; botocore-stubs declares only the
        # constructor's parameters, not the attributes.
        connect, read = config.connect_timeout, config.read_timeout  # type: ignore[attr-defined]
        return (storage.timeout, connect, read, storage.attempts)

    # The default: 3 attempts of 10 s, so a silent endpoint fails in about 30 s.
    assert DEFAULT_TIMEOUT == 10.0
    assert settings(open_storage("s3://some-bucket/x")) == (10.0, 10.0, 10.0, 3)
    monkeypatch.setenv(TIMEOUT_VARIABLE, "2.5")
    assert settings(open_storage("s3://some-bucket/x")) == (2.5, 2.5, 2.5, 3)
    assert settings(open_storage("s3://some-bucket/x", timeout=4)) == (4.0, 4.0, 4.0, 3)
    monkeypatch.setenv("AWS_MAX_ATTEMPTS", "5")
    assert settings(open_storage("s3://some-bucket/x"))[3] == 5
    for bad in ("soon", "0", "-1", "nan", "inf"):
        monkeypatch.setenv(TIMEOUT_VARIABLE, bad)
        with pytest.raises(UsageError, match=TIMEOUT_VARIABLE) as caught:
            open_storage("s3://some-bucket/x")
        assert caught.value.exit_code == 2
    monkeypatch.delenv(TIMEOUT_VARIABLE)
    with pytest.raises(UsageError, match="positive"):
        open_storage("s3://some-bucket/x", timeout=0)


def _cli(args: list[str], env: dict[str, str]) -> tuple[subprocess.CompletedProcess[str], float]:
    started = time.monotonic()
    done = subprocess.run(
        [sys.executable, "-m", "dioptra_plugins", *args],
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    return done, time.monotonic() - started


@pytest.mark.parametrize(
    ("args", "env"),
    [
        (["index", "list", "--index", "s3://silent-bucket/plugins", "--timeout", "1"], {}),
        (["publish", "--index", "s3://silent-bucket/plugins", "--timeout", "1", "WHEEL"], {}),
        (["yank", "alpha==1.0", "--index", "s3://silent-bucket/plugins"], {TIMEOUT_VARIABLE: "1"}),
    ],
    ids=["index-list", "publish", "yank-env"],
)
def test_cli_index_commands_fail_in_time(
    silent: S3Server,
    refused: S3Server,
    make_wheel: WheelMaker,
    args: list[str],
    env: dict[str, str],
) -> None:
    if "WHEEL" in args:
        wheel = str(make_wheel("demo_pkg", "1.0.0"))
        args = [wheel if a == "WHEEL" else a for a in args]
    control = _cli(args, {**refused.env(), **env})[1]  # interpreter start-up included
    done, elapsed = _cli(args, {**silent.env(), **env})
    assert done.returncode == 1, done.stderr
    assert elapsed < upper_bound(control)
    assert "Traceback" not in done.stderr
    assert done.stdout == ""
    errors = [line for line in done.stderr.splitlines() if line.startswith("error: ")]
    assert len(errors) == 1
    assert (
        f"the S3 endpoint {silent.endpoint} did not answer within 1 s (3 attempts)" in (errors[0])
    )
    assert "--timeout SECONDS" in errors[0]
    retries = _retry_lines(done.stderr)
    assert [line.split("(attempt ")[1][:6] for line in retries] == ["2 of 3", "3 of 3"]
    assert all(
        line.startswith("WARNING dioptra_plugins.index.s3: retrying S3 ") for line in retries
    )
    assert silent.secret_key not in done.stderr
    assert silent.access_key not in done.stderr


def test_cli_sync_fails_in_time(silent: S3Server, refused: S3Server, tmp_path: Path) -> None:
    plugin_dir = tmp_path / "plugins"
    args = ["sync", "alpha", "--index", "s3://silent-bucket/plugins", "--timeout", "1"]
    control = _cli([*args, "--plugin-dir", str(tmp_path / "control")], refused.env())[1]
    done, elapsed = _cli([*args, "--plugin-dir", str(plugin_dir)], silent.env())
    assert done.returncode == 1, done.stderr
    assert elapsed < upper_bound(control)
    assert "Traceback" not in done.stderr
    assert "did not answer within 1 s (3 attempts)" in done.stderr
    assert len(_retry_lines(done.stderr)) == 2
    assert not (plugin_dir / "current").exists()


def test_every_index_command_has_the_option() -> None:
    runner = CliRunner()
    for command in (
        ["sync"],
        ["publish"],
        ["yank"],
        ["unyank"],
        ["run"],
        ["index", "init"],
        ["index", "list"],
        ["index", "show"],
        ["index", "check"],
    ):
        shown = runner.invoke(main, [*command, "--help"], catch_exceptions=False)
        assert shown.exit_code == 0, command
        assert "--timeout SECONDS" in shown.stdout, command
    bad = runner.invoke(main, ["index", "list", "--index", "x", "--timeout", "0"])
    assert bad.exit_code == 2
    assert "--timeout" in bad.stderr


def test_the_option_applies_to_one_command_only(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from dioptra_plugins.index import url

    monkeypatch.delenv(TIMEOUT_VARIABLE, raising=False)
    seen: list[float | None] = []

    def recording_open_storage(where: str, *, timeout: float | None = None) -> object:
        seen.append(timeout)
        return open_storage(where, timeout=timeout)

    monkeypatch.setattr(url, "open_storage", recording_open_storage)
    runner = CliRunner()
    done = runner.invoke(main, ["index", "init", str(tmp_path / "i"), "--timeout", "3"])
    assert done.exit_code == 0, done.stderr
    done = runner.invoke(main, ["index", "list", "--index", str(tmp_path / "i")])
    assert done.exit_code == 0, done.stderr
    assert seen == [3.0, None]  # passed to the storage it opens, and to no later command's
    assert index_timeout() == DEFAULT_TIMEOUT


def test_the_timeout_is_a_parameter_of_the_library_calls(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from dioptra_plugins.index import url
    from dioptra_plugins.publishing.operations import check_index, init_index
    from dioptra_plugins.syncing.engine import sync

    monkeypatch.delenv(TIMEOUT_VARIABLE, raising=False)
    seen: list[float | None] = []

    def recording_open_storage(where: str, *, timeout: float | None = None) -> object:
        seen.append(timeout)
        return open_storage(where, timeout=timeout)

    monkeypatch.setattr(url, "open_storage", recording_open_storage)
    index = str(tmp_path / "index")
    init_index(index, timeout=4.0)
    assert check_index(index=index, timeout=5.0).ok
    # Nothing listens on the discard port of the loopback: refused at once, after the open.
    nowhere = f"http://127.0.0.1:9/{tmp_path.name}/"
    with pytest.raises(DioptraPluginsError):
        sync(["nothing"], index=nowhere, plugin_dir=tmp_path / "p", timeout=6.0)
    assert seen == [4.0, 5.0, 6.0]


@pytest.mark.parametrize("value", [0.0, -1.0, 1e12, float("nan"), float("inf")])
def test_a_timeout_out_of_range_blames_the_parameter(value: float) -> None:
    with pytest.raises(UsageError) as caught:
        index_timeout(value)
    assert caught.value.parameters == ["timeout"]
    assert str(caught.value).startswith("`timeout` must be a positive number of seconds")


def test_the_cli_names_the_option_for_a_timeout_out_of_range(tmp_path: Path) -> None:
    # Checked as it is parsed, even for a command that opens no S3 or HTTP index.
    args = ["index", "init", str(tmp_path / "i"), "--timeout", "1e12", "--json"]
    done = CliRunner().invoke(main, args)
    assert done.exit_code == 2
    assert done.stderr.startswith("error: --timeout must be a positive number of seconds")
    assert "`timeout`" not in done.stderr
    document = json.loads(done.stdout)
    assert document["details"]["flags"] == {"timeout": "--timeout"}
    assert not (tmp_path / "i").exists()


# --- an unknown AWS profile --------------------------------------------------------------------


def test_unknown_profile_is_one_message(
    silent_env: S3Server, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AWS_PROFILE", "no-such-profile")
    with pytest.raises(StorageError) as caught:
        open_storage("s3://some-bucket/plugins")
    message = str(caught.value)
    assert "the AWS profile 'no-such-profile' (AWS_PROFILE) is not defined in" in message
    assert os.devnull in message  # the config file botocore was told to read


@pytest.mark.parametrize(
    "args",
    [
        ["index", "list", "--index", "s3://some-bucket/plugins"],
        ["sync", "alpha", "--index", "s3://some-bucket/plugins", "--plugin-dir", "PLUGINS"],
        ["yank", "alpha==1.0", "--index", "s3://some-bucket/plugins"],
    ],
    ids=["index-list", "sync", "yank"],
)
def test_unknown_profile_through_the_cli(silent: S3Server, tmp_path: Path, args: list[str]) -> None:
    args = [str(tmp_path / "plugins") if a == "PLUGINS" else a for a in args]
    done, _elapsed = _cli(args, {**silent.env(), "AWS_PROFILE": "no-such-profile"})
    assert done.returncode == 1, done.stderr
    assert "Traceback" not in done.stderr
    assert done.stderr.startswith("error: cannot use the index s3://some-bucket/plugins: ")
    assert "'no-such-profile'" in done.stderr
    assert len(done.stderr.strip().splitlines()) == 1
    assert not (tmp_path / "plugins").exists() or not any((tmp_path / "plugins").iterdir())


def test_sync_storages_follow_a_changed_timeout(monkeypatch: pytest.MonkeyPatch) -> None:
    from dioptra_plugins.index.connections import IndexConnections

    with IndexConnections() as connections:
        monkeypatch.setenv(TIMEOUT_VARIABLE, "5")
        first = connections.open("http://127.0.0.1:9/index/")
        assert connections.open("http://127.0.0.1:9/index/") is first
        monkeypatch.setenv(TIMEOUT_VARIABLE, "7")
        assert connections.open("http://127.0.0.1:9/index/") is not first
        assert connections.open("http://127.0.0.1:9/index/", timeout=5) is first
