"""A progress bar for long renders: frames done, frames per second, ETA (rich)."""
from __future__ import annotations

from contextlib import contextmanager
from typing import Callable, Iterator

from rich.progress import (BarColumn, MofNCompleteColumn, Progress, ProgressColumn, Task, TextColumn,
                           TimeElapsedColumn, TimeRemainingColumn)
from rich.text import Text


class _RateColumn(ProgressColumn):
    def __init__(self, unit: str = "fps") -> None:
        super().__init__()
        self.unit = unit

    def render(self, task: Task) -> Text:
        speed = task.finished_speed or task.speed
        return Text(f"{speed:5.1f} {self.unit}" if speed else f"  ... {self.unit}", style="cyan")


@contextmanager
def frame_progress(total: int, *, enabled: bool = True, label: str = "rendering",
                   unit: str = "fps") -> Iterator[Callable[[int, int], None]]:
    """Yields ``advance(done, total)``; shows nothing when disabled or not on a terminal.
    ``unit`` names the rate (frames a second for renders; "× real time" for audio seconds)."""
    if not enabled:
        yield lambda done, total: None
        return
    columns = (TextColumn(f"[bold]{label}"), BarColumn(), MofNCompleteColumn(), _RateColumn(unit),
               TextColumn("elapsed"), TimeElapsedColumn(), TextColumn("eta"), TimeRemainingColumn())
    with Progress(*columns, transient=False) as progress:
        task = progress.add_task(label, total=total)
        yield lambda done, _total: progress.update(task, completed=done)
