"""`python -m tools.settings_doc [--write | --check]`: the table of every setting, generated from the
settings classes, so the README's list stays true. --write replaces the table in README.md; --check
exits 1 when the README's table is not the generated one."""

from __future__ import annotations

import sys
import typing
from pathlib import Path

from pydantic import AliasChoices
from pydantic.fields import FieldInfo
from pydantic_settings import BaseSettings

from proto.settings import BusSettings
from services.crud.config import Settings as CrudSettings
from services.gateway.config import Settings as GatewaySettings
from services.llm_worker.config import Settings as WorkerSettings

README = Path(__file__).resolve().parent.parent / "README.md"
START, END = "<!-- settings:start -->", "<!-- settings:end -->"
SERVICES: tuple[tuple[str, type[BaseSettings]], ...] = (
    ("all", CrudSettings),
    ("crud", CrudSettings),
    ("llm_worker", WorkerSettings),
    ("gateway", GatewaySettings),
)
SHARED = set(BusSettings.model_fields)
SECRET = "(secret)"
# Defaults computed at start from another setting, in words.
COMPUTED = {"model_dir": "DATA_DIR/models"}


def env_name(field: str, info: FieldInfo, prefix: str) -> str:
    """The environment variable a field is read from: its alias, else the prefix and its name."""
    alias = info.validation_alias
    if isinstance(alias, AliasChoices):
        alias = next((c for c in alias.choices if isinstance(c, str)), None)
    return alias if isinstance(alias, str) else (prefix + field).upper()


def default(field: str, info: FieldInfo) -> str:
    if info.default_factory is not None:
        return COMPUTED.get(field, "(computed)")
    if "Secret" in str(info.annotation):
        return "unset " + SECRET
    return "unset" if info.default is None else str(info.default)


def description(info: FieldInfo) -> str:
    """The field's description, with its allowed values when it has a fixed set (a Literal)."""
    text = info.description or ""
    if typing.get_origin(info.annotation) is typing.Literal:
        text += " (one of: " + ", ".join(str(a) for a in typing.get_args(info.annotation)) + ")"
    return text.replace("|", "\\|")  # a Markdown table cell


def rows() -> list[tuple[str, str, str, str]]:
    out = []
    for service, cls in SERVICES:
        prefix = str(cls.model_config.get("env_prefix", ""))
        for field, info in cls.model_fields.items():
            if (field in SHARED) != (service == "all"):
                continue
            out.append((env_name(field, info, prefix), service, default(field, info), description(info)))
    return out


def table() -> str:
    lines = ["| setting | read by | default | what it does |", "|---|---|---|---|"]
    lines += [f"| `{name}` | {service} | `{value}` | {text} |" for name, service, value, text in rows()]
    return "\n".join(lines)


def updated(readme: str) -> str:
    """The README with the table between the markers replaced by the generated one."""
    before, rest = readme.split(START, 1)
    _, after = rest.split(END, 1)
    return f"{before}{START}\n{table()}\n{END}{after}"


def main(argv: list[str]) -> int:
    if "--write" in argv:
        README.write_text(updated(README.read_text()))
    elif "--check" in argv:
        if updated(README.read_text()) != README.read_text():
            print("README.md's settings table is out of date: run python -m tools.settings_doc --write")
            return 1
    else:
        print(table())
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
