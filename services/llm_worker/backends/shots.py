"""The few-shot prompts the embedded model continues: its own action lines, and, for a second opinion on the
verb when it is unsure, the same examples said in plain words ("mark #1 as done")."""

from __future__ import annotations

INSTRUCTIONS = (
    "Requests to a to-do list app, each turned into actions, one a line. #1, #2 stand for items already on "
    "the list.\n\n"
)

# (request, its action lines): the examples the model continues. An item already on the list reads as a
# placeholder (#1), as code puts it in the request (`masked`), so the model learns the verb from the words
# around it and never has to copy a task's name. None of these is a request of bench/model_set.
EXAMPLES: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("add milk", ("add: milk",)),
    ("I finished the #1", ("finish: #1",)),
    ("remove #1 from the list", ("remove: #1",)),
    ("rename #1 to rye bread", ("rename: #1 => rye bread",)),
    ("hello there", ("none",)),
    ("move #1 to the top", ("top: #1",)),
    ("clear out the completed items", ("clear",)),
    ("we need coffee and sugar", ("add: coffee", "add: sugar")),
    ("bought the #1", ("finish: #1",)),
    ("we can drop the #1", ("remove: #1",)),
    ("change #1 to pay the gas bill", ("rename: #1 => pay the gas bill",)),
    ("tell me a story", ("none",)),
    ("put the #1 last", ("bottom: #1",)),
    ("remind me to call the bank", ("add: call the bank",)),
    ("is #1 on my list?", ("none",)),
    ("delete everything I already finished", ("clear",)),
    ("add cheese and take the #1 off", ("add: cheese", "remove: #1")),
    ("#1 and #2 are done", ("finish: #1", "finish: #2")),
    ("#1 → hand #1", ("rename: #1 => hand #1",)),
    ("#1 at the top please", ("top: #1",)),
)


def few_shot_prefix() -> str:
    """Everything before the person's request: the same for every request, so llama.cpp keeps it cached."""
    shots = "\n\n".join(f"Request: {request}\n" + "\n".join(lines) for request, lines in EXAMPLES)
    return f"{INSTRUCTIONS}{shots}\n\nRequest: "


MEANING_INSTRUCTIONS = (
    "Requests to a to-do list app and what they mean. #1, #2 stand for items already on the list.\n\n"
)

MEANING_CUES = {
    "add": " add",
    "finish": " mark",
    "remove": " delete",
    "rename": " rename",
    "top": " move",
    "bottom": " move",
    "clear": " clear",
    "none": " nothing",
}
"""Each verb as the first word of its plain meaning ("top" and "bottom" both "move": the action lines tell
them apart)."""


def _meaning(line: str) -> str:
    verb, _, rest = line.partition(":")
    rest = rest.strip()
    old, _, new = rest.partition(" => ")
    said = {
        "add": f"add {rest}",
        "finish": f"mark {rest} as done",
        "remove": f"delete {rest}",
        "rename": f"rename {old} to {new}",
        "top": f"move {rest} to the top",
        "bottom": f"move {rest} to the bottom",
        "clear": "clear the done items",
    }
    return said.get(verb, "nothing")


def meaning_prefix() -> str:
    """The examples as request → plain meaning; the request and "\nMeaning:" follow."""
    shots = "\n\n".join(
        f"Request: {request}\nMeaning: " + ", then ".join(_meaning(line) for line in lines)
        for request, lines in EXAMPLES
    )
    return f"{MEANING_INSTRUCTIONS}{shots}\n\nRequest: "
