"""Discovery and loading of provider plugins.

Listing reads entry-point metadata only (``importlib.metadata``); nothing is imported. A plugin
module is imported the first time one of its providers is needed, or when the CLI lists plugins.
Before one of its providers is served, the loader checks that the plugin distribution's own
requirements are installed (so a missing ``livekit-plugins-*`` is reported as such, not as a bare
ImportError); after importing it checks the plugin API version and rejects misspelled hook
implementations. A plugin that fails is recorded with its error and never affects the others.

Collecting every plugin's middlewares imports every hook module (small: they import no SDK) but
checks requirements only of the plugins whose providers are used: a job process that serves one
provider does not read and parse the metadata of all of them (tens of milliseconds at start).
"""

from __future__ import annotations

import os
import threading
from collections.abc import Iterable
from dataclasses import dataclass, field
from types import ModuleType
from typing import Any, Literal

from voicegateway.errors import PluginError, ProviderUnavailable
from voicegateway.hookspecs import PROJECT_NAME
from voicegateway.plugin_api import PLUGIN_API_VERSION
from voicegateway.providers import ProviderSpec, install_hint

ENTRY_POINT_GROUP = PROJECT_NAME
DISABLE_ENV = "VOICEGW_DISABLE_PLUGINS"
"""Comma-separated entry-point names the loader skips (a block-list for a broken plugin)."""

Status = Literal["available", "loaded", "failed", "disabled"]


@dataclass
class PluginInfo:
    """One entry point in the ``voicegateway`` group and what became of it."""

    name: str
    module: str
    distribution: str | None
    version: str | None
    status: Status = "available"
    error: str | None = None
    providers: list[ProviderSpec] = field(default_factory=list)
    readers: list[Any] = field(default_factory=list)
    """The usage readers (``UsageReader``) it registered, once :meth:`PluginHost.usage_readers`
    asked."""
    readers_error: str | None = None
    """Why its ``register_usage_readers`` failed; its providers still work."""


class PluginHost:
    """Owns the pluggy manager and the providers plugins registered.

    One per process in normal use (see :func:`voicegateway.gateway.get_gateway`); tests build their
    own and add fake plugins with :meth:`register`.
    """

    def __init__(self, *, discover: bool = True) -> None:
        self._discover = discover
        self._infos: dict[str, PluginInfo] | None = None
        self._providers: dict[str, ProviderSpec] = {}
        self._owner: dict[str, str] = {}  # provider id -> plugin name that registered it
        self._pm: Any = None
        self._lock = threading.RLock()
        self._unchecked: set[str] = set()  # plugins loaded before their requirements were checked

    # -- listing (metadata only) -------------------------------------------------------------

    def plugins(self) -> dict[str, PluginInfo]:
        """Every known plugin by entry-point name, loaded or not. Imports nothing."""
        with self._lock:
            if self._infos is None:
                self._infos = _scan_entry_points() if self._discover else {}
            return self._infos

    def provider_ids(self) -> list[str]:
        """Provider ids known so far: registered ones plus unloaded entry-point names."""
        ids = set(self._providers)
        ids.update(name for name, info in self.plugins().items() if info.status == "available")
        return sorted(ids)

    # -- loading -----------------------------------------------------------------------------

    def provider(self, provider_id: str) -> ProviderSpec:
        """The spec for ``provider_id``, loading its plugin on first use."""
        spec = self._providers.get(provider_id)
        if spec is not None and not self._unchecked:
            return spec
        if spec is not None:
            info = self.plugins()[self._owner[provider_id]]
            if info.name not in self._unchecked:
                return spec
            self._check_requirements(info)
            if info.status == "loaded":
                return spec
            raise ProviderUnavailable(
                f"provider {provider_id!r} is installed but its plugin failed to load: {info.error}"
            )
        entry = self.plugins().get(provider_id)
        if entry is None:
            known = ", ".join(self.provider_ids()) or "none"
            raise ProviderUnavailable(
                f"no provider {provider_id!r} is installed (installed: {known}); "
                f"{install_hint(provider_id)}"
            )
        self._load(entry)
        spec = self._providers.get(provider_id)
        if spec is None:
            raise ProviderUnavailable(
                f"provider {provider_id!r} is installed but its plugin failed to load: "
                f"{entry.error}"
            )
        return spec

    def load_all(self) -> dict[str, PluginInfo]:
        """Load every discovered plugin (for ``voicegw providers`` and ``check``)."""
        for info in self.plugins().values():
            self._load(info)
        return self.plugins()

    def middlewares(self, config: Any) -> list[Any]:
        """Every plugin's extra metering steps (``register_middlewares``), loading all plugins."""
        from voicegateway.metering.middleware import Middleware

        for info in self.plugins().values():
            self._load(info, check=False)
        steps: list[Middleware] = []

        def register(step: Middleware) -> None:
            if not isinstance(step, Middleware):
                raise PluginError(f"register() takes a Middleware, got {type(step).__name__}")
            steps.append(step)

        self._manager().hook.register_middlewares(register=register, config=config)
        return steps

    def usage_readers(self) -> list[Any]:
        """Every loaded plugin's usage-export readers (``register_usage_readers``), for
        ``voicegw reconcile``. A plugin whose hook raises, registers something other than a
        ``UsageReader`` or reuses another plugin's reader name contributes none; the error is
        kept in its ``readers_error`` and the others are unaffected."""
        from voicegateway.reconcile.billed import UsageReader

        self.load_all()
        pm = self._manager()
        readers: dict[str, Any] = {}
        for info in self.plugins().values():
            plugin = pm.get_plugin(info.name) if info.status == "loaded" else None
            if plugin is None:
                continue
            found: list[UsageReader] = []

            def register(reader: UsageReader, found: list[UsageReader] = found) -> None:
                if not isinstance(reader, UsageReader):
                    raise PluginError(
                        f"register() takes a UsageReader, got {type(reader).__name__}"
                    )
                if reader.name in readers or any(r.name == reader.name for r in found):
                    raise PluginError(f"usage reader {reader.name!r} is already registered")
                found.append(reader)

            others = [p for p in pm.get_plugins() if p is not plugin]
            try:
                pm.subset_hook_caller("register_usage_readers", remove_plugins=others)(
                    register=register
                )
            except Exception as exc:  # a broken reader must not hide the others
                info.readers, info.readers_error = [], f"{type(exc).__name__}: {exc}"
                continue
            info.readers, info.readers_error = found, None
            readers.update((reader.name, reader) for reader in found)
        return list(readers.values())

    def provider_for_module(self, module: str) -> ProviderSpec | None:
        """The provider whose factories build objects from the LiveKit plugin ``module``."""
        self.load_all()
        for spec in self._providers.values():
            if any(module == m or module.startswith(m + ".") for m in spec.livekit_plugins):
                return spec
        return None

    def providers(self) -> dict[str, ProviderSpec]:
        """Providers registered so far (loaded plugins and ones added with :meth:`register`)."""
        return dict(self._providers)

    def register(self, plugin: object, name: str | None = None) -> list[ProviderSpec]:
        """Register a plugin object or module without an entry point (tests, embedding)."""
        name = name or getattr(plugin, "__name__", None) or type(plugin).__name__
        with self._lock:
            info = PluginInfo(
                name=name, module=getattr(plugin, "__name__", name), distribution=None, version=None
            )
            self.plugins()[name] = info
            if not self._register(info, plugin):
                raise PluginError(info.error)
            return info.providers

    def unregister(self, name: str) -> None:
        """Remove a plugin registered with :meth:`register` and the providers it added."""
        with self._lock:
            info = self.plugins().pop(name, None)
            if info is not None:
                self._forget(info)

    def _forget(self, info: PluginInfo) -> None:
        """Take ``info``'s providers and hooks out (its module stays imported)."""
        for spec in info.providers:
            self._providers.pop(spec.id, None)
            self._owner.pop(spec.id, None)
        info.providers = []
        pm = self._manager()
        if pm.has_plugin(info.name):
            pm.unregister(name=info.name)

    def _load(self, info: PluginInfo, *, check: bool = True) -> None:
        """Import and register ``info``'s module; with ``check``, its distribution's
        requirements first (else later, by :meth:`_check_requirements`)."""
        with self._lock:
            if info.status == "loaded" and check and info.name in self._unchecked:
                self._check_requirements(info)
            if info.status != "available":
                return
            problem = _unmet_requirements(info.distribution) if check else None
            if problem:
                info.status, info.error = "failed", problem
                return
            try:
                module = __import__(info.module, fromlist=["_"])
            except Exception as exc:  # a broken plugin must not break the others
                info.status, info.error = "failed", f"{type(exc).__name__}: {exc}"
                return
            if self._register(info, module) and not check:
                self._unchecked.add(info.name)

    def _check_requirements(self, info: PluginInfo) -> None:
        """The check a plugin loaded for its middlewares skipped: when its requirements are
        not met it is unloaded and marked failed, as if it had been checked first."""
        with self._lock:
            if info.name not in self._unchecked:
                return
            self._unchecked.discard(info.name)
            problem = _unmet_requirements(info.distribution)
            if problem:
                self._forget(info)
                info.status, info.error = "failed", problem

    def _register(self, info: PluginInfo, plugin: object) -> bool:
        """Register ``plugin``'s hooks and providers; whether it loaded (else ``info`` says
        why it failed)."""
        api = getattr(plugin, "VOICEGATEWAY_PLUGIN_API", None)
        if api != PLUGIN_API_VERSION:
            info.status = "failed"
            info.error = (
                f"plugin {info.name!r} targets plugin API {api!r}; this voicegateway-core "
                f"implements API {PLUGIN_API_VERSION} (set VOICEGATEWAY_PLUGIN_API = "
                f"{PLUGIN_API_VERSION} in {info.module} once it is compatible)"
            )
            return False
        pm = self._manager()
        try:
            pm.register(plugin, name=info.name)
            pm.check_pending()
        except Exception as exc:
            if pm.has_plugin(info.name):
                pm.unregister(name=info.name)
            info.status, info.error = "failed", f"{type(exc).__name__}: {exc}"
            return False
        specs: list[ProviderSpec] = []

        def register(spec: ProviderSpec) -> None:
            if not isinstance(spec, ProviderSpec):
                raise PluginError(f"register() takes a ProviderSpec, got {type(spec).__name__}")
            specs.append(spec)

        others = [p for p in pm.get_plugins() if p is not plugin]
        try:
            pm.subset_hook_caller("register_providers", remove_plugins=others)(register=register)
            for spec in specs:
                owner = self._owner.get(spec.id)
                if owner is not None and owner != info.name:
                    raise PluginError(
                        f"provider {spec.id!r} is already registered by plugin {owner!r}"
                    )
        except Exception as exc:
            pm.unregister(name=info.name)
            info.status, info.error = "failed", f"{type(exc).__name__}: {exc}"
            return False
        for spec in specs:
            self._providers[spec.id] = spec
            self._owner[spec.id] = info.name
        info.providers = specs
        info.status = "loaded"
        return True

    def _manager(self) -> Any:
        if self._pm is None:
            import pluggy

            from voicegateway import hookspecs

            self._pm = pluggy.PluginManager(PROJECT_NAME)
            self._pm.add_hookspecs(hookspecs)
        return self._pm


def _scan_entry_points() -> dict[str, PluginInfo]:
    from importlib.metadata import entry_points

    disabled = {n.strip() for n in os.environ.get(DISABLE_ENV, "").split(",") if n.strip()}
    found: dict[str, PluginInfo] = {}
    for ep in entry_points(group=ENTRY_POINT_GROUP):
        dist = ep.dist
        info = PluginInfo(
            name=ep.name,
            module=ep.value.split(":")[0],
            distribution=dist.metadata["Name"] if dist else None,
            version=dist.version if dist else None,
        )
        if ep.name in disabled:
            info.status, info.error = "disabled", f"disabled by ${DISABLE_ENV}"
        found.setdefault(ep.name, info)
    return found


def _unmet_requirements(distribution: str | None) -> str | None:
    """Why the distribution's declared requirements are not met, or None when they are."""
    if distribution is None:
        return None
    from importlib.metadata import PackageNotFoundError, requires, version

    from packaging.requirements import Requirement

    problems = []
    for line in requires(distribution) or ():
        req = Requirement(line)
        if req.marker is not None and not req.marker.evaluate({"extra": ""}):
            continue
        try:
            installed = version(req.name)
        except PackageNotFoundError:
            problems.append(f"{req} (not installed)")
            continue
        if req.specifier and not req.specifier.contains(installed, prereleases=True):
            problems.append(f"{req} (installed: {installed})")
    if not problems:
        return None
    return f"{distribution} needs " + "; ".join(problems)


def loaded_modules(names: Iterable[str]) -> list[ModuleType]:
    """Import ``names`` (LiveKit plugin modules) on the main thread, as LiveKit requires."""
    import importlib
    import sys

    modules = []
    for name in names:
        module = sys.modules.get(name)
        if module is None:
            if threading.current_thread() is not threading.main_thread():
                raise PluginError(
                    f"{name} must be imported on the main thread (LiveKit plugins register "
                    "themselves at import); call voicegateway.preload() at start-up or in your "
                    "worker's prewarm function"
                )
            module = importlib.import_module(name)
        modules.append(module)
    return modules
