#!/usr/bin/env python3
"""Per-frame cost of schedule expressions: vj's closure compiler against simpleeval on the same
pre-parsed AST, and Schedule.value() for typical schedules, measured in one run.

    .venv/bin/python tools/bench_expressions.py [--calls 200000]

simpleeval comes with the test extra (``pip install -e .[test]``); vj itself does not need it.
"""
from __future__ import annotations

import argparse
import math
import platform
import sys
import timeit
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

import simpleeval  # noqa: E402

from vj.setlist.expressions import compile_expression, variable_names  # noqa: E402
from vj.setlist.schedule import KeyTiming, parse_schedule  # noqa: E402

EXPRESSIONS = ["1.0 + 0.03*onset", "1.0025+0.002*sin(1.25*3.14*t/30)",
               "0.25*cos((72/60*3.141*(t+0)/30))**13+0.7", "1 + 0.05*pulse(1)*onset",
               "where(cos(t)>=0, cos(t), 0)"]
SCHEDULES = ["1.0", "0:(1.0), 32:(1.05)", "0:(1), 8b:(1.05), 16b:(1), 24b:(1.1), 32b:(1)",
             "0:(1.0025+0.002*sin(1.25*3.14*t/30))", "0:(1), 16b:(1 + 0.1*pulse(1)*onset)"]


def micro(fn, calls: int) -> float:
    """Best of 5 runs, microseconds per call."""
    return min(timeit.repeat(fn, number=calls, repeat=5)) / calls * 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=200_000)
    args = parser.parse_args()
    timing = KeyTiming.from_bpm(fps=24, bpm=120)
    env = dict.fromkeys(variable_names(), 0.0)   # frame 300 of 2000 at 24 fps, 120 BPM
    env.update(frame=300.0, t=300.0, max_f=2000.0, sec=12.5, beat=25.0, bar=6.25, bpm=120.0, fps=24.0,
               onset=0.5, low=0.2)
    print(f"{platform.processor() or platform.machine()}, Python {platform.python_version()}")
    print(f"{'expression':45s} {'vj µs':>7s} {'simpleeval µs':>14s} {'ratio':>6s}")
    functions = {"sin": math.sin, "cos": math.cos, "where": lambda c, a, b: a if c else b,
                 "pulse": lambda p=1.0, w=0.1, ph=0.0: 1.0 if ((env["beat"] - ph) / p) % 1 < w else 0.0}
    reference = simpleeval.SimpleEval(names=env, functions=functions)
    for text in EXPRESSIONS:
        expression = compile_expression(text)
        parsed = reference.parse(text)
        ours = micro(lambda: expression.evaluate(env), args.calls)
        theirs = micro(lambda: reference.eval(text, previously_parsed=parsed), args.calls // 10)
        print(f"{text:45s} {ours:7.3f} {theirs:14.3f} {theirs / ours:5.1f}x")
    print(f"\n{'schedule (cubic)':62s} {'value() µs':>10s}")
    for text in SCHEDULES:
        schedule = parse_schedule(text, timing, "cubic")
        print(f"{text:62s} {micro(lambda: schedule.value(env), args.calls):10.3f}")


if __name__ == "__main__":
    main()
