"""Fuzz the configuration: every AWS_* and DIOPTRA_* variable, malformed (issue 21, item 7).

Not a test and not a timing: real command lines, each in its own process as a user runs them,
with one variable (or one AWS config file) set to a malformed value, against a moto server on
127.0.0.1 and a local index.  The variables are

- every ``AWS_*`` / ``DIOPTRA_*`` name the package's source spells out (found by a scan of
  ``src/``, so a new variable is fuzzed without editing this file);
- every variable of botocore's own configuration chain (its session map, the endpoint and
  credential variables, and the names listed in issue 21).

Values: empty, blanks, words, negative, zero, huge, ``nan``/``inf``, control and non-ASCII
characters, undecodable bytes, very long text, URLs with bad hosts or ports, paths to a missing
file, a folder and a garbage file, and AWS config files with broken syntax or bad settings.

Each run is one of ``index list``, ``sync --dry-run`` and ``publish --dry-run`` on the S3 or
the local index, with and without ``--json``.  A run fails if its stderr holds a traceback, if
with ``--json`` its stdout is not exactly one JSON document, if it prints a secret (the secret
key and session token are always set, to marker values, and a fuzzed secret is a secret too),
or if it does not end within 60 s.  Prints a markdown table; exits 1 on any failure and lists
the first failures with the variable and value to reproduce them.

Run: .venv/bin/python bench/fuzz_config.py [--count 1500] [--seed 0] [--jobs 2]
"""

from __future__ import annotations

import argparse
import contextlib
import datetime
import json
import os
import random
import re
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SECRET_KEY = "fuzz-secret-KEY-0123456789abcdef"
SESSION_TOKEN = "fuzz-session-TOKEN-fedcba9876543210"
SECRET_VARIABLES = ("AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_SECURITY_TOKEN")
RUN_TIMEOUT = 60.0

# The AWS chain as issue 21 lists it, beyond botocore's session map (endpoints, credentials).
LISTED_AWS = [
    "AWS_ENDPOINT_URL",
    "AWS_ENDPOINT_URL_S3",
    "AWS_MAX_ATTEMPTS",
    "AWS_RETRY_MODE",
    "AWS_DEFAULT_REGION",
    "AWS_REGION",
    "AWS_PROFILE",
    "AWS_DEFAULT_PROFILE",
    "AWS_CONFIG_FILE",
    "AWS_SHARED_CREDENTIALS_FILE",
    "AWS_CA_BUNDLE",
    "AWS_ACCESS_KEY_ID",
    "AWS_SECRET_ACCESS_KEY",
    "AWS_SESSION_TOKEN",
    "AWS_SECURITY_TOKEN",
    "AWS_S3_ADDRESSING_STYLE",
    "AWS_USE_FIPS_ENDPOINT",
    "AWS_USE_DUALSTACK_ENDPOINT",
    "AWS_STS_REGIONAL_ENDPOINTS",
    "AWS_S3_US_EAST_1_REGIONAL_ENDPOINT",
    "AWS_IGNORE_CONFIGURED_ENDPOINT_URLS",
    "AWS_REQUEST_CHECKSUM_CALCULATION",
    "AWS_RESPONSE_CHECKSUM_VALIDATION",
    "AWS_DEFAULTS_MODE",
    "AWS_EC2_METADATA_DISABLED",
    "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI",
    "AWS_CONTAINER_CREDENTIALS_FULL_URI",
    "AWS_WEB_IDENTITY_TOKEN_FILE",
    "AWS_ROLE_ARN",
    "AWS_CREDENTIAL_EXPIRATION",
]
# Left alone: they point the tool at a different machine or program, not at a malformed value
# (a credential_process or an instance-metadata endpoint would be asked over the network).
# AWS_EC2_METADATA_DISABLED stays "true" so that a chain without credentials never asks
# 169.254.169.254; AWS_IGNORE_CONFIGURED_ENDPOINT_URLS would send requests to AWS itself.
SKIPPED = {
    "AWS_EC2_METADATA_SERVICE_ENDPOINT",
    "AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE",
    "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI",
    "AWS_EC2_METADATA_DISABLED",
    "AWS_IGNORE_CONFIGURED_ENDPOINT_URLS",
}

# Loaded into every child through PYTHONPATH: a malformed endpoint or region must never send a
# packet off this machine, so any name or address that is not loopback is refused (the child
# sees a connection error, as with a dead network) and written to a log, counted as a failure.
GUARD = """
import ipaddress, os, socket

_log = os.environ.get("FUZZ_CONFIG_NET_LOG")
_getaddrinfo = socket.getaddrinfo
_connect = socket.socket.connect
_sendto = socket.socket.sendto


def _loopback(host):
    if host is None:
        return True
    if isinstance(host, bytes):
        host = host.decode("ascii", "replace")
    host = str(host).strip("[]")
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.split("%")[0]).is_loopback
    except ValueError:
        return False


def _refuse(host):
    if _log:
        with open(_log, "a") as log:
            log.write(f"{os.getpid()} {host!r}\\n")
    raise OSError(101, f"fuzz_config: {host!r} is not loopback")


def getaddrinfo(host, *args, **kwargs):
    if not _loopback(host):
        _refuse(host)
    return _getaddrinfo(host, *args, **kwargs)


def connect(self, address):
    if isinstance(address, tuple) and not _loopback(address[0]):
        _refuse(address[0])
    return _connect(self, address)


def sendto(self, data, *args):
    address = args[-1]
    if isinstance(address, tuple) and not _loopback(address[0]):
        _refuse(address[0])
    return _sendto(self, data, *args)


socket.getaddrinfo = getaddrinfo
socket.socket.connect = connect
socket.socket.sendto = sendto
"""


def variables_in_source() -> list[str]:
    """Every AWS_* / DIOPTRA_* name written in the package's source."""
    names: set[str] = set()
    for path in (ROOT / "src").rglob("*.py"):
        names.update(re.findall(r"[\"']((?:AWS|DIOPTRA)_[A-Z0-9_]+)[\"']", path.read_text()))
    return sorted(names)


def botocore_variables() -> list[str]:
    import botocore.session

    names: set[str] = set()
    for spec in botocore.session.Session().session_var_map.values():
        env = spec[1]
        for name in env if isinstance(env, list | tuple) else [env]:
            if name:
                names.add(name)
    return sorted(names)


def all_variables() -> list[str]:
    found = set(variables_in_source()) | set(botocore_variables()) | set(LISTED_AWS)
    return sorted(found - SKIPPED)


# --- values -------------------------------------------------------------------------------------


GOOD_CONFIG = "[default]\nregion = us-east-1\nmax_attempts = 3\nretry_mode = standard\n"
CONFIG_SETTINGS = [
    "region = bad region",
    "region = ",
    "max_attempts = abc",
    "max_attempts = -5",
    "retry_mode = bogus",
    "endpoint_url = notaurl",
    "endpoint_url = http://[::1",
    "endpoint_url = http://127.0.0.1:99999",
    "s3 =\n  addressing_style = bogus",
    "s3 =\n  use_accelerate_endpoint = maybe",
    "sts_regional_endpoints = nope",
    "defaults_mode = turbo",
    "ca_bundle = /nonexistent/ca.pem",
    "use_fips_endpoint = perhaps",
    "aws_access_key_id = AKIA\u00e9\u00e9",
    "request_checksum_calculation = sometimes",
    "connect_timeout = abc",
    "tcp_keepalive = yes please",
    "credential_process = /nonexistent/helper",
]


@dataclass
class Files:
    """Paths the values point at, made once per fuzzing run."""

    folder: Path
    missing: Path
    garbage: Path
    configs: list[Path] = field(default_factory=list)


def make_files(folder: Path, rng: random.Random) -> Files:
    garbage = folder / "garbage"
    garbage.write_bytes(bytes(rng.randrange(256) for _ in range(2048)))
    files = Files(folder=folder, missing=folder / "missing" / "file", garbage=garbage)
    bodies = [
        "[default\nregion = us-east-1\n",
        "region = us-east-1\n",
        "[default]\nregion\n",
        "[profile x\n[default]\n",
        "[default]\n  indented = before any key\n",
        "\x00\x01\x02[default]",
        "[default]\nregion = us-east-1\n[default]\nregion = eu-west-1\n",
        *(GOOD_CONFIG + setting + "\n" for setting in CONFIG_SETTINGS),
    ]
    for number, body in enumerate(bodies):
        path = folder / f"config-{number}"
        path.write_text(body, errors="surrogateescape")
        files.configs.append(path)
    return files


def malformed_values(rng: random.Random, files: Files) -> list[str]:
    control = "".join(chr(rng.choice([*range(1, 32), 127])) for _ in range(8))
    non_ascii = "".join(chr(rng.randrange(0x80, 0x3000)) for _ in range(8))
    undecodable = os.fsdecode(bytes(rng.randrange(0x80, 0x100) for _ in range(8)))
    return [
        "",
        " ",
        "\t\n",
        "abc",
        "-1",
        "0",
        "1e308",
        "9" * 40,
        "nan",
        "inf",
        "-inf",
        "true false",
        "abc\ndef",
        control,
        non_ascii,
        undecodable,
        "x" * 10_000,
        "notaurl",
        "http://[::1",
        "http://127.0.0.1:99999",
        "http://127.0.0.1:0/",
        "ftp://127.0.0.1/",
        "s3://",
        str(files.missing),
        str(files.folder),
        str(files.garbage),
        str(rng.choice(files.configs)),
    ]


# --- runs ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Case:
    number: int
    variable: str
    value: str
    command: str
    backend: str
    json_output: bool


@dataclass
class Result:
    case: Case
    outcome: str  # ok, typed, traceback, bad-json, leak, hung, off-host
    detail: str = ""
    kind: str = ""
    seconds: float = 0.0


@dataclass
class World:
    python: str
    env: dict[str, str]
    s3_index: str
    local_index: str
    wheel: str
    plugin_dirs: Path


def command_line(world: World, case: Case) -> list[str]:
    index = world.s3_index if case.backend == "s3" else world.local_index
    # With DIOPTRA_PLUGINS_INDEX fuzzed, the command must read it: no --index then.
    where = [] if case.variable == "DIOPTRA_PLUGINS_INDEX" else ["--index", index]
    plugin_dir = (
        []
        if case.variable == "DIOPTRA_PLUGIN_DIR"
        else [
            "--plugin-dir",
            str(world.plugin_dirs / str(case.number)),
        ]
    )
    args = {
        "index list": ["index", "list", *where],
        "sync --dry-run": ["sync", "demo_pkg", "--dry-run", *where, *plugin_dir],
        "publish --dry-run": ["publish", world.wheel, "--dry-run", *where],
    }[case.command]
    return [world.python, "-m", "dioptra_plugins", *args, *(["--json"] if case.json_output else [])]


def secrets_of(case: Case, command: list[str]) -> list[str]:
    """The values no output may hold: the marker secrets, and a fuzzed secret's value unless
    the command line itself holds it (a path of this run's folder would be printed rightly)."""
    secrets = [SECRET_KEY, SESSION_TOKEN]
    value = case.value
    if (
        case.variable in SECRET_VARIABLES
        and len(value.strip()) >= 6
        and not any(value in argument for argument in command)
    ):
        secrets.append(value)
    return secrets


def run_case(world: World, case: Case) -> Result:
    started = time.monotonic()
    result = _run_case(world, case)
    result.seconds = time.monotonic() - started
    return result


def _run_case(world: World, case: Case) -> Result:
    env = dict(world.env)
    if case.variable == "AWS_ENDPOINT_URL":
        del env["AWS_ENDPOINT_URL_S3"]  # else the S3-specific one wins and this is not read
    env[case.variable] = case.value
    log = Path(env["FUZZ_CONFIG_NET_LOG"] + f".{case.number}")
    env["FUZZ_CONFIG_NET_LOG"] = str(log)
    try:
        done = subprocess.run(
            command_line(world, case),
            env=env,
            capture_output=True,
            timeout=RUN_TIMEOUT,
            stdin=subprocess.DEVNULL,
            check=False,
        )
    except subprocess.TimeoutExpired:
        return Result(case, "hung", f"no end within {RUN_TIMEOUT:g} s")
    stdout = done.stdout.decode("utf-8", "replace")
    stderr = done.stderr.decode("utf-8", "replace")
    if log.exists():
        return Result(case, "off-host", log.read_text().strip()[:200])
    if "Traceback" in stderr:
        last = [line for line in stderr.splitlines() if line.strip()][-1:]
        return Result(case, "traceback", last[0][:200] if last else "")
    for secret in secrets_of(case, command_line(world, case)):
        if secret in stdout or secret in stderr:
            return Result(case, "leak", f"printed a secret ({len(secret)} characters)")
    kind = ""
    if case.json_output:
        try:
            document = json.loads(stdout)
        except ValueError as error:
            return Result(case, "bad-json", f"{error}: {stdout[:120]!r}")
        if done.returncode != 0:
            if not (isinstance(document, dict) and "kind" in document):
                return Result(case, "bad-json", f"exit {done.returncode} without an error document")
            kind = str(document["kind"])
    if done.returncode == 0:
        return Result(case, "ok")
    errors = [line for line in stderr.splitlines() if line.startswith("error: ")]
    if done.returncode in (1, 2) and len(errors) == 1:
        return Result(case, "typed", errors[0][:200], kind)
    # click's own usage errors (exit 2, "Error: ...") are typed too: no traceback, one message.
    if done.returncode == 2 and "Error:" in stderr:
        return Result(case, "typed", stderr.strip().splitlines()[-1][:200], kind or "click")
    return Result(case, "traceback", f"exit {done.returncode}: {stderr[-200:]!r}")


def build_cases(rng: random.Random, files: Files, count: int) -> list[Case]:
    """Every variable at least once on each backend, then random combinations up to count."""
    variables = all_variables()
    commands = ["index list", "sync --dry-run", "publish --dry-run"]
    cases: list[Case] = []
    values = malformed_values(rng, files)
    for variable in variables:
        for backend in ("s3", "local"):
            cases.append(
                Case(
                    len(cases),
                    variable,
                    rng.choice(values),
                    rng.choice(commands),
                    backend,
                    rng.random() < 0.5,
                )
            )
    while len(cases) < count:
        values = malformed_values(rng, files)
        cases.append(
            Case(
                len(cases),
                rng.choice(variables),
                rng.choice(values),
                rng.choice(commands),
                rng.choice(["s3", "s3", "local"]),
                rng.random() < 0.5,
            )
        )
    return cases[: max(count, 2 * len(variables))]


# --- the servers and indexes --------------------------------------------------------------------


@contextlib.contextmanager
def world(folder: Path) -> Iterator[World]:
    sys.path.insert(0, str(ROOT / "tests"))
    sys.path.insert(0, str(ROOT / "tests" / "index"))
    from index_wheels import write_wheel

    from s3servers import running_moto

    with running_moto() as server:
        bucket = server.create_bucket("fuzzcfg")
        env = {
            name: value
            for name, value in os.environ.items()
            if not name.startswith(("AWS_", "DIOPTRA_", "BOTOCORE_"))
        }
        env.update(server.env())
        env.update(AWS_SECRET_ACCESS_KEY=SECRET_KEY, AWS_SESSION_TOKEN=SESSION_TOKEN)
        env["AWS_ENDPOINT_URL_S3"] = server.endpoint
        env["HOME"] = str(folder / "home")  # no ~/.aws of the person running this
        (folder / "home").mkdir()
        (folder / "guard").mkdir()
        (folder / "guard" / "sitecustomize.py").write_text(GUARD)
        env["PYTHONPATH"] = os.pathsep.join(
            [str(folder / "guard"), *filter(None, [os.environ.get("PYTHONPATH")])]
        )
        env["FUZZ_CONFIG_NET_LOG"] = str(folder / "network.log")
        wheel = write_wheel(folder / "wheels", "demo_pkg", "1.0.0")
        fresh = write_wheel(folder / "wheels-new", "demo_pkg", "2.0.0")
        python = sys.executable
        s3_index = f"s3://{bucket}/plugins"
        local_index = str(folder / "index")
        for index in (s3_index, local_index):
            done = subprocess.run(
                [python, "-m", "dioptra_plugins", "publish", str(wheel), "--index", index],
                env=env,
                capture_output=True,
                text=True,
                check=False,
            )
            if done.returncode:
                raise SystemExit(f"cannot publish to {index}: {done.stderr}")
        try:
            yield World(python, env, s3_index, local_index, str(fresh), folder / "plugins")
        finally:
            server.delete_bucket(bucket)


# --- report -------------------------------------------------------------------------------------


def report(results: list[Result], seconds: float, seed: int) -> int:
    groups: dict[str, list[Result]] = {}
    for result in results:
        variable = result.case.variable
        group = (
            "DIOPTRA_* (ours)"
            if variable.startswith("DIOPTRA_")
            else "AWS_* read by our code"
            if variable in variables_in_source()
            else "AWS_* (botocore)"
        )
        groups.setdefault(group, []).append(result)
    failures = [r for r in results if r.outcome not in ("ok", "typed")]
    print(
        f"fuzz_config: seed {seed}, {len(results)} runs, {seconds:.0f} s, "
        f"{len({r.case.variable for r in results})} variables, "
        f"{datetime.date.today().isoformat()}\n"
    )
    print(
        "| variables | runs | ok | typed error | traceback | bad JSON | secret printed | hung |"
        " off-host | typed errors seen |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|")
    for name, group in sorted(groups.items()):
        counts = Counter(r.outcome for r in group)
        kinds = Counter(r.kind or "(text)" for r in group if r.outcome == "typed")
        seen = ", ".join(f"{kind} {n}" for kind, n in kinds.most_common())
        print(
            f"| {name} ({len({r.case.variable for r in group})}) | {len(group)} | {counts['ok']} | "
            f"{counts['typed']} | {counts['traceback']} | {counts['bad-json']} | {counts['leak']} "
            f"| {counts['hung']} | {counts['off-host']} | {seen} |"
        )
    slowest = sorted(results, key=lambda r: r.seconds, reverse=True)[:5]
    print(
        "\nslowest runs: "
        + "; ".join(
            f"{r.case.variable}={r.case.value[:30]!r} {r.case.command} {r.seconds:.1f} s"
            for r in slowest
        )
    )
    if failures:
        print(f"\n{len(failures)} failures; the first 40:")
        for failure in failures[:40]:
            case = failure.case
            print(
                f"- {failure.outcome}: {case.variable}={case.value[:60]!r} {case.command} "
                f"({case.backend}{', --json' if case.json_output else ''}): {failure.detail}"
            )
    return 1 if failures else 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=1500, help="runs (at least 2 per variable)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--jobs", type=int, default=2, help="runs at once")
    parser.add_argument("--list", action="store_true", help="print the variables and stop")
    options = parser.parse_args()
    if options.list:
        print("\n".join(all_variables()))
        return 0
    rng = random.Random(options.seed)
    with tempfile.TemporaryDirectory(prefix="fuzz-config-") as temp:
        folder = Path(temp)
        files = make_files(folder, rng)
        cases = build_cases(rng, files, options.count)
        started = time.monotonic()
        with world(folder) as here, ThreadPoolExecutor(options.jobs) as pool:
            results = list(pool.map(lambda case: run_case(here, case), cases))
        return report(results, time.monotonic() - started, options.seed)


if __name__ == "__main__":
    sys.exit(main())
