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
            problems.append(f"plugin {info.name} ({info.distribution}) failed to load: {info.error}")
    installed = gateway.plugins.providers()
    rows = []
    for pid in sorted(set(installed) | set(config.providers)):
        spec = installed.get(pid)
        status = "installed" if spec else _not_installed(pid, infos)
        rows.append([pid, ",".join(spec.modalities) if spec else "", status, _key_status(config, pid, spec)])
    say(table(["provider", "modalities", "plugin", "key"], rows))

    say("")
    model_rows = []
    for alias in config.models:
        served, error = _resolve_alias(gateway, alias)
        model_rows.append([alias, served or "-", error or ""])
        if error:
            problems.append(f"model {alias!r} cannot be served: {error}")
    if model_rows:
        say(table(["model", "served by", "problem"], model_rows))

    for missing in config.missing_env():
        say(f"unset: {missing}")

    say("\neffective config:")
    say(yaml.safe_dump(config.redacted(), sort_keys=False).rstrip())

    if problems:
        print("\n" + "\n".join(f"error: {p}" for p in problems), file=sys.stderr)
        return 1
    say("\nok")
    return 0


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
    """Which candidate would serve ``alias``, for the modality its first model belongs to."""
    from voicegateway.resolution import ModelRef

    entry = gateway.config.models[alias]
    first = entry if isinstance(entry, str) else entry[0]
    try:
        ref = ModelRef.parse(first, "stt")  # the suffix rule of speech models; names compare bare
        spec = gateway.plugins.provider(ref.provider)
        name = ref.model
        modalities = [m.modality for m in spec.models if m.name == name] or list(spec.modalities)
    except Exception:
        modalities = ["llm"]  # the provider is missing; resolution explains it the same way
    errors = []
    for modality in modalities:
        try:
            resolution = gateway.resolve(alias, modality, project=gateway.config.default_project)
        except Exception as exc:
            errors.append(str(exc).replace("\n", " "))
            continue
        return f"{resolution.ref} ({modality})", None
    return None, errors[0] if errors else "no modality"
