"""Requirements files as pip users write them: errors say FILE:LINE, -r includes, continuations."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from dioptra_plugins.errors import UsageError
from dioptra_plugins.syncing.requirements import parse_requirements, read_requirements_file


def test_every_bad_line_is_reported_with_its_file_and_line(tmp_path: Path) -> None:
    (tmp_path / "more.txt").write_text("ok-too>=2\n\n[oops\n")
    main = tmp_path / "plugins.txt"
    main.write_text("good>=1\n# a comment\nbad==\n-r more.txt\nname[extra]\n")
    with pytest.raises(UsageError) as raised:
        parse_requirements(read_requirements_file(main))
    message = str(raised.value)
    assert f"{main}:3: 'bad=='" in message
    assert f"{tmp_path / 'more.txt'}:3: '[oops'" in message
    assert f"{main}:5: 'name[extra]': plugin packages have no extras" in message
    assert "good" not in message
    assert "ok-too" not in message


def test_continuations_and_includes_read_as_pip_reads_them(tmp_path: Path) -> None:
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "inner.txt").write_text("inner >=1  # trailing comment\n")
    main = tmp_path / "plugins.txt"
    main.write_text("first \\\n  >=1,<2\n--requirement sub/inner.txt\n")
    lines = read_requirements_file(main)
    assert ["".join(str(line).split()) for line in lines] == ["first>=1,<2", "inner>=1"]
    assert [str(r) for r in parse_requirements(lines)] == ["first<2,>=1", "inner>=1"]


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        ("-r plugins.txt\n", "plugins.txt includes itself"),
        ("--index-url https://example.invalid/\n", ":1: --index-url is not supported"),
        ("-r missing.txt\n", "cannot read requirements file"),
    ],
)
def test_unusable_lines_are_refused_with_their_place(
    tmp_path: Path, content: str, expected: str
) -> None:
    main = tmp_path / "plugins.txt"
    main.write_text(content)
    with pytest.raises(UsageError, match=expected):
        read_requirements_file(main)


def test_an_undecodable_file_is_a_usage_error(tmp_path: Path) -> None:
    main = tmp_path / "plugins.txt"
    main.write_bytes(b"good>=1\n\xff\xfe\n")
    with pytest.raises(UsageError, match="cannot read requirements file"):
        read_requirements_file(main)


def test_the_command_line_names_file_and_line(tmp_path: Path) -> None:
    index = tmp_path / "index"
    cli = [sys.executable, "-m", "dioptra_plugins"]
    subprocess.run([*cli, "index", "init", str(index)], check=True, capture_output=True)
    requirements = tmp_path / "plugins.txt"
    requirements.write_text("good>=1\nbad==\n")
    plugins = str(tmp_path / "plugins")
    done = subprocess.run(
        [*cli, "sync", "-r", str(requirements), "--index", str(index), "--plugin-dir", plugins],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 2
    assert f"{requirements}:2: 'bad=='" in done.stderr
    assert "Traceback" not in done.stderr
    assert not (tmp_path / "plugins" / "current").exists()
