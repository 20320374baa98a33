"""The README's settings table is the one the settings classes generate."""

from tools.settings_doc import README, updated


def test_the_settings_table_matches_the_settings_classes() -> None:
    text = README.read_text()
    assert updated(text) == text, "run: python -m tools.settings_doc --write"
