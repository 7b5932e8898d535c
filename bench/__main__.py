"""Run the benchmarks, write bench/results/*.json and regenerate docs/benchmarks.md.

python -m bench            # everything
python -m bench core       # one suite (core, alerts, distribution, languages, nats, scaled, dkim, hub)
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import Any

from bench import alerts, core, distribution, dkim, hub, languages, nats, report, scaled

SUITES: dict[str, Callable[[], Any]] = {
    "core": core.run,
    "alerts": alerts.run,
    "distribution": distribution.run,
    "languages": languages.run,
    "nats": nats.run,
    "scaled": scaled.run,
    "dkim": dkim.run,
    "hub": hub.run,
}


def main(argv: list[str]) -> int:
    names = argv or list(SUITES)
    for name in names:
        if name not in SUITES:
            print(f"unknown suite {name!r}; choose from {', '.join(SUITES)}", file=sys.stderr)
            return 2
        print(f"== {name}", flush=True)
        SUITES[name]()
    report.write()
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
