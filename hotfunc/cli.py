"""``python -m hotfunc``: run a program with its functions hot, without editing it."""

from __future__ import annotations

import argparse
import ast
import builtins
import importlib.util
import os
import sys
import types
from collections.abc import Sequence

from . import __version__, _api
from .core._codes import expression
from .core._settings import logger
from .processes import _importhook

DESCRIPTION = """\
Run a Python script or module with the hotfunc watcher started. Every module
whose file matches a --watch pattern becomes hot as it is imported: its
functions and classes reload in place when you save them, with no decorator
in the code. Exit codes and signals are the program's own.
"""

EPILOG = """\
examples:
  python -m hotfunc run app.py --port 8000
  python -m hotfunc run -m uvicorn --port 8000 main:app
  python -m hotfunc run --watch src/ --watch 'lib/*_handlers.py' -m myapp.server

Everything after the script, or after -m MODULE, goes to the program.
"""

# run's own options that take a value: the parser must skip the value when it
# looks for where the program's part begins.
_WITH_VALUE = ("--watch", "--interval")


def _formatter(prog: str) -> argparse.HelpFormatter:
    """argparse's formatter, told the terminal's width: asked itself, it imports
    shutil (and bz2, lzma) into the program being run."""
    try:
        columns = int(os.environ.get("COLUMNS", "")) or os.get_terminal_size().columns
    except (ValueError, OSError):
        columns = 80
    return argparse.RawDescriptionHelpFormatter(prog, width=max(columns, 40) - 2)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m hotfunc",
        description=DESCRIPTION,
        epilog=EPILOG,
        formatter_class=_formatter,
    )
    parser.add_argument("--version", action="version", version=f"hotfunc {__version__}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    run = commands.add_parser(
        "run",
        help="run a script or module with its own modules hot",
        description=DESCRIPTION,
        epilog=EPILOG,
        formatter_class=_formatter,
    )
    run.add_argument(
        "--watch",
        action="append",
        default=[],
        metavar="PATTERN",
        help=(
            "a folder (everything below it) or a shell pattern of files whose modules "
            "become hot; repeatable. Default: the script's folder, or the current "
            "folder with -m. Installed packages (site-packages) are never hot."
        ),
    )
    run.add_argument(
        "--polling",
        action="store_true",
        help="poll file stats instead of OS notifications (Docker, VMs, WSL2 /mnt)",
    )
    run.add_argument(
        "--interval",
        type=float,
        default=0.5,
        metavar="SECONDS",
        help="seconds between polls with --polling (default: 0.5)",
    )
    run.add_argument(
        "--browser",
        action="store_true",
        help=(
            "the HTML pages the program's web server serves reload after each save "
            "(Flask, Django's runserver, uvicorn, tornado)"
        ),
    )
    run.add_argument(
        "-m",
        dest="module",
        metavar="MODULE",
        help="run a module as 'python -m MODULE' does, instead of a script",
    )
    run.add_argument("target", nargs="?", metavar="script.py", help="the script to run")
    run.add_argument(
        "args", nargs=argparse.REMAINDER, metavar="...", help="arguments for the program"
    )
    commands.add_parser(
        "test",
        help="pytest --hot: run the tests, then run again those each save affects",
        description="Run pytest with --hot: the session stays alive, applies each save in "
        "place and runs the tests it affects. Every argument goes to pytest.",
        add_help=False,
    )
    parser.set_defaults(run_parser=run)
    return parser


def split_run(argv: list[str]) -> tuple[list[str], list[str]]:
    """``run``'s own arguments, and the program's: the script or ``-m MODULE`` and after.

    As with ``python`` itself, everything from the script (or from ``-m
    MODULE``) on belongs to the program, options included: ``run -m uvicorn
    --port 8000 app:app`` passes ``--port 8000 app:app`` to uvicorn.
    """
    i = 0
    while i < len(argv):
        arg = argv[i]
        if arg == "--":
            return argv[:i], argv[i + 1 :]
        if arg == "-m" or (arg.startswith("-m") and not arg.startswith("--")):
            return argv[:i], argv[i:]
        if arg in _WITH_VALUE:
            i += 2
            continue
        if not arg.startswith("-") or arg == "-":
            return argv[:i], argv[i:]
        i += 1
    return argv, []


def _test(args: list[str]) -> int:
    """``python -m hotfunc test ARGS``: ``pytest --hot ARGS``, in this process's place.

    Not ``pytest.main()`` here: hotfunc is imported already, and pytest, which
    rewrites the asserts of its plugins' modules, would warn on every run that
    it cannot rewrite them.  Started as ``python -m pytest``, pytest imports
    the plugin itself, as under ``pytest --hot``.
    """
    if importlib.util.find_spec("pytest") is None:
        logger().error("hotfunc test needs pytest: pip install 'hotfunc[pytest]'")
        return 2
    command = [sys.executable, "-m", "pytest", "--hot", *args]
    sys.stdout.flush()
    sys.stderr.flush()
    os.execv(sys.executable, command)
    return 0  # never reached: execv does not return


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of ``python -m hotfunc``; returns the exit code."""
    parser = build_parser()
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv and argv[0] == "test":
        return _test(argv[1:])
    if not argv or argv[0] != "run":
        parser.parse_args(argv)  # --help, --version, or an error with the usage
        return 2
    run: argparse.ArgumentParser = parser.get_default("run_parser")
    own, program = split_run(argv[1:])
    options = run.parse_args(own)  # errors show run's usage
    options.module, options.target, options.args = None, None, []
    if program[:1] == ["-m"] or (program and program[0].startswith("-m")):
        module = program[0][2:] or (program[1] if len(program) > 1 else "")
        if not module:
            run.error("argument -m: expected one argument")
        options.module = module
        options.args = program[2:] if program[0] == "-m" else program[1:]
    elif program:
        options.target, options.args = program[0], program[1:]
    parser = run
    if options.module:
        args = list(options.args)
        spec = _main_spec(parser, options.module)
        assert spec.origin is not None
        path = os.path.abspath(spec.origin)
        default = os.getcwd()
        sys.path.insert(0, default)  # as python -m does
    else:
        if not options.target:
            parser.error("run needs a script, or -m MODULE")
        path = os.path.abspath(options.target)
        if not os.path.isfile(path):
            parser.error(f"no such script: {options.target!r}")
        args, spec = list(options.args), None
        default = os.path.dirname(path)
        sys.path.insert(0, default)  # as python script.py does
    if options.browser:
        from .browser import _servers

        os.environ[_servers.ENV] = "1"  # the workers that follow this process too
        _servers.install()
    patterns = _importhook.Patterns(options.watch or [default])
    finder = _importhook.install(patterns)
    sys.argv = [path, *args]
    hot = ", ".join([*patterns.folders, *patterns.globs])
    _api._start(
        options.polling or None,
        options.interval,
        f"modules under {hot} become hot as they are imported",
        watch=[*patterns.folders, *patterns.globs],
    )
    try:
        run_main(path, spec, hot_definitions=patterns(path))
    finally:
        _api.stop()
        _importhook.uninstall(finder)
    return 0


def _main_spec(parser: argparse.ArgumentParser, name: str) -> importlib.machinery.ModuleSpec:
    sys.path.insert(0, os.getcwd())
    try:
        spec = importlib.util.find_spec(name)
        if spec is not None and spec.submodule_search_locations is not None:
            spec = importlib.util.find_spec(f"{name}.__main__")
    except (ImportError, ValueError) as exc:
        parser.error(f"cannot find module {name!r}: {exc}")
    finally:
        sys.path.pop(0)
    if spec is None or not spec.origin or not os.path.isfile(spec.origin):
        parser.error(f"no module named {name!r} with a source file")
    return spec


def _compile_hot(source: bytes, path: str) -> types.CodeType:
    """The script compiled with ``hot`` as the outer decorator of each top-level def and class."""
    tree = ast.parse(source, path)
    for node in tree.body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            at = node.decorator_list[0] if node.decorator_list else node
            decorator = expression('__import__("hotfunc").hot', at)
            node.decorator_list.insert(0, decorator)
    return compile(tree, path, "exec", dont_inherit=True)


def run_main(
    path: str, spec: importlib.machinery.ModuleSpec | None, *, hot_definitions: bool
) -> None:
    """Run ``path`` as ``__main__``, its top-level functions and classes hot.

    The main script cannot be made hot after it ran, since it runs until the
    program ends; instead each top-level ``def`` and ``class`` is compiled with
    ``hot`` as its outermost decorator.  The decorator is an expression, so the
    module gains no global name.
    """
    with open(path, "rb") as fh:
        source = fh.read()
    try:
        code = _compile_hot(source, path) if hot_definitions else None
    except (RecursionError, MemoryError) as exc:
        # Python compiles what its ast module cannot hold: the script still
        # runs, as plain Python, and the modules it imports are hot.
        logger().warning(
            "%s nests too deep for hotfunc's parser (%s); it runs as is, its own functions not hot",
            path,
            type(exc).__name__,
        )
        code = None
    if code is None:
        code = compile(source, path, "exec", dont_inherit=True)
    main = types.ModuleType("__main__")
    main.__file__ = path
    main.__dict__["__builtins__"] = builtins
    main.__spec__ = spec
    main.__loader__ = spec.loader if spec is not None else None
    if spec is not None and spec.parent:
        main.__package__ = spec.parent
    previous = sys.modules.get("__main__")
    sys.modules["__main__"] = main
    try:
        exec(code, main.__dict__)
    finally:
        if previous is not None:
            sys.modules["__main__"] = previous
