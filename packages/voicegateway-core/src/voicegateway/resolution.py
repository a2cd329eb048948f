"""From a model name an agent writes to the provider and model that will serve it.

A name is a ``models:`` alias from voicegw.yaml (one model or a chain), or a model string in
LiveKit's grammar: ``provider/model``, with ``:language`` (STT) or ``:voice`` (TTS) after it, or a
bare ``provider`` for its default model. The candidates are the alias's chain, then the agent's
``fallback=`` list, then ``fallbacks.<modality>`` of the project and of the file.

Mistakes are errors, never a reason to serve something else: a provider id that is neither
installed nor one of VoiceGateway's own (a typo), a provider that lacks the modality, a model its
provider lists for another modality only, a ``${VAR}`` of a setting other than a key left unset.
Only availability moves resolution to the next candidate: one of VoiceGateway's providers not
installed (or its plugin failed or disabled), no key, the project's budget spent or the provider's
circuit open (:class:`Blocked`). Every hand-over is logged at WARNING with the model asked for, the
one serving and why. With ``alternates=True`` the usable candidates after the winner are kept too
(``Resolution.alternates``), for run-time fallback. ``voicegw check`` asks the same questions
through the same functions, so it cannot disagree with an agent.

Resolution is given what it needs as plain objects, never callbacks into the ``Gateway`` above it:
the ``PluginHost`` (its own layer) that loads a provider on first use, the ``Config`` and project
whose settings apply, and the providers the gateway found blocked just before asking.
"""

from __future__ import annotations

import dataclasses
import difflib
import logging
import os
import typing
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from voicegateway.errors import ModelNotFound, ProviderUnavailable, VoiceGatewayError
from voicegateway.providers import FIRST_PARTY, MODALITIES, Modality, ProviderSpec
from voicegateway.url_credentials import split_credentials

if TYPE_CHECKING:
    from voicegateway.config import Config
    from voicegateway.config.schema import ProviderSettings
    from voicegateway.plugins import PluginHost

log = logging.getLogger("voicegateway.resolution")


@dataclass(frozen=True, slots=True)
class ModelRef:
    """A parsed model string. ``model`` is empty when only the provider was named."""

    provider: str
    model: str
    suffix: str | None = None

    @classmethod
    def parse(cls, text: str, modality: Modality) -> ModelRef:
        text = text.strip()
        provider, _, rest = text.partition("/")
        suffix = None
        # LiveKit's grammar: the last ':' carries the language (STT) or the voice (TTS). LLM model
        # names keep theirs (Ollama tags such as llama3.2:3b).
        if modality != "llm":
            if rest and ":" in rest:
                rest, _, suffix = rest.rpartition(":")
            elif not rest and ":" in provider:
                provider, _, suffix = provider.partition(":")
        if not provider:
            raise ModelNotFound(f"model string {text!r} names no provider (write provider/model)")
        return cls(provider=provider, model=rest, suffix=suffix or None)

    def __str__(self) -> str:
        text = f"{self.provider}/{self.model}" if self.model else self.provider
        return f"{text}:{self.suffix}" if self.suffix else text


@dataclass(frozen=True, slots=True)
class Resolution:
    """The candidate chosen to serve a model name, and why the ones before it were skipped."""

    name: str
    ref: ModelRef
    spec: ProviderSpec
    api_key: str | None = field(repr=False)
    base_url: str | None = field(repr=False)
    """As written: it may hold credentials, which ``Gateway.build`` splits off."""
    settings: ProviderSettings | None
    skipped: tuple[tuple[str, str], ...] = ()
    alternates: tuple[Resolution, ...] = ()
    """The usable candidates after this one, in order (only when asked for)."""
    preceding: tuple[Resolution, ...] = ()
    """Candidates before this one skipped only because their circuit is open (only when asked
    for): run-time fallback tries them again once their cool-down is over."""

    @property
    def fallback_from(self) -> str | None:
        """The first candidate, when resolution had to move past it."""
        return self.skipped[0][0] if self.skipped else None

    def model_for(self, modality: Modality) -> str | None:
        """The model name the provider is asked for: the one written, else its default."""
        return self.ref.model or self.spec.default_models.get(modality)


@dataclass(frozen=True, slots=True)
class Blocked:
    """Providers that could serve but must not take new calls now, and why (by provider id), as
    the gateway found them just before resolving. Resolution skips them, keeps them for run-time
    fallback (``Resolution.preceding``) and, when nothing else can serve, builds the first of them
    anyway: its next call probes the circuit, or admission refuses it against the budget."""

    circuit_open: Mapping[str, str] = field(default_factory=dict)
    """The provider's circuit breaker is open, or half-open with its probe in flight."""
    budget_spent: Mapping[str, str] = field(default_factory=dict)
    """The project's ``block`` budget, overall or for that provider, is spent."""

    def why(self, provider: str) -> str | None:
        return self.circuit_open.get(provider) or self.budget_spent.get(provider)


NOTHING_BLOCKED = Blocked()


def candidates(
    name: str,
    modality: Modality,
    *,
    aliases: Mapping[str, str | list[str]],
    providers: Iterable[str] = (),
    fallback: Iterable[str] = (),
    chains: Iterable[Iterable[str]] = (),
) -> list[str]:
    """The ordered, de-duplicated model strings to try for ``name``.

    A name without ``/`` is an alias, or a bare provider id. ``providers`` are the installed
    ones; with VoiceGateway's own (``FIRST_PARTY``) they are the known ids: any other provider
    id is a typo, raised as ModelNotFound with a did-you-mean.
    """
    known = sorted({*providers, *FIRST_PARTY})
    if name in aliases:
        entry = aliases[name]
        first = [entry] if isinstance(entry, str) else list(entry)
    elif "/" in name or name.split(":", 1)[0] in known:
        first = [name]
    else:
        close = difflib.get_close_matches(name, [*aliases, *known], n=1)
        hint = f"; did you mean {close[0]!r}?" if close else ""
        listing = ", ".join(sorted(aliases)) or "none defined"
        raise ModelNotFound(
            f"{name!r} is not a model alias in voicegw.yaml (models: {listing}), a provider, "
            f"or a provider/model string{hint}"
        )
    ordered: list[str] = []
    for text in (*first, *fallback, *(t for chain in chains for t in chain)):
        provider = ModelRef.parse(text, modality).provider
        if provider not in known and text not in aliases:
            raise ModelNotFound(unknown_provider(provider, text, known))
        if text not in ordered:
            ordered.append(text)
    return ordered


def unknown_provider(provider: str, text: str, known: Iterable[str]) -> str:
    """The message for a provider id nobody provides (a typo, most often)."""
    close = difflib.get_close_matches(provider, list(known), n=1)
    hint = f"did you mean {close[0]!r}?" if close else "see `voicegw providers`"
    return (
        f"unknown provider {provider!r} in {text!r}: no installed plugin provides it and it is "
        f"not one of VoiceGateway's providers; {hint}"
    )


def modalities_of(texts: Iterable[str], plugins: PluginHost) -> tuple[Modality, ...]:
    """What a ``models:`` entry can be asked for as: an alias does not say.

    The first installed provider that lists one of the entry's models, or offers one modality
    only, tells; otherwise every modality the first installed provider offers (an unlisted model
    of a provider with several); with no provider installed, all three.
    """
    offered: tuple[Modality, ...] = ()
    for text in texts:
        ref = ModelRef.parse(text, "stt")  # strips a :language/:voice suffix; names compare bare
        try:
            spec = plugins.provider(ref.provider)
        except ProviderUnavailable:
            continue
        listed = {m.modality for m in spec.models if m.name in (ref.model, text.partition("/")[2])}
        if listed:
            return tuple(m for m in MODALITIES if m in listed)
        if len(spec.modalities) == 1:
            return spec.modalities
        offered = offered or spec.modalities
    return offered or MODALITIES


def resolve(
    name: str,
    modality: Modality,
    texts: list[str],
    *,
    plugins: PluginHost,
    config: Config,
    project: str,
    api_key: str | None = None,
    base_url: str | None = None,
    blocked: Blocked = NOTHING_BLOCKED,
    alternates: bool = False,
) -> Resolution:
    """Walk ``texts`` and return the first candidate that can serve ``modality``.

    ``plugins`` loads each provider on first use (ProviderUnavailable when it cannot); its
    settings are ``project``'s in ``config``, read when the candidate is reached (an unset
    ``${VAR}`` of a later candidate is no error while an earlier one serves). ``blocked`` names
    the providers that must not take calls now. ``api_key``/``base_url`` given by the agent apply
    to the first candidate only. Raises ModelNotFound for a candidate that cannot serve
    ``modality`` at all, ProviderUnavailable when no candidate is available.
    """
    skipped: list[tuple[str, str]] = []
    preceding: list[Resolution] = []
    for index, text in enumerate(texts):
        ref = ModelRef.parse(text, modality)
        reason, chosen = _try(
            ref,
            modality,
            plugins,
            config,
            project,
            api_key if index == 0 else None,
            base_url if index == 0 else None,
        )
        if chosen is not None and (why := blocked.why(chosen[0].id)):
            preceding.append(Resolution(name, ref, *chosen))
            reason, chosen = why, None
        if chosen is None:
            skipped.append((str(ref), reason))
            continue
        spec, key, url, settings = chosen
        if skipped:
            log.warning(
                "%s %r: serving %s instead of %s (%s)",
                modality,
                name,
                ref,
                skipped[0][0],
                "; ".join(f"{t}: {why}" for t, why in skipped),
            )
        rest: list[Resolution] = []
        for later in texts[index + 1 :] if alternates else ():
            later_ref = ModelRef.parse(later, modality)
            _, usable = _try(later_ref, modality, plugins, config, project, None, None)
            if usable is not None:  # an open circuit is no reason to leave it out: it recovers
                rest.append(Resolution(name, later_ref, *usable))
        kept = tuple(preceding) if alternates else ()
        return Resolution(name, ref, spec, key, url, settings, tuple(skipped), tuple(rest), kept)
    if preceding:
        # Every usable candidate has an open circuit: serve with the first of them rather than
        # refuse to build (LiveKit's FallbackAdapter semantics); its next call is the probe.
        first = preceding[0]
        before = tuple(skipped[: [text for text, _ in skipped].index(str(first.ref))])
        log.warning(
            "%s %r: every usable candidate's circuit is open; using %s anyway%s",
            modality,
            name,
            first.ref,
            f" instead of {before[0][0]} ({before[0][1]})" if before else "",
        )
        others = tuple(preceding[1:]) if alternates else ()
        return dataclasses.replace(first, skipped=before, alternates=others)
    lines = "\n".join(f"  - {text}: {why}" for text, why in skipped)
    raise ProviderUnavailable(f"no provider can serve {modality} {name!r}:\n{lines}")


def _try(ref, modality, plugins, config, project, api_key, base_url):
    """(why not, None) when ``ref``'s provider is unavailable now, ("", what to build) when it
    can serve; raises when it never could (the modality, an unset non-key setting)."""
    try:
        spec: ProviderSpec = plugins.provider(ref.provider)
    except ProviderUnavailable as exc:
        return str(exc), None
    if spec.factory(modality) is None:
        offers = ", ".join(spec.modalities)
        raise ModelNotFound(f"{ref} cannot serve {modality}: {spec.id} offers {offers} only")
    listed = {m.modality for m in spec.models if m.name == ref.model}
    if listed and modality not in listed:
        kinds = " and ".join(m for m in MODALITIES if m in listed)
        raise ModelNotFound(f"{ref} is a {kinds} model of {spec.id}; it cannot serve {modality}")
    try:
        settings = config.provider_settings(spec.id, project).resolve()
    except VoiceGatewayError as exc:  # MissingEnvError: names the variable and line, never a value
        if not _is_credential(spec, getattr(exc, "path", "")):
            raise ProviderUnavailable(f"{ref}: {exc}") from None
        name, where = getattr(exc, "variable", "?"), getattr(exc, "path", "")
        return f"no API key: ${name} is unset ({where})", None
    url = base_url or getattr(settings, "base_url", None)
    key = (
        (url and split_credentials(url).key)  # written for this endpoint: it comes first
        or api_key
        or _secret(getattr(settings, "api_key", None))
        or _env_key(spec.key_env)
    )
    if spec.needs_key and not key:
        where = " or ".join(f"${v}" for v in spec.key_env)
        return f"no API key: set {where}, or providers.{spec.id}.api_key in voicegw.yaml", None
    return "", (spec, key, url, settings)


def _is_credential(spec: ProviderSpec, path: str) -> bool:
    """Whether the setting at ``path`` (``providers.openai.api_key``) is a key: declared as a
    ``Secret`` by the provider's settings."""
    from voicegateway.config.env import Secret
    from voicegateway.config.schema import ProviderSettings

    field_ = (spec.settings or ProviderSettings).model_fields.get(path.rpartition(".")[2])
    if field_ is None:
        return False
    return field_.annotation is Secret or Secret in typing.get_args(field_.annotation)


def _secret(secret) -> str | None:
    return secret.get_secret_value() if secret is not None else None


def _env_key(names: Iterable[str]) -> str | None:
    for var in names:
        if os.environ.get(var):
            return os.environ[var]
    return None
