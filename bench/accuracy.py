"""The embedded model scored by what it does to a list: each request of a set (bench/model_set) starts from
its own list in a real crud database (SQLite in a temporary directory), the commands the backend emits run
there as the worker would send them, and the list's end state is compared with the expected one.

`python -m bench.accuracy dev` scores the development set (`--show` prints its misses); `heldout` the part held
out from tuning, `newcomer` requests written afterwards as a new user would ask (only figures while tuning), and
`fresh` 99 requests written on 2026-12-03 before the next round of tuning, scored once at its end, and
`independent` 100 requests written the same day by a writer who saw neither the code, its examples nor the
other sets (three of its requests happen to be in them too), `stranger` 100 more written in a later session
the same way by another such writer, scored once, after that session's tuning, and `visitor` 100 more by a third
such writer (2026-12-04), scored by its totals only, on the code before and after that session's clause reading.
`wanderer` and `wanderer_blind` are 100 more by a fourth such writer (2026-12-04), split in two: the misses of
`wanderer` were looked at while tuning (as dev's are), `wanderer_blind` is scored by its totals only. `rover` and
`rover_blind` are 160 more by a fifth such writer (2026-12-04, asked for more renames, moves and several actions
at once, with quantities, positions by number and indirect references), split the same way, family by family;
one request of `rover` ("hi") was dropped, being an example of the pool. `scout` and `scout_blind` are 160 more
by a sixth such writer (2026-12-04, asked for everyday wordings of renames, moves and several actions at once),
split the same way (one request of `scout`, "hi", dropped for the same reason). `ranger` and `ranger_blind` are
160 more by a seventh such writer (2026-12-04, asked for phone and dictated wordings too), split the same way
("hi" dropped from `ranger` again); both were first scored on the code before any tuning on them. `pilot` and
`pilot_blind` are 160 more by an eighth such writer (2026-12-04, asked mostly for renames, several actions at once,
moves, clears and injections, as a phone or laptop user types them), split the same way and first scored on the
code before any tuning on them. `courier` and `courier_blind` are 160 more by a ninth such writer (2026-12-04,
asked mostly for renames and several actions at once, as many kinds of people type or dictate them), split the
same way and first scored on 5c97f2c before any tuning on them. `tourist` is 120 more by a tenth such writer
(2026-12-05, asked for the spread of a new user's first week), not split: none of it was looked at, scored once
on eabb914 by its totals only (96/120), then tuned on whole (2026-12-05). `nomad` and `drifter` are 120 more each
by an eleventh and a twelfth such writer, asked the same, written while `tourist` was tuned on and scored once at
the end of that session (97 and 91 of 120), then tuned on whole in the next. `voyager` is 119 more by a thirteenth
such writer, asked the same, written while those two were tuned on and scored once at the end of that session, by
its totals only (84/119; 83 on the code before that session); one request was dropped, being an example of the
pool."""

from __future__ import annotations

import argparse
import asyncio
import json
import re
import statistics
import tempfile
import time
import unicodedata
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench.common import RESULTS, machine_load, save
from proto.commands import TaskCreate, TaskToggle
from proto.messages import Actor, CommandRequest, TaskPublic
from services.crud.db import Database
from services.llm_worker.backends.base import Backend, CommandOut, InvalidCommand, Prompt
from services.llm_worker.backends.embedded import EmbeddedBackend, model_path
from services.llm_worker.config import Settings

SETS = Path(__file__).parent / "model_set"
DONE = "[x] "
PERSON = Actor(kind="person")


@dataclass(frozen=True)
class Case:
    """One request: the list before (names, "[x] " for a done task), and the list expected after (a name may
    give alternatives as "a|b")."""

    family: str
    style: str
    tasks: list[str]
    request: str
    expect: list[str]


def load(name: str) -> list[Case]:
    cases = []
    for n, line in enumerate((SETS / f"{name}.jsonl").read_text().splitlines(), 1):
        row = json.loads(line)
        try:
            cases.append(Case(row["family"], row["style"], row["list"], row["request"], row["expect"]))
        except KeyError as error:
            raise ValueError(f"{name}.jsonl line {n} lacks {error}") from error
    return cases


def _name(text: str) -> str:
    """A name as compared: case, spacing, punctuation at the ends and a leading article do not count."""
    text = unicodedata.normalize("NFC", text).casefold()
    text = " ".join(text.split()).strip(" .,;:!?\"'")
    return re.sub(r"^(?:the|a|an|some) ", "", text)


def _entry(task: TaskPublic) -> str:
    return (DONE if task.done else "") + task.name


def matches(expect: list[str], got: list[TaskPublic]) -> bool:
    """Whether the list ended as expected: the same tasks, in the same order, done or not."""
    if len(expect) != len(got):
        return False
    for wanted, task in zip(expect, got, strict=True):
        done = wanted.startswith(DONE)
        names = {_name(n) for n in wanted.removeprefix(DONE).split("|")}
        if task.done != done or _name(task.name) not in names:
            return False
    return True


async def _seed(db: Database, names: list[str]) -> list[TaskPublic]:
    for n, entry in enumerate(names):
        name = entry.removeprefix(DONE)
        seed = CommandRequest(command_id=f"seed-{n}", actor=PERSON, command=TaskCreate(name=name))
        result, _ = await db.execute(seed)
        if entry.startswith(DONE):
            assert result.task is not None
            toggle = TaskToggle(id=result.task.id)
            await db.execute(CommandRequest(command_id=f"seed-{n}-done", actor=PERSON, command=toggle))
    return await db.list_tasks()


async def run_case(backend: Backend, case: Case, directory: Path) -> dict[str, Any]:
    """One request from its starting list: the commands as the worker sends them (a clear that asks for
    approval counts as approved: the person asked for it), the end state compared."""
    db = await Database.open(directory / "tasks.db")
    try:
        tasks = await _seed(db, case.tasks)
        actor = Actor(kind="model", backend=backend.name, model=backend.model)
        started = time.monotonic()
        first: float | None = None
        sent: list[str] = []
        async for chunk in backend.stream(Prompt(text=case.request, tasks=tasks)):
            if isinstance(chunk, CommandOut):
                first = first if first is not None else time.monotonic() - started
                n = len(sent) + 1
                request = CommandRequest(command_id=f"run-{n}", actor=actor, run_id="run", command=chunk.command)
                result, _ = await db.execute(request)
                sent.append(chunk.command.model_dump_json(exclude_none=True) + ("" if result.ok else " (refused)"))
            elif isinstance(chunk, InvalidCommand):
                sent.append(f"invalid {chunk.raw!r}: {chunk.error}")
        elapsed = time.monotonic() - started
        after = await db.list_tasks()
    finally:
        await db.close()
    return {
        "family": case.family,
        "style": case.style,
        "request": case.request,
        "right": matches(case.expect, after),
        "expected": case.expect,
        "got": [_entry(t) for t in after],
        "commands": sent,
        "seconds": round(elapsed, 3),
        "first_command_s": None if first is None else round(first, 3),
    }


def _median(values: list[float]) -> float | None:
    return round(statistics.median(values), 3) if values else None


async def score(backend: Backend, cases: list[Case]) -> dict[str, Any]:
    """The share of requests whose list ended as expected, overall and by family."""
    rows = []
    with tempfile.TemporaryDirectory() as directory:
        for n, case in enumerate(cases):
            place = Path(directory) / str(n)
            place.mkdir()
            rows.append(await run_case(backend, case, place))
    families: dict[str, list[bool]] = {}
    for row in rows:
        families.setdefault(row["family"], []).append(bool(row["right"]))
    right = sum(bool(r["right"]) for r in rows)
    return {
        "right": right,
        "of": len(rows),
        "share": round(right / len(rows), 3) if rows else 0.0,
        "by_family": {k: f"{sum(v)}/{len(v)}" for k, v in sorted(families.items())},
        "median_s": round(statistics.median(r["seconds"] for r in rows), 3) if rows else None,
        "median_first_command_s": _median([r["first_command_s"] for r in rows if r["first_command_s"] is not None]),
        "rows": rows,
    }


async def main(names: list[str], show: bool, threads: int, every: int = 1) -> dict[str, dict[str, Any]]:
    with tempfile.TemporaryDirectory() as directory:
        models = Path(directory) / "models"
        model_path(models)
        backend = EmbeddedBackend(Settings.model_validate({"LLM_MODEL_DIR": models, "LLM_THREADS": threads}))
        await backend.start()
        try:
            results = {name: await score(backend, load(name)[::every]) for name in names}
        finally:
            await backend.close()
    for name, result in results.items():
        print(name, json.dumps({k: v for k, v in result.items() if k != "rows"}))
        if show:
            for row in result["rows"]:
                if not row["right"]:
                    print(f"  ✗ [{row['family']}/{row['style']}] {row['request']!r}")
                    print(f"      got {row['got']}  via {row['commands']}")
                    print(f"      expected {row['expected']}")
    return results


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    sets = [p.stem for p in sorted(SETS.glob("*.jsonl"))]
    parser.add_argument("sets", nargs="+", choices=sets)
    parser.add_argument("--show", action="store_true", help="print each miss (never while tuning on heldout)")
    parser.add_argument("--threads", type=int, default=0, help="llama.cpp threads (0: the worker's default)")
    parser.add_argument("--every", type=int, default=1, help="every n-th request only (a quick look while tuning)")
    parser.add_argument("--save", type=Path, help="write the whole result (rows too) as JSON here")
    parser.add_argument("--save-figures", action="store_true", help="the scores (no rows) to bench/results")
    arguments = parser.parse_args()
    machine = machine_load()
    outcome = asyncio.run(main(arguments.sets, arguments.show, arguments.threads, arguments.every))
    if arguments.save:
        arguments.save.write_text(json.dumps(outcome, indent=1, ensure_ascii=False))
    if arguments.save_figures:
        # Sets scored in an earlier run keep their figures (each set records the machine it was scored on).
        kept = RESULTS / "accuracy.json"
        sets = json.loads(kept.read_text())["sets"] if kept.exists() else {}
        for name, result in outcome.items():
            sets[name] = {"machine_at_start": machine, **{k: v for k, v in result.items() if k != "rows"}}
        save("accuracy", {"sets": sets})
