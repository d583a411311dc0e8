"""Errors meant for people: what went wrong, where, and how to fix it.

The CLI prints any ``VjError`` as one line and exits with status 2, never with a traceback.
"""
from __future__ import annotations


class VjError(Exception):
    """Base of every error the CLI reports as a plain message (exit status 2)."""


class LocatedError(VjError):
    """A problem in a file people write, located as precisely as the YAML allows: file, line, field.
    Printed as ``file:line: field: message`` (what editors and terminals link to)."""

    #: Shown in place of the file name when there is none (a string, not a file).
    nameless = "<input>"

    def __init__(self, message: str, *, file: str | None = None, line: int | None = None,
                 field: str | None = None) -> None:
        self.message = message
        self.file = file
        self.line = line
        self.field = field
        super().__init__(str(self))

    def __str__(self) -> str:
        where = self.file or self.nameless
        if self.line is not None:
            where += f":{self.line}"
        field = f" {self.field}:" if self.field else ""
        return f"{where}:{field} {self.message}"


class SetlistError(LocatedError):
    """A setlist problem."""

    nameless = "<setlist>"
