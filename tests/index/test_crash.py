"""A publisher killed at any step leaves a valid index that the next publish completes.

The publisher runs in a real subprocess that dies with ``os._exit`` (no cleanup, no finally
blocks) the moment it reaches the chosen write; only that one call is intercepted.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from index_helpers import WheelMaker

from dioptra_plugins.index.reading import read_root
from dioptra_plugins.index.storage import Storage
from dioptra_plugins.publishing.check import check_index
from dioptra_plugins.publishing.publish import publish

CRASHING_PUBLISHER = textwrap.dedent(
    """
    import os, sys
    from pathlib import Path
    from dioptra_plugins.publishing.publish import publish
    from dioptra_plugins.index.url import open_storage

    url, method, key_prefix, *wheels = sys.argv[1:]
    storage = open_storage(url)
    original = getattr(storage, method)

    def crash_at(key, *args, **kwargs):
        if key.startswith(key_prefix):
            if method == "put_new" and key_prefix == "bundles/" and not hasattr(crash_at, "n"):
                crash_at.n = 1  # let the first bundle through, die on the second
                return original(key, *args, **kwargs)
            os._exit(9)
        return original(key, *args, **kwargs)

    setattr(storage, method, crash_at)
    publish(storage, [Path(w) for w in wheels], max_workers=1)
    os._exit(0)
    """
)


@pytest.mark.parametrize(
    ("method", "key_prefix"),
    [
        ("put_new", "bundles/"),  # in the middle of the uploads
        ("put_new", "projects/"),  # bundles up, project document not yet written
        ("replace", "index.json"),  # everything written but the root
        ("replace", "simple/"),  # root swapped, pages not yet regenerated
    ],
)
def test_a_crash_at_any_step_leaves_a_valid_index(
    index_url: str, storage: Storage, make_wheel: WheelMaker, method: str, key_prefix: str
) -> None:
    publish(storage, [make_wheel("demo_pkg", "1.0.0")])
    wheels = [make_wheel("demo_pkg", v) for v in ("2.0.0", "2.1.0", "2.2.0")]
    completed = subprocess.run(
        [sys.executable, "-c", CRASHING_PUBLISHER, index_url, method, key_prefix]
        + [str(w) for w in wheels],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert completed.returncode == 9, completed.stderr
    swapped = key_prefix == "simple/"
    report = check_index(storage)
    assert report.ok, report.problems
    assert read_root(storage).root.serial == (2 if swapped else 1)
    # The next publish of the same wheels completes the job.
    result = publish(storage, wheels)
    assert result.serial == 2
    assert {f.status for f in result.files} == {"already published" if swapped else "published"}
    report = check_index(storage)
    assert report.ok, report.problems
    assert report.files == 4


def test_a_killed_publisher_never_breaks_the_index(
    index_url: str, storage: Storage, make_wheel: WheelMaker, tmp_path: Path
) -> None:
    """SIGKILL at arbitrary moments of a real publish: the index is valid every time."""
    publish(storage, [make_wheel("demo_pkg", "0.1")])
    script = (
        "import sys; from pathlib import Path\n"
        "from dioptra_plugins.publishing.publish import publish\n"
        "from dioptra_plugins.index.url import open_storage\n"
        "publish(open_storage(sys.argv[1]), [Path(w) for w in sys.argv[2:]])\n"
    )
    for round_number, delay in enumerate((0.3, 0.6, 0.9)):
        wheels = [make_wheel(f"pkg{round_number}", f"1.{n}") for n in range(6)]
        process = subprocess.Popen(
            [sys.executable, "-c", script, index_url, *map(str, wheels)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            process.wait(timeout=delay)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        report = check_index(storage)
        assert report.ok, report.problems
