"""bench/plots.py draws the README's plots from saved results (run as the bench scripts do)."""

from __future__ import annotations

import json
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

BENCH = Path(__file__).resolve().parents[1] / "bench"


def test_plots_render_as_svg_from_saved_results(tmp_path: Path) -> None:
    results, out = tmp_path / "results", tmp_path / "plots"
    results.mkdir()
    (results / "sync_scaling.json").write_text(
        json.dumps(
            {
                "counts": [5, 10, 20],
                "tools": {"ours": [0.5, 0.7, 1.0], "uv": [0.2, 0.3, 0.5]},
                "runs": {"ours": [[0.5, 0.6], [0.7], [1.0]], "uv": [[0.2], [0.3], [0.5]]},
                "meta": {"date": "2026-12-06", "note": "a test"},
            }
        )
    )
    (results / "reload.json").write_text(
        json.dumps(
            {
                "latencies_ms": {"ours": [20.0, 21.5, 25.0], "restart": [50.0, 60.0], "none": []},
                "missed": {"ours": 0, "restart": 3},
                "meta": {},
            }
        )
    )
    script = (
        f"import sys; sys.path.insert(0, {str(BENCH)!r}); from pathlib import Path; import plots; "
        f"print([p.name for p in plots.render(Path({str(results)!r}), Path({str(out)!r}))])"
    )
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=120, check=False
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "['sync-scaling.svg', 'reload-latency.svg']"
    for name, words in (
        ("sync-scaling.svg", ["bundle count", "ours", "uv"]),
        ("reload-latency.svg", ["Reload latency", "restart (3 saves never seen)"]),
    ):
        text = (out / name).read_text()
        ET.fromstring(text)  # well-formed SVG
        for word in words:
            assert word in text, (name, word)
        # Nothing is loaded from elsewhere (XML namespace names are identifiers, not loads).
        assert 'href="http' not in text
        assert "url(http" not in text
        assert "@import" not in text
