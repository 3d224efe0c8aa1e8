"""Source files as they come: encodings, BOMs, line endings, symlinks, zip archives."""

from __future__ import annotations

import importlib
import os
import sys
import zipfile

import pytest

import hotfunc

pytestmark = pytest.mark.usefixtures("watching")


def _write_bytes(path, data: bytes) -> None:
    with open(path, "wb") as fh:
        fh.write(data)


def test_coding_cookie_latin1(project, wait):
    """A PEP 263 cookie (the seed's own iso-8859-1) with non-ASCII literals."""
    source = (
        '# -*- coding: iso-8859-1 -*-\nfrom hotfunc import hot\n@hot\ndef f():\n    return "{v}"\n'
    )
    path = project.root / "latin.py"
    _write_bytes(path, source.format(v="café").encode("iso-8859-1"))
    importlib.invalidate_caches()
    mod = importlib.import_module("latin")
    assert mod.f() == "café"
    _write_bytes(path, source.format(v="naïve ÿ").encode("iso-8859-1"))
    wait(lambda: mod.f() == "naïve ÿ")


def test_utf8_bom(project, wait):
    """A UTF-8 file that starts with a byte order mark."""
    source = '\ufefffrom hotfunc import hot\n@hot\ndef f():\n    return "{v}"\n'
    path = project.root / "bom.py"
    _write_bytes(path, source.format(v="über").encode("utf-8"))
    importlib.invalidate_caches()
    mod = importlib.import_module("bom")
    _write_bytes(path, source.format(v="größer").encode("utf-8"))
    wait(lambda: mod.f() == "größer")


def test_crlf_line_endings(project, wait):
    """CRLF files reload with correct line numbers."""
    source = "from hotfunc import hot\r\n{pad}@hot\r\ndef f():\r\n    return {v}\r\n"
    path = project.root / "crlf.py"
    _write_bytes(path, source.format(pad="", v=1).encode())
    importlib.invalidate_caches()
    mod = importlib.import_module("crlf")
    _write_bytes(path, source.format(pad="# a\r\n# b\r\n", v=2).encode())
    wait(lambda: mod.f() == 2)
    assert mod.f.__code__.co_firstlineno == 4


@pytest.mark.parametrize("odd", ["\x0c", "\x0b", "\x1c", "\u2028"])
def test_characters_str_splitlines_breaks_at_do_not_number_lines(project, wait, odd):
    """A form feed between sections (or another character that str.splitlines() takes
    for a line end, in a comment or a string) keeps every line where Python counts it."""
    alone = odd if odd == "\x0c" else f"# {odd}"  # only a form feed may stand alone
    source = (
        "from hotfunc import hot\n{alone}\n@hot\ndef f():\n    return 1\n"
        "\n{alone}\n@hot\ndef g():\n    return '{odd}' + {v!r}\n"
    )
    mod = project.load(source.format(alone=alone, odd=odd, v="a"))
    project.edit(mod, source.format(alone=alone, odd=odd, v="b"))
    wait(lambda: mod.g() == odd + "b")
    assert hotfunc.registry[mod.g].lineno == 8
    project.edit(mod, "# moved\n" + source.format(alone=alone, odd=odd, v="c"))
    wait(lambda: mod.g() == odd + "c")
    assert (mod.f.__code__.co_firstlineno, mod.g.__code__.co_firstlineno) == (4, 9)


def test_symlinked_directory(tmp_path, wait):
    """A module imported through a symlinked folder is watched and reported at its real path."""
    real = tmp_path / "real"
    real.mkdir()
    (tmp_path / "link").symlink_to(real, target_is_directory=True)
    (real / "linked.py").write_text("from hotfunc import hot\n@hot\ndef f():\n    return 1\n")
    sys.path.insert(0, str(tmp_path / "link"))
    importlib.invalidate_caches()
    mod = importlib.import_module("linked")
    entry = hotfunc.registry[mod.f]
    assert entry.file == str((real / "linked.py").resolve())
    (tmp_path / "link" / "linked.py").write_text(
        "from hotfunc import hot\n@hot\ndef f():\n    return 2\n"
    )
    wait(lambda: mod.f() == 2)


def test_symlinked_file(tmp_path, wait):
    """A module that is a symlink to a file elsewhere follows edits of the target."""
    (tmp_path / "elsewhere").mkdir()
    (tmp_path / "pkg").mkdir()
    target = tmp_path / "elsewhere" / "target.py"
    target.write_text("from hotfunc import hot\n@hot\ndef f():\n    return 1\n")
    (tmp_path / "pkg" / "alias.py").symlink_to(target)
    sys.path.insert(0, str(tmp_path / "pkg"))
    importlib.invalidate_caches()
    mod = importlib.import_module("alias")
    assert hotfunc.registry[mod.f].file == str(target.resolve())
    target.write_text("from hotfunc import hot\n@hot\ndef f():\n    return 2\n")
    wait(lambda: mod.f() == 2)


def test_zipimport_is_not_reloadable(tmp_path, caplog):
    """A function loaded by zipimport is registered as not reloadable; nothing crashes."""
    archive = tmp_path / "bundle.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        zf.writestr("zipped.py", "from hotfunc import hot\n@hot\ndef f():\n    return 1\n")
    sys.path.insert(0, str(archive))
    importlib.invalidate_caches()
    mod = importlib.import_module("zipped")
    entry = hotfunc.registry[mod.f]
    assert "not reloadable" in entry.error and "zipimporter" in entry.error
    assert hotfunc.reload() == []
    assert mod.f() == 1
    assert os.path.basename(entry.file) == "zipped.py"
