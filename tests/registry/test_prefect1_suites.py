"""The Prefect 1 suites, run in their own environment: Dioptra's vendored pyplugs tests and our
Prefect 1 flow tests (``tests/prefect1``).

Prefect 1 cannot be installed beside Prefect 3, so ``make test`` builds ``.venv-prefect1``
(Prefect 1.4 and this project without the ``prefect`` extra) and this test runs pytest there as
a real subprocess.  A missing environment fails this test: the suites are never skipped quietly.
"""

from __future__ import annotations

import os
import subprocess
import xml.etree.ElementTree as ET
from collections import Counter
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PREFECT1_PYTHON = ROOT / ".venv-prefect1" / "bin" / "python"
SUITES = ["tests/prefect1", "tests/vendor/dioptra_pyplugs"]
DIOPTRA_TESTS = 31  # tests/vendor/dioptra_pyplugs/test_plugins.py, parametrisations included


def test_prefect1_suites_pass_in_their_own_venv(tmp_path: Path) -> None:
    if not PREFECT1_PYTHON.exists():
        pytest.fail(f"{PREFECT1_PYTHON} is missing: run `make prefect1-venv` (`make test` does)")
    version = subprocess.run(
        [str(PREFECT1_PYTHON), "-c", "import prefect; print(prefect.__version__)"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    assert version.startswith("1."), version
    report = tmp_path / "prefect1.xml"
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    result = subprocess.run(
        [
            str(PREFECT1_PYTHON),
            "-m",
            "pytest",
            "-q",
            "-p",
            "no:cacheprovider",
            f"--junitxml={report}",
            *SUITES,
        ],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode == 0, result.stdout[-6000:] + result.stderr[-3000:]
    suite = ET.parse(report).getroot().find("testsuite")
    assert suite is not None
    assert (suite.get("failures"), suite.get("errors"), suite.get("skipped")) == ("0", "0", "0")
    per_module = Counter(case.get("classname", "") for case in suite.iter("testcase"))
    dioptra = sum(n for name, n in per_module.items() if name.startswith("tests.vendor.dioptra_"))
    ours = sum(n for name, n in per_module.items() if name.startswith("tests.prefect1."))
    assert dioptra == DIOPTRA_TESTS, per_module
    assert ours >= 9, per_module
