"""`make bench`: every benchmark in its quick mode, three runs each, one table against the targets.

Each benchmark runs as a process of its own (so one's memory and threads never colour the
next) with `--json FILE`, where it writes its figures for that run. A figure's row in the
table is the median of the runs with their min and max: the machines are noisy, so a single
run proves nothing and the spread says how much to trust the median. Targets are the
issues' promises; ratios against a baseline measured in the same run (the echo bot, the
Telegram limit) are what survives a noisy machine best.

The table is printed, written to `bench/results.md` and `bench/results.json` (with the
date, the commit and the machine), and copied into the README between its two
`bench-table` markers, so the README's table is always the last full run, never typed.
A missed target makes the exit status 1, after everything is written.

    .venv/bin/python bench/run.py                   # all, 3 runs each (about 6 minutes, 2 cores)
    .venv/bin/python bench/run.py --only join --runs 1
    .venv/bin/python bench/run.py --readme          # the README again from results.json
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bot.delivery import Pacing  # noqa: E402 - needs ROOT on the path

# A crash can send twice only what was in flight: the engine's cap on requests at once.
IN_FLIGHT = Pacing().concurrency
RESULTS_JSON = ROOT / "bench" / "results.json"
RESULTS_MD = ROOT / "bench" / "results.md"
README = ROOT / "README.md"
START = "<!-- bench-table:start (written by `make bench`; do not edit by hand) -->"
END = "<!-- bench-table:end -->"
# A benchmark that hangs must not hang `make bench`.
TIMEOUT = 600.0


@dataclass(frozen=True)
class Figure:
    key: str  # what the benchmark writes to its --json file
    label: str
    unit: str = ""
    target: tuple[str, float] | None = None  # (">=", 0.9): the median must meet it
    digits: int = 1

    def meets(self, value: float) -> bool | None:
        if self.target is None:
            return None
        op, bound = self.target
        return {">=": value >= bound, "<": value < bound, "==": value == bound}[op]

    def show(self, value: float) -> str:
        return f"{value:,.{self.digits}f}{self.unit}"

    def show_target(self) -> str:
        if self.target is None:
            return ""
        op, bound = self.target
        return f"{'≥' if op == '>=' else op if op == '<' else '='} {bound:g}{self.unit}"


@dataclass(frozen=True)
class Bench:
    name: str
    what: str  # one line: what the benchmark does, for the table's section
    args: tuple[str, ...]  # after the interpreter; --json FILE is added
    figures: tuple[Figure, ...]


BENCHES: tuple[Bench, ...] = (
    Bench(
        "join",
        "200 residents join at once (2–3 updates each: /start, the wijk, the buurt where it has them), "
        "then 200 at a steady 40 joins/s; "
        "a bare python-telegram-bot echo bot on the same sandbox in the same run",
        (
            "bench/residents_join.py",
            "--residents",
            "200",
            "--rate",
            "40",
            "--paced",
            "200",
            "--no-paced-echo",
        ),
        (
            Figure("ratio", "join stampede: buurtbot / echo bot throughput", "×", (">=", 0.9), 2),
            Figure("paced_p95_ms", "paced at 40 joins/s: a resident's p95", " ms", ("<", 20.0)),
            Figure("cpu_ms_per_update", "bot CPU per update (stampede)", " ms", None, 2),
            Figure("echo_cpu_ms_per_update", "echo bot CPU per update (stampede)", " ms", None, 2),
            Figure("errors", "driver errors", "", ("==", 0), 0),
        ),
    ),
    Bench(
        "broadcast",
        "one broadcast to 10,000 residents + 200 groups, Telegram's limits scaled 10× "
        "(300 msg/s), a few residents asking /help every 100 ms during it",
        (
            "bench/broadcast.py",
            *("--residents", "10000", "--groups", "200", "--scale", "10", "--quick"),
        ),
        (
            Figure("fraction", "broadcast rate / the limit", "", (">=", 0.95), 3),
            Figure("help_p95_ms", "a resident's /help during it, p95", " ms", ("<", 50.0)),
            Figure("floods", "429s met", "", ("==", 0), 0),
            Figure("duplicates", "duplicates", "", ("==", 0), 0),
            Figure("missing", "missing", "", ("==", 0), 0),
            Figure(
                "channel_s", "11 wijk channels posted at Telegram's real pace", " s", ("<", 2.0), 2
            ),
        ),
    ),
    Bench(
        "flood",
        "one user presses 1,000 (forged) buttons in under a second; another user's /help",
        ("bench/flood.py", "--presses", "1000"),
        (
            Figure("p95_ms", "the other user's /help during the flood, p95", " ms", ("<", 100.0)),
            Figure("dropped", "presses dropped (answered once: slow down)", "", None, 0),
        ),
    ),
    Bench(
        "capacity",
        "the sandbox alone on one core, limits off, 64 requests at a time",
        ("bench/sandbox_capacity.py", "--requests", "5000"),
        (
            Figure("plain_rps", "sandbox: sendMessage (plain)", " req/s", (">=", 1000.0), 0),
            Figure("rich_rps", "sandbox: sendMessage (HTML + keyboard)", " req/s", None, 0),
            Figure("poll_rps", "sandbox: getUpdates", " req/s", None, 0),
        ),
    ),
    Bench(
        "reports",
        "Meld een Vermoeden: 100 entrepreneurs at 10 reports/s (8 steps each); the digest "
        "and hotspot check over 100,000 stored reports (SQLite)",
        (
            "bench/reports.py",
            *("--reporters", "0", "--think", "0", "--paced", "100", "--rate", "10"),
            *("--stored", "100000", "--runs", "20"),
        ),
        (
            Figure("paced_worst_p95_ms", "a reporter's slowest step, p95", " ms", ("<", 50.0)),
            Figure("digest_p95_ms", "daily digest, city-wide, p95", " ms", ("<", 300.0), 2),
            Figure("errors", "driver errors", "", ("==", 0), 0),
        ),
    ),
    Bench(
        "fuzz",
        "40 users without roles send 1,000 hostile updates (seed 1)",
        ("bench/fuzz.py", "--updates", "1000", "--users", "40"),
        (
            Figure("unanswered", "updates left unanswered", "", ("==", 0), 0),
            Figure("errors", "errors logged", "", ("==", 0), 0),
            Figure("escalations", "changes only a role may make", "", ("==", 0), 0),
        ),
    ),
    Bench(
        "kill",
        "`kill -9` at a seeded moment while 200 residents join, and mid-broadcast to 1,000 "
        "(SQLite, restart); each run one kill of each",
        ("bench/kill.py", "--quick", "--kills", "1", "--seed", "{run}"),
        (
            Figure("join_lost", "residents never answered after a kill", "", ("==", 0), 0),
            Figure("join_duplicates", "duplicate answers (of the unfinished)", "", None, 0),
            Figure("broadcast_missing", "broadcast copies missing after a kill", "", ("==", 0), 0),
            Figure(
                "broadcast_duplicates",
                f"copies sent twice (bound: {IN_FLIGHT} in flight)",
                "",
                ("<", IN_FLIGHT + 1),
                0,
            ),
            Figure("takeover_s", "sending again after the kill", " s", None, 1),
        ),
    ),
)


@dataclass
class Samples:
    bench: Bench
    runs: list[dict[str, float]] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)
    seconds: list[float] = field(default_factory=list)

    def values(self, figure: Figure) -> list[float]:
        return [float(run[figure.key]) for run in self.runs if figure.key in run]


def run_once(bench: Bench, folder: Path, index: int) -> tuple[dict[str, float] | None, str, float]:
    """One run of one benchmark: its figures, or None with the reason it gave none."""
    out = folder / f"{bench.name}-{index}.json"
    # "{run}" in the arguments: a seed that differs per run (the kill's moment).
    args = [arg.replace("{run}", str(index + 1)) for arg in bench.args]
    command = [sys.executable, *args, "--json", str(out)]
    started = time.perf_counter()
    try:
        done = subprocess.run(
            command, cwd=ROOT, capture_output=True, text=True, timeout=TIMEOUT, check=False
        )
    except subprocess.TimeoutExpired:
        return None, f"timed out after {TIMEOUT:.0f} s", time.perf_counter() - started
    spent = time.perf_counter() - started
    if not out.exists():
        tail = (done.stderr or done.stdout).strip().splitlines()[-3:]
        return None, f"exit {done.returncode}: " + " | ".join(tail), spent
    return json.loads(out.read_text()), "", spent


def summary(samples: Samples, figure: Figure) -> dict[str, Any]:
    values = samples.values(figure)
    if not values:
        return {"key": figure.key, "runs": []}
    median = statistics.median(values)
    return {
        "key": figure.key,
        "runs": values,
        "median": median,
        "min": min(values),
        "max": max(values),
        "meets": figure.meets(median),
    }


def commit() -> str:
    def git(*args: str) -> str:
        done = subprocess.run(["git", *args], cwd=ROOT, capture_output=True, text=True)
        return done.stdout.strip()

    head = git("rev-parse", "--short", "HEAD") or "unknown"
    dirty = git("status", "--porcelain", "--untracked-files=no")
    return f"{head}+changes" if dirty else head


def results_of(all_samples: Sequence[Samples], runs: int) -> dict[str, Any]:
    return {
        "date": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "commit": commit(),
        "machine": f"{os.cpu_count()} CPUs, {platform.system()} {platform.machine()}, "
        f"Python {platform.python_version()}",
        "runs": runs,
        "benches": [
            {
                "name": s.bench.name,
                "seconds": [round(t, 1) for t in s.seconds],
                "failures": s.failures,
                "figures": [summary(s, f) for f in s.bench.figures],
            }
            for s in all_samples
        ],
    }


def _bench(name: str) -> Bench:
    return next(b for b in BENCHES if b.name == name)


def render(results: dict[str, Any]) -> str:
    """The markdown table of a results.json: what the README and results.md show."""
    lines = [
        f"Measured by `make bench` on {results['date']} at commit `{results['commit']}` "
        f"({results['machine']}); each figure the median of {results['runs']} runs "
        "with the lowest and highest in brackets. Wall time per run: "
        + ", ".join(
            f"{entry['name']} {statistics.median(entry['seconds']):.0f} s"
            for entry in results["benches"]
            if entry["seconds"]
        )
        + ".",
        "",
        "| benchmark | figure | median (min–max) | target | |",
        "|---|---|---|---|---|",
    ]
    for entry in results["benches"]:
        bench = _bench(entry["name"])
        # A per-run seed shows as N: run 1, 2 and 3 used 1, 2 and 3.
        command = " ".join([".venv/bin/python", *bench.args]).replace("{run}", "N")
        first = f"**{bench.name}**: {bench.what} (`{command}`)"
        if entry["failures"]:
            first += f"; {len(entry['failures'])} run(s) gave no figures"
        for i, got in enumerate(entry["figures"]):
            figure = next(f for f in bench.figures if f.key == got["key"])
            if not got["runs"]:
                value, verdict = "no figures", "❌"
            else:
                spread = f"{figure.show(got['min'])}–{figure.show(got['max'])}"
                value = f"**{figure.show(got['median'])}** ({spread})"
                verdict = {True: "✅", False: "❌", None: ""}[got["meets"]]
            lines.append(
                f"| {first if i == 0 else ''} | {figure.label} | {value} "
                f"| {figure.show_target()} | {verdict} |"
            )
    return "\n".join(lines) + "\n"


def missed(results: dict[str, Any]) -> list[str]:
    return [
        f"{entry['name']}: {got['key']}"
        for entry in results["benches"]
        for got in entry["figures"]
        if not got["runs"] or got.get("meets") is False
    ]


def readme_with(table: str, readme: str) -> str:
    start, end = readme.index(START) + len(START), readme.index(END)
    return readme[:start] + "\n" + table + readme[end:]


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--only", help="comma-separated: " + ",".join(b.name for b in BENCHES))
    parser.add_argument("--readme", action="store_true", help="only rewrite the README's table")
    args = parser.parse_args(argv)
    if args.readme:
        results = json.loads(RESULTS_JSON.read_text())
        README.write_text(readme_with(render(results), README.read_text()))
        return 0
    chosen = [b for b in BENCHES if not args.only or b.name in args.only.split(",")]
    all_samples = []
    with tempfile.TemporaryDirectory() as tmp:
        for bench in chosen:
            samples = Samples(bench)
            for index in range(args.runs):
                figures, reason, spent = run_once(bench, Path(tmp), index)
                samples.seconds.append(spent)
                if figures is None:
                    samples.failures.append(reason)
                else:
                    samples.runs.append(figures)
                print(
                    f"bench: {bench.name} run {index + 1}/{args.runs} {spent:.0f} s"
                    + (f": {reason}" if reason else ""),
                    file=sys.stderr,
                    flush=True,
                )
            all_samples.append(samples)
    results = results_of(all_samples, args.runs)
    table = render(results)
    print(table)
    if args.only or args.runs != 3:
        print("a partial run: results.json and the README are left as they were")
    else:
        RESULTS_JSON.write_text(json.dumps(results, indent=1, ensure_ascii=False) + "\n")
        RESULTS_MD.write_text("# Benchmarks: the last full `make bench`\n\n" + table)
        README.write_text(readme_with(table, README.read_text()))
        print(f"written: {RESULTS_MD.relative_to(ROOT)}, {RESULTS_JSON.relative_to(ROOT)}, README")
    wrong = missed(results)
    if wrong:
        print("targets missed: " + ", ".join(wrong))
    return 1 if wrong else 0


if __name__ == "__main__":
    sys.exit(main())
