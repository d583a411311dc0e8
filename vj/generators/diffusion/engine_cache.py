"""What ``vj compile`` writes to disk, and when a later run may trust it.

Three rules keep a killed or crashed compile from poisoning a show:

1. **Atomic writes.** Every ONNX file, engine, timing cache and sidecar is written under a
   temporary name beside its final one and renamed into place (``os.replace``) only once it is
   complete and flushed. A half-written file never has the name a later run looks for.
2. **A key for everything that makes an engine unusable elsewhere:** GPU name and compute
   capability, TensorRT version, model id plus a fingerprint of its weights (so an updated model
   never reuses a stale engine), output size, batch sizes, precision, VAE kind and LoRA. The key
   names the cache folder, and is also written next to each engine as a JSON sidecar.
3. **The sidecar is written last.** An engine is trusted only when its sidecar exists, matches the
   key this run computed and records the engine's exact size; an engine from another GPU or
   TensorRT version is reported as such, in one line, with what to do.
"""
from __future__ import annotations

import contextlib
import errno
import hashlib
import json
import logging
import os
import shutil
import uuid
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterator

from vj.generators.base import GeneratorError

log = logging.getLogger(__name__)

#: Bytes hashed from the start, middle and end of each weight file: enough to tell two
#: fine-tunes of one architecture apart (their headers are identical), a few MiB to read.
SAMPLE_BYTES = 1 << 20
WEIGHT_SUFFIXES = (".safetensors", ".bin", ".ckpt", ".pt")
TEMPORARY_MARK = ".tmp-"
SIDECAR_SUFFIX = ".json"


# ---- atomic writes ------------------------------------------------------------------------------

def temporary_name(final: Path) -> Path:
    """A hidden name beside ``final`` that no reader looks for (pid + random: two compiles never collide)."""
    return final.with_name(f".{final.name}{TEMPORARY_MARK}{os.getpid()}-{uuid.uuid4().hex[:8]}")


def fsync_file(path: Path) -> None:
    """Flush a file to disk before it is renamed into place (a rename of unflushed data can survive a crash empty)."""
    with open(path, "rb") as handle:
        os.fsync(handle.fileno())


def _fsync_folder(folder: Path) -> None:
    """Make the rename itself durable (POSIX: fsync the directory); a no-op where unsupported."""
    try:
        descriptor = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(descriptor)
    except OSError:
        pass  # some filesystems refuse fsync on directories; the rename is still atomic
    finally:
        os.close(descriptor)


@contextlib.contextmanager
def atomic_path(final: Path) -> Iterator[Path]:
    """Yield a temporary path to write ``final``'s contents to; on success it is flushed and renamed
    to ``final`` (replacing any old file in one step), on any exception it is deleted and ``final``
    is left as it was. A disk that fills up (ENOSPC) becomes a GeneratorError saying so."""
    final = Path(final)
    final.parent.mkdir(parents=True, exist_ok=True)
    temporary = temporary_name(final)
    try:
        yield temporary
        fsync_file(temporary)
        os.replace(temporary, final)
    except BaseException as exc:
        with contextlib.suppress(FileNotFoundError):
            temporary.unlink()
        if isinstance(exc, OSError) and is_disk_full(exc):
            raise disk_full(final, exc) from exc
        raise
    _fsync_folder(final.parent)


def atomic_write_bytes(final: Path, data: Any) -> Path:
    """Write ``data`` (bytes or any buffer, e.g. TensorRT's IHostMemory) to ``final`` atomically."""
    with atomic_path(final) as temporary:
        with open(temporary, "wb") as handle:
            handle.write(memoryview(data))
    return Path(final)


def atomic_write_text(final: Path, text: str) -> Path:
    with atomic_path(final) as temporary:
        temporary.write_text(text, encoding="utf-8")
    return Path(final)


def is_disk_full(exc: BaseException) -> bool:
    """An OSError for a full disk or quota, or a library's RuntimeError wrapping one."""
    if isinstance(exc, OSError) and exc.errno in (errno.ENOSPC, errno.EDQUOT):
        return True
    text = str(exc).lower()
    return "no space left on device" in text or "disk quota exceeded" in text


def disk_full(path: Path, exc: BaseException | None = None) -> GeneratorError:
    """The one-line message for a full disk: where, how much is free, what to do."""
    folder = Path(path).parent
    while not folder.exists() and folder != folder.parent:
        folder = folder.parent
    try:
        free = f"{shutil.disk_usage(folder).free / 2**30:.1f} GB free"
    except OSError:
        free = "free space unknown"
    return GeneratorError(
        f"out of disk space writing {path} ({free} there; an fp16 sd-turbo UNet needs about 1.7 GB, "
        f"an SDXL one about 5 GB, and their engines as much again): free some space or pass "
        f"--cache-dir on a larger disk, then run `vj compile` again")


def remove_stale_temporaries(folder: Path) -> list[Path]:
    """Delete temporaries that a killed compile left in ``folder`` (their process is gone)."""
    removed: list[Path] = []
    if not Path(folder).is_dir():
        return removed
    for path in Path(folder).rglob(f".*{TEMPORARY_MARK}*"):
        pid_text = path.name.rsplit(TEMPORARY_MARK, 1)[-1].split("-", 1)[0]
        if pid_text.isdigit() and _process_alive(int(pid_text)):
            continue
        if path.is_dir():
            shutil.rmtree(path, ignore_errors=True)
        else:
            with contextlib.suppress(FileNotFoundError):
                path.unlink()
        removed.append(path)
    return removed


def _process_alive(pid: int) -> bool:
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


# ---- what identifies an engine -----------------------------------------------------------------

def weights_fingerprint(folder: Path) -> str:
    """A cheap content fingerprint of a diffusers model folder: every config/index JSON in full,
    and each weight file's size plus its first, middle and last MiB. A fine-tune, a re-download
    of another revision or a converted checkpoint all change it; reading it costs a few MiB.
    A Hugging Face cache snapshot's revision (its folder name) is included too."""
    folder = Path(folder)
    digest = hashlib.sha256()
    if folder.parent.name == "snapshots":
        digest.update(f"revision={folder.name}".encode())
    for path in sorted(p for p in folder.rglob("*") if p.is_file()):
        relative = path.relative_to(folder).as_posix()
        if path.suffix == ".json":
            digest.update(relative.encode())
            digest.update(path.read_bytes())
        elif path.suffix in WEIGHT_SUFFIXES:
            size = path.stat().st_size
            digest.update(f"{relative}:{size}".encode())
            with open(path, "rb") as handle:
                for offset in sorted({0, max(size // 2 - SAMPLE_BYTES // 2, 0), max(size - SAMPLE_BYTES, 0)}):
                    handle.seek(offset)
                    digest.update(handle.read(SAMPLE_BYTES))
    return digest.hexdigest()[:20]


@dataclass(frozen=True)
class EngineKey:
    """Everything that makes an engine unusable on another machine, model, size or setting."""

    model: str
    weights: str                   # weights_fingerprint of the model folder
    gpu: str                       # torch.cuda.get_device_name()
    compute_capability: str        # "9.0" for an H100/H200
    tensorrt: str                  # tensorrt.__version__
    width: int
    height: int
    batch: int                     # the base UNet batch (stream-batch steps, or 1)
    batches: tuple[int, ...] = ()  # every static UNet profile in the engine (CFG doubles the batch)
    precision: str = "fp16"
    vae: str = "full"
    lora: str | None = None
    lora_scale: float = 1.0
    extra: tuple[tuple[str, str], ...] = field(default=())

    #: The fields whose mismatch means "built on another machine": said first in messages.
    MACHINE_FIELDS = ("gpu", "compute_capability", "tensorrt")

    def as_dict(self) -> dict[str, Any]:
        fields = asdict(self)
        fields["batches"] = list(self.batches)
        fields["extra"] = [list(pair) for pair in self.extra]
        fields["lora_scale"] = round(float(self.lora_scale), 4)
        return fields

    def digest(self) -> str:
        return hashlib.sha256(json.dumps(self.as_dict(), sort_keys=True).encode()).hexdigest()[:16]

    def folder_name(self) -> str:
        """Readable and unique: the model's tail, the shape, the precision, then the digest."""
        safe = "".join(c if c.isalnum() or c in "-_." else "-" for c in self.model)[-48:]
        return f"{safe}--{self.batch}x{self.width}x{self.height}--{self.precision}--{self.digest()}"

    def differences(self, recorded: dict[str, Any]) -> list[str]:
        """Human-readable differences between this key and a recorded one (machine fields first)."""
        mine = self.as_dict()
        names = list(self.MACHINE_FIELDS) + [n for n in mine if n not in self.MACHINE_FIELDS]
        return [f"{name} {recorded.get(name)!r} (this machine/setlist: {mine[name]!r})"
                for name in names if recorded.get(name) != mine[name]]


# ---- sidecars -----------------------------------------------------------------------------------

def sidecar_path(artifact: Path) -> Path:
    return Path(artifact).with_name(Path(artifact).name + SIDECAR_SUFFIX)


def write_sidecar(artifact: Path, key: EngineKey, **details: Any) -> Path:
    """Record ``key`` and the artifact's size beside it: written after the artifact, atomically."""
    record = {"key": key.as_dict(), "bytes": Path(artifact).stat().st_size, **details}
    return atomic_write_text(sidecar_path(artifact), json.dumps(record, indent=1, sort_keys=True))


def read_sidecar(artifact: Path) -> dict[str, Any] | None:
    """The sidecar's record, or None when it is missing or unreadable (the artifact is then untrusted)."""
    path = sidecar_path(artifact)
    try:
        record = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return record if isinstance(record, dict) and isinstance(record.get("key"), dict) else None


def trusted(artifact: Path, key: EngineKey) -> bool:
    """Whether ``artifact`` is complete and made for ``key`` (so a compile may skip rebuilding it)."""
    artifact = Path(artifact)
    record = read_sidecar(artifact)
    return (record is not None and artifact.is_file() and record.get("bytes") == artifact.stat().st_size
            and not key.differences(record["key"]))


def check_trusted(artifact: Path, key: EngineKey, *, what: str = "TensorRT engine") -> None:
    """Raise a one-line GeneratorError unless ``artifact`` may be used with ``key``: missing,
    half-written (no sidecar, wrong size), or built for another GPU, TensorRT, model or size."""
    artifact = Path(artifact)
    if not artifact.is_file():
        raise GeneratorError(f"no {what} at {artifact}; run `vj compile SETLIST` on this machine before the show")
    record = read_sidecar(artifact)
    if record is None:
        raise GeneratorError(f"{what} {artifact} has no readable {SIDECAR_SUFFIX} sidecar (an interrupted "
                             f"`vj compile`?); run `vj compile SETLIST` again")
    if record.get("bytes") != artifact.stat().st_size:
        raise GeneratorError(f"{what} {artifact} is {artifact.stat().st_size} bytes but was written as "
                             f"{record.get('bytes')} (truncated or replaced); run `vj compile SETLIST` again")
    differences = key.differences(record["key"])
    if differences:
        raise GeneratorError(f"{what} {artifact} was built for {'; '.join(differences[:3])}; "
                             f"run `vj compile SETLIST` on this machine")


def find_other_builds(cache_dir: Path, key: EngineKey) -> list[dict[str, Any]]:
    """Keys of engines in ``cache_dir`` for the same model and size but another GPU or TensorRT:
    what a 'no engine' message names so the performer sees why (copied from another machine)."""
    found = []
    for sidecar in Path(cache_dir).glob(f"*/unet.engine{SIDECAR_SUFFIX}"):
        record = read_sidecar(sidecar.with_name("unet.engine"))
        if record is None:
            continue
        recorded = record["key"]
        if (recorded.get("model"), recorded.get("width"), recorded.get("height")) == (key.model, key.width, key.height):
            found.append(recorded)
    return found


def write_with(final: Path, writer: Callable[[Path], Any]) -> Path:
    """Run ``writer(temporary_path)`` and rename its output to ``final`` (see ``atomic_path``)."""
    with atomic_path(final) as temporary:
        writer(temporary)
    return Path(final)


__all__ = ["EngineKey", "atomic_path", "atomic_write_bytes", "atomic_write_text", "check_trusted", "disk_full",
           "find_other_builds", "is_disk_full", "read_sidecar", "remove_stale_temporaries", "sidecar_path",
           "trusted", "weights_fingerprint", "write_sidecar", "write_with"]
