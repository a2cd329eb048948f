"""``voicegw providers``: every installed provider plugin, loaded to report its status."""

from __future__ import annotations

import json

from voicegateway.cli.output import table


def add_parser(sub, common) -> None:
    p = sub.add_parser("providers", parents=[common], help="list installed provider plugins")
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p.set_defaults(run=run)


def provider_rows() -> list[dict]:
    """One row per provider (or per plugin that failed before registering any)."""
    from voicegateway.plugins import PluginHost

    host = PluginHost()
    rows = []
    for info in host.load_all().values():
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
            rows.append(
                {
                    "id": spec.id,
                    "modalities": list(spec.modalities),
                    "key_env": list(spec.key_env),
                    "models": [{"name": m.name, "modality": m.modality} for m in spec.models],
                    "price_catalog": spec.price_catalog,
                    **base,
                }
            )
    return sorted(rows, key=lambda r: r["id"])


def run(args) -> int:
    rows = provider_rows()
    if args.json:
        print(json.dumps(rows, indent=2))
        return 0
    if not rows:
        print("no provider plugins installed; try: pip install 'voicegateway[openai,deepgram]'")
        return 0
    print(
        table(
            ["provider", "modalities", "models", "distribution", "version", "status"],
            [
                [
                    r["id"],
                    ",".join(r["modalities"]),
                    len(r["models"]),
                    r["distribution"],
                    r["version"],
                    r["status"] if not r["error"] else f"{r['status']}: {r['error']}",
                ]
                for r in rows
            ],
        )
    )
    return 0
