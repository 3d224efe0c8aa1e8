"""The fidelity oracle on code written by others: released versions replayed as saves.

The small one of ``bench/fidelity.py``: a few consecutive releases of one
package, downloaded from the package index, written one after the other
into a running process, each compared with a fresh import.  ``make
fidelity`` replays every project.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parent.parent / "bench" / "fidelity.py"


@pytest.mark.timeout(900)  # downloads once, then one fresh interpreter per release
def test_released_versions_replayed_as_saves_are_never_silently_wrong(tmp_path):
    out = tmp_path / "fidelity.json"
    done = subprocess.run(
        [
            sys.executable,
            str(SCRIPT),
            "--project",
            "packaging",
            "--releases",
            "6",
            "--json",
            str(out),
        ],
        capture_output=True,
        text=True,
        timeout=880,
        check=False,
    )
    if not out.exists():
        pytest.fail(f"the replay wrote nothing:\n{done.stdout}\n{done.stderr}")
    (result,) = json.loads(out.read_text())
    if "error" in result:
        pytest.skip(f"no releases to replay here: {result['error']}")
    print(done.stdout)
    assert result["silent"] == 0, done.stdout
    assert done.returncode == 0, done.stdout + done.stderr
    # The replay compared something: five saves, each ending one way or another.
    assert result["faithful"] + result["reported"] + result["not importable"] == 5
    assert result["faithful"] >= 3, done.stdout
