"""Finishing recordings a killed ``vj`` left behind: ``vj recover FILE``, and a look round the output
folder each time ``vj rehearse`` or ``vj live --record`` starts.

A recording is written as ``<name>.partial.mp4`` (a fragmented MP4 that plays up to its last
fragment) and finished into ``<name>`` by its recorder's ``close()``. One still there when no
process holds its lock (see ``vj.output.recorder._lock_for_writing``) was never finished: its
fragments are remuxed into a normal MP4 at ``<name>``, or at ``<stem>.recovered.mp4`` when
``<name>`` is taken (a finished earlier take is never overwritten).
"""
from __future__ import annotations

import fcntl
import logging
import os
from pathlib import Path
from typing import Iterable

from vj.output.recorder import PARTIAL_SUFFIX, Finished, NothingToRecover, OutputError, finalise, partial_path

log = logging.getLogger(__name__)

#: A partial file this small never got past its header: there is nothing in it to lose.
EMPTY_BYTES = 4096


class InUse(OutputError):
    """The recording is still being written by a running vj."""


def final_name(path: Path) -> Path:
    """Where the unfinished recording ``path`` belongs once finished (``x.mp4.partial.mp4`` → ``x.mp4``)."""
    if path.name.endswith(PARTIAL_SUFFIX) and len(path.name) > len(PARTIAL_SUFFIX):
        return path.with_name(path.name[: -len(PARTIAL_SUFFIX)])
    return path


def _free_name(path: Path, source: Path, reserved: Iterable[Path]) -> Path:
    taken = {Path(p).resolve() for p in reserved}

    def free(candidate: Path) -> bool:
        return candidate == source or (not candidate.exists() and candidate.resolve() not in taken)

    if free(path):
        return path
    stem = path.name[: -len(path.suffix)] if path.suffix else path.name
    for number in range(1, 1000):
        candidate = path.with_name(f"{stem}.recovered{'' if number == 1 else f'-{number}'}{path.suffix or '.mp4'}")
        if free(candidate):
            return candidate
    raise OutputError(f"{path}: no free name to recover it to")


def recover(path: str | os.PathLike[str], *, reserved: Iterable[Path] = ()) -> tuple[Path, Finished]:
    """Finish the unfinished recording ``path`` (or the one ``path`` was going to be); returns the
    file it was read from and what was written. Raises ``OutputError`` (one line) when it can't."""
    path = Path(path)
    if not path.exists() and partial_path(path).exists():
        path = partial_path(path)
    if not path.is_file():
        raise OutputError(f"{path}: no such file")
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError as exc:
        raise OutputError(f"{path}: cannot read it: {exc.strerror or exc}") from None
    try:
        try:  # a shared lock: refused while a recorder holds its exclusive one, and keeps one off meanwhile
            fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except OSError:
            raise InUse(f"{path}: is still being recorded by a running vj") from None
        target = _free_name(final_name(path), path, reserved)
        return path, finalise(path, target)
    finally:
        os.close(fd)


def recover_unfinished(folder: str | os.PathLike[str], *, reserved: Iterable[Path] = ()) -> list[Finished]:
    """Finish every unfinished recording in ``folder`` (none of them into a ``reserved`` name: the
    outputs about to be written); logs a line for each. Never raises: the show starts regardless."""
    reserved = list(reserved)
    done = []
    try:
        partials = sorted(Path(folder).glob(f"*{PARTIAL_SUFFIX}"))
    except OSError:
        return done
    for partial in partials:
        try:
            source, finished = recover(partial, reserved=reserved)
        except InUse:
            continue
        except NothingToRecover as exc:
            if _size(partial) < EMPTY_BYTES:
                partial.unlink(missing_ok=True)
                log.warning("removed %s: the run that wrote it was killed before any of it was saved", partial)
            else:
                log.warning("cannot recover %s: %s", partial, exc)
            continue
        except (OutputError, OSError) as exc:
            log.warning("cannot recover %s: %s", partial, exc)
            continue
        log.warning("recovered an unfinished recording: %s -> %s (%d frames, %.1f s)", source,
                    finished.output, finished.frames, finished.seconds)
        done.append(finished)
    return done


def _size(path: Path) -> int:
    try:
        return path.stat().st_size
    except OSError:
        return 0
