"""pytest hooks for `make mutate`, inert in any other run (mutmut names its phase, or the mutant
under test, in MUTANT_UNDER_TEST).

- While mutmut collects its statistics (which tests reach which function), a fixture's work is
  credited to every test using it, and each test's cost, fixtures included, is recorded.
- While a mutant is tested, the tests reaching it run cheapest first, a module's tests together:
  most mutants are killed by the first test, so a quick killer should not wait behind a test
  whose module builds a whole section first.
"""

from __future__ import annotations

import json
import os
from collections import defaultdict
from pathlib import Path

import pytest

COSTS = Path(__file__).resolve().parents[1] / "mutmut-test-costs.json"  # inside mutants/

_BROAD_FIXTURE_CALLS: dict[tuple[str, str, str], set[str]] = {}
_SECONDS: dict[str, dict[str, float]] = defaultdict(dict)


def _phase() -> str:
    return os.environ.get("MUTANT_UNDER_TEST", "")


@pytest.hookimpl(wrapper=True)
def pytest_runtest_setup(item: pytest.Item):
    """mutmut credits what a test's setup calls to that test only, so the work of a module- or
    session-scoped fixture (a section built once for several tests) would be credited to the
    first test using it, and a mutant there would never meet the others. While mutmut collects
    its statistics, credit it to every test using the fixture."""
    if _phase() != "stats":
        return (yield)
    from mutmut.state import state

    before = set(state()._stats)
    result = yield
    during = set(state()._stats) - before
    for name in item.fixturenames:
        definitions = item._fixtureinfo.name2fixturedefs.get(name)
        if not definitions or definitions[-1].scope == "function":
            continue
        scope = definitions[-1].scope
        key = (scope, item.module.__name__ if scope != "session" else "", name)
        state()._stats.update(_BROAD_FIXTURE_CALLS.setdefault(key, during))
    return result


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    """In the statistics run, each test's seconds by phase (setup holds its fixtures' work)."""
    if _phase() == "stats":
        _SECONDS[report.nodeid][report.when] = report.duration


def pytest_sessionfinish(session: pytest.Session) -> None:
    if _phase() == "stats" and _SECONDS:
        COSTS.write_text(json.dumps(_SECONDS))


def cheapest_first(nodeids: list[str], seconds: dict[str, dict[str, float]]) -> list[str]:
    """Test ids in the order to run them: modules by what reaching their cheapest test costs (the
    most any test of the module spent in setup, where its module fixtures were built, plus that
    test's own time), then each module's tests by their own time. Tests never timed go last."""
    setup: dict[str, float] = defaultdict(float)
    for nodeid, phases in seconds.items():
        module = nodeid.partition("::")[0]
        setup[module] = max(setup[module], phases.get("setup", 0.0))

    def own(nodeid: str) -> float:
        phases = seconds.get(nodeid)
        return phases.get("call", 0.0) + phases.get("teardown", 0.0) if phases else float("inf")

    by_module: dict[str, list[str]] = defaultdict(list)
    for nodeid in nodeids:
        by_module[nodeid.partition("::")[0]].append(nodeid)
    entry = {module: setup[module] + min(map(own, tests)) for module, tests in by_module.items()}
    modules = sorted(by_module, key=entry.get)
    return [nodeid for module in modules for nodeid in sorted(by_module[module], key=own)]


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """While a mutant is tested, run the tests reaching it cheapest first."""
    if "__mutmut_" not in _phase() or not COSTS.exists():
        return
    position = {
        nodeid: i
        for i, nodeid in enumerate(
            cheapest_first([item.nodeid for item in items], json.loads(COSTS.read_text()))
        )
    }
    items.sort(key=lambda item: position[item.nodeid])
