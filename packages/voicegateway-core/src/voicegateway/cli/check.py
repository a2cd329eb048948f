"""``voicegw check``: is this voicegw.yaml ready to run?

Validates the file (every problem at once), loads every plugin, says for each provider whether its
key is set (never its value), says which candidate would serve each ``models:`` alias, lists unset
``${VAR}``s, and prints the effective config with the active profile applied. Exit code 1 when
anything would fail at run time.
"""

from __future__ import annotations

import sys

import yaml

from voicegateway.cli.output import table


def add_parser(sub, common) -> None:
    p = sub.add_parser("check", parents=[common], help="validate voicegw.yaml and the providers")
    p.add_argument("--quiet", action="store_true", help="print problems only")
    p.set_defaults(run=run)


def run(args) -> int:
    from voicegateway.config import ConfigError
    from voicegateway.gateway import Gateway

    gateway = Gateway(config_path=args.config, profile=args.profile)
    try:
        config = gateway.config
    except ConfigError as exc:
        print(exc, file=sys.stderr)
        return 1
    problems: list[str] = []
    say = (lambda *a: None) if args.quiet else print

    where = str(config.source) if config.source else "none found; using the embedded default"
    say(f"config:  {where}")
    say(f"profile: {config.profile or '(none)'}")
    say(f"project: {config.default_project}\n")

    infos = gateway.plugins.load_all()
    for info in infos.values():
        if info.status == "failed":
            problems.append(
                f"plugin {info.name} ({info.distribution}) failed to load: {info.error}"
            )
    installed = gateway.plugins.providers()
    rows = []
    for pid in sorted(set(installed) | set(config.providers)):
        spec = installed.get(pid)
        status = "installed" if spec else _not_installed(pid, infos)
        rows.append(
            [pid, ",".join(spec.modalities) if spec else "", status, _key_status(config, pid, spec)]
        )
    say(table(["provider", "modalities", "plugin", "key"], rows))

    if config.models:
        say("\nmodels:")
    width = max((len(alias) for alias in config.models), default=0)
    for alias in config.models:
        served, error = _resolve_alias(gateway, alias)
        if served:
            say(f"  {alias.ljust(width)}  -> {served}")
        else:
            say(f"  {alias.ljust(width)}  cannot be served: {error}")
            problems.append(f"model {alias!r} cannot be served")
    for warning in _fallback_warnings(config, installed, infos):
        say(f"warning: {warning}")
    say("")
    for missing in config.missing_env():
        say(f"unset: {missing}")

    say("\neffective config:")
    say(yaml.safe_dump(config.redacted(), sort_keys=False).rstrip())

    if problems:
        print("\n" + "\n".join(f"error: {p}" for p in problems), file=sys.stderr)
        return 1
    say("\nok")
    return 0


def _fallback_warnings(config, installed, infos) -> list[str]:
    """Fallback chains naming a provider this machine does not have. Not an error: a chain may
    name a provider installed only where a profile uses it; resolution skips it, with the reason.
    (A malformed provider id is already a load error.)"""
    chains = [("fallbacks", config.fallbacks)]
    chains += [(f"projects.{p}.fallbacks", c.fallbacks) for p, c in config.projects.items()]
    warnings = []
    for where, by_modality in chains:
        for modality, texts in by_modality.items():
            for text in texts:
                pid = text.split("/", 1)[0].split(":", 1)[0]
                if pid not in installed:
                    status = _not_installed(pid, infos)
                    warnings.append(f"{where}.{modality}: {text}: provider {pid!r} {status}")
    return warnings


def _not_installed(pid: str, infos) -> str:
    info = infos.get(pid)
    if info and info.status == "failed":
        return "failed"
    return f"not installed (pip install 'voicegateway[{pid}]')"


def _key_status(config, pid: str, spec) -> str:
    import os

    if spec is not None and not spec.needs_key:
        return "not needed"
    settings = config.provider_settings(pid)
    secret = settings.api_key
    if secret is not None:
        return f"set ({secret.source})" if secret.is_set else f"missing: {secret.source} is unset"
    for var in spec.key_env if spec else ():
        if os.environ.get(var):
            return f"set (${var})"
    wanted = " or ".join(f"${v}" for v in spec.key_env) if spec else "api_key"
    return f"missing: set {wanted}"


def _resolve_alias(gateway, alias: str) -> tuple[str | None, str | None]:
    """Which candidate would serve ``alias``, and for which modality, or why none can.

    An alias does not say its modality; the first candidate whose provider is installed tells it
    (by the model's listing, or the provider's only modality).
    """
    entry = gateway.config.models[alias]
    texts = [entry] if isinstance(entry, str) else entry
    modality = _modality_of(gateway, texts)
    if modality is None:
        return None, f"none of its providers is installed ({', '.join(texts)})"
    try:
        resolution = gateway.resolve(alias, modality, project=gateway.config.default_project)
    except Exception as exc:
        return None, str(exc)
    return f"{resolution.ref} ({modality})", None


def _modality_of(gateway, texts: list[str]) -> str | None:
    from voicegateway.resolution import ModelRef

    for text in texts:
        ref = ModelRef.parse(text, "stt")  # strips a :language/:voice suffix; names compare bare
        try:
            spec = gateway.plugins.provider(ref.provider)
        except Exception:
            continue
        listed = [m.modality for m in spec.models if m.name == ref.model]
        if listed or len(spec.modalities) == 1:
            return (listed or spec.modalities)[0]
        return spec.modalities[0] if spec.modalities == ("llm",) else None
    return None
