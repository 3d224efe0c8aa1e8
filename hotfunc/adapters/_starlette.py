"""Starlette and FastAPI: routes matched in order, the first match served.

A decorator run again (``@app.get("/")``, ``@router.post(...)``) appends a
second route for the same endpoint, after the first, which keeps being
served.  Before it runs, the routes whose endpoint is the old function leave
every router that holds them; after, the new routes take the place of the
first one removed, since the order decides which route matches.  A router
that got no new route (a ``Route`` built in a list, a route copied by an
older FastAPI's ``include_router``) gets a plain ``Route`` rebuilt on the new
endpoint, or its old route back.
"""

from __future__ import annotations

from ..core._redefinition import Redefinition
from ..core._wrappers import is_instance, probe
from ._find import in_modules, loaded

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

    from ..core._redefinition import Settle


def withdraw(redefinition: Redefinition) -> Settle | None:
    router_type = loaded("starlette.routing", "Router")
    old = redefinition.old
    if router_type is None or not callable(old) or isinstance(old, type):
        return None
    removed: list[tuple[Any, list[tuple[int, Any]]]] = []
    for router in _routers(router_type, redefinition.registrars):
        routes = probe(router, "routes")
        if not isinstance(routes, list):
            continue
        found = [(i, r) for i, r in enumerate(routes) if probe(r, "endpoint") is old]
        if found:
            routes[:] = [r for r in routes if probe(r, "endpoint") is not old]
            _changed(router)
            removed.append((router, found))
    if not removed:
        return None

    def settle(now: object) -> None:
        for router, found in removed:
            routes = router.routes
            new = [r for r in routes if now is not old and probe(r, "endpoint") is now]
            if not new:
                new = [_rebuilt(r, now) for _, r in found] if now is not old else []
                if not all(new):
                    new = []
                if not new:  # nothing to take its place: the old routes serve again
                    for i, route in found:
                        routes.insert(i, route)
                    _changed(router)
                    continue
            routes[:] = [r for r in routes if all(r is not n for n in new)]
            at = min(found[0][0], len(routes))
            routes[at:at] = new
            _changed(router)

    return settle


def _routers(router_type: type, registrars: tuple[object, ...]) -> list[Any]:
    """The routers to look in: the decorators' own, and every app's and router's that
    a module holds."""
    found: dict[int, Any] = {}
    app_type = loaded("starlette.applications", "Starlette")
    kinds = (router_type,) if app_type is None else (router_type, app_type)
    for candidate in [*registrars, *in_modules(kinds)]:
        _add_router(candidate, router_type, found)
    return list(found.values())


def _add_router(candidate: object, router_type: type, found: dict[int, Any]) -> None:
    router = candidate if is_instance(candidate, router_type) else probe(candidate, "router")
    if is_instance(router, router_type):
        found.setdefault(id(router), router)


def _rebuilt(route: Any, endpoint: object) -> Any | None:
    """A plain Starlette ``Route`` like ``route`` on ``endpoint``; None for any other."""
    routing: Any = loaded("starlette.routing", "Route")
    if routing is None or type(route) is not routing:
        return None
    return routing(
        route.path,
        endpoint,
        methods=sorted(route.methods - {"HEAD"}) if route.methods else None,
        name=route.name,
        include_in_schema=route.include_in_schema,
    )


def _changed(router: object) -> None:
    """Tell a router that caches what its routes make (FastAPI's included routers)."""
    mark = probe(router, "_mark_routes_changed")
    if callable(mark):
        mark()
