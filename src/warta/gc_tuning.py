"""The cycle collector tuned for a long-lived server process: every warta process (the server, the
workers, the sending processes) sets it up once it has loaded what it needs."""

from __future__ import annotations

import gc

# the cycle collector's thresholds for a server: the first generation collected after 50,000 new
# container objects instead of 700, the older ones more rarely. A server's heap is large and long
# lived (the audience index, rendered editions, every open connection), and each collection of
# the older generations walks all of it: with CPython's defaults, building a claim's thousands of
# jobs spent a large share of its time in the collector. Objects are still freed by reference counting the moment they
# are unused; only garbage in reference cycles waits a little longer.
GC_THRESHOLDS = (50_000, 20, 100)


def tune_gc() -> None:
    """Set the collector's thresholds, and leave what the process has loaded so far (modules,
    mappers, settings) out of every later collection."""
    gc.set_threshold(*GC_THRESHOLDS)
    gc.freeze()
