"""Safe, fast math expressions for schedules: Deforum's numexpr subset plus beat-timed shapes.

A schedule value such as ``1.0025+0.002*sin(1.25*3.14*t/30)`` or ``1 + 0.05*pulse(1)*onset`` is
parsed once with :mod:`ast`, checked against a fixed table of names (so ``vj check`` catches a
typo before the show), constant-folded, and turned into a tree of small closures. Evaluating it is
then a handful of Python calls (about a microsecond): no re-parsing and no ``eval`` per frame.

Why not evaluate with simpleeval every frame: it walks the AST with a dict dispatch per node and
costs several times more per call (see ``tools/bench_expressions.py``). The safety comes from the
same place as simpleeval's: only whitelisted AST nodes compile, names resolve only against the
table below, and there is no attribute access, subscript, string, lambda or comprehension, so no
Python object other than a float is ever reachable. All arithmetic is float arithmetic, so ``**``
costs the same for any exponent; exponents are still capped and overflows are errors.

Runtime failures (division by zero, ``log(0)``, overflow, a non-finite result) raise
:class:`ExpressionError`. At show time the caller catches it and holds the last good value.

Variables (the caller puts all of them in one env dict per frame):

- ``frame``, ``t``: frame index (``t`` is Deforum's name for it); ``max_f``: Deforum's last
  frame index (frame count - 1); ``s``: the seed (Deforum's ``s``: the setlist's ``seed``).
- ``sec``: seconds; ``beat``, ``bar``: beats and bars elapsed since beat 0 (floats, 0-based:
  beat 32 = bar 8 = the musicians' ``bar 9``); ``bpm``; ``fps``.
- audio features, 0..1: ``onset low mid high rms perc harm beat_phase`` (see ``vj.features``).
"""
from __future__ import annotations

import ast
import difflib
import functools
import math
import operator
from dataclasses import dataclass
from operator import itemgetter
from typing import Any, Callable, Mapping, Union

from vj.features import AUDIO_SOURCES

__all__ = ["ExpressionError", "Expression", "compile_expression", "variable_names",
           "function_signatures", "TIME_VARIABLES", "AUDIO_VARIABLES"]

#: Variables that move with the clock (the schedule shifts them to evaluate at a future key).
TIME_VARIABLES = ("frame", "t", "sec", "beat", "bar", "beat_phase")
#: Audio feature variables; ``Expression.uses_audio`` is true when one of them is read.
AUDIO_VARIABLES: tuple[str, ...] = tuple(AUDIO_SOURCES)

_VARIABLES: dict[str, str] = {
    "frame": "frame index (0-based)",
    "t": "frame index, as Deforum names it (same as frame)",
    "max_f": "last frame index, as Deforum defines max_f (frame count - 1)",
    "s": "the seed, as Deforum names it (the setlist's seed)",
    "sec": "seconds since the song start",
    "beat": "beats elapsed since beat 0 (float, 0-based; negative before it)",
    "bar": "bars elapsed since beat 0 (float, 0-based: bar 8.0 is the musicians' 'bar 9')",
    "bpm": "tempo in beats per minute",
    "fps": "frames per second",
    "onset": "onset envelope, 0..1 (1 on a hit)",
    "low": "low band energy, 0..1",
    "mid": "mid band energy, 0..1",
    "high": "high band energy, 0..1",
    "rms": "loudness, 0..1",
    "perc": "percussive energy, 0..1",
    "harm": "harmonic energy, 0..1",
    "beat_phase": "position inside the current beat, 0..1 (0 on the beat)",
}
_CONSTANTS: dict[str, float] = {"pi": math.pi, "e": math.e}

#: Longest accepted expression (characters) and deepest accepted syntax tree: far beyond any real
#: schedule, and small enough that compiling and evaluating can never exhaust the Python stack.
MAX_LENGTH = 4000
MAX_DEPTH = 60
#: ``a ** b`` with ``|b|`` above this is an error (a typo, never a useful curve).
MAX_EXPONENT = 1e6


def variable_names() -> tuple[str, ...]:
    """Every variable an expression may read, in documentation order."""
    return tuple(_VARIABLES)


class ExpressionError(ValueError):
    """An expression that cannot compile or evaluate, said for people.

    ``text`` is the offending expression, ``reason`` what is wrong, ``position`` the 1-based column
    in ``text`` where it is (None when it is not about one place, e.g. a runtime division by zero).
    """

    def __init__(self, reason: str, text: str, position: int | None = None) -> None:
        self.reason = reason
        self.text = text
        self.position = position
        where = f" at column {position}" if position is not None else ""
        super().__init__(f"{reason}{where} in expression {text!r}")


# ---- the function table -------------------------------------------------------------------


def _pow(base: float, exponent: float) -> float:
    if exponent > MAX_EXPONENT or exponent < -MAX_EXPONENT:
        raise ValueError(f"exponent {exponent:g} is too large (limit {MAX_EXPONENT:g})")
    return math.pow(base, exponent)  # float pow: domain errors and overflow raise, never complex


def _clamp(x: float, lo: float, hi: float) -> float:
    return lo if x < lo else hi if x > hi else x


def _unit(x: float) -> float:
    return 0.0 if x < 0.0 else 1.0 if x > 1.0 else x


def _mix(a: float, b: float, x: float) -> float:
    return a + (b - a) * x


def _smoothstep(edge0: float, edge1: float, x: float) -> float:
    if edge0 == edge1:
        return 0.0 if x < edge0 else 1.0
    u = _unit((x - edge0) / (edge1 - edge0))
    return u * u * (3.0 - 2.0 * u)


def _where(condition: float, a: float, b: float) -> float:
    return a if condition else b


def _round(x: float, digits: float = 0.0) -> float:
    return float(round(x, int(digits)))  # half to even, like Python and numpy


def _log(x: float, base: float = math.e) -> float:
    return math.log(x) if base == math.e else math.log(x, base)


def _sign(x: float) -> float:
    return 1.0 if x > 0 else -1.0 if x < 0 else 0.0


def _position(beat: float, period_beats: float, phase: float) -> float:
    """Where ``beat`` falls inside the current period, 0..1; ``phase`` (beats) delays the shape."""
    if not period_beats > 0:
        raise ValueError(f"period_beats must be > 0, got {period_beats:g}")
    return ((beat - phase) / period_beats) % 1.0


def _pulse(beat: float, period_beats: float = 1.0, width: float = 0.1, phase: float = 0.0) -> float:
    return 1.0 if _position(beat, period_beats, phase) < width else 0.0


def _saw(beat: float, period_beats: float = 1.0, phase: float = 0.0) -> float:
    return _position(beat, period_beats, phase)


def _tri(beat: float, period_beats: float = 1.0, phase: float = 0.0) -> float:
    return 1.0 - abs(2.0 * _position(beat, period_beats, phase) - 1.0)


def _sq(beat: float, period_beats: float = 1.0, duty: float = 0.5, phase: float = 0.0) -> float:
    return 1.0 if _position(beat, period_beats, phase) < duty else 0.0


def _wave(beat: float, period_beats: float = 1.0, phase: float = 0.0) -> float:
    return 0.5 - 0.5 * math.cos(2.0 * math.pi * _position(beat, period_beats, phase))


def _ease_in(x: float) -> float:
    x = _unit(x)
    return x * x * x


def _ease_out(x: float) -> float:
    x = 1.0 - _unit(x)
    return 1.0 - x * x * x


def _ease_in_out(x: float) -> float:
    x = _unit(x)
    if x < 0.5:
        return 4.0 * x * x * x
    y = 2.0 - 2.0 * x
    return 1.0 - y * y * y / 2.0


def _bounce(x: float) -> float:
    """easings.net easeOutBounce: lands on 1 with three shrinking bounces."""
    x = _unit(x)
    n, d = 7.5625, 2.75
    if x < 1.0 / d:
        return n * x * x
    if x < 2.0 / d:
        x -= 1.5 / d
        return n * x * x + 0.75
    if x < 2.5 / d:
        x -= 2.25 / d
        return n * x * x + 0.9375
    x -= 2.625 / d
    return n * x * x + 0.984375


def _elastic(x: float) -> float:
    """easings.net easeOutElastic: overshoots 1 and rings down onto it."""
    x = _unit(x)
    if x == 0.0 or x == 1.0:
        return x
    return math.pow(2.0, -10.0 * x) * math.sin((x * 10.0 - 0.75) * (2.0 * math.pi / 3.0)) + 1.0


def _floor(x: float) -> float:
    return float(math.floor(x))


def _ceil(x: float) -> float:
    return float(math.ceil(x))


@dataclass(frozen=True)
class _Function:
    impl: Callable[..., float]
    params: tuple[str, ...]
    defaults: tuple[float, ...] = ()  # for the trailing parameters
    variadic: bool = False            # min / max: two or more positional arguments
    reads_beat: bool = False          # impl(beat, *args): the shape helpers
    doc: str = ""

    def signature(self, name: str) -> str:
        if self.variadic:
            return f"{name}(a, b, ...)"
        first_default = len(self.params) - len(self.defaults)
        parts = [p if i < first_default else f"{p}={self.defaults[i - first_default]:g}"
                 for i, p in enumerate(self.params)]
        return f"{name}({', '.join(parts)})"


def _f(impl: Callable[..., float], params: str, *defaults: float, doc: str = "",
       reads_beat: bool = False, variadic: bool = False) -> _Function:
    return _Function(impl, tuple(params.split()), defaults, variadic, reads_beat, doc)


_FUNCTIONS: dict[str, _Function] = {
    "sin": _f(math.sin, "x"), "cos": _f(math.cos, "x"), "tan": _f(math.tan, "x"),
    "asin": _f(math.asin, "x"), "acos": _f(math.acos, "x"), "atan": _f(math.atan, "x"),
    "atan2": _f(math.atan2, "y x"), "sinh": _f(math.sinh, "x"), "cosh": _f(math.cosh, "x"),
    "tanh": _f(math.tanh, "x"),
    # numexpr spellings, so Deforum schedules paste in unchanged
    "arcsin": _f(math.asin, "x"), "arccos": _f(math.acos, "x"), "arctan": _f(math.atan, "x"),
    "arctan2": _f(math.atan2, "y x"),
    "asinh": _f(math.asinh, "x"), "acosh": _f(math.acosh, "x"), "atanh": _f(math.atanh, "x"),
    "arcsinh": _f(math.asinh, "x"), "arccosh": _f(math.acosh, "x"), "arctanh": _f(math.atanh, "x"),
    "log1p": _f(math.log1p, "x"), "expm1": _f(math.expm1, "x"),
    "sqrt": _f(math.sqrt, "x"), "exp": _f(math.exp, "x"), "log": _f(_log, "x base", math.e),
    "log10": _f(math.log10, "x"), "abs": _f(math.fabs, "x"), "sign": _f(_sign, "x"),
    "floor": _f(_floor, "x"), "ceil": _f(_ceil, "x"), "round": _f(_round, "x digits", 0.0),
    "pow": _f(_pow, "x y"),
    "min": _f(min, "", variadic=True), "max": _f(max, "", variadic=True),
    "where": _f(_where, "condition a b", doc="a where condition is true (non-zero), else b"),
    "clamp": _f(_clamp, "x lo hi"),
    "mix": _f(_mix, "a b x", doc="a + (b - a) * x"), "lerp": _f(_mix, "a b x", doc="same as mix"),
    "smoothstep": _f(_smoothstep, "edge0 edge1 x"),
    "pulse": _f(_pulse, "period_beats width phase", 1.0, 0.1, 0.0, reads_beat=True,
                doc="1 for the first `width` fraction of each period, else 0"),
    "saw": _f(_saw, "period_beats phase", 1.0, 0.0, reads_beat=True,
              doc="ramp 0 -> 1 over each period"),
    "tri": _f(_tri, "period_beats phase", 1.0, 0.0, reads_beat=True,
              doc="0 at the period start, 1 halfway, back to 0"),
    "sq": _f(_sq, "period_beats duty phase", 1.0, 0.5, 0.0, reads_beat=True,
             doc="1 for the first `duty` fraction of each period, else 0"),
    "wave": _f(_wave, "period_beats phase", 1.0, 0.0, reads_beat=True,
               doc="smooth 0 -> 1 -> 0 (cosine) over each period, 0 at its start"),
    "ease_in": _f(_ease_in, "x", doc="cubic, x clamped to 0..1"),
    "ease_out": _f(_ease_out, "x", doc="cubic, x clamped to 0..1"),
    "ease_in_out": _f(_ease_in_out, "x", doc="cubic, x clamped to 0..1"),
    "bounce": _f(_bounce, "x", doc="ease-out bounce, x clamped to 0..1"),
    "elastic": _f(_elastic, "x", doc="ease-out elastic (overshoots), x clamped to 0..1"),
}


def function_signatures() -> dict[str, str]:
    """``name -> "pulse(period_beats=1, width=0.1, phase=0)  # doc"`` for the documentation."""
    return {name: fn.signature(name) + (f"  # {fn.doc}" if fn.doc else "")
            for name, fn in _FUNCTIONS.items()}


# ---- compiling to closures ----------------------------------------------------------------

#: A compiled node: a float when it is constant, else a function of the env.
_Node = Union[float, Callable[[Mapping[str, float]], Any]]

_ARITHMETIC = {ast.Add: operator.add, ast.Sub: operator.sub, ast.Mult: operator.mul,
               ast.Div: operator.truediv, ast.FloorDiv: operator.floordiv, ast.Mod: operator.mod,
               ast.Pow: _pow,
               ast.BitAnd: lambda a, b: 1.0 if (a and b) else 0.0,  # numexpr's logical & and |
               ast.BitOr: lambda a, b: 1.0 if (a or b) else 0.0}
_COMPARE = {ast.Eq: operator.eq, ast.NotEq: operator.ne, ast.Lt: operator.lt,
            ast.LtE: operator.le, ast.Gt: operator.gt, ast.GtE: operator.ge}
_REJECTED = {
    ast.Attribute: "attribute access ('.name') is not allowed",
    ast.Subscript: "subscripts ('x[...]') are not allowed",
    ast.Lambda: "lambda is not allowed",
    ast.ListComp: "comprehensions are not allowed", ast.SetComp: "comprehensions are not allowed",
    ast.DictComp: "comprehensions are not allowed",
    ast.GeneratorExp: "comprehensions are not allowed",
    ast.JoinedStr: "strings are not allowed",
    ast.Tuple: "tuples are not allowed", ast.List: "lists are not allowed",
    ast.Dict: "dicts are not allowed", ast.Set: "sets are not allowed",
    ast.NamedExpr: "assignment (':=') is not allowed",
    ast.Starred: "'*' unpacking is not allowed",
    ast.Await: "await is not allowed", ast.Yield: "yield is not allowed",
}
_OPERATOR_NAMES = {ast.BitXor: "'^' is not allowed (use ** for powers)",
                   ast.MatMult: "'@' is not allowed", ast.LShift: "'<<' is not allowed",
                   ast.RShift: "'>>' is not allowed", ast.Is: "'is' is not allowed (use ==)",
                   ast.IsNot: "'is not' is not allowed (use !=)", ast.In: "'in' is not allowed",
                   ast.NotIn: "'not in' is not allowed"}


class _Reject(Exception):
    """Internal: a compile error at an AST node (converted to ExpressionError with a column)."""

    def __init__(self, reason: str, node: ast.AST | None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.node = node


def _binary(op: Callable[[float, float], float], op_type: type, left: _Node, right: _Node) -> _Node:
    """A closure for ``left op right``; + - * / are written out because they run most often."""
    if isinstance(left, float):
        c = left
        if op_type is ast.Add:
            return lambda env: c + right(env)
        if op_type is ast.Sub:
            return lambda env: c - right(env)
        if op_type is ast.Mult:
            return lambda env: c * right(env)
        if op_type is ast.Div:
            return lambda env: c / right(env)
        return lambda env: op(c, right(env))
    if isinstance(right, float):
        c = right
        if op_type is ast.Add:
            return lambda env: left(env) + c
        if op_type is ast.Sub:
            return lambda env: left(env) - c
        if op_type is ast.Mult:
            return lambda env: left(env) * c
        if op_type is ast.Div:
            return lambda env: left(env) / c
        return lambda env: op(left(env), c)
    if op_type is ast.Add:
        return lambda env: left(env) + right(env)
    if op_type is ast.Sub:
        return lambda env: left(env) - right(env)
    if op_type is ast.Mult:
        return lambda env: left(env) * right(env)
    if op_type is ast.Div:
        return lambda env: left(env) / right(env)
    return lambda env: op(left(env), right(env))


def _as_fn(node: _Node) -> Callable[[Mapping[str, float]], Any]:
    if isinstance(node, float):
        value = node
        return lambda env: value
    return node


def _fold(compute: Callable[[], Any], node: ast.AST) -> float:
    """Evaluate a constant sub-expression now, so its errors are compile errors."""
    try:
        value = float(compute())
    except ZeroDivisionError:
        raise _Reject("division by zero", node) from None
    except OverflowError:
        raise _Reject("number too large", node) from None
    except ValueError as exc:
        raise _Reject(_value_error_reason(exc), node) from None
    if not math.isfinite(value):
        raise _Reject("result is not a finite number", node)
    return value


def _value_error_reason(exc: ValueError) -> str:
    text = str(exc)
    if text == "math domain error":
        return "math domain error (sqrt or log of a negative number, asin of more than 1, ...)"
    return text


class _Compiler:
    """Validates one parsed expression and turns it into closures, collecting the names it reads."""

    def __init__(self) -> None:
        self.names: set[str] = set()

    def compile(self, node: ast.AST, depth: int = 0) -> _Node:
        if depth > MAX_DEPTH:
            raise _Reject(f"expression is nested too deeply (more than {MAX_DEPTH} levels)", node)
        depth += 1
        if isinstance(node, ast.Constant):
            return self._constant(node)
        if isinstance(node, ast.Name):
            return self._name(node)
        if isinstance(node, ast.BinOp):
            return self._binop(node, depth)
        if isinstance(node, ast.UnaryOp):
            return self._unary(node, depth)
        if isinstance(node, ast.BoolOp):
            return self._boolop(node, depth)
        if isinstance(node, ast.Compare):
            return self._compare(node, depth)
        if isinstance(node, ast.IfExp):
            return self._ifexp(node, depth)
        if isinstance(node, ast.Call):
            return self._call(node, depth)
        reason = _REJECTED.get(type(node), f"{type(node).__name__} is not allowed")
        raise _Reject(reason, node)

    def _constant(self, node: ast.Constant) -> float:
        value = node.value
        if isinstance(value, (str, bytes)):
            raise _Reject("strings are not allowed", node)
        if not isinstance(value, (int, float)):
            raise _Reject(f"{value!r} is not a number", node)
        if isinstance(value, float) and not math.isfinite(value):
            raise _Reject("number too large", node)
        return _fold(lambda: value, node)

    def _name(self, node: ast.Name) -> _Node:
        name = node.id
        if name in _CONSTANTS:
            return _CONSTANTS[name]
        if name in _VARIABLES:
            self.names.add(name)
            return itemgetter(name)  # a C call: faster than a lambda doing env[name]
        if name in _FUNCTIONS:
            raise _Reject(f"'{name}' is a function: call it, e.g. {name}(...)", node)
        raise _Reject(_unknown(name, "name"), node)

    def _binop(self, node: ast.BinOp, depth: int) -> _Node:
        op_type = type(node.op)
        if op_type not in _ARITHMETIC:
            raise _Reject(_OPERATOR_NAMES.get(op_type, f"operator {op_type.__name__} is not allowed"),
                          node)
        op = _ARITHMETIC[op_type]
        left = self.compile(node.left, depth)
        right = self.compile(node.right, depth)
        if isinstance(left, float) and isinstance(right, float):
            return _fold(lambda: op(left, right), node)
        if op_type is ast.Pow and isinstance(right, float):
            _fold(lambda: _pow(1.0, right), node.right)  # reject a huge constant exponent now
        return _binary(op, op_type, left, right)

    def _unary(self, node: ast.UnaryOp, depth: int) -> _Node:
        operand = self.compile(node.operand, depth)
        if isinstance(node.op, ast.USub):
            fn: Callable[[Any], Any] = operator.neg
        elif isinstance(node.op, ast.UAdd):
            return operand
        else:  # not, and numexpr's logical ~
            fn = lambda x: 0.0 if x else 1.0  # noqa: E731
        if isinstance(operand, float):
            return _fold(lambda: fn(operand), node)
        inner = operand
        return lambda env: fn(inner(env))

    def _boolop(self, node: ast.BoolOp, depth: int) -> _Node:
        parts = [_as_fn(self.compile(v, depth)) for v in node.values]
        if isinstance(node.op, ast.And):
            def both(env: Mapping[str, float]) -> Any:
                value: Any = 1.0
                for part in parts:
                    value = part(env)
                    if not value:
                        return value
                return value
            return both

        def either(env: Mapping[str, float]) -> Any:
            value: Any = 0.0
            for part in parts:
                value = part(env)
                if value:
                    return value
            return value
        return either

    def _compare(self, node: ast.Compare, depth: int) -> _Node:
        ops = []
        for op in node.ops:
            if type(op) not in _COMPARE:
                raise _Reject(_OPERATOR_NAMES.get(type(op), "comparison not allowed"), node)
            ops.append(_COMPARE[type(op)])
        operands = [self.compile(v, depth) for v in [node.left, *node.comparators]]
        if len(ops) == 1:
            cmp, left, right = ops[0], _as_fn(operands[0]), _as_fn(operands[1])
            return lambda env: 1.0 if cmp(left(env), right(env)) else 0.0
        fns = [_as_fn(o) for o in operands]

        def chain(env: Mapping[str, float]) -> float:
            left = fns[0](env)
            for cmp, right_fn in zip(ops, fns[1:]):
                right = right_fn(env)
                if not cmp(left, right):
                    return 0.0
                left = right
            return 1.0
        return chain

    def _ifexp(self, node: ast.IfExp, depth: int) -> _Node:
        test = self.compile(node.test, depth)
        body = self.compile(node.body, depth)
        orelse = self.compile(node.orelse, depth)
        if isinstance(test, float):
            return body if test else orelse
        then_fn, else_fn = _as_fn(body), _as_fn(orelse)
        return lambda env: then_fn(env) if test(env) else else_fn(env)

    def _call(self, node: ast.Call, depth: int) -> _Node:
        if not isinstance(node.func, ast.Name):
            raise _Reject(_REJECTED.get(type(node.func), "only named functions can be called"),
                          node.func)
        name = node.func.id
        fn = _FUNCTIONS.get(name)
        if fn is None:
            if name in _VARIABLES or name in _CONSTANTS:
                raise _Reject(f"'{name}' is a variable, not a function", node.func)
            raise _Reject(_unknown(name, "function"), node.func)
        args = self._arguments(name, fn, node, depth)
        impl = fn.impl
        if fn.reads_beat:
            self.names.add("beat")
            beat = itemgetter("beat")
            if all(isinstance(a, float) for a in args):
                consts = tuple(args)
                if len(consts) == 2:
                    c0, c1 = consts
                    return lambda env: impl(beat(env), c0, c1)
                c0, c1, c2 = consts
                return lambda env: impl(beat(env), c0, c1, c2)
            fns = [_as_fn(a) for a in args]
            return lambda env: impl(beat(env), *[f(env) for f in fns])
        if all(isinstance(a, float) for a in args):
            return _fold(lambda: impl(*args), node)
        fns = [_as_fn(a) for a in args]
        if len(fns) == 1:
            a0 = fns[0]
            return lambda env: impl(a0(env))
        if len(fns) == 2:
            a0, a1 = fns
            return lambda env: impl(a0(env), a1(env))
        if len(fns) == 3:
            a0, a1, a2 = fns
            return lambda env: impl(a0(env), a1(env), a2(env))
        return lambda env: impl(*[f(env) for f in fns])

    def _arguments(self, name: str, fn: _Function, node: ast.Call, depth: int) -> list[_Node]:
        """Bind positional and keyword arguments to the parameters, defaults filled in."""
        for arg in node.args:
            if isinstance(arg, ast.Starred):
                raise _Reject("'*' unpacking is not allowed", arg)
        if fn.variadic:
            if node.keywords:
                raise _Reject(f"{name}() takes no keyword arguments", node)
            if len(node.args) < 2:
                raise _Reject(f"{name}() needs at least 2 arguments", node)
            return [self.compile(a, depth) for a in node.args]
        signature = fn.signature(name)
        params = fn.params
        if len(node.args) > len(params):
            raise _Reject(f"too many arguments: {signature}", node)
        bound: dict[str, _Node] = {p: self.compile(a, depth) for p, a in zip(params, node.args)}
        for keyword in node.keywords:
            if keyword.arg is None:
                raise _Reject("'**' unpacking is not allowed", keyword.value)
            if keyword.arg not in params:
                raise _Reject(f"{name}() has no argument '{keyword.arg}': {signature}",
                              keyword.value)
            if keyword.arg in bound:
                raise _Reject(f"argument '{keyword.arg}' given twice: {signature}", keyword.value)
            bound[keyword.arg] = self.compile(keyword.value, depth)
        first_default = len(params) - len(fn.defaults)
        args: list[_Node] = []
        for i, param in enumerate(params):
            if param in bound:
                args.append(bound[param])
            elif i >= first_default:
                args.append(float(fn.defaults[i - first_default]))
            else:
                raise _Reject(f"missing argument '{param}': {signature}", node)
        return args


def _unknown(name: str, kind: str) -> str:
    if kind == "name":
        close = difflib.get_close_matches(name, [*_VARIABLES, *_CONSTANTS], n=1)
        if close:
            return f"unknown name '{name}' (did you mean '{close[0]}'?)"
        return f"unknown name '{name}' (variables: {', '.join(_VARIABLES)}; constants: pi, e)"
    close = difflib.get_close_matches(name, list(_FUNCTIONS), n=1)
    hint = f" (did you mean '{close[0]}'?)" if close else ""
    return f"unknown function '{name}'{hint}"


# ---- the public face --------------------------------------------------------------------------


class Expression:
    """A compiled expression: call :meth:`evaluate` once per frame with the frame's env."""

    __slots__ = ("text", "names", "_fn", "_constant")

    def __init__(self, text: str, fn: _Node, names: frozenset[str]) -> None:
        self.text = text
        #: The variables it reads (``beat`` included when a shape helper reads it implicitly).
        self.names = names
        self._constant = fn if isinstance(fn, float) else None
        self._fn = _as_fn(fn)

    @property
    def is_constant(self) -> bool:
        """True when it reads no variable (it was folded to one number at compile time)."""
        return self._constant is not None

    @property
    def uses_audio(self) -> bool:
        """True when it reads an audio feature, so it moves with the music, not only the clock."""
        return not self.names.isdisjoint(AUDIO_VARIABLES)

    @property
    def uses_time(self) -> bool:
        """True when it reads a clock variable (frame, t, sec, beat, bar, beat_phase)."""
        return not self.names.isdisjoint(TIME_VARIABLES)

    def evaluate(self, env: Mapping[str, float]) -> float:
        """The value for this env, a finite float.

        Raises ExpressionError on a runtime failure (division by zero, math domain error,
        overflow, a non-finite result, a variable missing from ``env``). Show-time callers catch
        it and hold the last good value rather than stop the show.
        """
        if self._constant is not None:
            return self._constant
        try:
            value = self._fn(env) + 0.0  # + 0.0: a float even when env holds ints or a bool
        except ZeroDivisionError:
            raise ExpressionError("division by zero", self.text) from None
        except OverflowError:
            raise ExpressionError("number too large", self.text) from None
        except ValueError as exc:
            raise ExpressionError(_value_error_reason(exc), self.text) from None
        except KeyError as exc:
            raise ExpressionError(f"variable {exc.args[0]!r} is missing from the environment",
                                  self.text) from None
        if value - value != 0.0:  # inf - inf and nan - nan are nan; cheaper than math.isfinite
            raise ExpressionError(f"result is not a finite number ({value})", self.text)
        return value

    def __repr__(self) -> str:
        return f"Expression({self.text!r})"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Expression) and other.text == self.text

    def __hash__(self) -> int:
        return hash(self.text)


@functools.lru_cache(maxsize=2048)
def compile_expression(text: str) -> Expression:
    """Parse, validate and compile ``text`` once; raises ExpressionError naming what and where.

    Every name is checked here against the variables, constants and functions above, so a typo
    fails ``vj check`` instead of the show. Constant sub-expressions are computed now (and
    ``1/0`` or ``9**9**9`` are compile errors). Results are cached: schedules repeat values.
    """
    if not isinstance(text, str):
        raise ExpressionError(f"expected expression text, got {type(text).__name__}", repr(text))
    if len(text) > MAX_LENGTH:
        raise ExpressionError(f"expression is too long ({len(text)} characters, limit "
                              f"{MAX_LENGTH})", text[:60] + "...")
    # One line, same columns: YAML may fold a long expression over several lines.
    source = text.replace("\r", " ").replace("\n", " ").replace("\t", " ")
    stripped = source.lstrip()
    indent = len(source) - len(stripped)
    if not stripped.strip():
        raise ExpressionError("empty expression", text)
    try:
        tree = ast.parse(stripped, mode="eval")
    except SyntaxError as exc:
        reason = "syntax error" + (f" ({exc.msg})" if exc.msg and exc.msg != "invalid syntax" else "")
        if exc.offset and 0 < exc.offset <= len(stripped):
            column = indent + exc.offset
        else:  # Python gives offset 0 when the text stops in the middle, like 't +'
            reason, column = "syntax error (the expression stops too early)", len(source.rstrip()) + 1
        raise ExpressionError(reason, text, column) from None
    except (ValueError, RecursionError, MemoryError) as exc:
        raise ExpressionError(f"cannot parse ({exc.__class__.__name__})", text) from None
    compiler = _Compiler()
    try:
        fn = compiler.compile(tree.body)
    except _Reject as exc:
        column = None
        if exc.node is not None and hasattr(exc.node, "col_offset"):
            # col_offset counts UTF-8 bytes; turn it into characters
            byte_col = exc.node.col_offset
            column = indent + len(stripped.encode()[:byte_col].decode(errors="ignore")) + 1
        raise ExpressionError(exc.reason, text, column) from None
    return Expression(text, fn, frozenset(compiler.names))
