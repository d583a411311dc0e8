"""The package is layered by stage, in the order data flows: nothing imports from a later stage
(function-level imports count too). A new module outside the known stages fails here until it is
given one."""
from __future__ import annotations

import ast
from pathlib import Path

VJ = Path(__file__).resolve().parents[1] / "vj"

#: Stages, earliest first. "base" holds the vocabulary every stage shares.
ORDER = ("base", "setlist", "audio", "camera", "director", "render", "depth", "generators", "output",
         "control", "show", "commands")
BASE = {"vj", "vj.errors", "vj.progress", "vj.features", "vj.frame_params", "vj.param_table", "vj.grid"}
COMMANDS = {"vj.cli", "vj.cli_args", "vj.__main__"}


def stage_of(module: str) -> str | None:
    if module in BASE:
        return "base"
    if module in COMMANDS:
        return "commands"
    parts = module.split(".")
    return parts[1] if len(parts) > 1 and parts[1] in ORDER else None


def module_name(path: Path) -> str:
    parts = path.relative_to(VJ.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def vj_imports(path: Path) -> list[str]:
    names = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.ImportFrom) and node.level == 0 and node.module and node.module.split(".")[0] == "vj":
            names.append(node.module)
        elif isinstance(node, ast.Import):
            names.extend(a.name for a in node.names if a.name.split(".")[0] == "vj")
    return names


def test_every_module_has_a_stage():
    unplaced = [module_name(p) for p in VJ.rglob("*.py") if stage_of(module_name(p)) is None]
    assert not unplaced, f"modules outside the stages {ORDER}: {unplaced}"


def test_no_stage_imports_from_a_later_one():
    back = []
    for path in sorted(VJ.rglob("*.py")):
        module = module_name(path)
        here = ORDER.index(stage_of(module) or "commands")
        for name in vj_imports(path):
            there = stage_of(name)
            if there is not None and ORDER.index(there) > here:
                back.append(f"{module} → {name}")
    assert not back, "back-imports: " + ", ".join(back)


def test_the_check_catches_a_back_import(tmp_path):
    """The rule itself: a setlist module importing the show would be reported."""
    source = tmp_path / "bad.py"
    source.write_text("def f():\n    from vj.show.loop import ShowLoop\n    from vj.errors import VjError\n")
    names = vj_imports(source)
    assert names == ["vj.show.loop", "vj.errors"]
    assert ORDER.index(stage_of(names[0])) > ORDER.index("setlist")
    assert stage_of("vj.errors") == "base" and stage_of("vj.nowhere") is None
