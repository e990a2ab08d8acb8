"""`make bench`'s table: what it renders, what it calls missed, and that the README's copy
is the last full run's, not typed by hand. (The benchmarks themselves are not run here.)"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench import run  # noqa: E402 - bench/ is not a package on the path otherwise


def results(median: float, *, failures: list[str] | None = None) -> dict[str, object]:
    values = [median - 0.01, median, median + 0.02]
    return {
        "date": "2026-12-01 12:00 UTC",
        "commit": "abc1234",
        "machine": "2 CPUs",
        "runs": 3,
        "benches": [
            {
                "name": "join",
                "seconds": [30.0, 31.0, 29.0],
                "failures": failures or [],
                "figures": [
                    {
                        "key": "ratio",
                        "runs": values,
                        "median": median,
                        "min": min(values),
                        "max": max(values),
                        "meets": median >= 0.9,
                    }
                ],
            }
        ],
    }


def test_a_figure_meets_its_target_by_its_median() -> None:
    ratio = next(f for f in run.BENCHES[0].figures if f.key == "ratio")
    assert ratio.meets(0.9) is True
    assert ratio.meets(0.89) is False
    errors = next(f for f in run.BENCHES[0].figures if f.key == "errors")
    assert errors.meets(0) is True
    assert errors.meets(1) is False


def test_the_table_shows_median_spread_target_and_verdict() -> None:
    table = run.render(results(0.93))
    assert "2026-12-01 12:00 UTC" in table
    assert "`abc1234`" in table
    assert "**0.93×** (0.92×–0.95×) | ≥ 0.9× | ✅ |" in table
    assert run.missed(results(0.93)) == []
    assert "❌" in run.render(results(0.5))
    assert run.missed(results(0.5)) == ["join: ratio"]


def test_a_figure_without_runs_is_missed() -> None:
    empty = results(0.93)
    empty["benches"][0]["figures"][0]["runs"] = []  # type: ignore[index]
    assert "no figures" in run.render(empty)
    assert run.missed(empty) == ["join: ratio"]


def test_the_readme_block_is_replaced_and_nothing_else() -> None:
    readme = f"before\n{run.START}\nold table\n{run.END}\nafter\n"
    assert run.readme_with("new table\n", readme) == (
        f"before\n{run.START}\nnew table\n{run.END}\nafter\n"
    )


@pytest.mark.skipif(not run.RESULTS_JSON.exists(), reason="no full `make bench` run yet")
def test_the_readme_table_is_the_last_full_run() -> None:
    last = json.loads(run.RESULTS_JSON.read_text())
    readme = run.README.read_text()
    block = readme[readme.index(run.START) + len(run.START) : readme.index(run.END)]
    assert block.strip() == run.render(last).strip(), "run `make bench` (or bench/run.py --readme)"
    assert last["runs"] == 3
    assert {entry["name"] for entry in last["benches"]} == {b.name for b in run.BENCHES}
