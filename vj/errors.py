"""Errors meant for people: what went wrong, where, and how to fix it.

The CLI prints any ``VjError`` as one line and exits with status 2, never with a traceback.
"""
from __future__ import annotations


class VjError(Exception):
    """Base of every error the CLI reports as a plain message (exit status 2)."""


class SetlistError(VjError):
    """A setlist problem, located as precisely as the YAML allows: file, line, field."""

    def __init__(self, message: str, *, file: str | None = None, line: int | None = None,
                 field: str | None = None) -> None:
        self.message = message
        self.file = file
        self.line = line
        self.field = field
        super().__init__(str(self))

    def __str__(self) -> str:
        where = self.file or "<setlist>"
        if self.line is not None:
            where += f":{self.line}"
        field = f" {self.field}:" if self.field else ""
        return f"{where}:{field} {self.message}"
