"""`python -m tools.settings_doc [--write]`: the table of every setting, generated from the settings
classes, so the README's list stays true. With --write it replaces the table in README.md."""

from __future__ import annotations

import sys
from pathlib import Path

from pydantic import AliasChoices
from pydantic_settings import BaseSettings

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
SHARED = {"nats_url", "data_dir"}
SECRET = "(secret)"


def _name(field: str, alias: object, prefix: str) -> str:
    if isinstance(alias, AliasChoices):
        alias = next((c for c in alias.choices if isinstance(c, str)), None)
    return alias if isinstance(alias, str) else (prefix + field).upper()


def rows() -> list[tuple[str, str, str, str]]:
    out = []
    for service, cls in SERVICES:
        prefix = str(cls.model_config.get("env_prefix", ""))
        for field, info in cls.model_fields.items():
            if (field in SHARED) != (service == "all"):
                continue
            if info.default_factory is not None:
                default = "DATA_DIR/models" if field == "model_dir" else "(computed)"
            elif "Secret" in str(info.annotation):
                default = "unset " + SECRET
            else:
                default = "unset" if info.default is None else str(info.default)
            description = (info.description or "").replace("|", "\\\\|")
            out.append((_name(field, info.validation_alias, prefix), service, default, description))
    return out


def table() -> str:
    lines = ["| setting | read by | default | what it does |", "|---|---|---|---|"]
    lines += [f"| `{name}` | {service} | `{default}` | {text} |" for name, service, default, text in rows()]
    return "\n".join(lines)


def updated(readme: str) -> str:
    before, rest = readme.split(START, 1)
    _, after = rest.split(END, 1)
    return f"{before}{START}\n{table()}\n{END}{after}"


def main() -> None:
    if "--write" in sys.argv:
        README.write_text(updated(README.read_text()))
    else:
        print(table())


if __name__ == "__main__":
    main()
