"""A thread-safe ``functools.lru_cache`` whose callers share one computation per key.

Executables are compiled ahead on a background thread (:mod:`sweeper.compile_ahead`); a
job that needs one while it is being compiled waits for it instead of compiling it again.
A computation that raises is not kept: the next caller computes again, in its own context.
"""

from __future__ import annotations

import functools
import threading
from collections import OrderedDict
from collections.abc import Callable
from concurrent.futures import Future
from typing import Any, NamedTuple


class CacheInfo(NamedTuple):
    hits: int
    misses: int
    maxsize: int
    currsize: int


def shared_lru_cache(maxsize: int = 128) -> Callable[[Callable], Callable]:
    def decorate(fn: Callable) -> Callable:
        entries: OrderedDict[Any, Future] = OrderedDict()
        lock = threading.Lock()
        counts = {"hits": 0, "misses": 0}

        @functools.wraps(fn)
        def cached(*args, **kwargs):
            key = functools._make_key(args, kwargs, typed=False)
            while True:
                with lock:
                    future = entries.get(key)
                    mine = future is None
                    if mine:
                        future = entries[key] = Future()
                        counts["misses"] += 1
                    else:
                        entries.move_to_end(key)
                        counts["hits"] += 1
                if not mine:
                    try:
                        return future.result()
                    except BaseException:
                        continue  # the other caller failed: compute here, with this caller's error if any
                try:
                    value = fn(*args, **kwargs)
                except BaseException as err:
                    with lock:
                        entries.pop(key, None)
                    future.set_exception(err)
                    raise
                future.set_result(value)
                with lock:
                    while len(entries) > maxsize:
                        entries.popitem(last=False)
                return value

        def cache_info() -> CacheInfo:
            with lock:
                return CacheInfo(counts["hits"], counts["misses"], maxsize, len(entries))

        def cache_clear() -> None:
            with lock:
                entries.clear()
                counts.update(hits=0, misses=0)

        cached.cache_info, cached.cache_clear = cache_info, cache_clear
        return cached

    return decorate
