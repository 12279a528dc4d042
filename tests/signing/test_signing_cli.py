"""The signed index through the real CLI: keys, the worker set-up, refusals, concurrency."""

from __future__ import annotations

import json
import os
import stat
import subprocess
from datetime import UTC, datetime
from pathlib import Path

from signhelpers import CLI, installed, run_cli
from tuf.api.metadata import Metadata, Timestamp  # type: ignore[attr-defined]

from dioptra_plugins.signing.keys import ROLES
from dioptra_plugins.signing.names import TIMESTAMP_KEY
from tampering import read_object


def ok(*args: str) -> subprocess.CompletedProcess[str]:
    result = run_cli(*args)
    assert result.returncode == 0, result.stderr
    return result


def one_error(result: subprocess.CompletedProcess[str], code: int, match: str) -> None:
    assert result.returncode == code, result.stderr
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("error: ")
    assert match in lines[0], lines[0]


def test_keys_generate_writes_private_keys_0600_and_never_overwrites(tmp_path: Path) -> None:
    keydir = tmp_path / "keys"
    listing = json.loads(ok("keys", "generate", str(keydir), "--json").stdout)
    assert set(listing["keyids"]) == set(ROLES)
    assert stat.S_IMODE(keydir.stat().st_mode) == 0o700
    for role in ROLES:
        assert stat.S_IMODE((keydir / f"{role}.pem").stat().st_mode) == 0o600
    before = {p.name: p.read_bytes() for p in keydir.iterdir()}
    one_error(run_cli("keys", "generate", str(keydir)), 2, "refusing to overwrite")
    assert {p.name: p.read_bytes() for p in keydir.iterdir()} == before


def test_worker_set_up_in_three_commands(
    index_url: str, wheels: dict[str, Path], tmp_path: Path
) -> None:
    keydir, plugin_dir = tmp_path / "keys", tmp_path / "plugins"
    # The index owner: keys, the signed index, a publish.
    ok("keys", "generate", str(keydir))
    init = json.loads(
        ok("index", "init", index_url, "--signed", "--keys", str(keydir), "--json").stdout
    )
    assert init["signed"]["trusted_root"] == str(keydir / "root.json")
    published = json.loads(
        ok("publish", str(wheels["alpha-1.0.0"]), "--index", index_url, "--keys", str(keydir),
           "--json").stdout
    )  # fmt: skip
    assert published["signed"]["serial"] == published["serial"]
    # The worker: the trusted root copied once, then a sync that verifies.
    trust = tmp_path / "worker" / "root.json"
    trust.parent.mkdir()
    trust.write_bytes((keydir / "root.json").read_bytes())
    synced = ok("sync", "alpha", "--index", index_url, "--plugin-dir", str(plugin_dir),
                "--trust", str(trust))  # fmt: skip
    assert "installed alpha 1.0.0" in synced.stdout
    assert installed(plugin_dir) == {"alpha": "1.0.0"}
    # The variable works as well as the option; nothing new: two requests.
    env = {**os.environ, "DIOPTRA_PLUGINS_TRUST": str(trust)}
    again = subprocess.run(
        [CLI, "sync", "alpha", "--index", index_url, "--plugin-dir", str(plugin_dir), "--json"],
        capture_output=True, text=True, env=env, timeout=120, check=True,
    )  # fmt: skip
    result = json.loads(again.stdout)
    assert result["not_modified"]
    assert result["requests"] <= 2


def test_a_write_without_keys_to_a_signed_index_is_refused(
    index_url: str, wheels: dict[str, Path], tmp_path: Path
) -> None:
    keydir = tmp_path / "keys"
    ok("keys", "generate", str(keydir))
    ok("index", "init", index_url, "--signed", "--keys", str(keydir))
    before = read_object(index_url, "index.json")
    one_error(
        run_cli("publish", str(wheels["alpha-1.0.0"]), "--index", index_url),
        1,
        "is a signed index: pass --keys KEYDIR",
    )
    assert read_object(index_url, "index.json") == before
    # Other keys than the index's: refused before anything is written.
    other = tmp_path / "other-keys"
    ok("keys", "generate", str(other))
    ok("index", "init", str(tmp_path / "elsewhere"), "--signed", "--keys", str(other))
    one_error(
        run_cli("publish", str(wheels["alpha-1.0.0"]), "--index", index_url, "--keys", str(other)),
        1,
        "signed with other keys",
    )
    assert read_object(index_url, "index.json") == before


def test_index_refresh_re_signs_the_timestamp_and_keeps_its_expiry(
    index_url: str, tmp_path: Path
) -> None:
    keydir = tmp_path / "keys"
    ok("keys", "generate", str(keydir))
    ok("index", "init", index_url, "--signed", "--keys", str(keydir), "--timestamp-expiry", "600")
    first = Metadata[Timestamp].from_bytes(read_object(index_url, TIMESTAMP_KEY)).signed
    refreshed = json.loads(
        ok("index", "refresh", "--index", index_url, "--keys", str(keydir), "--json").stdout
    )
    second = Metadata[Timestamp].from_bytes(read_object(index_url, TIMESTAMP_KEY)).signed
    assert refreshed["timestamp"] == "written"
    assert second.version > first.version
    assert second.snapshot_meta == first.snapshot_meta
    assert abs((second.expires - datetime.now(UTC)).total_seconds() - 600) < 60
    # The cron machine holds only the timestamp key and the public root.
    cron = tmp_path / "cron-keys"
    cron.mkdir(mode=0o700)
    for name in ("timestamp.pem", "root.json"):
        (cron / name).write_bytes((keydir / name).read_bytes())
    (cron / "timestamp.pem").chmod(0o600)
    ok("index", "refresh", "--index", index_url, "--keys", str(cron))
    third = Metadata[Timestamp].from_bytes(read_object(index_url, TIMESTAMP_KEY)).signed
    assert third.version > second.version


def test_signing_an_existing_unsigned_index_signs_what_it_holds(
    index_url: str, wheels: dict[str, Path], tmp_path: Path
) -> None:
    keydir, plugin_dir = tmp_path / "keys", tmp_path / "plugins"
    ok("index", "init", index_url)
    ok("publish", str(wheels["alpha-1.0.0"]), str(wheels["p0-1.0.0"]), "--index", index_url)
    ok("keys", "generate", str(keydir))
    ok("index", "init", index_url, "--signed", "--keys", str(keydir))
    ok("sync", "alpha", "p0", "--index", index_url, "--plugin-dir", str(plugin_dir),
       "--trust", str(keydir / "root.json"))  # fmt: skip
    assert installed(plugin_dir) == {"alpha": "1.0.0", "p0": "1.0.0"}


def test_concurrent_signed_publishers_lose_nothing(
    index_url: str, wheels: dict[str, Path], tmp_path: Path
) -> None:
    keydir, plugin_dir = tmp_path / "keys", tmp_path / "plugins"
    ok("keys", "generate", str(keydir))
    ok("index", "init", index_url, "--signed", "--keys", str(keydir))
    publishers = [
        subprocess.Popen(
            [
                CLI,
                "publish",
                str(wheels[f"p{n}-1.0.0"]),
                "--index",
                index_url,
                "--keys",
                str(keydir),
                "--json",
            ],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for n in range(4)
    ]
    for publisher in publishers:
        _out, err = publisher.communicate(timeout=180)
        assert publisher.returncode == 0, err
    wanted = [f"p{n}" for n in range(4)]
    ok("sync", *wanted, "--index", index_url, "--plugin-dir", str(plugin_dir),
       "--trust", str(keydir / "root.json"))  # fmt: skip
    assert installed(plugin_dir) == dict.fromkeys(wanted, "1.0.0")
