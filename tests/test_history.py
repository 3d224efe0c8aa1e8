"""The fidelity oracle on real commits: this repository's own recent history.

The package as it was some commits ago is copied under another name and
imported, made hot, and each later commit of ``hotfunc/`` is written over it
at once, as a checkout does, through the real watcher.  After each commit the
process must match a fresh import of the same files, or hotfunc must have
said where it does not.
"""

from __future__ import annotations

import contextlib
import importlib
import os
import subprocess
import sys
from pathlib import Path

import pytest

import hotfunc
from hotfunc.testing import (
    fresh_snapshot,
    snapshot,
    unlike_fresh_import,
    wait_for,
    write_source,
)

ROOT = Path(__file__).resolve().parent.parent
COMMITS = int(os.environ.get("HOTFUNC_HISTORY_COMMITS", "40"))
PACKAGE = "hfreplay"


def _git(*args: str) -> str:
    done = subprocess.run(
        ["git", "-C", str(ROOT), *args], capture_output=True, text=True, timeout=60
    )
    if done.returncode != 0:
        raise OSError(done.stderr.strip())
    return done.stdout


def _history() -> list[str]:
    try:
        commits = _git("rev-list", f"--max-count={COMMITS + 1}", "HEAD", "--", "hotfunc").split()
    except (OSError, subprocess.SubprocessError) as exc:
        pytest.skip(f"no git history to replay: {exc}")
    if len(commits) < 2:
        pytest.skip("fewer than two commits of hotfunc/ in this clone (a shallow clone?)")
    return commits[::-1]


def _files_at(commit: str) -> dict[str, str]:
    """The package's files at ``commit``, by their path inside it, subpackages too."""
    names = [
        n
        for n in _git("ls-tree", "-r", "--name-only", commit, "hotfunc/").split()
        if n.endswith(".py") and not n.endswith("__main__.py")
    ]
    return {n.removeprefix("hotfunc/"): _git("show", f"{commit}:{n}") for n in names}


def _module(name: str) -> str:
    """The module a path inside the package holds: ``engine/_plan.py``, ``engine/__init__.py``."""
    parts = [PACKAGE, *name.removesuffix(".py").split("/")]
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _import_order(name: str) -> tuple[int, bool]:
    """Packages before their modules, shallow before deep."""
    return name.count("/"), not name.endswith("__init__.py")


@pytest.mark.timeout(600)  # a commit at a time through the watcher, and a fresh interpreter each
@pytest.mark.usefixtures("watching")
def test_replaying_this_repositorys_history_matches_a_fresh_import(tmp_path):
    """Every commit replayed leaves the process as a fresh import would, or reported."""
    commits = _history()
    folder = tmp_path / PACKAGE
    folder.mkdir()
    files = _files_at(commits[0])
    for name, text in files.items():
        (folder / name).parent.mkdir(parents=True, exist_ok=True)
        write_source(folder / name, text)
    sys.path.insert(0, str(tmp_path))
    importlib.invalidate_caches()
    for name in sorted(files, key=_import_order):
        hotfunc.hot(importlib.import_module(_module(name)))

    faithful, reported, unimportable, silent = 0, 0, 0, []
    for commit in commits[1:]:
        new = _files_at(commit)
        changed = {n: t for n, t in new.items() if files.get(n) != t}
        for name in set(files) - set(new):
            (folder / name).unlink()
        for name, text in changed.items():
            # Whole files, through a rename: a save that imports a module the
            # same commit adds must not find it half written.
            (folder / name).parent.mkdir(parents=True, exist_ok=True)
            write_source(folder / name, text, atomic=True)
        files = new
        if not changed:
            continue
        paths = {str((folder / n).resolve()): t for n, t in changed.items()}

        def landed(paths: dict[str, str] = paths) -> bool:
            sources = {s.path: s for s in hotfunc.registry.sources()}
            return all(p not in sources or sources[p].live_text() == t for p, t in paths.items())

        wait_for(landed, timeout=30)
        modules = [_module(n) for n in files if _module(n) in sys.modules]
        try:
            fresh = fresh_snapshot(modules, [str(tmp_path)])
        except AssertionError:
            unimportable += 1  # a commit that does not import: nothing to compare with
            continue
        # Statements that failed for want of a file saved later in the same
        # commit run again once the batch is over: give the watcher that time.
        with contextlib.suppress(AssertionError):
            wait_for(lambda: not unlike_fresh_import(modules, [], fresh), timeout=5)  # noqa: B023
        unsaid = unlike_fresh_import(modules, [], fresh)
        if unsaid:
            silent.append(f"{commit[:7]}: {unsaid[:5]}")
        elif any(now.get(k) != v for now in [snapshot(modules)] for k, v in fresh.items()):
            reported += 1
        else:
            faithful += 1
    print(
        f"\n{len(commits) - 1} commits replayed: {faithful} faithful, {reported} reported, "
        f"{len(silent)} silent, {unimportable} not importable"
    )
    assert silent == [], "\n".join(silent)
