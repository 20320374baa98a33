"""The audit trail, readable: `/audit` and `/api/audit` show crud's record of every command, newest
first, with who asked, the command, its result and when, and can show one chat run's alone."""

from __future__ import annotations

import httpx
from nats.aio.client import Client

from proto.commands import TaskCreate, TaskToggle
from proto.crud_client import CrudClient
from proto.messages import Actor


async def test_the_audit_shows_who_did_what_newest_first_and_one_run_alone(gateway_url: str, nc: Client) -> None:
    async with httpx.AsyncClient(base_url=gateway_url, headers={"X-Ghostbus": "1"}) as client:
        added = await client.post("/api/commands", json={"command": {"op": "create", "name": "milk"}})
        assert added.status_code == 200, added.text
        model = Actor(kind="model", backend="ollama", model="llama3.2")
        crud = CrudClient(nc)
        await crud.execute(TaskCreate(name="eggs"), model, command_id="run7-1-1", run_id="run7")
        refused = await crud.execute(TaskToggle(name="bread"), model, command_id="run7-1-2", run_id="run7")
        assert not refused.ok

        every = (await client.get("/api/audit")).json()
        assert [(r["who"], r["what"], r["ok"]) for r in every] == [
            ("llama3.2 (ollama)", "toggle name='bread'", False),
            ("llama3.2 (ollama)", "create name='eggs'", True),
            ("person", "create name='milk'", True),
        ]
        assert "“bread”" in every[0]["result"]
        assert every[1]["result"] == "Added “eggs”." and every[1]["run_id"] == "run7"
        assert every[0]["at"] >= every[1]["at"] >= every[2]["at"]

        one_run = (await client.get("/api/audit", params={"run": "run7"})).json()
        assert [r["command_id"] for r in one_run] == ["run7-1-2", "run7-1-1"]

        page = await client.get("/audit", params={"run": "run7"})
        assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
        assert page.text.count('class="entry"') == 2 and "Added “eggs”." in page.text
        assert '<td class="who">person</td>' not in page.text, "only the run's commands"

        nothing = await client.get("/audit", params={"run": "never-ran"})
        assert "No commands in this run yet." in nothing.text
        bad = await client.get("/api/audit", params={"run": "../../etc"})
        assert bad.status_code == 422 and "run id" in bad.json()["error"]
