"""Zero tracebacks from configuration (issue 21, item 7): a slice of bench/fuzz_config.py.

Every case runs the real command line in a subprocess, as a user would, with one malformed
setting: an AWS variable or file botocore reads while building its client, an HTTP index URL,
``DIOPTRA_PLUGINS_TIMEOUT``, or a local index the operating system refuses (a read-only bind
mount, a full tmpfs, no permission, a file where a folder belongs, a name too long).  Each must
end with one ``error:`` line naming the cause, one JSON error document with ``--json``, no
traceback, and no secret in the output.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from index_wheels import write_wheel

from s3servers import S3Server

# A session token and secret key that must never be printed, whatever goes wrong.
SESSION_TOKEN = "FwoGZXIvYXdzEXAMPLETOKENnotarealtoken1234567890"
NOBODY = 65534


@dataclass(frozen=True)
class Run:
    returncode: int
    stdout: str
    stderr: str


def cli(*args: str, env: dict[str, str], user: int | None = None) -> Run:
    command = [sys.executable, "-m", "dioptra_plugins", *args]
    if user is not None:
        command = ["setpriv", f"--reuid={user}", f"--regid={user}", "--clear-groups", *command]
    done = subprocess.run(
        command, env=env, capture_output=True, text=True, errors="replace", timeout=120
    )
    return Run(done.returncode, done.stdout, done.stderr)


def base_env(server: S3Server | None = None, **extra: str) -> dict[str, str]:
    """This environment without any AWS_* or DIOPTRA_* variable, then the server's and extra."""
    env = {
        name: value
        for name, value in os.environ.items()
        if not name.startswith(("AWS_", "DIOPTRA_", "BOTOCORE_"))
    }
    env["HOME"] = os.environ.get("HOME", "/root")
    if server is not None:
        env.update(server.env())
    env.update(extra)
    return env


def assert_one_error(
    run: Run, *, kind: str, exit_code: int, says: tuple[str, ...], secrets: tuple[str, ...] = ()
) -> dict[str, object]:
    """One ``error:`` line, one JSON error document of ``kind``, no traceback, no secret."""
    assert "Traceback" not in run.stderr, run.stderr
    errors = [line for line in run.stderr.splitlines() if line.startswith("error: ")]
    assert len(errors) == 1, run.stderr
    document = json.loads(run.stdout)  # exactly one document: json.loads refuses trailing text
    assert isinstance(document, dict)
    assert (document["kind"], document["exit_code"], run.returncode) == (
        kind,
        exit_code,
        exit_code,
    ), run.stderr
    for fact in says:
        assert fact in errors[0], errors[0]
    for secret in secrets:
        assert secret not in run.stdout + run.stderr
    return document


# --- the S3 index: the AWS configuration chain --------------------------------------------------


@pytest.fixture(scope="module")
def s3_index(moto_server: S3Server, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """An S3 index on moto with one published release (the good configuration works)."""
    bucket = moto_server.create_bucket("cfg")
    url = f"s3://{bucket}/plugins"
    wheel = write_wheel(tmp_path_factory.mktemp("wheels"), "demo_pkg", "1.0.0")
    done = cli("publish", str(wheel), "--index", url, env=base_env(moto_server))
    assert done.returncode == 0, done.stderr
    try:
        yield url
    finally:
        moto_server.delete_bucket(bucket)


BROKEN_CONFIG = "[default\nregion = us-east-1\n"

# (variable, value, what the message must name). "{file}" is a broken config file's path.
AWS_CASES = [
    ("AWS_ENDPOINT_URL", "notaurl", ("AWS_ENDPOINT_URL", "'notaurl'")),
    ("AWS_ENDPOINT_URL_S3", "notaurl", ("AWS_ENDPOINT_URL_S3", "'notaurl'")),
    ("AWS_ENDPOINT_URL", "http://127.0.0.1:99999", ("AWS_ENDPOINT_URL", "99999")),
    ("AWS_ENDPOINT_URL", "http://[::1", ("AWS_ENDPOINT_URL", "'http://[::1'")),
    ("AWS_MAX_ATTEMPTS", "abc", ("AWS_MAX_ATTEMPTS", "'abc'")),
    ("AWS_MAX_ATTEMPTS", "-1", ("AWS_MAX_ATTEMPTS", "'-1'")),
    ("AWS_MAX_ATTEMPTS", "", ("AWS_MAX_ATTEMPTS", "''")),
    ("AWS_DEFAULT_REGION", "bad region", ("AWS_DEFAULT_REGION", "'bad region'")),
    ("AWS_STS_REGIONAL_ENDPOINTS", "bogus", ("AWS_STS_REGIONAL_ENDPOINTS", "'bogus'")),
    ("AWS_CONFIG_FILE", "{file}", ("AWS_CONFIG_FILE", "{file}")),
    ("AWS_SHARED_CREDENTIALS_FILE", "{file}", ("AWS_SHARED_CREDENTIALS_FILE", "{file}")),
    ("AWS_SESSION_TOKEN", "tok\n" + SESSION_TOKEN, ("AWS_SESSION_TOKEN",)),
    ("AWS_ACCESS_KEY_ID", "AKIA\nEXAMPLE", ("AWS_ACCESS_KEY_ID",)),
    ("AWS_SECRET_ACCESS_KEY", "", ("AWS_SECRET_ACCESS_KEY", "missing")),
    # Found by bench/fuzz_config.py: tracebacks on main, each from a different botocore check.
    ("AWS_S3_US_EAST_1_REGIONAL_ENDPOINT", " ", ("AWS_S3_US_EAST_1_REGIONAL_ENDPOINT", "' '")),
    ("AWS_REQUEST_MIN_COMPRESSION_SIZE_BYTES", "\t\n", ("AWS_REQUEST_MIN_COMPRESSION_SIZE_BYTES",)),
    ("AWS_REQUEST_CHECKSUM_CALCULATION", "sometimes", ("AWS_REQUEST_CHECKSUM_CALCULATION",)),
    ("AWS_METADATA_SERVICE_TIMEOUT", "abc", ("AWS_METADATA_SERVICE_TIMEOUT", "'abc'")),
    ("AWS_DEFAULTS_MODE", "turbo", ("AWS_DEFAULTS_MODE", "'turbo'")),
    ("AWS_CREDENTIAL_EXPIRATION", "-inf", ("AWS_CREDENTIAL_EXPIRATION", "'-inf'")),
]


@pytest.mark.parametrize(
    ("variable", "value", "says"), AWS_CASES, ids=[f"{c[0]}={c[1]!r}" for c in AWS_CASES]
)
@pytest.mark.parametrize("command", ["index-list", "sync-dry-run"])
def test_a_malformed_aws_setting_is_one_configuration_error(
    moto_server: S3Server,
    s3_index: str,
    tmp_path: Path,
    variable: str,
    value: str,
    says: tuple[str, ...],
    command: str,
) -> None:
    broken = tmp_path / "broken-aws-config"
    broken.write_text(BROKEN_CONFIG)
    value = value.replace("{file}", str(broken))
    says = tuple(fact.replace("{file}", str(broken)) for fact in says)
    env = base_env(moto_server, AWS_SESSION_TOKEN=SESSION_TOKEN)
    env[variable] = value
    if variable == "AWS_SHARED_CREDENTIALS_FILE":
        # Without credentials in the environment botocore goes on to read the file.
        del env["AWS_ACCESS_KEY_ID"], env["AWS_SECRET_ACCESS_KEY"], env["AWS_SESSION_TOKEN"]
    plugin_dir = str(tmp_path / "plugins")
    args = {
        "index-list": ("index", "list", "--index", s3_index),
        "sync-dry-run": (
            "sync",
            "demo_pkg",
            "--dry-run",
            "--index",
            s3_index,
            "--plugin-dir",
            plugin_dir,
        ),
    }[command]
    run = cli(*args, "--json", env=env)
    assert_one_error(
        run,
        kind="ConfigurationError",
        exit_code=2,
        says=says,
        secrets=(moto_server.secret_key, SESSION_TOKEN),
    )
    assert not (tmp_path / "plugins").exists()


def test_a_broken_default_aws_config_in_home(
    moto_server: S3Server, s3_index: str, tmp_path: Path
) -> None:
    """The issue's own case: ``~/.aws/config`` holding ``[default``, no AWS_CONFIG_FILE."""
    home = tmp_path / "home"
    (home / ".aws").mkdir(parents=True)
    (home / ".aws" / "config").write_text(BROKEN_CONFIG)
    env = base_env(moto_server, HOME=str(home))
    del env["AWS_CONFIG_FILE"]
    run = cli("index", "list", "--index", s3_index, "--json", env=env)
    document = assert_one_error(
        run,
        kind="ConfigurationError",
        exit_code=2,
        says=(str(home / ".aws" / "config"), "AWS_CONFIG_FILE"),
        secrets=(moto_server.secret_key,),
    )
    assert "error" in document
    # The same index with the file mended answers.
    (home / ".aws" / "config").write_text("[default]\nregion = us-east-1\n")
    assert cli("index", "list", "--index", s3_index, env=env).returncode == 0


def test_a_bad_setting_in_the_aws_config_file_is_named(
    moto_server: S3Server, s3_index: str, tmp_path: Path
) -> None:
    config = tmp_path / "config"
    config.write_text("[default]\nregion = us-east-1\nmax_attempts = abc\n")
    env = base_env(moto_server, AWS_CONFIG_FILE=str(config))
    run = cli("index", "list", "--index", s3_index, "--json", env=env)
    assert_one_error(
        run,
        kind="ConfigurationError",
        exit_code=2,
        says=("the setting max_attempts of the AWS profile in", str(config)),
        secrets=(moto_server.secret_key,),
    )


def test_a_session_token_is_never_printed_nor_logged(moto_server: S3Server, s3_index: str) -> None:
    """A token with a newline used to be echoed in the error and in three retry warnings."""
    env = base_env(moto_server, AWS_SESSION_TOKEN=f"{SESSION_TOKEN}\r\nX-Injected: 1")
    for verbose in ((), ("-vv",)):
        run = cli(*verbose, "index", "list", "--index", s3_index, "--json", env=env)
        assert_one_error(
            run,
            kind="ConfigurationError",
            exit_code=2,
            says=("AWS_SESSION_TOKEN",),
            secrets=(SESSION_TOKEN, moto_server.secret_key),
        )


# --- the HTTP index and DIOPTRA_PLUGINS_TIMEOUT -------------------------------------------------

HTTP_CASES = [
    ("http://127.0.0.1:99999/plugins/", "out of range"),
    ("http://[::1/plugins/", "Invalid IPv6 URL"),
    ("http://127.0.0.1:abc/plugins/", "'abc'"),
    ("http://127.0.0.1:0/plugins/", "port 0"),
]


@pytest.mark.parametrize(("url", "says"), HTTP_CASES, ids=[c[0] for c in HTTP_CASES])
def test_a_malformed_http_index_url_is_a_usage_error(url: str, says: str) -> None:
    run = cli("index", "list", "--index", url, "--json", env=base_env())
    assert_one_error(run, kind="UsageError", exit_code=2, says=("malformed HTTP index URL", says))


@pytest.mark.parametrize("value", ["abc", "-1", "0", "nan", "inf", "1e11", "0x10"])
def test_a_malformed_timeout_variable_is_a_configuration_error(value: str) -> None:
    """1e11 seconds used to overflow the socket layer's time_t: a traceback, after a wait."""
    env = base_env(DIOPTRA_PLUGINS_TIMEOUT=value)
    run = cli("index", "list", "--index", "http://127.0.0.1:9/plugins/", "--json", env=env)
    assert_one_error(
        run,
        kind="ConfigurationError",
        exit_code=2,
        says=(f"DIOPTRA_PLUGINS_TIMEOUT={value!r}",),
    )


# --- a local index the operating system refuses -------------------------------------------------


@pytest.fixture
def local_index(tmp_path: Path) -> Path:
    """A local index with demo_pkg 1.0.0, made with the command line."""
    index = tmp_path / "index"
    wheel = write_wheel(tmp_path / "wheels", "demo_pkg", "1.0.0")
    done = cli("publish", str(wheel), "--index", str(index), env=base_env())
    assert done.returncode == 0, done.stderr
    return index


@pytest.fixture
def new_wheel(tmp_path: Path) -> Path:
    return write_wheel(tmp_path / "wheels-new", "demo_pkg", "2.0.0")


def _need_root() -> None:
    if os.geteuid() != 0:
        pytest.skip("mounts and changing user need root")


@pytest.fixture
def read_only_index(local_index: Path, tmp_path: Path) -> Iterator[Path]:
    """The index seen through a read-only bind mount (root cannot write through it)."""
    _need_root()
    view = tmp_path / "index-ro"
    view.mkdir()
    if subprocess.run(["mount", "--bind", str(local_index), str(view)], check=False).returncode:
        pytest.skip("mount --bind is not permitted here")
    try:
        subprocess.run(["mount", "-o", "remount,bind,ro", str(view)], check=True)
        yield view
    finally:
        subprocess.run(["umount", "-l", str(view)], check=False)


def _writes(index: Path, wheel: Path) -> dict[str, tuple[str, ...]]:
    return {
        "publish": ("publish", str(wheel), "--index", str(index)),
        "yank": ("yank", "demo_pkg==1.0.0", "--index", str(index)),
        "repair-force": ("index", "repair", "--force", "--index", str(index)),
    }


@pytest.mark.parametrize("operation", ["publish", "yank", "repair-force"])
def test_writes_to_a_read_only_index(
    read_only_index: Path, new_wheel: Path, tmp_path: Path, operation: str
) -> None:
    """EROFS from the temp file's cleanup used to replace the real error with a traceback."""
    run = cli(*_writes(read_only_index, new_wheel)[operation], "--json", env=base_env())
    assert_one_error(
        run,
        kind="StorageOSError",
        exit_code=1,
        says=(str(read_only_index), "Read-only file system"),
    )
    # Reads work through the same mount: list, show, check and a sync from it.
    for args in (
        ("index", "list", "--index", str(read_only_index)),
        ("index", "check", "--index", str(read_only_index)),
        ("sync", "demo_pkg", "--index", str(read_only_index), "--plugin-dir", str(tmp_path / "p")),
    ):
        done = cli(*args, env=base_env())
        assert done.returncode == 0, (args, done.stderr)


@pytest.fixture
def full_index(local_index: Path, tmp_path: Path) -> Iterator[Path]:
    """The index copied onto a small tmpfs, then the tmpfs filled to the last block."""
    _need_root()
    mountpoint = tmp_path / "small"
    mountpoint.mkdir()
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=512k", "tmpfs", str(mountpoint)], check=False
    )
    if mounted.returncode:
        pytest.skip("mount -t tmpfs is not permitted here")
    try:
        index = mountpoint / "index"
        shutil.copytree(local_index, index)
        filler = os.open(mountpoint / "filler", os.O_WRONLY | os.O_CREAT, 0o644)
        try:
            while os.write(filler, b"\0" * 4096):
                pass
        except OSError:
            pass  # ENOSPC: full to the last block
        finally:
            os.close(filler)
        yield index
    finally:
        subprocess.run(["umount", "-l", str(mountpoint)], check=False)


@pytest.mark.parametrize("operation", ["publish", "yank", "repair-force"])
def test_writes_to_a_full_disk(full_index: Path, new_wheel: Path, operation: str) -> None:
    before = sorted(p.name for p in (full_index / ".tmp").iterdir())
    run = cli(*_writes(full_index, new_wheel)[operation], "--json", env=base_env())
    assert_one_error(
        run,
        kind="StorageOSError",
        exit_code=1,
        says=(str(full_index), "No space left on device"),
    )
    after = sorted(p.name for p in (full_index / ".tmp").iterdir())
    assert [name for name in after if name.endswith(".part")] == [
        name for name in before if name.endswith(".part")
    ]  # no temp file left behind


@pytest.fixture
def world_readable() -> Iterator[Path]:
    """A folder every user can reach (pytest's own tmp folders are private to root)."""
    folder = Path(tempfile.mkdtemp(prefix="dioptra-cfg-"))
    folder.chmod(0o755)
    try:
        yield folder
    finally:
        shutil.rmtree(folder, ignore_errors=True)


@pytest.mark.parametrize("operation", ["publish", "yank", "repair-force"])
def test_writes_without_permission(world_readable: Path, operation: str) -> None:
    """As an unprivileged user (root bypasses permissions): a write is refused plainly."""
    _need_root()
    if shutil.which("setpriv") is None:
        pytest.skip("setpriv is not installed")
    index = world_readable / "index"
    wheels = [write_wheel(world_readable / "wheels", "demo_pkg", v) for v in ("1.0.0", "2.0.0")]
    assert cli("publish", str(wheels[0]), "--index", str(index), env=base_env()).returncode == 0
    for path in [world_readable, *world_readable.rglob("*")]:
        path.chmod(0o755 if path.is_dir() else 0o644)
    args = _writes(index, wheels[1])[operation]
    run = cli(*args, "--json", env=base_env(HOME="/nonexistent"), user=NOBODY)
    assert_one_error(
        run, kind="StorageOSError", exit_code=1, says=(str(index), "Permission denied")
    )


@pytest.mark.parametrize("operation", ["index-list", "index-show", "sync"])
def test_reads_without_permission(world_readable: Path, operation: str) -> None:
    """An index its reader may not open: every read path says which file and why."""
    _need_root()
    if shutil.which("setpriv") is None:
        pytest.skip("setpriv is not installed")
    index = world_readable / "index"
    wheel = write_wheel(world_readable / "wheels", "demo_pkg", "1.0.0")
    assert cli("publish", str(wheel), "--index", str(index), env=base_env()).returncode == 0
    (index / "index.json").chmod(0o600)  # root's alone
    plugin_dir = world_readable / "plugins"
    plugin_dir.mkdir()
    os.chown(plugin_dir, NOBODY, NOBODY)
    args = {
        "index-list": ("index", "list", "--index", str(index)),
        "index-show": ("index", "show", "demo_pkg", "--index", str(index)),
        "sync": ("sync", "demo_pkg", "--index", str(index), "--plugin-dir", str(plugin_dir)),
    }[operation]
    run = cli(*args, "--json", env=base_env(HOME="/nonexistent"), user=NOBODY)
    assert_one_error(
        run,
        kind="StorageOSError",
        exit_code=1,
        says=(str(index / "index.json"), "Permission denied"),
    )


def test_a_file_where_the_projects_folder_belongs(local_index: Path) -> None:
    """repair --force used to list projects/ as empty and rebuild a root without any project."""
    shutil.rmtree(local_index / "projects")
    (local_index / "projects").write_text("not a folder")
    root_before = (local_index / "index.json").read_bytes()
    run = cli("index", "repair", "--force", "--index", str(local_index), "--json", env=base_env())
    assert_one_error(
        run,
        kind="StorageOSError",
        exit_code=1,
        says=(f"{local_index / 'projects'} is a file where a folder belongs",),
    )
    assert (local_index / "index.json").read_bytes() == root_before


def test_a_file_where_the_scratch_folder_belongs(local_index: Path, new_wheel: Path) -> None:
    shutil.rmtree(local_index / ".tmp", ignore_errors=True)
    (local_index / ".tmp").write_text("not a folder")
    run = cli("publish", str(new_wheel), "--index", str(local_index), "--json", env=base_env())
    assert_one_error(
        run,
        kind="StorageOSError",
        exit_code=1,
        says=(f"{local_index / '.tmp'} is a file where a folder belongs",),
    )


def test_a_folder_where_the_root_document_belongs(local_index: Path) -> None:
    (local_index / "index.json").unlink()
    (local_index / "index.json").mkdir()
    for args in (("index", "list"), ("index", "show", "demo_pkg")):
        run = cli(*args, "--index", str(local_index), "--json", env=base_env())
        assert_one_error(
            run,
            kind="StorageOSError",
            exit_code=1,
            says=(str(local_index / "index.json"), "Is a directory"),
        )


def test_an_index_path_too_long(tmp_path: Path) -> None:
    index = tmp_path / ("x" * 300) / "index"
    run = cli("index", "init", str(index), "--json", env=base_env())
    assert_one_error(run, kind="StorageOSError", exit_code=1, says=("File name too long",))
