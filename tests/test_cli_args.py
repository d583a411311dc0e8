"""The argparse types every vj command shares, through the real parser."""
from __future__ import annotations

import pytest

from vj.cli import build_parser


def parse(*argv: str):
    return build_parser().parse_args(list(argv))


def test_sizes_and_positive_numbers() -> None:
    args = parse("rehearse", "set.yaml", "--size", "512X256", "--fps", "12.5", "--seconds", "3")
    assert (args.size, args.fps, args.seconds) == ((512, 256), 12.5, 3.0)
    assert parse("compile", "set.yaml", "--size", "64x64").size == (64, 64)
    live = parse("live", "set.yaml", "--window-size", "1280x720", "--quit-after", "2")
    assert (live.window_size, live.quit_after) == ((1280, 720), 2.0)
    assert parse("live", "set.yaml").window_size == (960, 540)


@pytest.mark.parametrize("argv, words", [
    (("rehearse", "set.yaml", "--size", "512"), "'512' is not a size; write WIDTHxHEIGHT"),
    (("rehearse", "set.yaml", "--size", "0x64"), "a size is at least 1x1 (got 0x64)"),
    (("compile", "set.yaml", "--size", "axb"), "'axb' is not a size"),
    (("live", "set.yaml", "--window-size", "32x720"), "a size is at least 64x64 (got 32x720)"),
    (("rehearse", "set.yaml", "--fps", "0"), "must be positive (got 0)"),
    (("live", "set.yaml", "--quit-after", "soon"), "'soon' is not a number"),
    (("midi-learn", "strength", "--timeout", "-1"), "must be positive (got -1)"),
])
def test_bad_values_are_usage_errors(argv: tuple[str, ...], words: str, capsys: pytest.CaptureFixture) -> None:
    with pytest.raises(SystemExit) as exited:
        parse(*argv)
    assert exited.value.code == 2
    assert words in capsys.readouterr().err
