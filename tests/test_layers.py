"""The layers hold: import-linter's contracts in pyproject.toml, run as CI runs them."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("bot", "handlers", "scheduler", "storage")
# Installed beside the interpreter by the dev extra, like ruff.
LINT_IMPORTS = Path(sys.executable).parent / "lint-imports"


def _lint(cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(LINT_IMPORTS), "--no-cache", "--config", str(cwd / "pyproject.toml")],
        capture_output=True,
        text=True,
        cwd=cwd,
        timeout=120,
        check=False,
    )


def test_import_contracts_are_kept() -> None:
    result = _lint(ROOT)
    assert result.returncode == 0, result.stdout + result.stderr
    # Every contract ran (a contract dropped from the file would pass silently).
    for contract in (
        "handlers never import storage",
        "bot never imports handlers",
        "the Mini App's HTTP layer reads through bot.cockpit, never storage",
    ):
        assert contract in result.stdout
    assert "6 kept, 0 broken" in result.stdout


def _copy_tree(tmp_path: Path) -> Path:
    for package in PACKAGES:
        shutil.copytree(
            ROOT / package, tmp_path / package, ignore=shutil.ignore_patterns("__pycache__")
        )
    shutil.copy(ROOT / "pyproject.toml", tmp_path / "pyproject.toml")
    return tmp_path


def _add_import(path: Path, line: str) -> None:
    path.write_text(path.read_text(encoding="utf-8") + f"\n{line}\n", encoding="utf-8")


def test_a_handler_importing_storage_breaks_the_build(tmp_path: Path) -> None:
    tree = _copy_tree(tmp_path)
    _add_import(tree / "handlers" / "teams.py", "from storage import teams as _store  # noqa")
    result = _lint(tree)
    assert result.returncode != 0
    assert "handlers.teams -> storage.teams" in result.stdout


def test_bot_importing_handlers_breaks_the_build(tmp_path: Path) -> None:
    tree = _copy_tree(tmp_path)
    _add_import(tree / "bot" / "reports.py", "from handlers import keyboards as _kb  # noqa")
    result = _lint(tree)
    assert result.returncode != 0
    assert "bot.reports -> handlers.keyboards" in result.stdout


def test_the_scheduler_importing_a_service_breaks_the_build(tmp_path: Path) -> None:
    tree = _copy_tree(tmp_path)
    _add_import(tree / "scheduler" / "runner.py", "from bot import stats as _stats  # noqa")
    result = _lint(tree)
    assert result.returncode != 0
    assert "scheduler.runner -> bot.stats" in result.stdout


def test_a_circle_between_the_layers_breaks_the_build(tmp_path: Path) -> None:
    tree = _copy_tree(tmp_path)
    _add_import(tree / "storage" / "reports.py", "from bot import reports as _reports  # noqa")
    result = _lint(tree)
    assert result.returncode != 0
    assert "storage.reports -> bot.reports" in result.stdout


def test_a_circle_between_two_handlers_breaks_the_build(tmp_path: Path) -> None:
    tree = _copy_tree(tmp_path)
    # handlers.reporting imports handlers.report_common; the way back closes a circle.
    _add_import(tree / "handlers" / "report_common.py", "from handlers import reporting  # noqa")
    result = _lint(tree)
    assert result.returncode != 0
    assert "No cycles are allowed in handlers" in result.stdout
