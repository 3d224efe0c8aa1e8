"""Incremental recompilation gives what compiling the whole file gives."""

from __future__ import annotations

import ast
import inspect
import itertools
import os
import random

import pytest

from hotfunc.core import _codes, _text
from hotfunc.engine import _find, _incremental, _recompile

PIECES = [
    "import os\n",
    "X = 1\n",
    "@deco\ndef f{n}(a, b={n}, *, c=[{n}]) -> int:\n    '''Doc {n}.'''\n    return a + {n}\n",
    "def g{n}():\n    def inner():\n        return {n}\n    return inner\n",
    "class C{n}:\n    K = {n}\n    def m(self, x=K):\n        return super().m() + x\n"
    "    @property\n    def p(self):\n        return {n}\n    @p.setter\n    def p(self, v):\n"
    "        pass\n",
    "if X:\n    def h{n}():\n        return {n}\nelse:\n    def h{n}():\n        return -{n}\n",
    "# comment {n}\n",
    "\n",
    "async def a{n}():\n    return [i for i in range({n})]\n",
    "try:\n    import nothing{n}\nexcept ImportError:\n    def t{n}(): return {n}\n",
    "x{n} = (\n    1,\n    2,\n)\n",
    "def one{n}(): return {n}\n",
    # A method call on an imported name compiles apart from one on any other name.
    "from json import decoder as dec{n}\n",
    "def uses{n}():\n    return dec{m}.JSONDecoder().decode('1') + os.getpid()\n",
]


def _pieces(rng: random.Random, count: int) -> list[str]:
    return [
        rng.choice(PIECES).format(n=rng.randrange(100), m=rng.randrange(100)) for _ in range(count)
    ]


def _edit(rng: random.Random, pieces: list[str]) -> list[str]:
    pieces = list(pieces)
    kind = rng.randrange(6)
    spot = rng.randrange(len(pieces) + 1)
    if kind == 0 and pieces:  # change one piece
        pieces[min(spot, len(pieces) - 1)] = _pieces(rng, 1)[0]
    elif kind == 1:  # insert
        pieces[spot:spot] = _pieces(rng, rng.randrange(1, 3))
    elif kind == 2 and len(pieces) > 1:  # delete
        del pieces[min(spot, len(pieces) - 1)]
    elif kind == 3:  # lines at the top
        pieces.insert(0, "\n" * rng.randrange(1, 4))
    elif kind == 4 and pieces:  # edit inside a piece: change a number
        index = min(spot, len(pieces) - 1)
        pieces[index] = pieces[index].replace("return", "return 7 +", 1)
    else:  # append at the end
        pieces.append(_pieces(rng, 1)[0])
    return pieces


def _summary(compiled: _recompile.CompiledSource) -> list[tuple[object, ...]]:
    rows = []
    for qualname, found in sorted(compiled.definitions.items()):
        for block, definition in found:
            located = _find.locate(block, definition)
            assert located is not None
            rows.append(
                (
                    qualname,
                    located.firstlineno,
                    located.lineno,
                    definition.defaults_key,
                    definition.signature_key,
                    located.code(),
                )
            )
    return rows


@pytest.mark.parametrize("seed", range(int(os.environ.get("HOTFUNC_EQUIVALENCE_SEEDS", "40"))))
def test_incremental_equals_full(seed):
    """Over many generated edits, incremental results equal a full compile: code and lines."""
    rng = random.Random(seed)
    pieces = _pieces(rng, 12)
    current = _recompile.compile_source("".join(pieces), "gen.py")
    for _ in range(25):
        pieces = _edit(rng, pieces)
        text = "".join(pieces)
        incremental = _incremental.update_source(current, text, "gen.py")
        full = _recompile.compile_source(text, "gen.py")
        assert _summary(incremental) == _summary(full)
        assert [(b.start, b.end, b.imports) for b in incremental.blocks] == [
            (b.start, b.end, b.imports) for b in full.blocks
        ]
        current = incremental


def test_region_that_swallows_the_rest_falls_back():
    """An edit that opens a bracket across the rest of the file is compiled in full."""
    text = "def a():\n    return 1\n\ndef b():\n    return 2\n"
    old = _recompile.compile_source(text, "x.py")
    with pytest.raises(SyntaxError):
        _incremental.update_source(old, text.replace("return 1", "return (1"), "x.py")
    fixed = _incremental.update_source(old, text.replace("return 1", "return (1)"), "x.py")
    assert _summary(fixed) == _summary(_recompile.compile_source(fixed.text, "x.py"))


def test_future_import_change_recompiles_all():
    """Adding `from __future__ import annotations` recompiles every block with the new flag."""
    text = "def a(x: int) -> int:\n    return x\n"
    old = _recompile.compile_source(text, "x.py")
    new = _incremental.update_source(old, "from __future__ import annotations\n" + text, "x.py")
    assert new.flags
    assert _summary(new) == _summary(_recompile.compile_source(new.text, "x.py"))


def test_method_call_on_a_name_imported_elsewhere_compiles_as_in_the_file():
    """A region compiled alone still knows which names the file imports."""
    text = (
        "from flask import request\n\ndef a():\n    return 1\n\n\n"
        "def b():\n    return request.get_json()\n"
    )
    old = _recompile.compile_source(text, "x.py")
    new = _incremental.update_source(old, text.replace("return 1", "return 2"), "x.py")
    moved = _incremental.update_source(old, text.replace("\n\ndef b", "\n\n\n\ndef b"), "x.py")
    for compiled in (new, moved):
        assert _summary(compiled) == _summary(_recompile.compile_source(compiled.text, "x.py"))


@pytest.mark.parametrize("seed", range(int(os.environ.get("HOTFUNC_EQUIVALENCE_SEEDS", "40"))))
def test_updates_from_an_unparsed_file_equal_a_full_compile(seed):
    """Starting from the imported text, unparsed, every block an edit parses equals the
    full compile's block at the same lines, and the rest stays unparsed.

    Method calls on names imported elsewhere may compile apart there (the
    unparsed lines' imports inside ``if``/``try`` are not looked for); the
    planner tells such functions by their syntax tree, so this test leaves
    out the piece that makes them.
    """
    rng = random.Random(seed)
    pieces_pool = [p for p in PIECES if "dec{m}" not in p]
    pieces = [rng.choice(pieces_pool).format(n=rng.randrange(100), m=0) for _ in range(30)]
    current = _incremental.unparsed("".join(pieces))
    for _ in range(25):
        pieces = [p for p in _edit(rng, pieces) if "dec" not in p or "def uses" not in p]
        text = "".join(pieces)
        full = _recompile.compile_source(text, "gen.py")
        current = _incremental.update_source(current, text, "gen.py")
        assert current.text == text
        by_lines = {(b.start, b.end): b for b in full.blocks}
        spans = [(b.start, b.end) for b in current.blocks]
        assert all(start <= end for start, end in spans)
        assert all(a[1] <= b[0] for a, b in itertools.pairwise(spans))
        for block in current.blocks:
            if block.opaque:
                continue
            same = by_lines[(block.start, block.end)]
            # Function code only: a class body's code is never swapped in, and on
            # Python 3.13 it holds its first line as a constant a shift leaves.
            mine = {
                (q, line + block.shift): c
                for (q, line), c in block.codes.items()
                if c.co_flags & inspect.CO_OPTIMIZED
            }
            theirs = {k: c for k, c in same.codes.items() if c.co_flags & inspect.CO_OPTIMIZED}
            assert set(mine) == set(theirs)
            for key, code in mine.items():
                shifted = _codes.shift_code(code, block.shift)
                assert shifted == theirs[key]


def _shared_lines(old: list[str], new: list[str]) -> tuple[int, int]:
    same = 0
    while same < min(len(old), len(new)) and old[same] == new[same]:
        same += 1
    tail = 0
    while tail < min(len(old), len(new)) - same and old[-1 - tail] == new[-1 - tail]:
        tail += 1
    return same, tail


def test_changed_lines_found_on_the_texts_equal_a_line_by_line_comparison(monkeypatch):
    """The edit is found by comparing texts in chunks, never splitting a file whole:
    the lines shared at each end, and the new lines between, are the ones a
    line-by-line comparison gives, for texts with and without a last newline."""
    monkeypatch.setattr(_text, "_CHUNK", 4)  # many chunks in a small text
    rnd = random.Random(7)
    for _ in range(5000):
        pieces = rnd.choice(["ab\n", "a\n", "\n", "abc\nd", "x"])
        old = "".join(rnd.choice(pieces) for _ in range(rnd.randrange(0, 30)))
        new = list(old)
        for _ in range(rnd.randrange(0, 4)):
            at = rnd.randrange(0, len(new) + 1)
            if rnd.random() < 0.4:
                new.insert(at, rnd.choice(pieces))
            elif at < len(new):
                new[at] = rnd.choice(pieces) if rnd.random() < 0.5 else ""
        new_text = "".join(new)
        old_lines, new_lines = _text.split_lines(old), _text.split_lines(new_text)
        found = _text.changed_lines(old, new_text, len(old_lines))
        if old == new_text:
            assert found is None
            continue
        assert found is not None
        same, tail, edited = found
        assert (same, tail) == _shared_lines(old_lines, new_lines), (old, new_text)
        rebuilt = old_lines[:same] + _text.split_lines(edited) + old_lines[len(old_lines) - tail :]
        assert rebuilt == new_lines, (old, new_text)


def test_statements_far_down_a_file_parse_at_their_lines():
    """Statements parsed alone and renumbered, as far down a large file, carry the
    positions a parse of the whole file gives them; so do their syntax errors."""
    text = "@deco(1)\nasync def f(x: int = 2) -> None:\n    y = [i for i in x]\n    return y\n"
    for line in (1, 50, 100_000):
        tree = _recompile.parse_at(text, line)
        expected = ast.parse("\n" * (line - 1) + text)
        assert ast.dump(tree, include_attributes=True) == ast.dump(
            expected, include_attributes=True
        )
    with pytest.raises(SyntaxError) as raised:
        _recompile.parse_at("def f(:\n    pass\n", 100_000)
    assert raised.value.lineno == 100_000
