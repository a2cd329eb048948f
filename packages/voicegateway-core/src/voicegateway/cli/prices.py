"""``voicegw prices``: the rates a model would be priced at, and where they come from.

``voicegw prices MODEL`` takes ``provider/model`` or a ``models:`` alias (every model of its chain,
marking the one that would serve the project) and shows the per-unit rates, their source
(``catalog``, ``override``, ``local`` or ``unpriced``) and detail. ``voicegw prices --unpriced``
lists the models that ran but could not be priced, from the usage ledger.
"""

from __future__ import annotations

import json
import sys
from typing import Any

from voicegateway.cli.output import table

_MODALITIES = ("stt", "llm", "tts")


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
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p.set_defaults(run=run)


def run(args) -> int:
    from voicegateway.config import ConfigError
    from voicegateway.gateway import Gateway

    gateway = Gateway(config_path=args.config, profile=args.profile)
    try:
        gateway.config  # noqa: B018 - load it now: a bad file is reported before anything else
    except ConfigError as exc:
        print(exc, file=sys.stderr)
        return 1
    if args.unpriced:
        return _unpriced(args)
    if not args.model:
        print(
            "voicegw prices: name a model (provider/model or an alias), or --unpriced",
            file=sys.stderr,
        )
        return 2
    try:
        project = gateway.project_name(args.project)
        entries = _entries(gateway, args.model, args.modality, project)
    except ValueError as exc:
        print(f"voicegw prices: {exc}", file=sys.stderr)
        return 2
    if args.json:
        print(json.dumps(entries, indent=2))
    else:
        print("\n\n".join(_show(entry) for entry in entries))
    return 0


def _entries(gateway, name: str, modality: str | None, project: str) -> list[dict[str, Any]]:
    """One entry per model ``name`` stands for: itself, or each model of an alias's chain."""
    from voicegateway.pricing import UNITS, rates_for

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
                "rates": {
                    unit: {"usd": str(rate), "per": UNITS[unit].label}
                    for unit, rate in rates.rates.items()
                },
                "estimated": {
                    unit: {"usd": str(rate), "per": UNITS[unit].label}
                    for unit, rate in estimated.items()
                },
            }
        )
    return entries


def _modality(gateway, texts: list[str]) -> str:
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
    raise ValueError(f"cannot tell whether {texts[0]!r} is stt, llm or tts: add --modality")


def _target(gateway, text: str, modality: str) -> tuple[str, str, str | None, str]:
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


def _spec(gateway, provider: str):
    try:
        return gateway.plugins.provider(provider)
    except Exception:
        return None


def _serving(gateway, alias: str, modality: str, project: str) -> str | None:
    """The model of the chain that would serve the project now, if any can."""
    try:
        resolution = gateway.resolve(alias, modality, project=project)
    except Exception:
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
    rows = [[unit, rate["usd"], rate["per"]] for unit, rate in entry["rates"].items()]
    rows += [
        [unit, rate["usd"], f"{rate['per']}; the vendor's estimate, for records without tokens"]
        for unit, rate in entry["estimated"].items()
    ]
    if rows:
        lines += ["", *("  " + line for line in table(["unit", "USD", "per"], rows).splitlines())]
    elif entry["source"] != "unpriced":
        lines.append("  no rates: $0")
    return "\n".join(lines)


def _unpriced(args) -> int:
    from voicegateway.cli.costs import report
    from voicegateway.ledger import queries

    def query(con, ledger) -> int:
        rows = queries.unpriced(con)
        if args.json:
            print(json.dumps(rows, indent=2))
        elif not rows:
            print("every model that ran was priced")
        else:
            columns = ["provider", "model", "modality", "requests", "reason"]
            print(table(columns, [[row[c] for c in columns] for row in rows]))
        return 0

    return report(args, query)
