"""Free a JACK server's slot in JACK's shared-memory registry after it died without saying so.

jackd2 keeps at most 8 servers per machine in ``/dev/shm/jack-shm-registry`` and only clears an
entry when the server exits cleanly or a server of the *same name* starts again. A server killed
hard (SIGKILL after a stuck client, a test run cut short) keeps its slot for ever, and after eight
of those no JACK server starts on the machine at all — for every user of it. The tests and the
benchmark start servers under unique names, so they reclaim their own slots here, only for
their own names and only when the recorded process is gone (what jackd itself does for a name).

Layout (jack2 1.9, common/shm.h): a 24-byte header (magic 'JACK', ...) then 8 entries of
{pid_t pid; char name[257];} padded to 264 bytes. Anything else found there is left alone.
"""
from __future__ import annotations

import mmap
import os
import struct
from pathlib import Path

REGISTRY = Path("/dev/shm/jack-shm-registry")
_MAGIC, _HEADER, _ENTRY, _SERVERS = 0x4A41434B, 24, 264, 8


def reclaim(server_name: str) -> int:
    """Clear registry entries of ``server_name`` whose process is dead; returns how many."""
    if not REGISTRY.exists():
        return 0
    cleared = 0
    with open(REGISTRY, "r+b") as handle:
        with mmap.mmap(handle.fileno(), 0) as registry:
            if len(registry) < _HEADER + _SERVERS * _ENTRY or struct.unpack_from("<I", registry, 0)[0] != _MAGIC:
                return 0
            for index in range(_SERVERS):
                offset = _HEADER + index * _ENTRY
                pid = struct.unpack_from("<i", registry, offset)[0]
                name = bytes(registry[offset + 4:offset + 261]).split(b"\0")[0].decode("utf-8", "replace")
                if pid <= 0 or f":{server_name}:" not in name:
                    continue
                try:
                    os.kill(pid, 0)
                    continue  # still running: not ours to touch
                except ProcessLookupError:
                    pass
                except PermissionError:
                    continue
                registry[offset:offset + _ENTRY] = b"\0" * _ENTRY
                cleared += 1
    return cleared
