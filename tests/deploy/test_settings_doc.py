"""`python -m tools.settings_doc`: every setting a service reads is in the README's table, once."""

from __future__ import annotations

import re
import subprocess
import sys

from tests.deploy.test_compose_file import settings_names
from tests.support.stack import ROOT
from tools.settings_doc import README, table


def test_the_table_lists_every_setting_once() -> None:
    names = re.findall(r"^\| `(\w+)` \|", table(), re.M)
    assert sorted(names) == sorted(settings_names())


def test_a_fixed_set_of_values_is_listed_and_cells_stay_cells() -> None:
    rows = {line.split("`")[1]: line for line in table().splitlines()[2:]}
    assert "(one of: auto, embedded, ollama, openai" in rows["LLM_BACKEND"]
    for line in rows.values():
        assert len(re.findall(r"(?<!\\)\|", line)) == 5, line


def test_check_says_whether_the_readme_is_current() -> None:
    done = subprocess.run([sys.executable, "-m", "tools.settings_doc", "--check"], cwd=ROOT, capture_output=True)
    assert done.returncode == 0, done.stdout
    assert table() in README.read_text()
