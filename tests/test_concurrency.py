"""Calls racing reloads, and stop() racing a reload."""

from __future__ import annotations

import sys
import threading
import time

import pytest

import hotfunc

SOURCE = "from hotfunc import hot\n@hot\ndef f(x):\n    return x * {k} + {k}\n"


@pytest.fixture
def fast_switching():
    # Eight busy threads and the reloader share the GIL; switch often so the
    # test does not spend its time waiting for a turn.
    old = sys.getswitchinterval()
    sys.setswitchinterval(0.0002)
    yield
    sys.setswitchinterval(old)


@pytest.mark.usefixtures("watching", "fast_switching")
def test_eight_threads_during_200_reloads(project, wait):
    """Every call returns the old or the new value, nothing raises, nothing deadlocks."""
    mod = project.load(SOURCE.format(k=0))
    entry = hotfunc.registry[mod.f]
    stop = threading.Event()
    problems: list[object] = []
    counts = [0] * 8

    def hammer(slot: int) -> None:
        while not stop.is_set():
            try:
                value = mod.f(1)
            except Exception as exc:  # any exception is a failure of the swap
                problems.append(exc)
                return
            if value % 2:  # x*k + k with x=1 is always even for even k
                problems.append(value)
            counts[slot] += 1

    threads = [threading.Thread(target=hammer, args=(i,), daemon=True) for i in range(8)]
    for thread in threads:
        thread.start()
    try:
        for version in range(1, 201):
            project.edit(mod, SOURCE.format(k=2 * version))
            wait(lambda version=version: entry.version == version, timeout=20)
    finally:
        stop.set()
        for thread in threads:
            thread.join(10)
    assert problems == []
    assert not any(t.is_alive() for t in threads)
    assert all(counts)
    assert mod.f(1) == 800


def test_stop_during_a_reload_returns_within_a_second(project, wait):
    """stop() while a reload is stuck in a callback returns within 1 s; the watcher is gone."""
    mod = project.load(SOURCE.format(k=1))
    entered, release = threading.Event(), threading.Event()

    @hotfunc.on_reload
    def stuck(event):
        entered.set()
        release.wait(30)

    hotfunc.start()
    try:
        project.edit(mod, SOURCE.format(k=2))
        assert entered.wait(10)
        began = time.monotonic()
        hotfunc.stop()
        assert time.monotonic() - began < 1.5
        assert not hotfunc.is_running()
    finally:
        release.set()


def _look_up(
    func: object, started: threading.Event, stop: threading.Event, problems: list[BaseException]
) -> None:
    started.set()
    while not stop.is_set():
        try:
            hotfunc.registry[func]  # builds the entries of the function's file, once
        except BaseException as exc:  # any error is a failure of the registry
            problems.append(exc)
            return


@pytest.mark.usefixtures("watching", "fast_switching")
def test_look_ups_racing_line_shifts_find_every_function_where_it_is(project, wait):
    """Entries built by a look-up while a save moves the functions below the edit record
    the lines the functions end at: none is built from code being replaced."""
    count = 2000
    body = "".join(f"@hot\ndef f{i}():\n    return {i}\n" for i in range(count))
    for _ in range(6):
        mod = project.load("from hotfunc import hot\n" + body)
        funcs = [getattr(mod, f"f{i}") for i in range(count)]
        started, stop = threading.Event(), threading.Event()
        problems: list[BaseException] = []
        thread = threading.Thread(
            target=_look_up, args=(funcs[-1], started, stop, problems), daemon=True
        )
        thread.start()
        started.wait(5)
        project.edit(mod, "from hotfunc import hot\n#\n#\n" + body)
        wait(lambda funcs=funcs: funcs[-1].__code__.co_firstlineno == 3 * count + 1)
        stop.set()
        thread.join(10)
        (hot_file,) = hotfunc.registry.sources_at(mod.__file__)
        with hot_file.lock:  # held by the reload until it is done
            pass
        assert problems == []
        for func in funcs:
            assert hotfunc.registry[func].lineno == func.__code__.co_firstlineno
