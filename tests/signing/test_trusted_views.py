"""``index list``, ``show`` and ``check`` with ``--trust``: the index as a verifying worker sees it.

The tampered index is built the way a bucket writer without keys builds it: a signed index
(alpha 1.0.0 yanked "broken", alpha 1.1.0, p1 1.0.0, all published and yanked with ``--keys``)
on a local directory and on SeaweedFS, then an unsigned copy published elsewhere (alpha 1.0.0
not yanked, an evil alpha 1.1.0, an evil alpha 1.5.0, p0 1.0.0) whose ``index.json``,
``projects/`` and ``bundles/`` are uploaded over it (``tuf/`` untouched).  The copy is
consistent: every view that reads the unsigned documents believes it.
"""

from __future__ import annotations

import hashlib
import json
import os
import signal
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest
from signhelpers import CLI, build, run_cli, whole_dir

from dioptra_plugins.errors import UsageError
from dioptra_plugins.index.url import open_storage
from dioptra_plugins.publishing.check import check_index
from dioptra_plugins.publishing.initialize import init_index
from dioptra_plugins.publishing.publish import publish
from dioptra_plugins.signing import TRUST_VARIABLE, TrustError
from dioptra_plugins.signing.views import KINDS, trusted_view
from tampering import overwrite, read_object

BUNDLE_110 = "bundles/alpha/alpha-1.1.0-py3-none-any.whl"


@pytest.fixture(scope="module")
def evil_15(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build(tmp_path_factory.mktemp("evil-15"), "alpha", "1.5.0", says="pwned")


@dataclass(frozen=True)
class Tampered:
    url: str
    trust: Path
    signed_110: bytes
    """alpha 1.1.0's real (signed) bundle, as it was before the upload."""


def cli_ok(*args: str | Path) -> str:
    done = run_cli(*(str(arg) for arg in args))
    assert done.returncode == 0, done.stderr
    return done.stdout


def upload_over(copy: Path, index_url: str) -> None:
    """The unsigned copy's ``index.json``, ``projects/`` and ``bundles/`` written over the index,
    as a bucket writer would (``tuf/`` untouched; the copy's scratch files and pages left out)."""
    uploaded = 0
    for path in sorted(copy.rglob("*")):
        key = path.relative_to(copy).as_posix()
        if path.is_file() and (key == "index.json" or key.startswith(("projects/", "bundles/"))):
            overwrite(index_url, key, path.read_bytes())
            uploaded += 1
    assert uploaded > 1


def build_signed(index_url: str, keys: Path, wheels: dict[str, Path]) -> None:
    """alpha 1.0.0 (yanked "broken"), alpha 1.1.0 and p1 1.0.0, signed, through the CLI."""
    cli_ok(
        "publish", wheels["alpha-1.0.0"], wheels["alpha-1.1.0"], wheels["p1-1.0.0"],
        "--index", index_url, "--keys", keys,
    )  # fmt: skip
    cli_ok("yank", "alpha==1.0.0", "--reason", "broken", "--index", index_url, "--keys", keys)


@pytest.fixture
def tampered(
    signed_index: str, keys: Path, wheels: dict[str, Path], evil_15: Path, tmp_path: Path
) -> Tampered:
    build_signed(signed_index, keys, wheels)
    signed_110 = read_object(signed_index, BUNDLE_110)
    copy = tmp_path / "unsigned-copy"
    storage = open_storage(str(copy))
    init_index(storage)
    publish(
        storage,
        [wheels["alpha-1.0.0"], wheels["evil-alpha-1.1.0"], evil_15, wheels["p0-1.0.0"]],
    )
    upload_over(copy, signed_index)
    assert read_object(signed_index, BUNDLE_110) != signed_110
    return Tampered(signed_index, keys / "root.json", signed_110)


def messages(stdout: str, label: str) -> list[str]:
    return [
        line.removeprefix(f"{label}: ") for line in stdout.splitlines() if line.startswith(label)
    ]


def test_check_with_trust_names_every_disagreement_and_the_replaced_bundle(
    tampered: Tampered, wheels: dict[str, Path]
) -> None:
    # Without trust the forgery is consistent: the check cannot see it.
    plain = run_cli("index", "check", "--index", tampered.url)
    assert plain.returncode == 0, plain.stdout + plain.stderr

    trusted = run_cli("index", "check", "--index", tampered.url, "--trust", str(tampered.trust))
    assert trusted.returncode == 1, trusted.stdout + trusted.stderr
    assert "Traceback" not in trusted.stderr
    not_signed = messages(trusted.stdout, "not signed")
    text = "\n".join(not_signed)
    assert any(m.startswith("index.json is not the signed root: it is serial") for m in not_signed)
    assert "alpha: latest 1.5.0 in index.json, 1.1.0 signed" in not_signed
    assert "alpha 1.5.0: in the unsigned documents (alpha-1.5.0-py3-none-any.whl), not signed" in (
        not_signed
    )
    assert (
        "alpha 1.0.0 (alpha-1.0.0-py3-none-any.whl): not yanked in the unsigned documents, "
        "yanked (broken) in the signed metadata"
    ) in not_signed
    assert "p0: in index.json (versions 1.0.0), not in the signed metadata" in not_signed
    assert "p1: signed (latest 1.0.0), missing from index.json" in not_signed
    evil = wheels["evil-alpha-1.1.0"].read_bytes()
    assert f"{BUNDLE_110}: the unsigned documents list sha256 " in text
    assert f"({len(evil)} bytes); the signed targets pin sha256 " in text
    # Everything the signed root reaches is still checked: the real 1.1.0 is gone.
    damaged = messages(trusted.stdout, "damaged")
    assert len(damaged) == 1, trusted.stdout
    assert damaged[0].startswith(BUNDLE_110)
    assert damaged[0].endswith("(signed)")
    summary = trusted.stdout.splitlines()[-1]
    assert summary.startswith(f"{tampered.url}: signed serial ")
    assert summary.endswith(f"{len(not_signed) + 1} problems")

    as_json = run_cli(
        "index", "check", "--json", "--index", tampered.url, "--trust", str(tampered.trust)
    )
    assert as_json.returncode == 1
    document = json.loads(as_json.stdout)
    assert document["ok"] is False
    assert document["trusted"] is True
    assert [d["message"] for d in document["disagreements"]] == not_signed
    kinds = {d["kind"] for d in document["disagreements"]}
    assert kinds - {"file"} == {"root", "latest", "version", "yank", "project", "bundle"}
    assert kinds <= set(KINDS)
    # alpha 1.0.0 was published again into the copy: the same bytes, and the same upload time
    # unless a second passed in between (then that is reported too, as what it is).
    for other in (d for d in document["disagreements"] if d["kind"] == "file"):
        assert other["message"] == (
            "bundles/alpha/alpha-1.0.0-py3-none-any.whl: same bytes, but the unsigned documents "
            "differ from the signed metadata in: upload_time"
        )
    yank = next(d for d in document["disagreements"] if d["kind"] == "yank")
    assert yank == {
        "kind": "yank",
        "message": yank["message"],
        "project": "alpha",
        "version": "1.0.0",
        "key": "bundles/alpha/alpha-1.0.0-py3-none-any.whl",
        "unsigned": "not yanked",
        "signed": "yanked (broken)",
    }
    assert document["problems"] == damaged


def test_check_with_trust_from_the_environment_and_from_python(
    tampered: Tampered, monkeypatch: pytest.MonkeyPatch
) -> None:
    env = {**os.environ, TRUST_VARIABLE: str(tampered.trust)}
    done = subprocess.run(
        [CLI, "index", "check", "--index", tampered.url],
        capture_output=True, text=True, timeout=120, check=False, env=env,
    )  # fmt: skip
    assert done.returncode == 1, done.stdout + done.stderr
    assert "not signed: p0: in index.json" in done.stdout

    report = check_index(open_storage(tampered.url), trust=tampered.trust)
    assert not report.ok
    assert report.trusted
    assert report.serial is not None
    assert report.unsigned_serial is not None
    assert {d.kind for d in report.disagreements} >= {"root", "bundle", "yank", "project"}
    assert [p.split(":")[0] for p in report.problems] == [BUNDLE_110]
    assert not trusted_view(open_storage(tampered.url), tampered.trust).pending
    # The bytes of the trusted root work too; an unusable one is a usage error, raised.
    assert not check_index(open_storage(tampered.url), trust=tampered.trust.read_bytes()).ok
    with pytest.raises(UsageError, match="does not exist"):
        check_index(open_storage(tampered.url), trust=tampered.trust.parent / "nope.json")


def test_list_and_show_with_trust_show_only_the_signed_view(tampered: Tampered) -> None:
    # Without trust, the bucket writer's release is what a reader is shown.
    plain = cli_ok("index", "list", "--index", tampered.url)
    assert "1.5.0" in plain
    assert "p0" in plain

    listed = run_cli("index", "list", "--index", tampered.url, "--trust", str(tampered.trust))
    assert listed.returncode == 0, listed.stderr
    rows = [line.split() for line in listed.stdout.splitlines()]
    assert rows == [
        ["project", "latest", "versions"],
        ["alpha", "1.1.0", "2"],
        ["p1", "1.0.0", "1"],
    ]
    warnings = listed.stderr.splitlines()
    assert all(line.startswith("warning: ") for line in warnings), listed.stderr
    assert "disagree with its signed metadata" in warnings[0]
    assert "warning: alpha 1.5.0: in the unsigned documents" in listed.stderr
    assert "warning: p0: in index.json (versions 1.0.0), not in the signed metadata" in (
        listed.stderr
    )
    assert "yanked (broken) in the signed metadata" in listed.stderr

    as_json = run_cli(
        "index", "list", "--json", "--index", tampered.url, "--trust", str(tampered.trust)
    )
    assert as_json.returncode == 0
    document = json.loads(as_json.stdout)
    assert [p["name"] for p in document["projects"]] == ["alpha", "p1"]
    assert document["trusted"] is True
    assert {d["kind"] for d in document["disagreements"]} >= {"root", "project", "yank"}

    shown = run_cli(
        "index", "show", "alpha", "--index", tampered.url, "--trust", str(tampered.trust)
    )
    assert shown.returncode == 0, shown.stderr
    assert shown.stdout.startswith("alpha  latest 1.1.0")
    assert "1.5.0" not in shown.stdout
    assert "alpha-1.0.0-py3-none-any.whl  yanked (broken)" in shown.stdout
    assert "warning: alpha 1.5.0" in shown.stderr
    assert "p0" not in shown.stderr  # only the root's and this project's disagreements

    shown_json = json.loads(
        cli_ok(
            "index",
            "show",
            "alpha",
            "--json",
            "--index",
            tampered.url,
            "--trust",
            tampered.trust,
        )
    )
    assert [v["version"] for v in shown_json["versions"]] == ["1.0.0", "1.1.0"]
    signed_sha = shown_json["versions"][1]["files"][0]["sha256"]
    assert signed_sha == hashlib.sha256(tampered.signed_110).hexdigest()
    assert {d["project"] for d in shown_json["disagreements"]} == {None, "alpha"}

    missing = run_cli(
        "index", "show", "p0", "--index", tampered.url, "--trust", str(tampered.trust)
    )
    assert missing.returncode == 1
    assert missing.stderr.splitlines()[-1] == f"error: p0 is not in the signed index {tampered.url}"


def test_an_honest_signed_index_shows_no_disagreement_and_nothing_is_written(
    signed_index: str, keys: Path, wheels: dict[str, Path], tmp_path: Path
) -> None:
    build_signed(signed_index, keys, wheels)
    plugin_dir = tmp_path / "plugins"
    env = {
        **os.environ,
        TRUST_VARIABLE: str(keys / "root.json"),
        "DIOPTRA_PLUGIN_DIR": str(plugin_dir),
        "HOME": str(tmp_path / "home"),
    }
    local = None if signed_index.startswith("s3://") else Path(signed_index)
    before = whole_dir(local) if local else None
    for command in (["list"], ["show", "alpha"], ["check"]):
        done = subprocess.run(
            [CLI, "index", *command, "--index", signed_index],
            capture_output=True, text=True, timeout=120, check=False, env=env,
        )  # fmt: skip
        assert done.returncode == 0, done.stdout + done.stderr
        assert done.stderr == ""
    assert not plugin_dir.exists()
    assert not (tmp_path / "home").exists()
    if local:
        assert whole_dir(local) == before
    view = trusted_view(open_storage(signed_index), keys / "root.json")
    assert view.disagreements == []
    assert view.unsigned_serial == view.serial
    report = check_index(open_storage(signed_index), trust=keys / "root.json")
    assert report.ok
    assert report.trusted
    assert report.files == 3


@pytest.mark.parametrize("command", [["list"], ["show", "alpha"], ["check"]])
def test_views_with_trust_on_an_unsigned_index_say_so(
    command: list[str], index_url: str, keys: Path, wheels: dict[str, Path]
) -> None:
    storage = open_storage(index_url)
    init_index(storage)
    publish(storage, [wheels["alpha-1.0.0"]])
    done = run_cli("index", *command, "--index", index_url, "--trust", str(keys / "root.json"))
    assert done.returncode == 1, done.stdout + done.stderr
    assert "Traceback" not in done.stderr
    if command == ["check"]:
        assert "damaged: signed metadata: refusing the signed index" in done.stdout
        assert "it is not signed" in done.stdout
    else:
        assert done.stdout == ""
        assert len(done.stderr.splitlines()) == 1
        assert done.stderr.startswith("error: refusing the signed index")
        assert "it is not signed" in done.stderr
    with pytest.raises(TrustError, match="it is not signed"):
        trusted_view(storage, keys / "root.json")
    bad = run_cli("index", *command, "--index", index_url, "--trust", str(keys / "missing.json"))
    assert bad.returncode == 2
    assert "trusted root" in bad.stderr
    assert "does not exist" in bad.stderr


def _publish_and_die_before_promotion(index_url: str, keys: Path, wheel: Path) -> None:
    """A real signed publish in its own process, SIGKILLed right after it won its root swap
    (before it promoted the signature it made for that root)."""
    code = (
        "import os, signal, sys\n"
        "from dioptra_plugins.signing import policy\n"
        "policy.SignedWriter.after_swap = lambda self, root=None: os.kill(os.getpid(), "
        "signal.SIGKILL)\n"
        "import dioptra_plugins\n"
        "dioptra_plugins.publish(sys.argv[1], index=sys.argv[2], keys=sys.argv[3])\n"
    )
    child = subprocess.run(
        [sys.executable, "-c", code, str(wheel), index_url, str(keys)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert child.returncode == -signal.SIGKILL, child.stderr


def test_a_publisher_that_died_before_promoting_is_named_and_refresh_completes_it(
    signed_index: str, keys: Path, wheels: dict[str, Path]
) -> None:
    cli_ok("publish", wheels["alpha-1.0.0"], "--index", signed_index, "--keys", keys)
    _publish_and_die_before_promotion(signed_index, keys, wheels["alpha-1.1.0"])
    trust = str(keys / "root.json")

    check = run_cli("index", "check", "--index", signed_index, "--trust", trust)
    assert check.returncode == 1, check.stdout + check.stderr
    not_signed = messages(check.stdout, "not signed")
    (root_line,) = (m for m in not_signed if m.startswith("index.json is not the signed root"))
    assert "tuf/pending/" in root_line
    assert "`dioptra-plugins index refresh` verifies it and completes it" in root_line
    assert "alpha 1.1.0: in the unsigned documents (alpha-1.1.0-py3-none-any.whl), not signed" in (
        not_signed
    )
    assert trusted_view(open_storage(signed_index), keys / "root.json").pending
    listed = run_cli("index", "list", "--index", signed_index, "--trust", trust)
    assert listed.returncode == 0, listed.stderr
    assert listed.stdout.splitlines()[1].split() == ["alpha", "1.0.0", "1"]
    assert "tuf/pending/" in listed.stderr

    cli_ok("index", "refresh", "--index", signed_index, "--keys", keys)
    after = run_cli("index", "check", "--index", signed_index, "--trust", trust)
    assert after.returncode == 0, after.stdout
    relisted = run_cli("index", "list", "--index", signed_index, "--trust", trust)
    assert relisted.stdout.splitlines()[1].split() == ["alpha", "1.1.0", "2"]
    assert relisted.stderr == ""
