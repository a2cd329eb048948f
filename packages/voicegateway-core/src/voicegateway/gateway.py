"""The runtime facade: one per process, tying voicegw.yaml, the plugins and the metering chain.

``voicegateway.inference`` asks it to resolve a model name and build the LiveKit object; the CLI
asks it for the config and the plugin list. Tests build their own with :func:`configure` or pass
a ``Gateway`` around directly.
"""

from __future__ import annotations

import contextvars
import dataclasses
import logging
import threading
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from voicegateway.errors import ModelNotFound, PluginError
from voicegateway.ledger.spool import Spooler
from voicegateway.metering.middleware import (
    Latency,
    Middleware,
    MiddlewareChain,
    Recording,
    SessionCorrelation,
)
from voicegateway.metering.pricing_step import CostTracking
from voicegateway.plugins import PluginHost, loaded_modules
from voicegateway.policies import circuit
from voicegateway.pricing import rates_for
from voicegateway.providers import FIRST_PARTY, BuildRequest, Modality
from voicegateway.records import UsageRecord
from voicegateway.resolution import Blocked, ModelRef, Resolution, candidates, resolve
from voicegateway.url_credentials import split_credentials

if TYPE_CHECKING:
    from voicegateway.policies.admission import Policies

log = logging.getLogger("voicegateway.gateway")
_project: contextvars.ContextVar[str | None] = contextvars.ContextVar(
    "voicegateway_project", default=None
)
_LIVEKIT_BASES = {
    "stt": ("livekit.agents.stt", "STT"),
    "llm": ("livekit.agents.llm", "LLM"),
    "tts": ("livekit.agents.tts", "TTS"),
}


class Gateway:
    """Config, plugins and the middleware chain of one process."""

    def __init__(
        self,
        *,
        config: Any = None,
        config_path: str | Path | None = None,
        profile: str | None = None,
        plugins: PluginHost | None = None,
        middlewares: Sequence[Middleware] | None = None,
    ) -> None:
        self._config = config
        self._config_path = config_path
        self._profile = profile
        self.plugins = plugins or PluginHost()
        self._spooler: Spooler | None = None
        self._policies: Policies | None = None
        self._middlewares = middlewares
        self._chain: MiddlewareChain | None = None
        self.default_project: str | None = None
        self._lock = threading.RLock()

    @property
    def chain(self) -> MiddlewareChain:
        """The metering chain, built on first use: session correlation, latency and cost,
        budgets and rate limits, then every plugin's ``register_middlewares`` steps, then
        recording. ``middlewares=`` replaces it whole."""
        if self._chain is None:
            with self._lock:
                if self._chain is None:
                    steps = self._middlewares
                    if steps is None:
                        extra = self.plugins.middlewares(self.config)
                        steps = [
                            SessionCorrelation(),
                            Latency(),
                            CostTracking(self.config, catalog_for=self._price_catalog),
                            # budgets, then rate limits: nested steps (none configured: no step,
                            # no policy state, no worker thread)
                            *([self.policies] if self.enforces else []),
                            *extra,
                            Recording(self.spooler),
                        ]
                    self._chain = MiddlewareChain(steps)
        return self._chain

    @property
    def config(self):
        """The loaded voicegw.yaml (or the embedded default), loaded on first use."""
        if self._config is None:
            with self._lock:
                if self._config is None:
                    from voicegateway.config import load_config

                    self._config = load_config(
                        self._config_path,
                        profile=self._profile,
                        settings_for=self._settings_model,
                        known_providers=self._known_providers,
                    )
        return self._config

    @property
    def enforces(self) -> bool:
        """Whether voicegw.yaml sets any budget or rate limit: without one, no call can be refused
        or made to wait, and no policy machinery (state, worker thread) is loaded."""
        config = self.config
        return bool(config.rate_limits) or any(
            p.budget is not None or p.rate_limits for p in config.projects.values()
        )

    def policed(self, project: str, provider: str) -> bool:
        """Whether calls of ``project`` on ``provider`` may be refused or made to wait (they are
        then served where admission can be awaited)."""
        return self.enforces and self.policies.applies(project, provider)

    @property
    def policies(self) -> Policies:
        """Budgets and rate limits (two chain steps, nested as one), their state shared by every
        process of this machine in ``<storage.path>.policies.sqlite``, opened on first use."""
        if self._policies is None:
            with self._lock:
                if self._policies is None:
                    from voicegateway.policies.admission import Policies

                    self._policies = Policies(self.config, rates=self._rates)
        return self._policies

    def rates(self, resolution: Resolution, modality: Modality) -> Any:
        """The rates that would price what ``resolution`` serves (``pricing.Rates``: its
        ``source`` says ``unpriced`` for a model the catalog does not know)."""
        model = resolution.model_for(modality) or ""
        return self._rates(resolution.spec.id, model, modality)

    def _rates(self, provider: str, model: str, modality: str) -> Any:
        return rates_for(
            provider,
            model,
            modality,
            catalog=self._price_catalog(provider),
            overrides=self.config.pricing,
        )

    def _blocked(self, project: str, providers: Iterable[str]) -> Blocked:
        """Which of ``providers`` must not take ``project``'s new calls now, found once before
        resolving: an open circuit, or the project's ``block`` budget (overall or for that
        provider) spent."""
        circuits = {p: why for p in providers if (why := circuit.blocked(p))}
        budget = self.config.project(project).budget
        spent: dict[str, str] = {}
        if budget is not None and budget.action == "block":
            budgets = self.policies.budgets
            for provider in providers:
                if provider not in circuits and (why := budgets.exhausted(project, provider)):
                    spent[provider] = f"its budget is spent: {why}"
        return Blocked(circuit_open=circuits, budget_spent=spent)

    def _throttled(self, project: str, modality: Modality) -> tuple[list[str], str] | None:
        """The cheaper chain a ``throttle`` budget past its last threshold sends calls to, and
        why; None when the project is not throttled."""
        budget = self.config.project(project).budget
        if budget is None or budget.action != "throttle":
            return None
        reason = self.policies.budgets.exhausted(project)
        if reason is None:
            return None
        cheaper = budget.throttle_to or self.config.project(project).fallbacks.get(modality, [])
        return list(cheaper), reason

    @property
    def spooler(self) -> Spooler:
        """Where this process's records go: the spool ``storage:`` names, flushed to disk every
        ``flush_interval`` by a background thread (started on first use)."""
        if self._spooler is None:
            with self._lock:
                if self._spooler is None:
                    self._spooler = Spooler.from_config(self.config.storage)
        return self._spooler

    def records(self) -> list[UsageRecord]:
        """The records this process made most recently (the spool keeps the last thousand)."""
        return self.spooler.recent()

    def _price_catalog(self, provider_id: str) -> str | None:
        try:
            return self.plugins.provider(provider_id).price_catalog
        except Exception:
            return None  # attach() of a provider VoiceGateway does not know: unpriced, with why

    def _known_providers(self) -> set[str]:
        """Installed plugins (whatever their state) and the providers this project ships."""
        return {*self.plugins.plugins(), *self.plugins.provider_ids(), *FIRST_PARTY}

    def _settings_model(self, provider_id: str):
        if provider_id not in self.plugins.provider_ids():
            return None
        try:
            return self.plugins.provider(provider_id).settings
        except Exception:
            return None  # reported when the provider is used, or by `voicegw check`

    def project_name(self, explicit: str | None = None) -> str:
        """The project a new object is billed to: the argument, the current ``inference.project()``
        context, ``inference.set_project()``, then ``default_project`` from voicegw.yaml."""
        name = explicit or _project.get() or self.default_project or self.config.default_project
        self.config.project(name)  # raises, with a did-you-mean, for an unknown project
        return name

    def resolve(
        self,
        name: str,
        modality: Modality,
        *,
        project: str,
        fallback: Iterable[str] = (),
        api_key: str | None = None,
        base_url: str | None = None,
        alternates: bool = False,
        fallbacks: bool = True,
    ) -> Resolution:
        """Resolve ``name`` (see ``resolution.resolve``); a provider whose circuit is open or
        whose budget is spent is skipped. ``alternates=True`` keeps the other usable candidates
        for run-time fallback. ``fallbacks=False`` leaves the ``fallbacks:`` chains out (``voicegw
        check`` asks about each of their models alone). Agents and ``voicegw check`` both resolve
        through here."""
        config = self.config
        chains = (
            config.project(project).fallbacks.get(modality, ()),
            config.fallbacks.get(modality, ()),
        )
        texts = candidates(
            name,
            modality,
            aliases=config.models,
            providers=self._known_providers(),
            fallback=fallback,
            chains=chains if fallbacks else (),
        )
        throttled = self._throttled(project, modality)
        if throttled:
            cheaper, why = throttled
            log.warning(
                "%s %r of project %r throttled to %s: %s", modality, name, project, cheaper, why
            )
            primary, texts = texts[0], [*cheaper, *(t for t in texts if t not in cheaper)]
        providers = {ModelRef.parse(text, modality).provider for text in texts}
        resolution = resolve(
            name,
            modality,
            texts,
            plugins=self.plugins,
            config=config,
            project=project,
            api_key=api_key,
            base_url=base_url,
            blocked=self._blocked(project, providers),
            alternates=alternates,
        )
        if throttled and str(resolution.ref) != primary:
            # recorded as served instead of the primary: fallback_from names it, with the reason
            skipped = ((primary, f"throttled: {throttled[1]}"), *resolution.skipped)
            resolution = dataclasses.replace(resolution, skipped=skipped)
        return resolution

    def fallback_policy(self, project: str) -> Any:
        """The ``fallback_policy`` that holds for ``project``: its own block, else the file's."""
        config = self.config
        return config.project(project).fallback_policy or config.fallback_policy

    def build(self, resolution: Resolution, modality: Modality, **options: Any) -> Any:
        """Call the provider's factory and check it returned the LiveKit type it promised."""
        spec, ref = resolution.spec, resolution.ref
        model = resolution.model_for(modality)
        if not model:
            raise ModelNotFound(
                f"{ref.provider!r} has no default {modality} model: write {ref.provider}/<model>"
            )
        suffix_field = {"stt": "language", "tts": "voice"}.get(modality)
        if suffix_field and ref.suffix and not options.get(suffix_field):
            options[suffix_field] = ref.suffix
        # The plugin's SDK logs and quotes its URL: credentials in it travel as headers instead.
        url = split_credentials(resolution.base_url) if resolution.base_url else None
        request = BuildRequest(
            provider=spec.id,
            modality=modality,
            model=model,
            api_key=resolution.api_key,
            base_url=url.url if url else None,
            authorization=url.authorization if url else None,
            settings=resolution.settings,
            **options,
        )
        factory = spec.factory(modality)
        if factory is None:  # resolution checked the modality; a spec changed since is a bug
            raise PluginError(f"provider {spec.id!r} has no {modality} factory")
        loaded_modules(spec.livekit_plugins)
        obj = factory(request)
        module, cls = _LIVEKIT_BASES[modality]
        base = getattr(__import__(module, fromlist=[cls]), cls)
        if not isinstance(obj, base):
            raise PluginError(
                f"provider {spec.id!r} {modality} factory returned {type(obj).__name__}, "
                f"not a {module}.{cls}"
            )
        return obj, spec.billed_name(modality, model)

    def preload(self) -> list[str]:
        """Import the LiveKit plugin modules of every provider voicegw.yaml configures, on this
        thread: those with a ``providers:`` block (of the file or a project) and those its model
        chains name. With none configured, every installed provider (keys from the environment).

        Call it on the main thread (at start-up or in a worker's prewarm function): LiveKit plugins
        refuse to register from any other thread, and importing one takes about a second that
        would otherwise block the event loop at the first construction.
        """
        imported: list[str] = []
        for provider_id in sorted(self.configured_providers() or self.plugins.provider_ids()):
            try:
                spec = self.plugins.provider(provider_id)
            except Exception:
                continue  # resolution reports it, with the reason, when the model is used
            loaded_modules(spec.livekit_plugins)
            imported.extend(m for m in spec.livekit_plugins if m not in imported)
        return imported

    def configured_providers(self) -> set[str]:
        """Provider ids voicegw.yaml configures or names in a model chain."""
        config = self.config
        projects = list(config.projects.values())
        ids = {*config.providers, *(pid for p in projects for pid in p.providers)}
        chains = [[e] if isinstance(e, str) else e for e in config.models.values()]
        for fallbacks in (config.fallbacks, *(p.fallbacks for p in projects)):
            chains.extend(fallbacks.values())
        chains.extend(p.budget.throttle_to for p in projects if p.budget is not None)
        return ids | {text.split("/", 1)[0].split(":", 1)[0] for c in chains for text in c}


_default: Gateway | None = None
_default_lock = threading.Lock()


def get_gateway() -> Gateway:
    """The process's gateway, created on first use from the usual config search."""
    global _default
    if _default is None:
        with _default_lock:
            if _default is None:
                _default = Gateway()
    return _default


def configure(
    config_path: str | Path | None = None, *, profile: str | None = None, **kwargs: Any
) -> Gateway:
    """Replace the process's gateway: a config file, a profile, or a prepared ``Gateway`` parts."""
    global _default
    with _default_lock:
        _default = Gateway(config_path=config_path, profile=profile, **kwargs)
        circuit.reset()  # a new configuration starts with every circuit closed
    return _default


def current_project_var() -> contextvars.ContextVar[str | None]:
    return _project
