"""A part of a task's name corrected in code (services/llm_worker/backends/corrections.py)."""

from __future__ import annotations

import pytest

from services.llm_worker.backends.actions import words
from services.llm_worker.backends.corrections import corrected, replaced, respelt, struck, substituted
from services.llm_worker.backends.mentions import find_mentions, masked
from tests.support.tasks import listed


@pytest.mark.parametrize(
    ("text", "names", "renamed"),
    [
        ("oh wait we drink whole milk not 2%, fix that", ["buy 2% milk", "cereal"], ("buy 2% milk", "buy whole milk")),
        (
            "make the milk 3 liters instead of 2",
            ["buy 2 liters of milk"],
            ("buy 2 liters of milk", "buy 3 liters of milk"),
        ),
        ("actually I meant oat milk not almond milk", ["buy almond milk"], ("buy almond milk", "buy oat milk")),
        ("oops, I meant duct tape not tape", ["buy tape"], ("buy tape", "buy duct tape")),
        (
            "it's Jacob, not Jake — fix the carpool one",
            ["text Jake about carpool"],
            ("text Jake about carpool", "text Jacob about carpool"),
        ),
        # Without a word of putting a name right, "A not B" corrects nothing; nor where B is in no name, or in two.
        ("buy milk not eggs", ["eggs", "bread"], None),
        ("actually I want tea not coffee", ["buy juice"], None),
        ("wait, it's the 2nd not the 3rd", ["pick 3rd seat", "3rd row"], None),
        # The new words are only words of a thing, not "the blue one".
        ("I need the blue one instead of the red one", ["paint the red one"], None),
    ],
)
def test_a_part_of_a_name_is_corrected(text: str, names: list[str], renamed: tuple[str, str] | None) -> None:
    found = corrected(words(text), listed(*names))
    assert (found[0].name, found[1]) == renamed if found is not None else renamed is None


@pytest.mark.parametrize(
    ("text", "names", "renamed"),
    [
        ("in the priya task swap 1:1 for sync", ["schedule 1:1 with Priya", "review PRs"], "schedule sync with Priya"),
        ("instead of Bob put Rob", ["lunch with Ann", "call Bob back"], "call Rob back"),
        (
            "the cake tasting got changed to a menu tasting, can you update that",
            ["book cake tasting"],
            "book menu tasting",
        ),
        (
            "could you switch Dr. Patel to Dr. Shah on the call task?",
            ["call Dr. Patel", "book flu shot"],
            "call Dr. Shah",
        ),
        ("yo swap target for walmart on the apply one", ["fix resume", "apply to Target"], "apply to walmart"),
        ("fix flos → floss", ["buy flos", "call insurance"], "buy floss"),
        # "change B to A" where the request names the task apart from B (else B is the task: the model's rename).
        ("change buy to return in the shoes task", ["buy shoes", "check mail"], "return shoes"),
        ("in 'buy presents for christmas' change christmas to Hanukkah", ["buy presents for xmas"], None),
        (
            "in the presents task change christmas to Hanukkah",
            ["buy presents for christmas"],
            "buy presents for Hanukkah",
        ),
        ("change dentist to 4:30", ["dentist at 3", "pick up kids"], None),
        ("Sarah is now Sara, she hates the h", ["email Sarah", "book flights"], "email Sara"),
        ("edit eggs -> buy eggs and milk", ["buy eggs", "call plumber"], "buy eggs and milk"),
        ("landlord email -> email landlord about the leak", ["email landlord"], "email landlord about the leak"),
        ("the meeting is now at 4", ["team meeting at 3"], None),  # a time: times.py
        ("milk is now done", ["buy milk"], None),
        # Not a part of one name (a whole name, or in two), a place, or a request that says more than the rename.
        ("swap milk for oat milk", ["milk", "eggs"], None),
        ("swap tape for glue", ["buy tape", "tape box"], None),
        ("practice test → 1st", ["flashcards", "practice test"], None),
        ("buy milk -> buy oat milk", ["buy milk", "eggs"], None),  # a whole name: the model's rename
        ("change Stripe to Shopify and move it to the top", ["apply to Stripe", "update resume"], None),
        ("swap Stripe for Shopify and move it to the top", ["apply to Stripe", "update resume"], None),
    ],
)
def test_a_part_of_a_name_is_replaced(text: str, names: list[str], renamed: str | None) -> None:
    found = replaced(words(text), listed(*names))
    assert (found[1] if found is not None else None) == renamed


def test_a_word_is_respelt_as_the_request_spells_it() -> None:
    found = respelt(words("receive is spelled wrong in the package one"), listed("recieve package from UPS", "gym"))
    assert found is not None and found[1] == "receive package from UPS"
    found = respelt(words("spell pinata with the ñ please: piñata"), listed("pick up pianta", "buy candy"))
    assert found is not None and found[1] == "pick up piñata"  # the spelling said last
    assert respelt(words("receive the package"), listed("recieve package from UPS")) is None  # no word of spelling


@pytest.mark.parametrize(
    ("text", "names", "renamed"),
    [
        ("take the 'maybe' out of the garage task", ["maybe clean garage", "trim hedges"], "clean garage"),
        ("remove urgent from the report one", ["email report (urgent)", "buy milk"], "email report"),
        ("get rid of 'asap' in the passport task", ["renew passport asap", "buy milk"], "renew passport"),
        ("drop eggs from the shopping one", ["shopping: eggs, milk", "gym"], "shopping: milk"),
        # The list itself, a whole name, a phrasal verb, or the words in no name or a task other than the one said.
        ("remove eggs from my list", ["buy eggs", "gym"], None),
        ("remove gym from the gym one", ["gym", "buy eggs"], None),
        ("drop the kids off at school", ["drop the kids off at school", "gym"], None),
        ("take maybe out of the hedges task", ["maybe clean garage", "trim hedges"], None),
        ("take the 'maybe' out of the garage task and tick it", ["maybe clean garage", "trim hedges"], None),
    ],
)
def test_a_part_of_a_name_is_taken_out(text: str, names: list[str], renamed: str | None) -> None:
    tasks = listed(*names)
    units = words(text)
    _, places = masked(units, find_mentions(units, tasks))
    found = struck(units, places, tasks)
    assert (found[1] if found is not None else None) == renamed


def test_a_part_of_a_name_is_replaced_as_an_editor_writes_it() -> None:
    deploy = listed("deploy to staging", "run migrations")
    assert substituted(words("s/staging/prod/ in deploy to staging"), deploy) == (deploy[0], "deploy to prod")
    assert substituted(words("s/staging/prod"), deploy) == (deploy[0], "deploy to prod")
    assert substituted(words("s/qa/prod/"), deploy) is None  # in no name
    assert substituted(words("add milk/eggs/bread"), deploy) is None
