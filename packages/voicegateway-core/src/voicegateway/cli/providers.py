"""``voicegw providers``: every installed provider plugin, loaded to report its status.

Providers that can ask their server which models it serves (``ProviderSpec.discover_models``, a
local engine's pulled models) are asked, with the settings voicegw.yaml gives them; a server that
does not answer is reported, never fatal.
"""

from __future__ import annotations

from typing import Any

from voicegateway.cli.output import add_format, print_csv, print_json, table
from voicegateway.errors import VoiceGatewayError
from voicegateway.providers import install_hint

EXAMPLES = ("voicegw providers", "voicegw providers --format json | jq '.[].models'")
COLUMNS = ("id", "modalities", "models", "distribution", "version", "status", "error")
"""The table's and CSV's columns; JSON has every field and each model."""
DISCOVERY_TIMEOUT = 2.0
"""Seconds a provider's server gets to list its models."""


def add_parser(sub, common) -> None:
    p = sub.add_parser(
        "providers",
        parents=[common],
        help="list installed provider plugins",
        description="Each installed provider plugin, loaded to report its status; servers that "
        "can list their models (Ollama) are asked. JSON has every model; the table counts them.",
    )
    add_format(p)
    p.set_defaults(run=run)


def provider_rows(config_path: str | None = None, profile: str | None = None) -> list[dict]:
    """One row per provider (or per plugin that failed before registering any)."""
    from voicegateway.gateway import Gateway

    gateway = Gateway(config_path=config_path, profile=profile)
    rows: list[dict[str, Any]] = []
    for info in gateway.plugins.load_all().values():
        base = {
            "plugin": info.name,
            "distribution": info.distribution,
            "version": info.version,
            "status": info.status,
            "error": info.error,
        }
        if not info.providers:
            rows.append({"id": info.name, "modalities": [], "key_env": [], "models": [], **base})
            continue
        for spec in info.providers:
            row: dict[str, Any] = {
                "id": spec.id,
                "modalities": list(spec.modalities),
                "key_env": list(spec.key_env),
                "models": [_model(m) for m in spec.models],
                "price_catalog": spec.price_catalog,
                **base,
            }
            if spec.discover_models is not None:
                found, row["discovery_error"] = _discover(gateway, spec)
                row["models"] += [_model(m, discovered=True) for m in found]
            rows.append(row)
    return sorted(rows, key=lambda r: r["id"])


def _model(info, *, discovered: bool = False) -> dict:
    entry = {"name": info.name, "modality": info.modality}
    if discovered:
        entry.update(description=info.description, discovered=True)
    return entry


def _discover(gateway, spec) -> tuple[list, str | None]:
    """The models ``spec``'s configured server serves, or why they could not be listed."""
    try:
        settings = gateway.config.provider_settings(spec.id).resolve()
    except (
        VoiceGatewayError
    ) as exc:  # ConfigError, MissingEnvError: they name the line, not a value
        return [], f"could not read voicegw.yaml: {exc}"
    try:
        return list(spec.discover_models(settings, DISCOVERY_TIMEOUT)), None
    except Exception as exc:
        return [], str(exc) or type(exc).__name__


def run(args) -> int:
    from voicegateway.cli import load_config

    load_config(args)  # a broken voicegw.yaml is an error here too, not a note per provider
    rows = provider_rows(args.config, args.profile)
    if args.format == "json":
        print_json(rows)
        return 0
    brief = [
        {
            "id": r["id"],
            "modalities": ",".join(r["modalities"]),
            "models": sum(not m.get("discovered") for m in r["models"]),
            "distribution": r["distribution"],
            "version": r["version"],
            "status": r["status"],
            "error": r["error"] or "",
        }
        for r in rows
    ]
    if args.format == "csv":
        print_csv(COLUMNS, brief)
        return 0
    if not rows:
        print(f"no provider plugins installed; {install_hint('openai', 'deepgram')}")
        return 0
    shown = [c for c in COLUMNS if c != "error" or any(r["error"] for r in brief)]
    print(table(shown, [[r[c] for c in shown] for r in brief]))
    for r in rows:
        if "discovery_error" not in r:
            continue
        if r["discovery_error"]:
            print(f"\n{r['id']}: could not list the server's models: {r['discovery_error']}")
            continue
        found = [m for m in r["models"] if m.get("discovered")]
        print(f"\n{r['id']}: the server serves {len(found)} model(s)")
        for m in found:
            about = f"  ({m['description']})" if m["description"] else ""
            print(f"  {r['id']}/{m['name']}{about}")
    return 0
