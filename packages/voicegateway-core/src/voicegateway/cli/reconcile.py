"""``voicegw reconcile``: does what we recorded match what the providers billed? See
docs/reconcile.md.

Every file is read in full before anything is compared; a malformed or unrecognised file prints
one error naming it (and the row and column) and exits 2 with no result. Exit 0: everything
within tolerance; 1: something flagged; 2: bad input, or the ledger could not be read.
"""

from __future__ import annotations

import csv
import datetime
import io
import json
import sys
from decimal import Decimal, InvalidOperation
from pathlib import Path

from voicegateway.cli.output import table

EXAMPLES = (
    "voicegw reconcile deepgram-usage.csv openai-costs.json",
    "voicegw reconcile --list-readers",
)

EXIT_OK, EXIT_FLAGGED = 0, 1


def add_parser(sub, common) -> None:
    p = sub.add_parser(
        "reconcile",
        parents=[common],
        help="compare the ledger with providers' usage exports and invoices",
        description="Compare what VoiceGateway recorded with what providers billed, per "
        "provider, model, day and leg; each mismatch gets a cause (coverage, timing, units, "
        "rate). Exit 0: all within tolerance, 1: something flagged, 2: bad input.",
    )
    p.add_argument("files", nargs="*", type=Path, metavar="FILE", help="usage exports, invoices")
    p.add_argument(
        "--reader",
        metavar="NAME",
        help="read every FILE with this format instead of recognising each (see --list-readers)",
    )
    p.add_argument("--list-readers", action="store_true", help="list the formats and exit")
    p.add_argument(
        "--map",
        action="append",
        default=[],
        metavar="THEIRS=FIELD",
        help="generic format: read column THEIRS as FIELD (repeatable), e.g. seconds=audio_seconds",
    )
    p.add_argument(
        "--timezone",
        default="UTC",
        metavar="ZONE",
        help="generic format: the time zone of its days (default: UTC)",
    )
    p.add_argument("--since", metavar="DAY", help="first day to compare (default: the files')")
    p.add_argument("--until", metavar="DAY", help="day after the last one to compare (exclusive)")
    p.add_argument(
        "--account-map",
        action="append",
        default=[],
        metavar="ACCOUNT=PROJECT",
        help="compare per project: the provider account, workspace or key id ACCOUNT is "
        "PROJECT's (repeatable; without it, totals across accounts are compared)",
    )
    p.add_argument(
        "--units-tolerance",
        default="0.01",
        metavar="FRACTION",
        help="relative difference in a unit that passes (default: 0.01, 1%%)",
    )
    p.add_argument(
        "--cost-tolerance",
        default="0.02",
        metavar="FRACTION",
        help="relative difference in cost that passes (default: 0.02, 2%%)",
    )
    p.add_argument(
        "--cost-absolute",
        default="0",
        metavar="USD",
        help="a cost difference up to this many dollars passes too, e.g. 0.005 for exports "
        "rounded to the cent (default: 0)",
    )
    p.add_argument("--format", choices=("table", "json", "csv"), default="table")
    p.add_argument(
        "--write-overrides",
        type=Path,
        metavar="PATH",
        help="write the pricing: overrides that would fix the rate differences to PATH (YAML, "
        "for review; voicegw.yaml is never changed)",
    )
    p.set_defaults(run=run)


def run(args) -> int:
    from voicegateway.plugins import PluginHost
    from voicegateway.reconcile import compare, generic, overrides, run

    tolerances = compare.Tolerances(
        units=_fraction("--units-tolerance", args.units_tolerance),
        cost=_fraction("--cost-tolerance", args.cost_tolerance),
        cost_absolute=_fraction("--cost-absolute", args.cost_absolute),
    )
    since, until = _day("--since", args.since), _day("--until", args.until)
    if since and until and since >= until:
        raise ValueError("--until must be after --since")
    _zone(args.timezone)
    accounts = _pairs("--account-map", args.account_map)
    host = PluginHost()
    readers = host.usage_readers()
    for info in host.plugins().values():
        if info.readers_error:
            print(f"voicegw reconcile: plugin {info.name}: {info.readers_error}", file=sys.stderr)
    fallback = generic.generic_reader(generic.parse_mapping(args.map), args.timezone)
    if args.list_readers:
        _list(readers, fallback)
        return EXIT_OK
    if not args.files:
        raise ValueError("name at least one FILE (see --list-readers for the formats)")
    pick = _forced(args.reader, readers, fallback)
    if pick is None:
        pick = lambda path: run.pick_reader(path, readers, fallback)  # noqa: E731
    exports = _read(args.files, pick)
    found = run.scopes(exports, since, until, accounts)
    for scope in found.values():
        _zone(scope.timezone)
    theirs = run.theirs_by_key(exports, found, accounts)
    ours = _ours(args, found)
    results = compare.compare(ours, theirs, tolerances) + run.incomplete(exports)
    _emit(results, args.format, per_project=any(s.per_project for s in found.values()))
    if args.write_overrides:
        text = overrides.proposals(results, [str(e.path) for e in exports])
        args.write_overrides.write_text(text, encoding="utf-8")
        print(f"wrote proposed pricing overrides to {args.write_overrides}", file=sys.stderr)
    return EXIT_FLAGGED if any(r.status == "flagged" for r in results) else EXIT_OK


def _ours(args, found) -> dict:
    """Our totals per key, from the ledger voicegw.yaml names (pending spool files ingested
    first). Problems opening it are bad input: nothing can be compared."""
    import duckdb

    from voicegateway.cli.costs import open_ledger
    from voicegateway.ledger import queries
    from voicegateway.ledger.migrations import SchemaError
    from voicegateway.ledger.writer import LedgerBusy
    from voicegateway.reconcile.run import BadInput, ours_within

    ours: dict = {}
    try:
        ledger = open_ledger(args)
        with ledger.open() as con:
            for scope in found.values():

                def query(first, last, between=None, scope=scope):
                    return queries.billed_by_day(
                        con,
                        [scope.provider],
                        first,
                        last,
                        timezone=scope.timezone,
                        between=between,
                    )

                ours.update(ours_within(scope, query))
    except (LedgerBusy, SchemaError, OSError, duckdb.Error) as exc:  # voicegw.yaml: cli.main
        raise BadInput(f"cannot read the ledger: {exc}") from None
    return ours


def _read(paths: list[Path], pick) -> list:
    """Every file read in full, one after the other, with a progress line on a terminal (stderr):
    the file being read and how many of its lines were read so far."""
    from voicegateway.cli.progress import Progress
    from voicegateway.reconcile.run import read_exports

    exports = []
    for number, path in enumerate(paths, 1):
        label = f"reading {path.name} ({number} of {len(paths)})"
        with Progress(label, unit="lines") as progress:
            exports += read_exports([path], pick, progress.advance)
    return exports


def _forced(name, readers, fallback):
    """``--reader NAME`` as a picker, or None to recognise each file."""
    if name is None:
        return None
    chosen = {r.name: r for r in (*readers, fallback)}.get(name)
    if chosen is None:
        known = ", ".join(r.name for r in (*readers, fallback))
        raise ValueError(f"--reader {name!r}: no such format; known formats: {known}")
    return lambda path: chosen


def _list(readers, fallback) -> None:
    rows = [
        [r.name, r.provider or "any", r.timezone, ",".join(r.legs or ("as billed",)), r.description]
        for r in (*sorted(readers, key=lambda r: (r.provider, r.name)), fallback)
    ]
    print(table(["reader", "provider", "timezone", "legs", "accepts"], rows))


def _fraction(option: str, text: str) -> Decimal:
    try:
        value = Decimal(text)
    except InvalidOperation:
        value = None
    if value is None or not value.is_finite() or value < 0:
        raise ValueError(f"{option} {text!r}: expected a number of at least 0, e.g. 0.01")
    return value


def _day(option: str, text: str | None) -> datetime.date | None:
    if text is None:
        return None
    try:
        return datetime.date.fromisoformat(text)
    except ValueError:
        raise ValueError(f"{option} {text!r}: expected a day, YYYY-MM-DD") from None


def _zone(name: str) -> None:
    from zoneinfo import ZoneInfo

    try:
        ZoneInfo(name)
    except (KeyError, ValueError):
        raise ValueError(f"unknown time zone {name!r}") from None


def _pairs(option: str, pairs: list[str]) -> dict[str, str]:
    mapping = {}
    for pair in pairs:
        left, sep, right = (part.strip() for part in pair.partition("="))
        if not sep or not left or not right:
            raise ValueError(f"{option} {pair!r}: expected ACCOUNT=PROJECT")
        mapping[left] = right
    return mapping


# -- output --------------------------------------------------------------------------------------


def _emit(results, fmt: str, *, per_project: bool) -> None:
    from voicegateway.reconcile.compare import number

    both = [r for r in results if r.ours and r.theirs and r.theirs.cost is not None]
    ours_total = sum((r.ours.cost for r in both), Decimal(0))
    theirs_total = sum((r.theirs.cost for r in both), Decimal(0))
    flagged = sum(r.status == "flagged" for r in results)
    if fmt == "json":
        totals = {
            "rows": len(both),
            "ours_cost_usd": _text(ours_total),
            "theirs_cost_usd": _text(theirs_total),
            "difference_usd": _text(ours_total - theirs_total),
        }
        data = {"rows": [_json_row(r) for r in results], "totals": totals, "flagged": flagged}
        print(json.dumps(data, indent=2))
        return
    if fmt == "csv":
        print(_csv(results), end="")
        return
    if not results:
        print("nothing to compare: neither side has usage for the period the files cover")
        return
    headers = ["provider", "model", "day", "leg", *(["project"] if per_project else [])]
    headers += ["units (ours / theirs)", "ours $", "theirs $", "status", "cause", "detail"]
    rows = []
    for r in results:
        units = ", ".join(
            f"{u} {number(r.value('ours', u))} / {number(r.value('theirs', u))}"
            for u in r.shown_units()
        )
        key = [r.key.provider, r.key.model, r.key.day, r.key.leg]
        key += [r.key.project] if per_project else []
        costs = [_money(r.value("ours", "cost")), _money(r.value("theirs", "cost"))]
        rows.append([*key, units, *costs, r.status, r.cause or "", r.detail])
    print(table(headers, rows))
    print()
    print(
        f"total over the {len(both)} rows both sides have: ours ${_money(ours_total)}, theirs "
        f"${_money(theirs_total)}, difference ${_money(ours_total - theirs_total)}"
    )
    print(f"{flagged} of {len(results)} rows flagged")


def _money(value: Decimal | None) -> str:
    from voicegateway.reconcile.compare import number

    return "-" if value is None else number(value, 8)


def _json_row(r) -> dict:
    def side(name: str, present: bool) -> dict | None:
        if not present:
            return None
        units = {u: _text(r.value(name, u)) for u in r.shown_units()}
        return {"units": units, "cost_usd": _text(r.value(name, "cost"))}

    ours = side("ours", r.ours is not None)
    if ours is not None:
        ours |= {
            "requests": r.ours.requests,
            "unpriced": r.ours.unpriced,
            "price_sources": sorted(r.ours.price_sources),
        }
    theirs = side("theirs", r.theirs is not None)
    if theirs is not None:
        theirs["sources"] = r.theirs.sources
    diffs = {u: r.difference(u) for u in [*r.shown_units(), "cost"]}
    return {
        "provider": r.key.provider,
        "model": r.key.model,
        "day": r.key.day.isoformat(),
        "leg": r.key.leg,
        "project": r.key.project,
        "status": r.status,
        "cause": r.cause,
        "detail": r.detail,
        "ours": ours,
        "theirs": theirs,
        "difference": {
            ("cost_usd" if u == "cost" else u): _text(d) for u, d in diffs.items() if d is not None
        },
    }


def _text(value: Decimal | None) -> str | None:
    """Exact decimal text (a JSON number would become a float in most readers)."""
    from voicegateway.reconcile.compare import number

    return None if value is None else number(value, None)


def _csv(results) -> str:
    from voicegateway.reconcile.billed import UNITS

    units = [u for u in UNITS if any(u in r.shown_units() for r in results)]
    figures = [*units, "cost"]
    names = ["provider", "model", "day", "leg", "project", "status", "cause"]
    for figure in figures:
        label = "cost_usd" if figure == "cost" else figure
        names += [f"ours_{label}", f"theirs_{label}", f"difference_{label}"]
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow([*names, "detail"])
    for r in results:
        row = [r.key.provider, r.key.model, r.key.day.isoformat(), r.key.leg, r.key.project or ""]
        row += [r.status, r.cause or ""]
        for figure in figures:
            shown = figure == "cost" or figure in r.shown_units()
            values = (r.value("ours", figure), r.value("theirs", figure), r.difference(figure))
            row += [(_text(v) or "") if shown else "" for v in values]
        writer.writerow([*row, r.detail])
    return out.getvalue()
