"""click and typer: command groups by name.

A click ``@group.command()`` run again replaces the command by name, but a
command added apart (``cli.add_command(hello)``) keeps the old one; typer
appends a second ``CommandInfo`` for the same function.  Before the
definition runs, the old command leaves every group that holds it; after,
the new one takes its place, under the same name and at the same position,
or the old one comes back when the statement failed.
"""

from __future__ import annotations

from ..core._redefinition import Redefinition
from ..core._wrappers import is_instance, probe
from ._find import in_modules, loaded

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

    from ..core._redefinition import Settle


def withdraw_click(redefinition: Redefinition) -> Settle | None:
    group_type = loaded("click", "Group")
    command_type = loaded("click", "Command")
    old = redefinition.old
    if group_type is None or command_type is None or not is_instance(old, command_type):
        return None
    groups = {id(g): g for g in [*redefinition.registrars, *in_modules(group_type)]}
    held: list[tuple[Any, list[str], list[str]]] = []
    for group in groups.values():
        commands = probe(group, "commands") if is_instance(group, group_type) else None
        if not isinstance(commands, dict):
            continue
        names = [n for n, c in commands.items() if c is old]
        if names:
            held.append((group, list(commands), names))
            for name in names:
                del commands[name]
    if not held:
        return None

    def settle(now: object) -> None:
        for group, order, names in held:
            commands = group.commands
            for name in names:
                if name not in commands:
                    commands[name] = now if is_instance(now, command_type) else old
            ranked = {n: i for i, n in enumerate(order)}
            items = sorted(commands.items(), key=lambda kv: ranked.get(kv[0], len(ranked)))
            commands.clear()
            commands.update(items)

    return settle


def withdraw_typer(redefinition: Redefinition) -> Settle | None:
    typer_type = loaded("typer", "Typer")
    old = redefinition.old
    if typer_type is None or not callable(old) or isinstance(old, type):
        return None
    apps = {id(a): a for a in [*redefinition.registrars, *in_modules(typer_type)]}
    held: list[tuple[Any, int, list[Any]]] = []
    for app in apps.values():
        infos = probe(app, "registered_commands") if is_instance(app, typer_type) else None
        if not isinstance(infos, list):
            continue
        found = [i for i in infos if probe(i, "callback") is old]
        if found:
            held.append((app, infos.index(found[0]), found))
            infos[:] = [i for i in infos if all(i is not f for f in found)]
    if not held:
        return None

    def settle(now: object) -> None:
        for app, at, found in held:
            infos = app.registered_commands
            new = [i for i in infos if now is not old and probe(i, "callback") is now]
            if not new:
                import copy

                # The statement failed, or registered nothing (``app.command()(f)``
                # apart): the old commands, on the new function when there is one.
                new = [copy.copy(i) for i in found]
                for info in new:
                    info.callback = now
            infos[:] = [i for i in infos if all(i is not n for n in new)]
            infos[at:at] = new

    return settle
