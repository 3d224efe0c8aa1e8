"""Flask: view functions by endpoint, URL rules, and blueprints already registered.

Flask refuses a second view function for an endpoint, refuses a new route
once the app has served a request, and a blueprint refuses one once it is
registered.  Before a view runs again, its endpoints leave every app that
has it (with their rules), and the app and its blueprints accept setup
again; after, a blueprint's new routes are set up on the apps it was
registered on, under the same URL prefix.  When the statement fails, the old
view is put back.
"""

from __future__ import annotations

from ..core._redefinition import Redefinition
from ..core._wrappers import probe
from ._find import holders, loaded

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

    from ..core._redefinition import Settle


def withdraw(redefinition: Redefinition) -> Settle | None:
    flask = loaded("flask", "Flask")
    blueprint = loaded("flask", "Blueprint")
    old = redefinition.old
    if flask is None or blueprint is None or not callable(old) or isinstance(old, type):
        return None
    apps: list[Any] = [a for a in holders(old, flask) if _endpoints(a, old)]
    blueprints: list[Any] = [r for r in redefinition.registrars if isinstance(r, blueprint)]
    if not apps and not blueprints:
        return None
    removed: list[tuple[Any, str, Any, list[Any]]] = []
    for app in apps:
        for endpoint in _endpoints(app, old):
            removed.append((app, endpoint, old, _remove_rules(app.url_map, endpoint)))
            del app.view_functions[endpoint]
        app._got_first_request = False  # the next request sets it again
    deferred: dict[int, int] = {}
    prefixes: dict[tuple[int, int], dict[str, object]] = {}
    for bp in blueprints:
        gone = [f for f in bp.deferred_functions if any(v is old for v in _closed_over(f))]
        bp.deferred_functions[:] = [f for f in bp.deferred_functions if f not in gone]
        deferred[id(bp)] = len(bp.deferred_functions)
        bp._got_registered_once = False
        routes = [r for f in gone for r in _closed_over(f) if isinstance(r, str) and r[:1] == "/"]
        for app, endpoint, _, rules in removed:
            if endpoint.startswith(bp.name + "."):
                prefixes[(id(bp), id(app))] = _options(bp, rules, routes)

    def settle(now: object) -> None:
        for bp in blueprints:
            bp._got_registered_once = True
            if now is old:
                continue
            new = bp.deferred_functions[deferred[id(bp)] :]
            for app in apps:
                options = prefixes.get((id(bp), id(app)))
                if options is not None:
                    # A request served meanwhile set it again: the guard is
                    # about setup after serving, which this is, on purpose.
                    app._got_first_request = False
                    state = bp.make_setup_state(app, options, False)
                    for func in new:
                        func(state)
        if now is old:  # the statement failed: the old view serves again
            for app, endpoint, view, rules in removed:
                if endpoint not in app.view_functions:
                    app.view_functions[endpoint] = view
                    for rule in rules:
                        _readd(app.url_map, rule)

    return settle


def _endpoints(app: Any, view: object) -> list[str]:
    try:
        return [e for e, f in list(app.view_functions.items()) if f is view]
    except Exception:  # not the Flask app it looks like
        return []


def _closed_over(func: object) -> list[object]:
    """What a blueprint's deferred setup function closes over: its view and its route."""
    found = []
    for cell in probe(func, "__closure__") or ():  # type: ignore[attr-defined]
        try:
            found.append(cell.cell_contents)
        except ValueError:  # an empty cell
            continue
    return found


def _options(bp: Any, rules: list[Any], routes: list[str]) -> dict[str, object]:
    """The registration options that made ``rules`` from ``routes``: their URL prefix."""
    prefix = bp.url_prefix
    for rule in rules:
        for route in routes:
            if rule.rule.endswith(route) and len(rule.rule) > len(route):
                prefix = rule.rule[: -len(route)]
    return {"url_prefix": prefix} if prefix else {}


def _remove_rules(url_map: Any, endpoint: str) -> list[Any]:
    """Take ``endpoint``'s rules out of a werkzeug ``Map``; return them."""
    rules = url_map._rules_by_endpoint.pop(endpoint, [])
    if rules:
        _rematch(url_map)
    return list(rules)


def _readd(url_map: Any, rule: Any) -> None:
    url_map._rules_by_endpoint.setdefault(rule.endpoint, []).append(rule)
    _rematch(url_map)


def _rematch(url_map: Any) -> None:
    """A new matcher from the rules left: werkzeug's cannot remove one."""
    from werkzeug.routing.matcher import StateMachineMatcher

    matcher = StateMachineMatcher(url_map.merge_slashes)
    for rules in url_map._rules_by_endpoint.values():
        for rule in rules:
            if not rule.build_only:
                matcher.add(rule)
    url_map._matcher = matcher
    url_map._remap = True
