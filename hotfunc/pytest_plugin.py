"""The pytest plugin: ``pytest --hot`` keeps the session alive and re-runs what a save affects.

Loaded in every pytest run through the ``pytest11`` entry point; without
``--hot`` it adds its options and does nothing else.
"""

from __future__ import annotations

import os

import pytest

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Generator


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("hotfunc", "hot test loop (hotfunc)")
    group.addoption(
        "--hot",
        action="store_true",
        help="run the tests, then stay alive: each save is applied in place "
        "and the tests it affects run again",
    )
    group.addoption(
        "--hot-all",
        action="store_true",
        help="with --hot: run every test at the start, not only those that what "
        "changed since the last --hot session reaches, its failed tests and new ones",
    )
    group.addoption(
        "--hot-fresh-fixtures",
        action="store_true",
        help="with --hot: set every fixture up again on each run, instead of "
        "keeping session- and module-scoped fixtures alive",
    )
    group.addoption("--hot-report", metavar="PATH", help=_HIDDEN)
    group.addoption("--hot-skip", metavar="PATH", help=_HIDDEN)
    from .testloop import _loop

    # Read now: pytest's capture takes file descriptor 0 over before the session.
    _loop.keys_from_terminal = os.isatty(0)


# argparse.SUPPRESS: an option the test loop passes to the fresh processes it starts.
_HIDDEN = "==SUPPRESS=="


@pytest.hookimpl(tryfirst=True)
def pytest_load_initial_conftests(early_config: pytest.Config) -> None:
    # Before the conftests import the project: its modules must load hot.
    if early_config.known_args_namespace.hot:
        from .testloop._session import make_imports_hot

        make_imports_hot(early_config)


def pytest_configure(config: pytest.Config) -> None:
    if config.option.hot:
        from .testloop import _loop

        if config.pluginmanager.hasplugin("xdist") and getattr(config.option, "numprocesses", None):
            raise pytest.UsageError("--hot runs the tests in one process; leave out -n")
        config.pluginmanager.register(_loop.Loop(config), "hotfunc-loop")
    elif config.option.hot_report:
        reporter = _Reporter(config.option.hot_report, config.option.hot_skip)
        config.pluginmanager.register(reporter, "hotfunc-report")


class _Reporter:
    """In a fresh process the test loop started: each test's outcome, to a file, and
    the tests of the files it was given that the loop knows are not affected, left out."""

    def __init__(self, path: str, skip: str | None) -> None:
        self.path = path
        self.skip = skip
        self.outcomes: dict[str, str] = {}

    @pytest.hookimpl(trylast=True)
    def pytest_collection_modifyitems(
        self, config: pytest.Config, items: list[pytest.Item]
    ) -> None:
        if self.skip is None:
            return
        import json

        with open(self.skip, encoding="utf-8") as file:
            skip = set(json.load(file))
        kept = [i for i in items if i.nodeid not in skip]
        if len(kept) < len(items):
            config.hook.pytest_deselected(items=[i for i in items if i.nodeid in skip])
            items[:] = kept

    @pytest.hookimpl(wrapper=True)
    def pytest_sessionfinish(self) -> Generator[None]:
        import json

        with open(self.path, "w", encoding="utf-8") as file:
            json.dump(self.outcomes, file)
        return (yield)

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        from .testloop._session import outcome_of

        self.outcomes[report.nodeid] = outcome_of(report, self.outcomes.get(report.nodeid))
