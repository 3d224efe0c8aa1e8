"""The fidelity oracle on code written by others: released versions replayed as saves.

For each project, the source distributions of consecutive releases are
downloaded from the package index (``pip download --no-binary :all:``).  The
package of the first release is copied under another name, imported whole
and made hot in one long-running process, with the real watcher.  Each later
release is then written over it at once, as a checkout does, and the process
is compared with a fresh interpreter importing the same files
(``hotfunc.testing``).  Each release ends:

- faithful: every function, constant and class member as a fresh import;
- reported: different, and hotfunc said where (``registry.stale()``, a
  failed statement);
- silent: different, and nothing said: the failure this oracle is for;
- not importable: the release does not import in a fresh interpreter here
  (a dependency it needs is missing), so there is nothing to compare.

Usage:

    python bench/fidelity.py                      # every project (make fidelity)
    python bench/fidelity.py --project packaging --releases 3 --json out.json

Exits 1 when any release ends silent.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib
import json
import os
import re
import subprocess
import sys
import tarfile
import tempfile
import time
from pathlib import Path

#: (project on the index, its import package, consecutive releases), in the
#: order ``make fidelity`` replays them.  Pure Python, with what they import
#: at import time in the dev install.
PROJECTS: dict[str, tuple[str, list[str]]] = {
    "packaging": ("packaging", ["22.0", "23.0", "23.1", "23.2", "24.0", "24.1", "24.2"]),
    "click": ("click", ["8.1.3", "8.1.4", "8.1.5", "8.1.6", "8.1.7", "8.1.8"]),
    "attrs": ("attr", ["23.1.0", "23.2.0", "24.1.0", "24.2.0", "24.3.0", "25.1.0"]),
    "marshmallow": ("marshmallow", ["3.19.0", "3.20.1", "3.20.2", "3.21.0", "3.21.3", "3.22.0"]),
    "itsdangerous": ("itsdangerous", ["2.0.1", "2.1.0", "2.1.1", "2.1.2", "2.2.0"]),
}

CACHE = Path(os.environ.get("HOTFUNC_FIDELITY_CACHE", Path.home() / ".cache" / "hotfunc-fidelity"))


def download(project: str, version: str) -> Path | None:
    """The sdist of ``project==version``, downloaded once into the cache; None when the
    index has none."""
    folder = CACHE / f"{project}-{version}"
    found = sorted(folder.glob("*.tar.gz")) if folder.exists() else []
    if not found:
        folder.mkdir(parents=True, exist_ok=True)
        done = subprocess.run(
            [
                sys.executable,
                "-m",
                "pip",
                "download",
                "--quiet",
                "--no-binary",
                ":all:",
                "--no-deps",
                f"{project}=={version}",
                "-d",
                str(folder),
            ],
            capture_output=True,
            text=True,
            timeout=300,
            check=False,
        )
        found = sorted(folder.glob("*.tar.gz"))
        if done.returncode != 0 and not found:
            print(f"  {project}=={version}: no sdist ({done.stderr.strip()[-200:]})")
            return None
    return found[0] if found else None


def package_files(sdist: Path, package: str, renamed: str) -> dict[str, str]:
    """The ``.py`` files of ``package`` in ``sdist``, by their path inside it, with its
    absolute imports of itself renamed."""
    files: dict[str, str] = {}
    own = re.compile(rf"^(\s*(?:from|import)\s+){re.escape(package)}\b", re.MULTILINE)
    with tarfile.open(sdist) as archive:
        for member in archive.getmembers():
            parts = Path(member.name).parts
            if not member.isfile() or not member.name.endswith(".py") or package not in parts:
                continue
            inside = parts[parts.index(package) + 1 :]
            if not inside or "tests" in inside or inside[-1] == "__main__.py":
                continue
            handle = archive.extractfile(member)
            if handle is None:
                continue
            text = handle.read().decode("utf-8")
            files["/".join(inside)] = own.sub(rf"\g<1>{renamed}", text)
    return files


def _module(renamed: str, name: str) -> str:
    parts = [renamed, *name.removesuffix(".py").split("/")]
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def replay(project: str, releases: int | None) -> dict[str, object]:
    """Replay ``project``'s releases in this process; the counts and what stayed reported."""
    import hotfunc
    from hotfunc.testing import (
        fresh_snapshot,
        snapshot,
        unlike_fresh_import,
        wait_for,
        write_source,
    )

    package, versions = PROJECTS[project]
    versions = versions[: releases or None]
    renamed = f"hfrel_{package}"
    root = Path(tempfile.mkdtemp(prefix="hf-fidelity-"))
    folder = root / renamed
    releases_files: list[tuple[str, dict[str, str]]] = []
    for version in versions:
        sdist = download(project, version)
        if sdist is not None:
            releases_files.append((version, package_files(sdist, package, renamed)))
    if len(releases_files) < 2:
        return {"project": project, "error": "fewer than two releases could be downloaded"}
    first, files = releases_files[0]
    for name, text in files.items():
        (folder / name).parent.mkdir(parents=True, exist_ok=True)
        write_source(folder / name, text)
    sys.path.insert(0, str(root))
    importlib.invalidate_caches()
    for name in sorted(files, key=lambda n: (n.count("/"), not n.endswith("__init__.py"))):
        try:
            hotfunc.hot(importlib.import_module(_module(renamed, name)))
        except Exception as exc:  # an optional dependency missing here: not replayed
            print(f"  {_module(renamed, name)} not imported: {type(exc).__name__}: {exc}")
    hotfunc.start()
    rows: list[dict[str, object]] = []
    for version, new in releases_files[1:]:
        changed = {n: t for n, t in new.items() if files.get(n) != t}
        for name in set(files) - set(new):
            (folder / name).unlink()
        started = time.perf_counter()
        for name, text in changed.items():
            (folder / name).parent.mkdir(parents=True, exist_ok=True)
            write_source(folder / name, text, atomic=True)
        files = new
        paths = {str((folder / n).resolve()): t for n, t in changed.items()}

        def landed(paths: dict[str, str] = paths) -> bool:
            sources = {s.path: s for s in hotfunc.registry.sources()}
            return all(p not in sources or sources[p].live_text() == t for p, t in paths.items())

        wait_for(landed, timeout=60)
        applied = time.perf_counter() - started
        modules = [m for n in files if (m := _module(renamed, n)) in sys.modules]
        row: dict[str, object] = {"release": version, "files": len(changed), "seconds": applied}
        try:
            fresh = fresh_snapshot(modules, [str(root)])
        except AssertionError as exc:
            row["end"] = "not importable"
            row["why"] = str(exc).strip().splitlines()[-1][:200]
            rows.append(row)
            continue
        with contextlib.suppress(AssertionError):
            wait_for(lambda: not unlike_fresh_import(modules, [], fresh), timeout=5)  # noqa: B023
        unsaid = unlike_fresh_import(modules, [], fresh)
        now = snapshot(modules)
        differ = sorted(k for k, v in fresh.items() if now.get(k) != v)
        if unsaid:
            row["end"], row["silent"] = "silent", unsaid[:10]
        elif differ:
            row["end"] = "reported"
            row["differ"] = differ[:10]
            row["reports"] = [*hotfunc.registry.stale(), *hotfunc.registry.failures()][:10]
        else:
            row["end"] = "faithful"
        rows.append(row)
    hotfunc.stop()
    counts = {
        end: sum(r["end"] == end for r in rows)
        for end in ("faithful", "reported", "silent", "not importable")
    }
    return {"project": project, "first": first, "rows": rows, **counts}


def _child(project: str, releases: int | None) -> dict[str, object]:
    """``replay`` in a process of its own: each project starts from a fresh interpreter."""
    args = [sys.executable, __file__, "--in-process", "--project", project]
    if releases:
        args += ["--releases", str(releases)]
    # One hash seed for the replay and its fresh imports, which it starts:
    # code generated with a str's hash in it (attrs' __hash__) is then the
    # same in both when it was generated the same way.
    env = dict(os.environ, PYTHONHASHSEED="0")
    done = subprocess.run(args, capture_output=True, text=True, timeout=1800, check=False, env=env)
    sys.stderr.write(done.stderr[-4000:] if done.returncode else "")
    lines = [line for line in done.stdout.splitlines() if line.startswith("{")]
    if not lines:
        return {"project": project, "error": f"the replay exited {done.returncode}"}
    result: dict[str, object] = json.loads(lines[-1])
    return result


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--project", action="append", choices=sorted(PROJECTS))
    parser.add_argument("--releases", type=int, help="only the first N releases of each")
    parser.add_argument("--json", help="write the results here")
    parser.add_argument("--in-process", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    projects = args.project or list(PROJECTS)
    if args.in_process:
        print(json.dumps(replay(projects[0], args.releases)))
        return 0
    results = [_child(p, args.releases) for p in projects]
    print(f"{'project':<14}{'releases':<26}{'faithful':>9}{'reported':>9}{'silent':>7}{'n/i':>5}")
    for result in results:
        if "error" in result:
            print(f"{result['project']:<14}{result['error']}")
            continue
        rows = result["rows"]
        assert isinstance(rows, list)
        span = f"{result['first']} -> {rows[-1]['release']}" if rows else str(result["first"])
        print(
            f"{result['project']:<14}{span:<26}{result['faithful']:>9}{result['reported']:>9}"
            f"{result['silent']:>7}{result['not importable']:>5}"
        )
        for row in rows:
            if row["end"] != "faithful":
                detail = row.get("silent") or row.get("reports") or row.get("why")
                print(f"    {row['release']}: {row['end']}: {json.dumps(detail)[:600]}")
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=1))
    silent = sum(int(r.get("silent", 0)) for r in results if "error" not in r)  # type: ignore[call-overload]
    return 1 if silent else 0


if __name__ == "__main__":
    sys.exit(main())
