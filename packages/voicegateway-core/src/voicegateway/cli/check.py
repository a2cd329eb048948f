"""``voicegw check``: is this voicegw.yaml ready to run? A deploy gate.

Validates the file (every problem at once), loads every plugin, says for each configured provider
whether its key is set (never its value), and for every ``models:`` alias and every model of the
``fallbacks:`` chains what would serve it, instead of what and why, and whether its calls are
priced. It asks through ``Gateway.resolve``, the path agents take, so the two cannot disagree.
Short by default, each problem once; ``--verbose`` adds the effective config.

Exit 0 when ready, 1 when something would fail at run time (a model no candidate can serve, a
model asked for as what it is not, a plugin that fails to load, a ``${VAR}`` unset with no
default), 2 for a file that does not load (bad input: one line per problem, file:line first).
"""

from __future__ import annotations

import os
import sys

import yaml

from voicegateway.cli.output import table
from voicegateway.plugins import PluginInfo
from voicegateway.providers import install_hint

EXAMPLES = (
    "voicegw check                  # before a deploy: exit 1 when something would fail",
    "voicegw check --profile dev    # what the dev profile serves, and its fallbacks",
    "voicegw check --verbose        # also the effective config, secrets masked",
)


def add_parser(sub, common) -> None:
    p = sub.add_parser("check", parents=[common], help="validate voicegw.yaml and the providers")
    shown = p.add_mutually_exclusive_group()
    shown.add_argument("--quiet", action="store_true", help="print problems only")
    shown.add_argument("--verbose", action="store_true", help="also print the effective config")
    p.set_defaults(run=run)


def run(args) -> int:
    from voicegateway.gateway import Gateway

    gateway = Gateway(config_path=args.config, profile=args.profile)
    config = gateway.config  # a file that does not load: voicegw's one error path, exit 2
    problems: list[str] = []
    say = (lambda *a: None) if args.quiet else print

    where = str(config.source) if config.source else "none found; using the embedded default"
    say(f"config:  {where}")
    say(f"profile: {config.profile or '(none)'}")
    say(f"project: {config.default_project}\n")

    infos = gateway.plugins.load_all()
    for info in infos.values():
        if info.status == "failed":
            problems.append(f"plugin {info.name} ({info.distribution}) failed: {info.error}")
    installed = gateway.plugins.providers()
    used = gateway.configured_providers()
    rows = []
    for pid in sorted(used):
        spec = installed.get(pid)
        status = "installed" if spec else _not_installed(pid, infos)
        rows.append(
            [pid, ",".join(spec.modalities) if spec else "", status, _key_status(config, pid, spec)]
        )
    if rows:
        say(table(["provider", "modalities", "plugin", "key"], rows))
    if others := sorted(set(installed) - used):
        say(f"also installed: {', '.join(others)}")

    project = config.default_project
    if config.models:
        say("\nmodels:")
    width = max((len(alias) for alias in config.models), default=0)
    for alias in config.models:
        line, problem = _alias(gateway, alias, project)
        say(f"  {alias.ljust(width)}  {line}")
        if problem:
            problems.append(problem)
    for where, lines, chain_problems in _fallbacks(gateway, project):
        say(f"\n{where}:")
        for line in lines:
            say(f"  {line}")
        problems.extend(chain_problems)
    problems.extend(_unset(missing) for missing in config.missing_env())

    if args.verbose:
        say("\neffective config:")
        say(yaml.safe_dump(config.redacted(), sort_keys=False).rstrip())

    if problems:
        print("\n" + "\n".join(f"error: {p}" for p in dict.fromkeys(problems)), file=sys.stderr)
        return 1
    say("\nok")
    return 0


def _alias(gateway, alias: str, project: str) -> tuple[str, str | None]:
    """The line for one ``models:`` alias, and the problem when nothing can serve it.

    An alias does not say its modality: it is resolved as each modality it could be asked for
    as (``resolution.modalities_of``); those that serve it are shown, grouped when they agree.
    """
    from voicegateway.resolution import modalities_of

    entry = gateway.config.models[alias]
    texts = [entry] if isinstance(entry, str) else entry
    served: dict[tuple[str, str], list[str]] = {}
    errors: list[str] = []
    for modality in modalities_of(texts, gateway.plugins):
        try:
            resolution = gateway.resolve(alias, modality, project=project, alternates=True)
        except Exception as exc:
            errors.append(f"as {modality}: {_reasons(exc)}")
            continue
        served.setdefault(_served(gateway, resolution, modality), []).append(modality)
    if served:
        shown = [f"-> {text} ({_either(m)}){rest}" for (text, rest), m in served.items()]
        return "; ".join(shown), None
    return f"cannot be served {'; '.join(errors)}", f"model {alias!r} cannot be served"


def _fallbacks(gateway, project: str):
    """Per ``fallbacks:`` block (the file's, the project's): each model, alone, as agents would
    reach it. An unavailable one is shown (resolution skips it); a wrong one is a problem."""
    from voicegateway.errors import ProviderUnavailable

    config = gateway.config
    blocks = [("fallbacks", config.fallbacks, project)]
    blocks += [(f"projects.{p}.fallbacks", c.fallbacks, p) for p, c in config.projects.items()]
    for where, chains, owner in blocks:
        if where != "fallbacks" and not chains:
            continue
        lines, problems = [], []
        if not chains or not any(chains.values()):
            lines.append("(none: a model that is unavailable is not handed over)")
        for modality, texts in chains.items():
            for text in texts:
                try:
                    resolution = gateway.resolve(text, modality, project=owner, fallbacks=False)
                except Exception as exc:
                    reason = _reasons(exc)
                    if isinstance(exc, ProviderUnavailable):
                        reason = reason.removeprefix(f"{text}: ")
                        lines.append(f"{modality}  {text}: unavailable here ({reason})")
                        continue
                    lines.append(f"{modality}  {text}: {reason}")
                    problems.append(f"{where}.{modality}: {reason}")
                    continue
                text, rest = _served(gateway, resolution, modality)
                lines.append(f"{modality}  {text}{rest}")
        yield where, lines, problems


def _served(gateway, resolution, modality: str) -> tuple[str, str]:
    """What serves, and the rest of its line: instead of what and why, and its price."""
    model = resolution.model_for(modality)
    text = f"{resolution.spec.id}/{model}" if model else str(resolution.ref)
    if resolution.ref.suffix:
        text += f":{resolution.ref.suffix}"
    rest = ""
    if resolution.skipped:
        asked, why = resolution.skipped[0]
        rest = f" instead of {asked} ({why})"
    return text, f"{rest}: {_price(gateway.rates(resolution, modality))}"


def _price(rates) -> str:
    if rates.source == "unpriced":
        return f"UNPRICED, its calls are recorded with no cost ({rates.detail})"
    if rates.source == "local":
        return "$0, local engine" if rates.detail.startswith("local engine") else rates.detail
    return "priced" if rates.source == "catalog" else f"priced ({rates.detail})"


def _either(modalities: list[str]) -> str:
    *first, last = modalities
    return f"{', '.join(first)} or {last}" if first else last


def _reasons(exc: BaseException) -> str:
    """An error on one line; for "no provider can serve ...", each candidate's reason."""
    lines = str(exc).splitlines()
    if len(lines) > 1 and lines[0].startswith("no provider can serve"):
        lines = lines[1:]
    return "; ".join(line.strip().removeprefix("- ") for line in lines if line.strip())


def _unset(missing) -> str:
    """An unset ``${VAR}`` (``MissingEnvError``), as one line that starts with where it is."""
    from voicegateway.config.errors import display_path

    where = f"{display_path(missing.file)}:{missing.line}: " if missing.file else ""
    var = missing.variable
    return f"{where}{missing.path}: ${{{var}}} is unset, with no default (export {var}=...)"


def _not_installed(pid: str, infos: dict[str, PluginInfo]) -> str:
    info = infos.get(pid)
    if info and info.status in ("failed", "disabled"):
        return info.status
    return f"not installed ({install_hint(pid)})"


def _key_status(config, pid: str, spec) -> str:
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
