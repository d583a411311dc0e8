"""Files the commands write (a drafted or imported setlist): the folder made first, the text
checked while nothing is on disk yet, then moved into place whole, so an error never leaves a
half-written file."""
from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Callable

from vj.errors import VjError


def output_folder(out: Path) -> Path:
    """The folder ``out`` goes in, made if needed (a one-line error when it cannot be)."""
    folder = out.parent if str(out.parent) else Path(".")
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise VjError(f"-o {out}: cannot create the folder {folder}: {exc.strerror or exc}") from None
    return folder


def write_checked(out: Path, text: str, check: Callable[[Path], None]) -> None:
    """``check(folder)`` (it raises on a text that does not load), then write ``text`` to ``out``
    atomically: a temporary file beside it, renamed into place."""
    folder = output_folder(out)
    check(folder)
    partial: Path | None = None
    try:
        with tempfile.NamedTemporaryFile("w", encoding="utf-8", dir=folder, prefix=f".{out.name}.",
                                         suffix=".partial", delete=False) as handle:
            partial = Path(handle.name)
            handle.write(text)
        os.replace(partial, out)
    except OSError as exc:
        if partial is not None and partial.exists():
            partial.unlink()
        raise VjError(f"-o {out}: cannot write: {exc.strerror or exc}") from None


__all__ = ["output_folder", "write_checked"]
