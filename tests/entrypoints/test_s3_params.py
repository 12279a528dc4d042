"""``s3://`` path parameters are downloaded before the command runs (real S3 servers)."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from entrypoint_projects import make_project

from dioptra_plugins.entrypoints.mlproject import EntryPoint, Parameter
from dioptra_plugins.entrypoints.params import resolve_parameters
from dioptra_plugins.entrypoints.run import RunRequest, run_entry_point
from dioptra_plugins.errors import ParameterError, StorageError
from s3servers import S3Server


@pytest.fixture
def bucket(s3_server: S3Server) -> Iterator[str]:
    name = s3_server.create_bucket("params")
    client = s3_server.client()
    client.put_object(Bucket=name, Key="data/train.csv", Body=b"a,b\n1,2\n")
    client.put_object(Bucket=name, Key="data/images/x.bin", Body=b"\x00\x01")
    client.put_object(Bucket=name, Key="data/images/sub/y.bin", Body=b"\x02")
    yield name
    s3_server.delete_bucket(name)


def resolve_path(tmp_path: Path, value: str) -> Path:
    entry = EntryPoint("main", "true", {"data": Parameter("data", "path")})
    resolved = resolve_parameters(
        entry, {"data": value}, project_dir=tmp_path, download_dir=tmp_path / "dl"
    )
    return Path(resolved.declared["data"])


def test_an_object_is_downloaded_to_a_local_file(tmp_path: Path, bucket: str) -> None:
    local = resolve_path(tmp_path, f"s3://{bucket}/data/train.csv")
    assert local == tmp_path / "dl" / "param_data" / "train.csv"
    assert local.read_bytes() == b"a,b\n1,2\n"


@pytest.mark.parametrize("suffix", ["data/images", "data/images/"])
def test_a_prefix_is_downloaded_as_a_folder(tmp_path: Path, bucket: str, suffix: str) -> None:
    local = resolve_path(tmp_path, f"s3://{bucket}/{suffix}")
    assert local.is_dir()
    assert (local / "x.bin").read_bytes() == b"\x00\x01"
    assert (local / "sub" / "y.bin").read_bytes() == b"\x02"


def test_a_missing_key_is_a_parameter_error(tmp_path: Path, bucket: str) -> None:
    with pytest.raises(ParameterError, match=r"data: s3://.*/nothing/here does not exist"):
        resolve_path(tmp_path, f"s3://{bucket}/nothing/here")


def test_a_missing_bucket_is_a_storage_error(tmp_path: Path, s3_server: S3Server) -> None:
    with pytest.raises(StorageError, match="cannot download s3://no-such-bucket-"):
        resolve_path(tmp_path, "s3://no-such-bucket-4f1c/x")


def test_no_bucket_is_a_parameter_error(tmp_path: Path) -> None:
    with pytest.raises(ParameterError, match="names no bucket"):
        resolve_path(tmp_path, "s3:///key")


def test_the_command_reads_the_download_which_is_removed_after(
    tmp_path: Path, bucket: str, capfd: pytest.CaptureFixture[str]
) -> None:
    project = make_project(
        tmp_path / "project",
        f"""\
        entry_points:
          main:
            parameters: {{data: path}}
            command: "{sys.executable} -c 'import sys; print(sys.argv[1]); print(open(sys.argv[1]).read())' {{data}}"
        """,  # noqa: E501
    )
    request = RunRequest(project, parameters={"data": f"s3://{bucket}/data/train.csv"})
    assert run_entry_point(request).exit_code == 0
    local, content = capfd.readouterr().out.split("\n", 1)
    assert content.startswith("a,b\n1,2")
    assert local.endswith("/param_data/train.csv")
    assert not Path(local).exists()
