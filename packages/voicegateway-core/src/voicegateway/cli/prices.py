"""``voicegw prices``: the rates a model would be priced at, and where they come from.

``voicegw prices MODEL`` takes ``provider/model`` or a ``models:`` alias (every model of its chain,
marking the one that would serve the project) and shows the per-unit rates, their source
(``catalog``, ``override``, ``local`` or ``unpriced``) and detail. ``voicegw prices --unpriced``
lists the models that ran but could not be priced, from the usage ledger. A rate is also shown
in the unit the provider's own price page quotes (``ProviderSpec.price_page_units``: Deepgram's
STT per minute, where the catalog has 1,000 seconds), so it can be checked against that page.
"""

from __future__ import annotations

from decimal import Decimal
from typing import TYPE_CHECKING, Any, NoReturn

from voicegateway.cli.output import add_format, decimal_text, emit, print_csv, print_json, table
from voicegateway.errors import VoiceGatewayError

if TYPE_CHECKING:
    from voicegateway.gateway import Gateway
    from voicegateway.providers import ProviderSpec
    from voicegateway.records import Modality

_MODALITIES = ("stt", "llm", "tts")
EXAMPLES = (
    "voicegw prices deepgram/nova-3",
    "voicegw prices brain --project acme      # each model of a models: alias",
    "voicegw prices --unpriced --format csv",
)
CSV_COLUMNS = (
    *("model", "modality", "project", "source", "unit", "usd", "per", "estimate"),
    *("quoted_unit", "quoted_usd", "quoted_per"),
)


def add_parser(sub, common) -> None:
    p = sub.add_parser(
        "prices", parents=[common], help="the rates applied to a model, and their source"
    )
    p.add_argument("model", nargs="?", help="provider/model or a models: alias")
    p.add_argument("--project", help="the project to price for (default: default_project)")
    p.add_argument(
        "--modality", choices=_MODALITIES, help="when the provider does not list the model"
    )
    p.add_argument(
        "--unpriced", action="store_true", help="models that ran but could not be priced"
    )
    add_format(p)
    p.set_defaults(run=run)


def run(args) -> int:
    from voicegateway.gateway import Gateway

    gateway = Gateway(config_path=args.config, profile=args.profile)
    gateway.config  # noqa: B018 - load it now: a bad file is reported before anything else
    if args.unpriced:
        return _unpriced(args)
    if not args.model:
        raise ValueError("name a model (provider/model or an alias), or --unpriced")
    project = gateway.project_name(args.project)
    entries = _entries(gateway, args.model, args.modality, project)
    if args.format == "json":
        print_json(entries)
    elif args.format == "csv":
        print_csv(CSV_COLUMNS, [row for entry in entries for row in _csv_rows(entry)])
    else:
        print("\n\n".join(_show(entry) for entry in entries))
    return 0


def _entries(
    gateway: Gateway, name: str, modality: Modality | None, project: str
) -> list[dict[str, Any]]:
    """One entry per model ``name`` stands for: itself, or each model of an alias's chain."""
    from voicegateway.pricing import rates_for

    chain = gateway.config.models.get(name)
    texts = [chain] if isinstance(chain, str) else list(chain or [name])
    modality = modality or _modality(gateway, texts)
    serving = _serving(gateway, name, modality, project) if chain else None
    entries = []
    for text in texts:
        provider, model, catalog, note = _target(gateway, text, modality)
        rates = rates_for(
            provider, model, modality, catalog=catalog, overrides=gateway.config.pricing
        )
        card = rates.card()
        estimated = card.estimated.rates if card is not None and card.estimated else {}
        spec = _spec(gateway, provider)
        page = spec.price_page_units.get(modality) if spec is not None else None
        entries.append(
            {
                "model": f"{provider}/{model}",
                "modality": modality,
                "project": project,
                "source": rates.source,
                "detail": rates.detail,
                "note": note,
                "serves": None if chain is None else serving == f"{provider}/{model}",
                "varies": rates.varies,
                "rates": {unit: _rate(unit, rate, page) for unit, rate in rates.rates.items()},
                "estimated": {unit: _rate(unit, rate, page) for unit, rate in estimated.items()},
            }
        )
    return entries


def _rate(unit: str, rate, page: str | None) -> dict[str, Any]:
    """A rate as JSON, with ``quoted``: the same rate in the unit of the provider's price page,
    when that unit meters the same quantity differently."""
    from voicegateway.pricing import UNITS

    shown = decimal_text(rate) if isinstance(rate, Decimal) else str(rate)
    entry: dict[str, Any] = {"usd": shown, "per": UNITS[unit].label}
    quoted = UNITS.get(page or "")
    same_meter = quoted is not None and quoted.name != unit and quoted.meter == UNITS[unit].meter
    if quoted is not None and same_meter and isinstance(rate, Decimal):  # tiers: never converted
        usd = decimal_text(rate * quoted.per / UNITS[unit].per)
        entry["quoted"] = {"unit": quoted.name, "usd": usd, "per": quoted.label}
    return entry


def _csv_rows(entry: dict[str, Any]) -> list[dict[str, Any]]:
    """One CSV row per rate of an entry (the vendor's estimates marked ``estimate``)."""
    rows = []
    for kind, estimate in (("rates", False), ("estimated", True)):
        for unit, rate in entry[kind].items():
            quoted = rate.get("quoted", {})
            rows.append(
                {k: entry[k] for k in ("model", "modality", "project", "source")}
                | {"unit": unit, "usd": rate["usd"], "per": rate["per"], "estimate": estimate}
                | {f"quoted_{k}": quoted.get(k, "") for k in ("unit", "usd", "per")}
            )
    return rows


def _modality(gateway: Gateway, texts: list[str]) -> Modality:
    """What the first installed provider of ``texts`` lists the model as, or offers only."""
    from voicegateway.resolution import ModelRef

    for text in texts:
        bare = ModelRef.parse(text, "stt")  # without a :language/:voice suffix, as listed
        spec = _spec(gateway, bare.provider)
        if spec is None:
            continue
        listed = [m.modality for m in spec.models if m.name == bare.model]
        offered = listed or (list(spec.modalities) if len(spec.modalities) == 1 else [])
        if offered:
            return offered[0]
        catalog = spec.price_catalog
        if catalog and not _known_price(gateway, spec.id, catalog, bare.model):
            _unknown_model(spec, catalog, bare.model)
    raise ValueError(
        f"{texts[0]!r} is not a model its provider lists, so whether it is stt, llm or tts is "
        "unknown: add --modality"
    )


def _known_price(gateway: Gateway, provider: str, catalog: str, model: str) -> bool:
    """Whether the catalog, or ``pricing:`` in voicegw.yaml, has a price for ``model``."""
    from voicegateway.pricing.catalog import lookup

    pricing = gateway.config.pricing
    return f"{provider}/{model}" in pricing or not lookup(catalog, model).missing


def _unknown_model(spec: ProviderSpec, catalog: str, model: str) -> NoReturn:
    from voicegateway.config.errors import did_you_mean
    from voicegateway.pricing.catalog import lookup

    why = lookup(catalog, model).missing
    hint = did_you_mean(model, [m.name for m in spec.models])
    fix = "give its rates under pricing: in voicegw.yaml"
    fix = (
        f"{hint} (or {fix})" if hint else f"`voicegw providers --format json` lists them, or {fix}"
    )
    raise ValueError(
        f"{spec.id}/{model} is unknown to the price catalog ({why}) and {spec.id} does not "
        f"list it; {fix}"
    )


def _target(gateway: Gateway, text: str, modality: Modality) -> tuple[str, str, str | None, str]:
    """(provider, model, catalog id, note) for one model string."""
    from voicegateway.resolution import ModelRef

    ref = ModelRef.parse(text, modality)
    spec = _spec(gateway, ref.provider)
    model = ref.model or (spec.default_models.get(modality) if spec else None)
    if not model:
        raise ValueError(f"{text!r} names no model, and {ref.provider!r} has no default one")
    if spec is None:
        note = f"provider {ref.provider!r} is not installed: priced as catalog id {ref.provider!r}"
        return ref.provider, model, ref.provider, note
    return ref.provider, model, spec.price_catalog, ""


def _spec(gateway: Gateway, provider: str) -> ProviderSpec | None:
    try:
        return gateway.plugins.provider(provider)
    except VoiceGatewayError:  # not installed, or its plugin failed
        return None


def _serving(gateway: Gateway, alias: str, modality: Modality, project: str) -> str | None:
    """The model of the chain that would serve the project now, if any can."""
    try:
        resolution = gateway.resolve(alias, modality, project=project)
    except VoiceGatewayError:
        return None
    model = resolution.ref.model or resolution.spec.default_models.get(modality)
    return f"{resolution.ref.provider}/{model}"


def _show(entry: dict[str, Any]) -> str:
    serves = {True: ", serves", False: "", None: ""}[entry["serves"]]
    lines = [
        f"{entry['model']} ({entry['modality']}, project {entry['project']}{serves})",
        f"  source: {entry['source']}",
        f"  detail: {entry['detail']}",
    ]
    if entry["note"]:
        lines.append(f"  note:   {entry['note']}")
    if entry["varies"]:
        lines.append("  rates vary with the time of the request; these are in force now")
    rows = [
        [unit, rate["usd"], rate["per"], _quoted(rate)] for unit, rate in entry["rates"].items()
    ]
    rows += [
        [f"{unit} *", rate["usd"], rate["per"], _quoted(rate)]
        for unit, rate in entry["estimated"].items()
    ]
    headers = ["unit", "rate ($)", "per", "as the provider quotes it"]
    if not any(row[3] for row in rows):
        headers, rows = headers[:3], [row[:3] for row in rows]
    if rows:
        lines += ["", *("  " + line for line in table(headers, rows).splitlines())]
    if entry["estimated"]:
        lines.append("  * the vendor's estimate, for records without tokens")
    elif not rows and entry["source"] != "unpriced":
        lines.append("  no rates: $0")
    return "\n".join(lines)


def _quoted(rate: dict[str, Any]) -> str:
    quoted = rate.get("quoted")
    return f"${quoted['usd']} per {quoted['per']}" if quoted else ""


def _unpriced(args) -> int:
    from voicegateway.cli.costs import report
    from voicegateway.ledger import queries

    def query(con, ledger) -> int:
        emit(queries.unpriced(con), args.format, empty="every model that ran was priced")
        return 0

    return report(args, query)
