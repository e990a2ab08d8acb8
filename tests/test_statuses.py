"""Statuses have one definition each: a StrEnum in storage.models, never a bare string.

The check reads the source: a comparison of a `.status` with a string literal, or a
`status="..."` argument, is the bare string the enums replaced, and a typo in one ("aproved")
would silently match nothing.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from bot.overview import LIVING
from bot.teams import TeamStep
from handlers.teams import QUESTIONS, TYPED
from storage.models import GroupStatus, TeamStatus

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("bot", "handlers", "scheduler", "storage")


def _is_status(node: ast.AST) -> bool:
    return (isinstance(node, ast.Attribute) and node.attr == "status") or (
        isinstance(node, ast.Name) and node.id == "status"
    )


def _literal(node: ast.AST) -> bool:
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return True
    if isinstance(node, ast.Tuple | ast.List | ast.Set):
        return any(_literal(element) for element in node.elts)
    return False


def bare_statuses(tree: ast.AST) -> list[int]:
    """Lines where a status is compared with, or set to, a string literal."""
    lines = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Compare):
            sides = [node.left, *node.comparators]
            if any(_is_status(side) for side in sides) and any(_literal(s) for s in sides):
                lines.append(node.lineno)
        elif isinstance(node, ast.keyword) and node.arg == "status" and _literal(node.value):
            lines.append(node.value.lineno)
        elif (
            isinstance(node, ast.Assign)
            and any(_is_status(t) for t in node.targets)
            and _literal(node.value)
        ):
            lines.append(node.lineno)
    return sorted(lines)


def test_the_check_finds_a_bare_status() -> None:
    sample = ast.parse(
        'if team.status == "approved": pass\n'
        'x = f(status="queued")\n'
        'group.status = "new"\n'
        "ok = team.status == TeamStatus.APPROVED\n"
    )
    assert bare_statuses(sample) == [1, 2, 3]


@pytest.mark.parametrize("package", PACKAGES)
def test_no_bare_status_strings(package: str) -> None:
    found = {
        str(path.relative_to(ROOT)): lines
        for path in sorted((ROOT / package).rglob("*.py"))
        if "migrations" not in path.parts
        and (lines := bare_statuses(ast.parse(path.read_text(), filename=str(path))))
    }
    assert found == {}, "use the StrEnum from storage.models: " + repr(found)


def test_living_teams_and_groups_share_their_statuses() -> None:
    # /overzicht counts teams and groups under the same keys.
    assert {str(s) for s in LIVING} <= {str(s) for s in GroupStatus}
    assert set(LIVING) <= set(TeamStatus)


def test_every_team_step_is_asked_and_answered() -> None:
    buttons = {TeamStep.WIJK, TeamStep.CONFIRM}
    assert set(TYPED) == set(TeamStep) - buttons
    assert set(QUESTIONS) == set(TYPED)
