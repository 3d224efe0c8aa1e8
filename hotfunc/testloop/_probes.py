"""On 3.11: the project's code tells which of it a test ran.

3.11 has no ``sys.monitoring``, and a trace function costs a Python call
for every call a test makes: a test that loops over the project's small
functions runs three times slower under it.  Instead each function of the
project gets, in place, a copy of its code that starts with four
instructions::

    LOAD_CONST  None
    LOAD_CONST  <hits>           # a threading.local
    LOAD_ATTR   seen             # this thread's dict
    LOAD_CONST  <number>         # the code's number here
    STORE_SUBSCR                 # seen[number] = None

They store, in C, into a dict of the running thread: no call, no trace
function, and another thread's calls land in another dict, as the
recorder on 3.12 keeps to the test's thread.  The four instructions come
before ``RESUME``, where a debugger or coverage's tracer never stops, and
have no line number: tracebacks, ``inspect`` and coverage see the code as
it was.  Nested code (closures, lambdas, comprehensions) gets its copy in
the constants of its parent's copy, so functions made while tests run are
probed from birth.

The engine compares and swaps code objects, so while it applies a save the
copies are taken off every function (:meth:`Probes.off`) and put back on
after, on the code the save left.
"""

from __future__ import annotations

import contextlib
import dis
import functools
import gc
import threading
import weakref
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from types import CodeType, FunctionType, ModuleType

_LOAD_CONST = dis.opmap["LOAD_CONST"]
_LOAD_ATTR = dis.opmap["LOAD_ATTR"]
_STORE_SUBSCR = dis.opmap["STORE_SUBSCR"]
_EXTENDED_ARG = dis.opmap["EXTENDED_ARG"]
# Inline cache entries after each instruction, in code units (3.11).
_CACHES = {_LOAD_ATTR: 4, _STORE_SUBSCR: 1}
# A location table entry: 0x80 | kind << 3 | (units - 1); kind 15 has no location.
_NO_LOCATION = 0x80 | 15 << 3


class _Hits(threading.local):
    def __init__(self) -> None:
        self.seen: dict[int, None] = {}


class Probes:
    """The probed copies of the project's code, and what each thread ran.

    ``wanted`` says whether a file is the project's.  ``extra`` are code
    objects to probe wherever they live (the standard library's process
    start, which the recorder marks).
    """

    def __init__(self, wanted: Callable[[str], bool], extra: Iterable[CodeType] = ()) -> None:
        self._wanted = wanted
        self._extra = {id(code) for code in extra}
        self.hits = _Hits()
        #: Original code by number.
        self.codes: list[CodeType] = []
        self._copies: dict[int, tuple[CodeType, CodeType]] = {}  # id(original) → both
        self._originals: dict[int, tuple[CodeType, CodeType]] = {}  # id(copy) → both
        self._walked: weakref.WeakSet[ModuleType] = weakref.WeakSet()
        self._lock = threading.Lock()
        self._on = False

    # -- what ran

    def clear(self) -> None:
        """Forget what this thread ran so far."""
        self.hits.seen.clear()

    def take(self) -> list[CodeType]:
        """The original code of what this thread ran since the last :meth:`clear` or take."""
        seen = self.hits.seen
        codes = self.codes
        taken = [codes[number] for number in seen]
        seen.clear()
        return taken

    # -- putting the probes on and off

    def on(self) -> None:
        """Probe every function of the project that exists now."""
        with self._lock:
            self._on = True
            for obj in gc.get_objects():
                if type(obj) is FunctionType:
                    self._probe(obj)

    def off(self) -> None:
        """Give every probed function its own code back."""
        with self._lock:
            self._on = False
            originals = self._originals
            for obj in gc.get_objects():
                if type(obj) is FunctionType:
                    found = originals.get(id(obj.__code__))
                    if found is not None and found[0] is obj.__code__:
                        obj.__code__ = found[1]

    @contextmanager
    def lifted(self) -> Iterator[None]:
        """Off while the block runs (the engine applies a save), then on again."""
        self.off()
        try:
            yield
        finally:
            self.on()

    def walk(self, module: ModuleType) -> None:
        """Probe the functions a module holds, once: a module imported after :meth:`on`."""
        with self._lock:
            if not self._on or module in self._walked:
                return
            self._walked.add(module)
            seen: set[int] = set()
            stack: list[object] = list(_values(module))
            while stack:
                obj = stack.pop()
                if id(obj) in seen:
                    continue
                seen.add(id(obj))
                if type(obj) is FunctionType:
                    self._probe(obj)
                    stack.extend(_inside_function(obj))
                elif isinstance(obj, type):
                    stack.extend(_values(obj))
                else:
                    stack.extend(_inside_wrapper(obj))

    def _probe(self, func: FunctionType) -> None:
        code = func.__code__
        if id(code) in self._originals or not (
            id(code) in self._extra or self._wanted(code.co_filename)
        ):
            return
        # A code this version cannot rewrite stays as it is.
        with contextlib.suppress(TypeError, ValueError):
            func.__code__ = self._copy(code)

    def _copy(self, code: CodeType) -> CodeType:
        found = self._copies.get(id(code))
        if found is not None and found[0] is code:
            return found[1]
        consts = tuple(self._copy(c) if isinstance(c, CodeType) else c for c in code.co_consts)
        copy = with_probe(code, consts, self.hits, len(self.codes))
        self.codes.append(code)
        self._copies[id(code)] = (code, copy)
        self._originals[id(copy)] = (copy, code)
        return copy


def with_probe(code: CodeType, consts: tuple[object, ...], hits: object, number: int) -> CodeType:
    """``code`` with ``consts``, starting with ``hits.seen[number] = None``."""
    names = (*code.co_names, "seen")
    count = len(consts)
    prefix = bytearray()
    for op, arg in (
        (_LOAD_CONST, count),
        (_LOAD_CONST, count + 1),
        (_LOAD_ATTR, len(names) - 1),
        (_LOAD_CONST, count + 2),
        (_STORE_SUBSCR, 0),
    ):
        _emit(prefix, op, arg)
    units = len(prefix) // 2
    locations = bytearray()
    left = units
    while left:
        step = min(left, 8)
        locations.append(_NO_LOCATION | (step - 1))
        left -= step
    return code.replace(
        co_code=bytes(prefix) + code.co_code,
        co_consts=(*consts, None, hits, number),
        co_names=names,
        co_linetable=bytes(locations) + code.co_linetable,
        co_exceptiontable=_shifted(code.co_exceptiontable, units),
        co_stacksize=code.co_stacksize + 3,
    )


def _emit(out: bytearray, op: int, arg: int) -> None:
    high = []
    rest = arg >> 8
    while rest:
        high.append(rest & 0xFF)
        rest >>= 8
    for byte in reversed(high):
        out += bytes((_EXTENDED_ARG, byte))
    out += bytes((op, arg & 0xFF))
    out += bytes(2 * _CACHES.get(op, 0))


def _shifted(table: bytes, units: int) -> bytes:
    """An exception table (3.11's varints) with its offsets ``units`` later."""
    out = bytearray()
    at = 0
    while at < len(table):
        start, at = _read_varint(table, at)
        length, at = _read_varint(table, at)
        target, at = _read_varint(table, at)
        depth, at = _read_varint(table, at)
        _write_varint(out, start + units, first=True)
        _write_varint(out, length)
        _write_varint(out, target + units)
        _write_varint(out, depth)
    return bytes(out)


def _read_varint(table: bytes, at: int) -> tuple[int, int]:
    byte = table[at]
    value = byte & 63
    at += 1
    while byte & 64:
        byte = table[at]
        value = value << 6 | byte & 63
        at += 1
    return value, at


def _write_varint(out: bytearray, value: int, *, first: bool = False) -> None:
    chunks = [value & 63]
    value >>= 6
    while value:
        chunks.append(value & 63)
        value >>= 6
    chunks.reverse()
    for i, chunk in enumerate(chunks):
        if i < len(chunks) - 1:
            chunk |= 64
        if i == 0 and first:
            chunk |= 128
        out.append(chunk)


def _values(holder: object) -> list[object]:
    try:
        return list(vars(holder).values())
    except Exception:  # a module or class whose __dict__ raises: nothing to probe
        return []


def _inside_function(func: FunctionType) -> list[object]:
    found: list[object] = []
    for cell in func.__closure__ or ():
        with contextlib.suppress(ValueError):  # an empty cell
            found.append(cell.cell_contents)
    wrapped = func.__dict__.get("__wrapped__")
    if wrapped is not None:
        found.append(wrapped)
    return found


def _inside_wrapper(obj: object) -> list[object]:
    """The functions a staticmethod, classmethod, property or partial holds."""
    if isinstance(obj, staticmethod | classmethod):
        return [obj.__func__]
    if isinstance(obj, property):
        return [obj.fget, obj.fset, obj.fdel]
    if isinstance(obj, functools.partial):
        return [obj.func]
    return []
