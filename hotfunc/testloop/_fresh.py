"""Leaving the loop's process: a fresh pytest run for a failed save, a fresh loop for
a save the engine cannot vouch for, and what the fresh loop carries over.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from collections.abc import Iterable

from ._session import tests_phrase

TYPE_CHECKING = False
if TYPE_CHECKING:
    from ._loop import Loop

#: Set in the process the loop starts afresh in: the file with what to carry over.
STATE = "HOTFUNC_TESTLOOP_STATE"

# Options that pick tests from pytest's cache: the fresh processes the loop
# starts are given the tests to run instead.
_CACHE_PICKS = frozenset(
    {"--lf", "--last-failed", "--ff", "--failed-first", "--nf", "--new-first", "--sw", "--stepwise"}
)


def fresh_args(loop: Loop, nodeids: Iterable[str]) -> list[str]:
    given = set(loop.config.args)
    args = [
        a
        for a in loop.config.invocation_params.args
        if a not in given and a not in _CACHE_PICKS and not a.startswith("--hot")
    ]
    # The loop runs the tests it could collect when a test file cannot be
    # collected; so does the fresh run that stands in for it.
    if "--continue-on-collection-errors" not in args:
        args.append("--continue-on-collection-errors")
    return [sys.executable, "-m", "pytest", *args, *sorted(nodeids)]


def run_fresh(
    loop: Loop,
    nodeids: set[str],
    why: str,
    files: Iterable[str] = (),
    skip: Iterable[str] = (),
) -> dict[str, str]:
    """Run ``nodeids`` (every test, when both are empty) and the tests of the test
    ``files``, but for those in ``skip``, in a fresh pytest process: the outcomes it
    reported."""
    files = sorted(files)
    if not nodeids and not files:
        nodeids = {i.nodeid for i in loop.items}
    parts = [tests_phrase(len(nodeids))] if nodeids else []
    if files:
        plural = "" if len(files) == 1 else "s"
        parts.append(f"the new and changed tests of {len(files)} test file{plural}")
    what = " and ".join(parts)
    loop._say(f"{why}: {what} run in a fresh pytest process")
    env = {k: v for k, v in os.environ.items() if k not in ("HOTFUNC_FOLLOW", STATE)}
    with tempfile.TemporaryDirectory(prefix="hotfunc-") as folder:
        report = os.path.join(folder, "outcomes.json")
        command = [*fresh_args(loop, [*nodeids, *files]), "--hot-report", report]
        if skip:
            skipped = os.path.join(folder, "skip.json")
            with open(skipped, "w", encoding="utf-8") as file:
                json.dump(sorted(skip), file)
            command += ["--hot-skip", skipped]
        sys.stdout.flush()
        subprocess.run(command, env=env, cwd=loop.config.invocation_params.dir, check=False)
        try:
            with open(report, encoding="utf-8") as file:
                outcomes: dict[str, str] = json.load(file)
        except (OSError, ValueError):
            outcomes = {}
    for nodeid in nodeids:
        loop.outcomes[nodeid] = outcomes.get(nodeid, "error")
    loop.outcomes.update(outcomes)
    return outcomes


def restart(loop: Loop, affected: set[str], why: str) -> None:
    """Start the loop afresh in a new process, which runs ``affected`` (all when empty)."""
    run = affected or {i.nodeid for i in loop.items}
    loop._say(f"{why}: starting afresh in a new process")
    state = {
        "why": why,
        "run": sorted(run),
        "outcomes": loop.outcomes,
        "tests": {n: sorted(map(list, keys)) for n, keys in loop.record.tests.items()},
        "names": [[list(key), sorted(names)] for key, names in loop.recorder.names.items()],
    }
    handle, path = tempfile.mkstemp(prefix="hotfunc-loop-", suffix=".json")
    with os.fdopen(handle, "w", encoding="utf-8") as file:
        json.dump(state, file)
    loop._teardown(None)
    if loop.watcher is not None:
        loop.watcher.stop()
    loop.recorder.uninstall()
    sys.stdout.flush()
    sys.stderr.flush()
    os.environ[STATE] = path
    argv = list(getattr(sys, "orig_argv", sys.argv))
    os.execv(sys.executable, [sys.executable, *argv[1:]])


def carry_over(loop: Loop) -> None:
    path = os.environ.pop(STATE, None)
    if not path:
        return
    try:
        with open(path, encoding="utf-8") as file:
            state = json.load(file)
        os.unlink(path)
    except (OSError, ValueError):
        return
    nodeids = {i.nodeid for i in loop.items}
    loop.outcomes.update({n: o for n, o in state["outcomes"].items() if n in nodeids})
    for nodeid, keys in state["tests"].items():
        if nodeid in nodeids:
            loop.record.update(nodeid, frozenset((k[0], k[1]) for k in keys))
    for key, names in state["names"]:
        loop.recorder.names.setdefault((key[0], key[1]), frozenset(names))
    loop.carried = state
