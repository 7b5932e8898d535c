"""The published reach as a deterministic audience: a seed in, the same audience out.

Commercial wires publish 6,500 outlets, 86,000 journalists and millions of desktops in 90 countries;
`published_reach()` makes that audience as rows for `warta recipients import` (outlets receive
webhooks, journalists email, desktops the live stream), spread over 90 countries with Zipf-like
weights and over the wire's 15 languages by `LANG_WEIGHTS`. `saved_alerts()` adds 100,000 to
1,000,000 alerts from the alerts suite's seeded generator. Nothing here reads a clock or a global
random source, so the same seed gives byte-identical CSV.

    python -m bench.audience 42 audience.csv [--desktops 15000] [--webhook-base http://127.0.0.1:9000]
"""

from __future__ import annotations

import random
import sys
from collections.abc import Iterator
from pathlib import Path

from bench import alerts as alert_gen
from bench import harness
from bench.distribution import LANG_WEIGHTS, _cumulative, countries90

OUTLETS = 6_500
JOURNALISTS = 86_000
DESKTOPS = 15_000  # live desktops this machine holds across several processes
FIELDS = ["kind", "name", "country", "languages", "sectors", "email", "webhook_url", "external_id"]


def published_reach(
    seed: int,
    outlets: int = OUTLETS,
    journalists: int = JOURNALISTS,
    desktops: int = DESKTOPS,
    webhook_base: str = "https://hooks{host}.example",
) -> list[dict[str, str]]:
    """Exactly `outlets` + `journalists` + `desktops` rows, interleaved by a seeded shuffle.

    Each outlet's webhook URL is `<webhook_base>/hooks/<n>`; `{host}` in the base, if present, is
    replaced by the outlet's number modulo 500 (many outlets share a host, as they do in life)."""
    rng = random.Random(seed)
    countries = countries90()
    country_cum = list(_cumulative(1.0 / (r + 1) ** 0.8 for r in range(len(countries))))
    langs, lang_cum = list(LANG_WEIGHTS), list(_cumulative(LANG_WEIGHTS.values()))
    kinds = ["outlet"] * outlets + ["journalist"] * journalists + ["desktop"] * desktops
    rng.shuffle(kinds)
    counters = {"outlet": 0, "journalist": 0, "desktop": 0}
    rows = []
    for kind in kinds:
        n = counters[kind]
        counters[kind] += 1
        primary = rng.choices(langs, cum_weights=lang_cum)[0]
        languages = [primary]
        if primary != "en" and rng.random() < 0.4:
            languages.append("en")
        sectors = [] if rng.random() < 0.6 else rng.sample(alert_gen.SECTORS, rng.randint(1, 3))
        row = {
            "kind": kind,
            "name": f"{kind.title()} {n}",
            "country": rng.choices(countries, cum_weights=country_cum)[0],
            "languages": ";".join(languages),
            "sectors": ";".join(sectors),
            "email": "",
            "webhook_url": "",
            "external_id": f"{kind[0]}{n}",
        }
        if kind == "journalist":
            row["email"] = f"j{n}@news{n % 997}.example"
        elif kind == "outlet":
            row["webhook_url"] = f"{webhook_base.replace('{host}', str(n % 500))}/hooks/{n}"
        rows.append(row)
    return rows


def saved_alerts(seed: int, n: int) -> Iterator[alert_gen.AlertSpec]:
    """`n` saved alerts (queries with phrases, OR and NOT; some filtered), the same for the same seed."""
    gen = alert_gen.Generator(seed)
    for i in range(n):
        yield gen.alert(i)


def write_csv(rows: list[dict[str, str]], path: Path) -> None:
    harness.write_csv(rows, path, FIELDS)


def main(argv: list[str]) -> int:
    import argparse

    parser = argparse.ArgumentParser(prog="python -m bench.audience")
    parser.add_argument("seed", type=int)
    parser.add_argument("out", type=Path)
    parser.add_argument("--outlets", type=int, default=OUTLETS)
    parser.add_argument("--journalists", type=int, default=JOURNALISTS)
    parser.add_argument("--desktops", type=int, default=DESKTOPS)
    parser.add_argument("--webhook-base", default="https://hooks{host}.example")
    args = parser.parse_args(argv)
    rows = published_reach(args.seed, args.outlets, args.journalists, args.desktops, args.webhook_base)
    write_csv(rows, args.out)
    print(f"{len(rows):,} recipients written to {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
