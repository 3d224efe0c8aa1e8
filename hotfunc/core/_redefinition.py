"""What a registry adapter is told when a definition is about to run again."""

from __future__ import annotations

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable

    #: Called with the object the name holds once the definition ran: the new
    #: one, or the old one when running it failed.
    Settle = Callable[[object], None]

    #: Withdraws what ``Redefinition.old`` registered; may return a settle.
    Adapter = Callable[["Redefinition"], "Settle | None"]


class Redefinition:
    """A top-level ``def`` or ``class`` statement that a save runs again.

    Running it again registers its new object with whatever its decorators,
    base classes or metaclass register it with.  A framework's registry may
    refuse a second definition of one name, or keep serving the first; an
    adapter withdraws what ``old`` registered, so that the new object takes
    its place as it would in a fresh import.
    """

    __slots__ = ("file", "line", "module", "name", "old", "registrars")

    def __init__(
        self,
        module: str,
        name: str,
        old: object,
        registrars: tuple[object, ...],
        file: str,
        line: int,
    ) -> None:
        #: The module's name, and the name the statement binds in it.
        self.module = module
        self.name = name
        #: The object the name held before the statement runs again.
        self.old = old
        #: What the statement's decorators are looked up on, without calling
        #: anything: ``app`` for ``@app.route("/")``, ``cli`` for
        #: ``@cli.command()``, the decorator itself for ``@register``.
        self.registrars = registrars
        #: Where the statement stands: its file, and the line of its ``def`` or ``class``.
        self.file = file
        self.line = line

    def __repr__(self) -> str:
        return f"<Redefinition of {self.module}.{self.name} at {self.file}:{self.line}>"
