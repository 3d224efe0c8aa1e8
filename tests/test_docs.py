"""Every python example in the README and docs runs, and so does the demo."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
BLOCK = re.compile(r"^```python\n(.*?)^```", re.DOTALL | re.MULTILINE)


def _examples():
    for page in PAGES:
        for number, match in enumerate(BLOCK.finditer(page.read_text(encoding="utf-8"))):
            yield pytest.param(match.group(1), id=f"{page.name}-{number}")


@pytest.mark.parametrize("code", list(_examples()))
def test_doc_example_runs(code, tmp_path):
    """The example runs as a script of its own and exits 0."""
    script = tmp_path / "example.py"
    script.write_text(code, encoding="utf-8")
    result = subprocess.run(
        [sys.executable, str(script)],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr


def test_every_page_has_an_example_or_is_prose():
    """The example finder sees the pages' python blocks (a regex bug would skip them all)."""
    assert len(list(_examples())) >= 4


def test_demo_runs():
    """make demo's script shows the bug, the fix picked up without a restart, a save that
    adds an import and a helper, and the table."""
    result = subprocess.run(
        [sys.executable, str(ROOT / "examples" / "demo.py")],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert "KeyError 'currency'" in out
    assert "'currency': 'EUR'" in out
    assert "boot ran once: True" in out
    assert "'total': 24.0, 'as_json': '\"alice\"'" in out
    assert "ran: import json, VAT = 0.2; added: with_vat" in result.stderr
    assert "orders_app.handle" in out and "v2" in out and "orders_app.with_vat" in out
