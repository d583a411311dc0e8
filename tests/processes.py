"""Helper processes the tests start (jackd, Xvfb, click feeders): stopping them politely."""
from __future__ import annotations

import signal
import subprocess
import time


def stop_process(process: subprocess.Popen) -> None:
    """SIGTERM, then SIGKILL if it has not gone within 5 s."""
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=5)


def kill_hard(process: subprocess.Popen) -> None:
    """SIGKILL, as a crash would end it, after a pause (SIGSTOP) that lets the test read every line
    the process wrote before it dies."""
    process.send_signal(signal.SIGSTOP)
    time.sleep(0.3)
    process.send_signal(signal.SIGKILL)
    process.wait(timeout=10)


def make_sure_gone(process: subprocess.Popen) -> None:
    """Kill and reap ``process`` if a failed test left it running."""
    if process.poll() is None:
        process.kill()
        process.wait()
