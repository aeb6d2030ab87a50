"""Waiting on a live run by its progress, not by a fixed limit: the live-cluster tests' one wait.

Why: a fixed limit fails a run that is merely slow (a loaded machine took 14:41 for a job of ~2 min)
and waits long on one that hangs. A run makes progress while its log or its store changes (a job
that is running writes checkpoints, metrics and logs); it is stalled after `stall_s` without any
change, and an overall `limit_s` still bounds a run that changes forever. The failure says which.
"""
from __future__ import annotations

import time
from pathlib import Path
from typing import Callable


def folder_state(*paths: Path) -> tuple:
    """What changes while a run writes: each file's name, size and mtime under `paths` (files or folders)."""
    state = []
    for path in paths:
        files = [path] if path.is_file() else sorted(path.rglob("*")) if path.is_dir() else []
        for file in files:
            try:
                st = file.stat()
            except FileNotFoundError:  # renamed into place meanwhile
                continue
            state.append((str(file), st.st_size, st.st_mtime_ns))
    return tuple(state)


class Stalled(Exception):
    """The wait ended without the result; the message says whether the run stalled or ran out of time."""


def wait_on_progress(result: Callable, state: Callable, what: str, stall_s: float, limit_s: float,
                     clock: Callable = time.monotonic, sleep: Callable = time.sleep, poll_s: float = 0.5):
    """Poll `result()` until it is truthy and return it; `state()` is the run's progress (any value
    that changes while it works). Raises Stalled after `stall_s` without a change of state, or after
    `limit_s` in all while it was still changing."""
    start = last_change = clock()
    last = state()
    while True:
        found = result()
        if found:
            return found
        now = clock()
        current = state()
        if current != last:
            last, last_change = current, now
        if now - last_change >= stall_s:
            raise Stalled(f"{what}: stalled, nothing written for {stall_s:.0f} s "
                          f"(after {now - start:.0f} s in all)")
        if now - start >= limit_s:
            raise Stalled(f"{what}: overall limit of {limit_s:.0f} s reached while the run was still "
                          f"writing (last change {now - last_change:.0f} s ago)")
        sleep(poll_s)
