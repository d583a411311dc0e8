"""argparse types the vj commands share: a WIDTHxHEIGHT size and a positive number."""
from __future__ import annotations

import argparse
from typing import Callable


def size(minimum: int = 1) -> Callable[[str], tuple[int, int]]:
    """A ``WIDTHxHEIGHT`` argument (``512x512``), each side at least ``minimum`` pixels."""
    def parse(text: str) -> tuple[int, int]:
        try:
            width, height = (int(part) for part in text.lower().split("x"))
        except ValueError:
            raise argparse.ArgumentTypeError(f"'{text}' is not a size; write WIDTHxHEIGHT, e.g. 512x512") from None
        if width < minimum or height < minimum:
            raise argparse.ArgumentTypeError(f"a size is at least {minimum}x{minimum} (got {text})")
        return width, height
    return parse


def positive(kind: Callable[[str], float]) -> Callable[[str], float]:
    """A number argument of type ``kind`` (float, int) above zero."""
    def parse(text: str) -> float:
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"'{text}' is not a number") from None
        if value <= 0:
            raise argparse.ArgumentTypeError(f"must be positive (got {text})")
        return value
    return parse
