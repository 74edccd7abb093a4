"""Keeping the long-running bot's resident memory flat.

A matplotlib figure is a web of reference cycles holding megabytes of buffers: it is freed only
by a cyclic collection, which the raised GC threshold (bot.app._tune_gc) makes rare. So after each
request, off the latency path, collect (cheap: start-up objects are frozen) and hand freed pages
back to the OS with glibc's `malloc_trim(0)` (a no-op where glibc is absent).
"""

from __future__ import annotations

import ctypes
import ctypes.util
import gc


def _load_trim():
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        trim = libc.malloc_trim
    except (OSError, AttributeError):
        return None
    trim.argtypes = [ctypes.c_size_t]
    trim.restype = ctypes.c_int
    return trim


_trim = _load_trim()


def release() -> None:
    gc.collect()
    if _trim is not None:
        _trim(0)
