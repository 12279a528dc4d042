"""publish, yank and unyank on every backend: what they write, and what they refuse."""

from __future__ import annotations

import json
import zipfile
from pathlib import Path

import boto3
import pytest
from index_helpers import WheelMaker, read_json, snapshot
from jsonschema import Draft202012Validator

from dioptra_plugins.errors import BundleError, IndexFormatError, PublishError
from dioptra_plugins.index.documents import ProjectDocument, RootDocument
from dioptra_plugins.index.reading import read_project, read_root
from dioptra_plugins.index.storage import Storage
from dioptra_plugins.publishing.check import check_index
from dioptra_plugins.publishing.initialize import init_index
from dioptra_plugins.publishing.publish import ALREADY_PUBLISHED, PUBLISHED, publish
from dioptra_plugins.publishing.yank import set_yanked


def project(storage: Storage, name: str) -> ProjectDocument:
    root = read_root(storage).root
    return read_project(storage, name, root.projects[name])


def test_publish_to_an_empty_location_creates_the_index(
    storage: Storage, make_wheel: WheelMaker
) -> None:
    wheel = make_wheel("demo_pkg", "1.0.0", requires=["numpy>=1.26"])
    seen: list[str] = []
    result = publish(storage, [wheel], progress=seen.append)
    assert seen == [wheel.name]
    assert result.serial == 1
    assert result.swapped
    assert [(f.name, f.version, f.status) for f in result.files] == [
        ("demo-pkg", "1.0.0", PUBLISHED)
    ]
    root = read_root(storage).root
    assert root.serial == 1
    assert root.projects["demo-pkg"].latest == "1.0.0"
    document = project(storage, "demo-pkg")
    (entry,) = document.files
    assert entry.filename == "demo_pkg-1.0.0-py3-none-any.whl"
    assert entry.sha256 == result.files[0].sha256
    assert entry.size == wheel.stat().st_size
    assert entry.requires_dist == ("numpy>=1.26",)
    assert entry.requires_python == ">=3.11"
    assert entry.top_level == "demo_pkg"
    assert [t["function"] for t in entry.manifest["tasks"]] == ["task0", "task1"]
    with storage.open(f"bundles/demo-pkg/{wheel.name}") as stream:
        assert stream.read() == wheel.read_bytes()
    report = check_index(storage)
    assert report.ok, report.problems
    assert report.unreferenced == []


def test_init_then_publish_and_init_is_idempotent(storage: Storage, make_wheel: WheelMaker) -> None:
    first = init_index(storage)
    assert (first.created, first.serial) == (True, 0)
    assert read_root(storage).root == RootDocument.empty()
    publish(storage, [make_wheel("demo_pkg", "1.0.0")])
    again = init_index(storage)
    assert (again.created, again.serial) == (False, 1)
    assert check_index(storage).ok


def test_many_wheels_are_one_swap(storage: Storage, make_wheel: WheelMaker) -> None:
    wheels = [make_wheel("alpha", v) for v in ("1.0.0", "1.1.0", "2.0.0rc1")]
    wheels.append(make_wheel("beta_pkg", "0.1"))
    result = publish(storage, wheels)
    assert result.serial == 1
    root = read_root(storage).root
    assert sorted(root.projects) == ["alpha", "beta-pkg"]
    assert root.projects["alpha"].latest == "1.1.0"  # final releases win over a pre-release
    assert project(storage, "alpha").versions() == ["1.0.0", "1.1.0", "2.0.0rc1"]
    publish(storage, [make_wheel("alpha", "1.2.0")])
    assert project(storage, "alpha").versions() == ["1.0.0", "1.1.0", "1.2.0", "2.0.0rc1"]
    assert read_root(storage).root.serial == 2


def test_identical_bytes_again_are_already_published(
    storage: Storage, make_wheel: WheelMaker
) -> None:
    publish(storage, [make_wheel("demo_pkg", "1.0.0")])
    before = snapshot(storage)
    again = publish(storage, [make_wheel("demo_pkg", "1.0.0")])  # rebuilt: same bytes
    assert [f.status for f in again.files] == [ALREADY_PUBLISHED]
    assert (again.swapped, again.serial) == (False, 1)
    assert snapshot(storage) == before


def test_different_bytes_under_a_published_filename_are_refused(
    storage: Storage, make_wheel: WheelMaker
) -> None:
    publish(storage, [make_wheel("demo_pkg", "1.0.0")])
    before = snapshot(storage)
    other = make_wheel("demo_pkg", "1.0.0", flavour=" (edited)")
    with pytest.raises(PublishError, match="already published with different content"):
        publish(storage, [make_wheel("demo_pkg", "2.0.0"), other])
    assert snapshot(storage) == before  # not even the good 2.0.0 was uploaded


def test_leftover_upload_of_a_crashed_publish_is_reused_or_refused(
    storage: Storage, make_wheel: WheelMaker
) -> None:
    wheel = make_wheel("demo_pkg", "1.0.0")
    storage.put_new(f"bundles/demo-pkg/{wheel.name}", wheel.read_bytes())  # swap never happened
    assert publish(storage, [wheel]).files[0].status == PUBLISHED
    assert check_index(storage).ok
    stray = make_wheel("demo_pkg", "3.0.0")
    storage.put_new(f"bundles/demo-pkg/{stray.name}", b"other bytes")
    with pytest.raises(PublishError, match=r"already exists .* with different content"):
        publish(storage, [make_wheel("demo_pkg", "3.0.0")])
    assert read_root(storage).root.serial == 1


def test_hostile_wheel_is_refused_before_anything_is_uploaded(
    storage: Storage, make_wheel: WheelMaker, tmp_path: Path
) -> None:
    good = make_wheel("demo_pkg", "1.0.0")
    hostile = tmp_path / "evil_pkg-1.0-py3-none-any.whl"
    with zipfile.ZipFile(hostile, "w") as archive:
        archive.writestr("../../etc/passwd", b"root::0:0::/:/bin/sh\n")
        archive.writestr("evil_pkg/__init__.py", b"")
    with pytest.raises(BundleError, match=r"'\.\.' in path"):
        publish(storage, [good, hostile])
    assert snapshot(storage) == {}


def test_unparsable_wheel_is_refused(storage: Storage, tmp_path: Path) -> None:
    junk = tmp_path / "junk_pkg-1.0-py3-none-any.whl"
    junk.write_bytes(b"this is not a zip file at all")
    with pytest.raises(BundleError, match="not a valid zip"):
        publish(storage, [junk])
    assert snapshot(storage) == {}


@pytest.mark.parametrize(
    "filename", ["demo pkg-1.0-py3-none-any.whl", "demo_pkg-not.a.version-py3-none-any.whl"]
)
def test_invalid_name_or_version_is_refused(
    storage: Storage, make_wheel: WheelMaker, filename: str
) -> None:
    wheel = make_wheel("demo_pkg", "1.0")
    renamed = wheel.with_name(filename)
    wheel.rename(renamed)
    with pytest.raises(BundleError, match="filename"):
        publish(storage, [renamed])
    assert snapshot(storage) == {}


def test_yank_and_unyank(storage: Storage, make_wheel: WheelMaker) -> None:
    publish(storage, [make_wheel("demo_pkg", v) for v in ("1.0.0", "1.1.0")])
    result = set_yanked(storage, "demo-pkg", "1.1.0", yanked=True, reason="broken <fgm>")
    assert (result.changed, result.serial) == (True, 2)
    root = read_root(storage).root
    assert root.projects["demo-pkg"].latest == "1.0.0"
    (entry,) = project(storage, "demo-pkg").files_of("1.1.0")
    assert (entry.yanked, entry.yanked_reason) == (True, "broken <fgm>")
    again = set_yanked(storage, "demo-pkg", "1.1.0", yanked=True, reason="broken <fgm>")
    assert (again.changed, again.serial) == (False, 2)
    set_yanked(storage, "demo-pkg", "1.0.0", yanked=True)
    assert read_root(storage).root.projects["demo-pkg"].latest is None
    set_yanked(storage, "demo-pkg", "1.1.0", yanked=False)
    (entry,) = project(storage, "demo-pkg").files_of("1.1.0")
    assert (entry.yanked, entry.yanked_reason) == (False, None)
    assert read_root(storage).root.projects["demo-pkg"].latest == "1.1.0"
    assert read_root(storage).root.serial == 4
    report = check_index(storage)
    assert report.ok
    # The superseded project documents stay (immutable) and are reported as unreferenced.
    assert len(report.unreferenced) == 3
    assert all(key.startswith("projects/demo-pkg/") for key in report.unreferenced)


def test_yank_of_something_absent_is_refused(storage: Storage, make_wheel: WheelMaker) -> None:
    publish(storage, [make_wheel("demo_pkg", "1.0.0")])
    before = snapshot(storage)
    with pytest.raises(PublishError, match=r"no version 9.0 \(versions: 1.0.0\)"):
        set_yanked(storage, "demo-pkg", "9.0", yanked=True)
    with pytest.raises(PublishError, match="other is not in the index"):
        set_yanked(storage, "other", "1.0", yanked=True)
    assert snapshot(storage) == before


def test_every_written_document_matches_the_schemas(
    storage: Storage,
    make_wheel: WheelMaker,
    root_validator: Draft202012Validator,
    project_validator: Draft202012Validator,
) -> None:
    init_index(storage)
    root_validator.validate(read_json(storage, "index.json"))
    publish(storage, [make_wheel("alpha", "1.0.0", requires=["numpy>=1", "beta-pkg<2"])])
    publish(storage, [make_wheel("beta_pkg", "1.0", requires_python=None, tasks=0)])
    set_yanked(storage, "alpha", "1.0.0", yanked=True, reason="bad")
    root_validator.validate(read_json(storage, "index.json"))
    documents = [info.key for info in storage.list("projects/")]
    assert len(documents) == 3
    for key in documents:
        project_validator.validate(read_json(storage, key))


# --- a damaged index is refused before anything is written ------------------------------------


def damage_root(storage: Storage, data: bytes) -> None:
    current = storage.get("index.json")
    storage.replace("index.json", data, current.etag)


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b'{"format": 1, "serial": 3, "proj', "not valid JSON"),
        (b"\x00\xff\xfe garbage", "not valid JSON"),
        (b'{"format": 2, "serial": 1, "projects": {}}', "unknown format version 2"),
        (b'{"format": 1, "serial": -1, "projects": {}}', "'serial' must be a non-negative"),
        (b"[]", "expected a JSON object"),
    ],
)
def test_corrupt_or_unknown_root_is_refused(
    storage: Storage, make_wheel: WheelMaker, data: bytes, message: str
) -> None:
    init_index(storage)
    damage_root(storage, data)
    before = snapshot(storage)
    with pytest.raises(IndexFormatError, match=message):
        publish(storage, [make_wheel("demo_pkg", "1.0.0")])
    with pytest.raises(IndexFormatError, match=message):
        set_yanked(storage, "demo-pkg", "1.0.0", yanked=True)
    assert snapshot(storage) == before
    report = check_index(storage)
    assert not report.ok
    assert message.split()[0] in report.problems[0]


def test_project_document_not_matching_the_root_is_refused(
    storage: Storage, make_wheel: WheelMaker
) -> None:
    publish(storage, [make_wheel("demo_pkg", "1.0.0")])
    root = json.loads(storage.get("index.json").data)
    entry = root["projects"]["demo-pkg"]
    forged = ProjectDocument(name="demo-pkg", files=())
    storage.put_new(f"projects/demo-pkg/{entry['sha256'][:60]}beef.json", forged.to_bytes())
    entry["document"] = f"projects/demo-pkg/{entry['sha256'][:60]}beef.json"
    entry["sha256"] = entry["sha256"][:60] + "beef"
    damage_root(storage, json.dumps(root).encode())
    before = snapshot(storage)
    with pytest.raises(IndexFormatError, match="sha256 mismatch"):
        publish(storage, [make_wheel("demo_pkg", "2.0.0")])
    assert snapshot(storage) == before
    report = check_index(storage)
    assert not report.ok
    assert "sha256 mismatch" in report.problems[0]


def test_check_finds_missing_and_corrupted_bundles(
    index_url: str, storage: Storage, make_wheel: WheelMaker, tmp_path: Path
) -> None:
    publish(storage, [make_wheel("demo_pkg", "1.0.0"), make_wheel("demo_pkg", "2.0.0")])
    storage.put_new("bundles/demo-pkg/stray-1.0-py3-none-any.whl", b"left over")
    assert check_index(storage).unreferenced == ["bundles/demo-pkg/stray-1.0-py3-none-any.whl"]
    # Damage behind the index's back: overwrite one bundle, delete another.
    if index_url.startswith("s3://"):
        bucket, prefix = index_url[5:].split("/", 1)
        client = boto3.session.Session().client("s3")  # from this test's AWS environment
        client.put_object(
            Bucket=bucket,
            Key=f"{prefix}/bundles/demo-pkg/demo_pkg-1.0.0-py3-none-any.whl",
            Body=b"tampered",
        )
        client.delete_object(
            Bucket=bucket, Key=f"{prefix}/bundles/demo-pkg/demo_pkg-2.0.0-py3-none-any.whl"
        )
    else:
        bundles = Path(index_url) / "bundles" / "demo-pkg"
        (bundles / "demo_pkg-1.0.0-py3-none-any.whl").write_bytes(b"tampered")
        (bundles / "demo_pkg-2.0.0-py3-none-any.whl").unlink()
    report = check_index(storage)
    assert not report.ok
    assert sorted(report.problems) == [
        "bundles/demo-pkg/demo_pkg-1.0.0-py3-none-any.whl: size 8, expected "
        f"{make_wheel('demo_pkg', '1.0.0').stat().st_size}",
        "bundles/demo-pkg/demo_pkg-2.0.0-py3-none-any.whl: missing",
    ]


def test_publishing_one_wheel_to_an_existing_project_makes_ten_requests(
    storage: Storage, make_wheel: WheelMaker
) -> None:
    publish(storage, [make_wheel("demo_pkg", "1.0.0")])
    before = storage.requests
    publish(storage, [make_wheel("demo_pkg", "1.1.0")])
    # The signing policy (2): whether the index is signed (its timestamp and its first root
    # version, both absent).  Root and project document read once each; the bundle, its PEP
    # 658 metadata and the new document written; the root swapped; the project's simple page,
    # HTML and PEP 691 JSON, each read and replaced.  The history record of the new root, just
    # before the swap (1).  Then the task catalogue (7): whether the index is signed, and the
    # home page, the search data and the project's page, each read and replaced.
    assert storage.requests - before == 2 + 10 + 1 + 7


def test_publish_dry_run_writes_nothing(storage: Storage, make_wheel: WheelMaker) -> None:
    publish(storage, [make_wheel("demo_pkg", "1.0.0")])
    before = snapshot(storage)
    new, old = make_wheel("demo_pkg", "1.1.0"), make_wheel("demo_pkg", "1.0.0")
    result = publish(storage, [new, old], dry_run=True)
    assert [f.status for f in result.files] == ["would publish", ALREADY_PUBLISHED]
    assert not result.swapped
    assert snapshot(storage) == before


def test_publish_reports_the_bytes_it_uploads(storage: Storage, make_wheel: WheelMaker) -> None:
    wheels = [make_wheel("demo_pkg", "1.0.0"), make_wheel("other_pkg", "1.0.0")]
    sent: list[int] = []
    publish(storage, wheels, sent=sent.append)
    assert sum(sent) >= sum(w.stat().st_size for w in wheels)


def test_publish_serves_core_metadata_beside_the_wheel(
    storage: Storage, make_wheel: WheelMaker
) -> None:
    import hashlib

    wheel = make_wheel("demo_pkg", "1.0.0", requires=["numpy>=1.26"])
    publish(storage, [wheel])
    entry = project(storage, "demo-pkg").files[0]
    metadata = storage.get(f"bundles/demo-pkg/{wheel.name}.metadata").data
    assert hashlib.sha256(metadata).hexdigest() == entry.core_metadata_sha256
    assert b"Requires-Dist: numpy>=1.26" in metadata
    page = storage.get("simple/demo-pkg/index.html").data.decode()
    assert f'data-core-metadata="sha256={entry.core_metadata_sha256}"' in page
    assert f'data-dist-info-metadata="sha256={entry.core_metadata_sha256}"' in page
    assert check_index(storage).ok
    assert check_index(storage).unreferenced == []


def test_the_simple_view_has_a_pep_691_json_form(storage: Storage, make_wheel: WheelMaker) -> None:
    wheel = make_wheel("demo_pkg", "1.0.0")
    publish(storage, [wheel])
    set_yanked(storage, "demo-pkg", "1.0.0", yanked=True, reason="broken")
    page = json.loads(storage.get("simple/demo-pkg/index.json").data)
    assert page["meta"]["api-version"] == "1.1"
    assert page["name"] == "demo-pkg"
    (file,) = page["files"]
    entry = project(storage, "demo-pkg").files[0]
    assert file["filename"] == wheel.name
    assert file["url"] == f"../../bundles/demo-pkg/{wheel.name}"
    assert file["hashes"] == {"sha256": entry.sha256}
    assert file["core-metadata"] == {"sha256": entry.core_metadata_sha256}
    assert file["yanked"] == "broken"
    assert page["versions"] == ["1.0.0"]
    root = json.loads(storage.get("simple/index.json").data)
    assert root["projects"] == [{"name": "demo-pkg"}]
