"""docs/osc.md and docs/midi.md carry tables generated from the code: they must be current."""
from __future__ import annotations

from vj.control import docs
from vj.control.params import ACTIONS, default_specs


def test_generated_tables_are_current() -> None:
    assert docs.main(["--check"]) == 0, "run: python -m vj.control.docs"


def test_every_parameter_and_action_is_documented() -> None:
    osc = (docs.DOCS / "osc.md").read_text()
    for spec in default_specs():
        assert f"| `{spec.name}` |" in osc
        assert spec.doc, f"{spec.name} has no doc"
    for name in ACTIONS:
        assert f"| `{name}` |" in osc
