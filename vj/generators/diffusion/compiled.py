"""torch.compile for the show: compile every shape before it, then never compile during it.

``compile_modules`` wraps the UNet and both VAE halves in ``GuardedModule``s that share one
``CompileGuard``. Before ``CompileGuard.lock`` (the warm-up) a call compiles as usual. After it,
each call runs under ``torch.compiler.set_stance("fail_on_recompile")``: a call whose guards all
pass runs the compiled code; one that would compile (a shape that was not warmed up, a tensor of
another kind) raises inside torch *before* anything runs, and the guard runs that call on the
eager module instead, logs why once, and keeps a message for the HUD. A show never stalls for a
compile (a minute on a GPU, several on a CPU) and never stops for one.

The stance is set around each guarded call rather than once for the process, because it is a
global of Dynamo's: a process-wide stance would also forbid compiles elsewhere (other tests, other
models). It exists since torch 2.6, so both the CPU build here (2.13) and the lent GPUs' 2.11 have it.
"""
from __future__ import annotations

import logging
import threading
from typing import Any, Callable

log = logging.getLogger(__name__)

#: Dynamo's message when a compile is refused under the stance (torch 2.6 – 2.13 word it so).
RECOMPILE_MARK = "fail_on_recompile"

#: Entries Dynamo keeps per function before it gives up compiling (silently running eager). Warm-up
#: can need sizes × CFG × stream-batch entries; the default (8) is too few for a large setlist.
RECOMPILE_LIMIT = 64


def is_recompile_error(exc: BaseException) -> bool:
    """True for the error ``fail_on_recompile`` raises (a RuntimeError naming the stance)."""
    try:
        from torch._dynamo.exc import RecompileError
    except ImportError:  # pragma: no cover - every supported torch has it
        RecompileError = ()  # type: ignore[assignment,misc]
    return isinstance(exc, RecompileError) or (isinstance(exc, RuntimeError) and RECOMPILE_MARK in str(exc))


def signature(args: tuple[Any, ...], kwargs: dict[str, Any]) -> tuple[Any, ...]:
    """The shapes and dtypes of a call's tensors: what a refused compile is remembered by."""
    import torch

    def one(value: Any) -> Any:
        if isinstance(value, torch.Tensor):
            return (tuple(value.shape), str(value.dtype), value.is_inference())
        if isinstance(value, dict):
            return tuple((key, one(item)) for key, item in sorted(value.items()))
        if isinstance(value, (list, tuple)):
            return tuple(one(item) for item in value)
        return type(value).__name__

    return one(args) + tuple((key, one(value)) for key, value in sorted(kwargs.items()))


class CompileGuard:
    """One generator's compile state: warming (compiles allowed) or locked (compiles refused).

    ``fallbacks`` counts calls that ran eager after the lock; ``message`` says what happened, for
    the HUD (None while every call runs compiled)."""

    def __init__(self) -> None:
        self.locked = False
        self.fallbacks = 0
        self.message: str | None = None
        self._refused: set[tuple[str, tuple[Any, ...]]] = set()
        self._lock = threading.Lock()

    def lock(self) -> None:
        """End of warm-up: from now on a call that would compile runs eager instead."""
        self.locked = True

    def unlock(self) -> None:
        """Allow compiles again (a new size before a new show; tests)."""
        self.locked = False

    def run(self, name: str, compiled: Callable[..., Any], eager: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        """``compiled(*args)``, or ``eager(*args)`` where that would compile after the lock."""
        if not self.locked:
            return compiled(*args, **kwargs)
        import torch

        key = (name, signature(args, kwargs))
        if key in self._refused:  # already known to need a compile: straight to eager, no retry cost
            self.fallbacks += 1
            return eager(*args, **kwargs)
        try:
            with torch.compiler.set_stance("fail_on_recompile"):
                return compiled(*args, **kwargs)
        except Exception as exc:
            if not is_recompile_error(exc):
                raise
            reason = str(exc).strip().splitlines()
            with self._lock:
                self._refused.add(key)
                self.fallbacks += 1
                self.message = f"{name}: not compiled for this input, running eager (warm-up missed it)"
            log.warning("%s would recompile during the show (%s); running it eager instead. Warm up this shape "
                        "before the show. Dynamo said: %s", name, key[1], " ".join(line.strip() for line in reason))
            return eager(*args, **kwargs)


def _module_base() -> type:
    import torch

    return torch.nn.Module


class GuardedModule(_module_base()):  # type: ignore[misc]
    """A compiled module that falls back to its eager self when the guard refuses a compile.

    The eager module stays registered as ``_orig_mod`` (as in torch's OptimizedModule), so the
    parent's parameters, ``.to()`` and state-dict keys look as they do with plain torch.compile."""

    def __init__(self, module: Any, guard: CompileGuard, name: str, **compile_options: Any) -> None:
        import torch

        super().__init__()
        self._orig_mod = module
        self.guard_name = name
        object.__setattr__(self, "guard", guard)
        object.__setattr__(self, "compiled", torch.compile(module, **compile_options))

    def forward(self, *args: Any, **kwargs: Any) -> Any:
        return self.guard.run(self.guard_name, self.compiled, self._orig_mod, *args, **kwargs)

    def __getattr__(self, name: str) -> Any:  # config, dtype, ...: as the wrapped module has them
        try:
            return super().__getattr__(name)
        except AttributeError:
            return getattr(self._modules["_orig_mod"], name)


def compile_modules(unet: Any, vae: Any, device: Any, guard: CompileGuard, *, backend: Any = "inductor",
                    mode: str | None = None) -> Any:
    """Guarded torch.compile of the UNet and the VAE halves; returns the UNet module to call.

    On CUDA ``mode="reduce-overhead"`` records CUDA graphs, which removes the launch overhead that
    dominates a 1-step 512² frame. Shapes are static (``dynamic=False``): every shape the show can
    produce is compiled in the warm-up, then the guard refuses new ones. ``backend`` is inductor for
    shows; the CPU tests use Dynamo's ``eager`` backend (the same guards and recompiles, without
    minutes of C++ code generation)."""
    import torch
    import torch._dynamo.config as dynamo_config

    if mode is None:
        mode = "reduce-overhead" if torch.device(device).type == "cuda" and backend == "inductor" else None
    dynamo_config.recompile_limit = max(int(dynamo_config.recompile_limit), RECOMPILE_LIMIT)
    # channels-last convolutions are what diffusers' speed guide pairs with torch.compile.
    unet.to(memory_format=torch.channels_last)
    vae.to(memory_format=torch.channels_last)
    options: dict[str, Any] = {"backend": backend, "dynamic": False}
    if mode is not None:
        options["mode"] = mode
    guarded = GuardedModule(unet, guard, "UNet", fullgraph=False, **options)
    if hasattr(vae, "decoder") and not isinstance(vae.decoder, GuardedModule):
        vae.decoder = GuardedModule(vae.decoder, guard, "VAE decoder", **options)
    if hasattr(vae, "encoder") and not isinstance(vae.encoder, GuardedModule):
        vae.encoder = GuardedModule(vae.encoder, guard, "VAE encoder", **options)
    log.info("torch.compile (%s, %s) on the UNet and VAE; the warm-up compiles every shape", backend, mode or "default")
    return guarded
