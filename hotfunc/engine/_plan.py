"""Plan a save: which top-level statements changed, and what each change needs.

Pure: compiled files in, actions out; no threads, no files, no live objects.
The rules, in the order ``docs/how-it-works.md`` states them:

1. What changed is decided per top-level statement, and per member of a class
   body, by syntax tree with positions ignored: reformatting, comments and
   moved lines are not changes.
2. Unchanged statements never run again.
3. New and changed statements run once, in file order (``RUN``, ``DEFINE``).
4. A ``def`` whose body or signature changed is swapped in place (``UPDATE``);
   its decorators are not run again.
5. A function or class an edit adds is hot from then on (``DEFINE``).
6. A class whose members changed gets the new members on the live class
   (``MEMBERS``).
7. A ``def`` whose decorators changed runs again and rebinds (``REDEFINE``).
8. A class whose header changed is rebuilt (``REBUILD``); so is one whose
   fields changed when code generates it from its body, which only the live
   class can tell (the applier decides).
9. ``if __name__ == "__main__":`` blocks never run again (``SKIP``).
   Several statements may define one name (``@overload`` stubs, then the
   implementation): the last one binds it, so an old statement is paired
   with the last new one of its name, and a new ``def`` or ``class`` that a
   later one of the same name replaces is run without keeping its binding
   (``Action.shadowed``).
10. A statement that failed stays pending: its block remembers the text that
    is live, and it is planned again at every save until it runs.
11. A statement removed from the file is left alone: nothing is planned.
"""

from __future__ import annotations

import ast

from ..core._text import split_lines
from ._recompile import Block, CompiledSource
from ._statements import (
    class_header,
    is_docstring,
    is_main_guard,
    key,
    keys_of,
    parse_block,
    parse_block_or_none,
    parse_text,
    qualnames_in,
    slot,
    statement_text,
    summarize,
)

# What an action does; see the module docstring for the rule behind each.
RUN = "run"
DEFINE = "define"
UPDATE = "update"
MEMBERS = "members"
REDEFINE = "redefine"
REBUILD = "rebuild"
SKIP = "skip"

_DEFS = (ast.FunctionDef, ast.AsyncFunctionDef)


class Member:
    """A class-body statement that changed: run it in the class, or swap a method."""

    __slots__ = ("field", "kind", "members", "name", "node", "summary")

    def __init__(
        self,
        kind: str,
        node: ast.stmt,
        name: str | None,
        field: bool,
        members: list[Member] | None = None,
    ) -> None:
        #: RUN, DEFINE (a name the class did not have), UPDATE (a method's
        #: body), or MEMBERS (a nested class whose own members changed).
        self.kind = kind
        self.node = node
        self.name = name
        #: An assignment or other non-def statement: a field of a dataclass,
        #: an Enum member, a slot.
        self.field = field
        self.members = members or []
        self.summary = summarize(node)


class Action:
    """One top-level statement to act on, at its place in the new text."""

    __slots__ = (
        "block",
        "kind",
        "line",
        "members",
        "name",
        "node",
        "previous",
        "shadowed",
        "summary",
    )

    def __init__(
        self,
        kind: str,
        block: Block,
        node: ast.stmt,
        previous: str | None,
        members: list[Member] | None = None,
    ) -> None:
        self.kind = kind
        self.block = block
        self.node = node
        #: The text of the statement live before this save, when one is
        #: replaced: what stays live if this action fails.
        self.previous = previous
        self.members = members or []
        self.name = slot(node)
        self.line = node.lineno
        self.summary = summarize(node)
        #: A later ``def`` or ``class`` of the same name rebinds it, as an
        #: implementation follows its ``@overload`` stubs: what this one binds
        #: does not stay.
        self.shadowed = False

    def __repr__(self) -> str:
        return f"<{self.kind} {self.summary!r} at line {self.line}>"


class Plan:
    """What a save must do, and what it may leave alone."""

    __slots__ = ("actions", "same_blocks", "same_defs")

    def __init__(self) -> None:
        #: The actions, in file order.
        self.actions: list[Action] = []
        #: ids of the blocks compiled again whose statement did not change:
        #: their functions only take new positions.
        self.same_blocks: set[int] = set()
        #: Qualnames of the functions in changed classes whose ``def`` did not change.
        self.same_defs: set[str] = set()

    def unchanged(self, block: Block, qualname: str) -> bool:
        """Whether the function ``qualname`` of ``block`` is the same statement as before.

        Its bytecode may still differ: CPython compiles a method call on an
        imported name apart from other calls, so an import added elsewhere in
        the file changes the bytecode, not the behaviour.
        """
        return id(block) in self.same_blocks or qualname in self.same_defs


def plan(old: CompiledSource | None, new: CompiledSource, *, retry: bool) -> Plan:
    """The actions that bring the live module from ``old``'s text to ``new``'s.

    ``new.region`` says which blocks were compiled again; the others are
    unchanged text.  ``retry`` also plans the carried blocks whose earlier run
    failed.
    """
    result = Plan()
    region = new.region
    in_region: set[int] = set()
    if region is not None and old is not None:
        olds = old.blocks[region.old_lo : region.old_hi]
        news = new.blocks[region.new_lo : region.new_hi]
        in_region = set(map(id, news))
        _plan_region(result, old, olds, new, news, region.nodes)
    # Without a known text the module was built from, nothing can be
    # compared, and running the whole file again is what must never happen.
    if retry:
        for block in new.blocks:
            if block.live is not None and id(block) not in in_region:
                node = parse_block(new, block)
                previous = parse_text(block.live)
                action = _decide(
                    result,
                    node,
                    new.lines,
                    previous,
                    split_lines(block.live),
                    block,
                    block.live or None,
                )
                if action is not None:
                    result.actions.append(action)
    result.actions.sort(key=lambda a: a.block.start)
    for action in result.actions:
        if action.kind in (DEFINE, REDEFINE, REBUILD) and isinstance(
            action.node, (*_DEFS, ast.ClassDef)
        ):
            action.shadowed = _defined_later(new, action.node.name, action.block.end)
    return result


def _defined_later(compiled: CompiledSource, name: str, line: int) -> bool:
    """Whether a top-level ``def`` or ``class`` after ``line`` binds ``name``.

    Looks at the text, so unparsed parts of a large file cost a search in C;
    a ``def`` at column 0 is a top-level statement, and one decorated with
    ``overload`` binds nothing that stays.
    """
    text = compiled.text
    offset = max(0, sum(map(len, compiled.lines[:line])) - 1)  # at the newline ending ``line``
    for head in (f"\ndef {name}", f"\nasync def {name}", f"\nclass {name}"):
        at = text.find(head, offset)
        while at != -1:
            after = text[at + len(head) : at + len(head) + 1]
            if after in ("(", ":", "[", " ") and not _overload_above(text, at):
                return True
            at = text.find(head, at + 1)
    return False


def _overload_above(text: str, at: int) -> bool:
    """Whether the decorators right above the line starting at ``at + 1`` include overload."""
    while at > 0:
        start = text.rfind("\n", 0, at) + 1
        line = text[start:at].strip()
        if not line.startswith("@"):
            return False
        if "overload" in line:
            return True
        at = start - 1
    return False


def _plan_region(
    result: Plan,
    old: CompiledSource,
    olds: list[Block],
    new: CompiledSource,
    news: list[Block],
    nodes: list[ast.stmt],
) -> None:
    # What is live for each old block: its own text, or the text remembered
    # when running it failed.
    old_texts = [b.text(old.lines) if b.live is None else b.live for b in olds]
    unmatched_old = set(range(len(olds)))
    by_text: dict[str, list[int]] = {}
    for i, block in enumerate(olds):
        if block.live is None:
            by_text.setdefault(old_texts[i], []).append(i)
    # Identical text is the same statement.  Syntax trees are compared only
    # for what is left, and only as far as a decision needs: ast.dump of a
    # large class costs more than the rest of a reload.
    changed: list[int] = []
    for j, block in enumerate(news):
        candidates = by_text.get(block.text(new.lines))
        while candidates and candidates[0] not in unmatched_old:
            candidates.pop(0)
        if candidates:
            unmatched_old.discard(candidates.pop(0))
            result.same_blocks.add(id(block))
        else:
            changed.append(j)
    if not changed:
        return
    # The common save changes one function's body: its decorators' text is
    # unchanged, and the old statement need not be parsed to say so.
    if len(changed) == 1 and len(unmatched_old) == 1:
        (j,), (i,) = changed, unmatched_old
        if _same_def_head(olds[i], old.lines, nodes[j], new.lines):
            result.actions.append(Action(UPDATE, news[j], nodes[j], old_texts[i]))
            return
    old_nodes: dict[int, ast.stmt | None] = {}
    old_lines: dict[int, list[str]] = {}
    for i in sorted(unmatched_old):
        block = olds[i]
        if block.live is None:
            old_nodes[i], old_lines[i] = parse_block_or_none(old, block), old.lines
        else:
            old_nodes[i] = parse_text(block.live)
            old_lines[i] = split_lines(block.live)
    # Pair with the old statement of the same name, if any, from the last
    # on: of several statements of one name, the last binds it...
    by_slot: dict[str, list[int]] = {}
    for i in sorted(unmatched_old):
        node = old_nodes[i]
        name = slot(node) if node is not None else None
        if name is not None:
            by_slot.setdefault(name, []).append(i)
    pairs: dict[int, int] = {}
    for j in reversed(changed):
        name = slot(nodes[j])
        olds_named = by_slot.get(name) if name is not None else None
        if olds_named:
            pairs[j] = olds_named.pop()
    # ...then unnamed statements by tree (a reformatted call is no change)...
    paired_old = set(pairs.values())
    by_key: dict[str, list[int]] = {}
    for i in sorted(unmatched_old - paired_old):
        node = old_nodes[i]
        if node is not None and slot(node) is None:
            by_key.setdefault(key(node), []).append(i)
    remaining: list[int] = []
    for j in changed:
        if j in pairs:
            remaining.append(j)
            continue
        candidates = by_key.get(key(nodes[j])) if slot(nodes[j]) is None else None
        if candidates:
            paired_old.add(candidates.pop(0))
            result.same_blocks.add(id(news[j]))
        else:
            remaining.append(j)
    # ...then by place: an edit replaces statements where they stand.
    loose_old = [i for i in sorted(unmatched_old) if i not in paired_old]
    loose_new = [j for j in remaining if j not in pairs and slot(nodes[j]) is None]
    for i, j in _in_place(loose_old, loose_new, len(olds), len(news)):
        pairs[j] = i
    for j in remaining:
        paired = pairs.get(j)
        previous = None if paired is None else old_nodes[paired]
        action = _decide(
            result,
            nodes[j],
            new.lines,
            previous,
            [] if paired is None else old_lines[paired],
            news[j],
            None if paired is None else old_texts[paired],
        )
        if action is not None:
            result.actions.append(action)
        else:
            result.same_blocks.add(id(news[j]))


def _same_def_head(block: Block, lines: list[str], node: ast.stmt, new_lines: list[str]) -> bool:
    """Whether ``node`` is a ``def`` of the name the live ``block`` defines, with
    the same decorator text."""
    if block.live is not None or not block.definitions or not isinstance(node, _DEFS):
        return False
    definition = block.definitions[0]
    if definition.qualname != node.name:
        return False
    old_head = lines[block.start - 1 : definition.lineno + block.shift - 1]
    first = node.decorator_list[0].lineno if node.decorator_list else node.lineno
    return old_head == new_lines[first - 1 : node.lineno - 1]


def _in_place(olds: list[int], news: list[int], n_old: int, n_new: int) -> list[tuple[int, int]]:
    """Pair unnamed old and new statements that stand at the same place.

    Both lists hold indices into the region, in order; a pair is made when an
    old and a new statement lie the same distance from the region's ends,
    which is what editing a statement where it stands gives.
    """
    from_end = {n_old - i: i for i in olds}
    pairs = [(from_end[n_new - j], j) for j in news if n_new - j in from_end]
    taken_old = {i for i, _ in pairs}
    taken_new = {j for _, j in pairs}
    by_start = {i: i for i in olds if i not in taken_old}
    pairs.extend((by_start[j], j) for j in news if j not in taken_new and j in by_start)
    return pairs


def _decide(
    result: Plan,
    node: ast.stmt,
    lines: list[str],
    previous: ast.stmt | None,
    previous_lines: list[str],
    block: Block,
    previous_text: str | None,
) -> Action | None:
    """The action ``node`` needs, given the statement it replaces (None: nothing)."""
    if is_main_guard(node):
        return Action(SKIP, block, node, previous_text)
    if isinstance(node, _DEFS):
        if not isinstance(previous, _DEFS) or previous.name != node.name:
            return Action(DEFINE, block, node, previous_text)
        if keys_of(node.decorator_list) != keys_of(previous.decorator_list):
            return Action(REDEFINE, block, node, previous_text)
        # Body or signature: the engine compares code and swaps what differs.
        return Action(UPDATE, block, node, previous_text)
    if isinstance(node, ast.ClassDef):
        if not isinstance(previous, ast.ClassDef) or previous.name != node.name:
            return Action(DEFINE, block, node, previous_text)
        if class_header(node) != class_header(previous):
            return Action(REBUILD, block, node, previous_text)
        members = _members(node, lines, previous, previous_lines, node.name, result.same_defs)
        if not members:
            return None
        return Action(MEMBERS, block, node, previous_text, members)
    if previous is not None and key(previous) == key(node):
        return None  # reformatted
    return Action(RUN, block, node, previous_text)


def _members(
    node: ast.ClassDef,
    lines: list[str],
    previous: ast.ClassDef,
    previous_lines: list[str],
    qualname: str,
    same: set[str],
) -> list[Member]:
    """The members of ``node`` that differ from every member of ``previous``.

    Adds to ``same`` the qualnames of the functions the unchanged members define.
    """
    unmatched: dict[str, list[ast.stmt]] = {}
    for member in previous.body:
        unmatched.setdefault(statement_text(member, previous_lines), []).append(member)
    changed_nodes: list[ast.stmt] = []
    for member in node.body:
        alike = unmatched.get(statement_text(member, lines))
        if alike:
            alike.pop(0)
            same.update(qualnames_in(member, qualname + "."))
        else:
            changed_nodes.append(member)
    # What is left of the old body, by name and in order (a property's
    # getter and setter share their name), and unnamed, by tree.
    left: dict[str, list[ast.stmt]] = {}
    unnamed: dict[str, list[ast.stmt]] = {}
    for rest in unmatched.values():
        for member in rest:
            name = slot(member)
            if name is not None:
                left.setdefault(name, []).append(member)
            else:
                unnamed.setdefault(key(member), []).append(member)
    for olds in left.values():
        olds.sort(key=lambda m: m.lineno)
    changed: list[Member] = []
    for member in changed_nodes:
        name = slot(member)
        olds = left.get(name, []) if name is not None else []
        before = olds.pop(0) if olds else None
        if isinstance(member, _DEFS):
            if (
                isinstance(before, _DEFS)
                and before.name == member.name
                and keys_of(member.decorator_list) == keys_of(before.decorator_list)
            ):
                changed.append(Member(UPDATE, member, name, field=False))
            else:
                kind = RUN if before is not None else DEFINE
                changed.append(Member(kind, member, name, field=False))
        elif isinstance(member, ast.ClassDef):
            if (
                isinstance(before, ast.ClassDef)
                and before.name == member.name
                and class_header(member) == class_header(before)
            ):
                nested = _members(
                    member, lines, before, previous_lines, f"{qualname}.{member.name}", same
                )
                if nested:
                    changed.append(Member(MEMBERS, member, name, False, nested))
            else:
                kind = RUN if before is not None else DEFINE
                changed.append(Member(kind, member, name, field=False))
        elif before is not None and key(before) == key(member):
            continue  # reformatted
        elif before is None and unnamed.get(key(member)):
            unnamed[key(member)].pop(0)  # an unnamed statement, reformatted
        else:
            changed.append(Member(RUN, member, name, field=not is_docstring(member)))
    return changed
