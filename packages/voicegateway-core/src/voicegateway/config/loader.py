"""Reading voicegw.yaml into a :class:`Config`.

The steps: find the file, parse it keeping the line and column of every key and value
(:mod:`~voicegateway.config.positions`), merge the active profile over the base, fill in ``${VAR}``
references, then validate. Problems found along the way are collected and raised together as one
:class:`ConfigError`, each pointing at its line; pydantic's errors are worded by
:mod:`~voicegateway.config.validation`.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Collection, Iterator, Mapping
from importlib import resources
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ValidationError
from yaml.constructor import ConstructorError, SafeConstructor

from voicegateway.config.env import EnvText, has_reference, substitute
from voicegateway.config.errors import ConfigError, ConfigIssue, did_you_mean
from voicegateway.config.positions import KeyPath, SourceMap, dotted, key_paths, node_position
from voicegateway.config.schema import Config, ProviderSettings, unknown_default_project
from voicegateway.config.validation import describe, kind_of, locate
from voicegateway.config.yaml_limits import MAX_BYTES, LimitedLoader, YAMLLimitError, check_size

CONFIG_FILENAME = "voicegw.yaml"

SettingsFor = Callable[[str], type[ProviderSettings] | None]


def find_config_path(
    explicit: str | os.PathLike[str] | None = None,
    *,
    env: Mapping[str, str] = os.environ,
    cwd: str | os.PathLike[str] | None = None,
) -> Path | None:
    """The config file to use: ``explicit`` (``--config``), else ``$VOICEGW_CONFIG``, else
    ``./voicegw.yaml``, else ``$XDG_CONFIG_HOME/voicegateway/voicegw.yaml``; None if there is none.

    A file named explicitly or by the variable must exist: silently falling back to another file
    would run with settings the user did not choose.
    """
    base = Path.cwd() if cwd is None else Path(cwd)
    if explicit is not None:
        return _existing(base / Path(explicit).expanduser(), "given as the config file")
    if env.get("VOICEGW_CONFIG"):
        return _existing(base / Path(env["VOICEGW_CONFIG"]).expanduser(), "named by VOICEGW_CONFIG")
    local = base / CONFIG_FILENAME
    if local.is_file():
        return local.absolute()
    home = Path(env["HOME"]) if env.get("HOME") else Path.home()
    config_home = Path(env.get("XDG_CONFIG_HOME") or home / ".config")
    user = config_home / "voicegateway" / CONFIG_FILENAME
    return user.absolute() if user.is_file() else None


def _existing(path: Path, how: str) -> Path:
    path = path.absolute()
    if not path.is_file():
        problem = "is a directory, not a file" if path.is_dir() else "does not exist"
        raise ConfigError([ConfigIssue(path, None, None, "", f"{problem} ({how})")], path)
    return path


def _anchor_storage(config: Config, source: Path | None) -> None:
    """A relative ``storage.path`` or ``spool_dir`` is relative to the config file's directory,
    not the working directory: every command and job reading this file finds the same ledger."""
    if source is None:
        return
    storage = config.storage
    storage.path = source.parent / storage.path
    if storage.spool_dir is not None:  # always, once StorageConfig has validated
        storage.spool_dir = source.parent / storage.spool_dir


def load_config(
    path: str | os.PathLike[str] | None = None,
    *,
    profile: str | None = None,
    env: Mapping[str, str] | None = None,
    settings_for: SettingsFor | None = None,
    known_providers: Callable[[], Collection[str]] | None = None,
) -> Config:
    """Load and validate voicegw.yaml (see :func:`find_config_path`); with no file, the defaults.

    ``profile`` (else ``$VOICEGW_PROFILE``) names the profile merged over the base. ``env``
    replaces os.environ for ``${VAR}`` references. ``settings_for(provider_id)`` may return the
    plugin's ProviderSettings subclass for that provider's settings blocks. ``known_providers()``
    returns the provider ids that exist (installed, or shipped by this project); with it, a model
    chain naming any other provider is an error.
    Raises ConfigError listing every problem in the file.
    """
    env = os.environ if env is None else env
    source = find_config_path(path, env=env)
    text = _read(source) if source is not None else ""
    chosen_by = ""
    if profile is None and env.get("VOICEGW_PROFILE"):
        profile, chosen_by = env["VOICEGW_PROFILE"], " (from VOICEGW_PROFILE)"
    return _Loader(source, env, settings_for, known_providers).load(text, profile, chosen_by)


def starter_yaml() -> str:
    """The commented voicegw.yaml that ``voicegw init`` writes."""
    return resources.files(__package__).joinpath("starter.yaml").read_text(encoding="utf-8")


def _read(path: Path) -> str:
    try:
        with path.open("rb") as file:
            data = file.read(MAX_BYTES + 1)  # never more: the file may be huge, or endless
        check_size(data)
        # Newlines as Path.read_text gives them, so lines and columns count the same.
        return data.decode("utf-8").replace("\r\n", "\n").replace("\r", "\n")
    except OSError as error:
        message = f"cannot be read: {error.strerror or error}"
    except UnicodeDecodeError as error:
        message = f"is not UTF-8 text ({error.reason} at byte {error.start})"
    except YAMLLimitError as error:
        raise ConfigError([_limit_issue(path, error)], path) from None
    raise ConfigError([ConfigIssue(path, None, None, "", message)], path)


def _limit_issue(path: Path | None, error: YAMLLimitError) -> ConfigIssue:
    return ConfigIssue(path, error.line, error.column, "", error.message, error.hint)


def _is_provider_setting(path: KeyPath) -> bool:
    """Inside ``providers.<id>``, ``projects.<p>.providers.<id>`` or ``projects.<p>.budget.notify``
    (secrets): where ${VAR} is lazy and values are never quoted."""
    if path[:1] == ("providers",):
        return len(path) >= 3
    if len(path) >= 5 and path[0] == "projects" and path[2:4] == ("budget", "notify"):
        return True
    return len(path) >= 5 and path[0] == "projects" and path[2] == "providers"


class _Loader:
    """One load of one file; collects issues instead of stopping at the first."""

    def __init__(
        self,
        file: Path | None,
        env: Mapping[str, str],
        settings_for: SettingsFor | None,
        known_providers: Callable[[], Collection[str]] | None,
    ):
        self.file = file
        self.env = env
        self.settings_for = settings_for
        self.known_providers = known_providers
        self.sources = SourceMap()
        self.issues: list[ConfigIssue] = []
        self.reported: set[KeyPath] = set()  # values already reported: skip follow-on errors
        self.constructor = SafeConstructor()

    def load(self, text: str, profile: str | None, chosen_by: str) -> Config:
        document = self._parse(text)
        if document is None:  # "---" alone, or "~": nothing configured
            document = {}
        if not isinstance(document, dict):
            self._issue(
                (),
                "the top level must be a mapping of keys (default_project, providers, models...), "
                f"got {kind_of(document)}",
            )
            raise ConfigError(self.issues, self.file)
        merged = self._apply_profile(document, profile, chosen_by)
        data = self._interpolate(merged, ())
        self._validate_settings(data)
        config = None
        try:
            config = Config.model_validate(data)
        except ValidationError as error:
            self._report(error, Config, (), data)
            # Config checks default_project only once everything else is valid; report it now too.
            default = data.get("default_project", Config.model_fields["default_project"].default)
            explicit = "default_project" in data
            problem = unknown_default_project(default, data.get("projects"), explicit=explicit)
            if problem and not any(issue.path == "default_project" for issue in self.issues):
                self._issue(("default_project",), *problem)
        if config is not None and self.known_providers is not None:
            self._check_providers(config, self.known_providers())
        if self.issues or config is None:
            self.issues.sort(key=lambda issue: (issue.line or 0, issue.column or 0))
            raise ConfigError(self.issues, self.file)
        locations = {
            path: position
            for path in key_paths(merged)
            if (position := self.sources.position(path, prefer_key=True))
        }
        _anchor_storage(config, self.file)
        config._set_origin(self.file, profile, locations)
        return config

    def _issue(
        self, path: KeyPath, message: str, hint: str | None = None, *, prefer_key: bool = False
    ) -> None:
        line, column = self.sources.position(path, prefer_key=prefer_key) or (None, None)
        where = dotted(self.sources.written_at(path))
        self.issues.append(ConfigIssue(self.file, line, column, where, message, hint))

    # --- parsing ---------------------------------------------------------------------------

    def _parse(self, text: str) -> Any:
        try:
            node = yaml.compose(_shield(text), Loader=LimitedLoader)
        except YAMLLimitError as error:
            raise ConfigError([_limit_issue(self.file, error)], self.file) from None
        except yaml.MarkedYAMLError as error:
            # The message is rebuilt from its parts: PyYAML's own text quotes the offending line,
            # which may hold an API key.
            mark = error.problem_mark or error.context_mark
            line, column = (mark.line + 1, mark.column + 1) if mark else (None, None)
            message = "invalid YAML: " + "; ".join(p for p in (error.context, error.problem) if p)
            issue = ConfigIssue(self.file, line, column, "", message)
            raise ConfigError([issue], self.file) from None
        except yaml.YAMLError as error:
            message = f"invalid YAML: {str(error).splitlines()[0]}"
            issue = ConfigIssue(self.file, None, None, "", message)
            raise ConfigError([issue], self.file) from None
        return {} if node is None else self._build(node, (), frozenset())

    def _build(self, node: yaml.Node, path: KeyPath, ancestors: frozenset[int]) -> Any:
        """Plain data from a YAML node, recording positions as it goes."""
        self.sources.values[path] = node_position(node)
        if id(node) in ancestors:
            self._issue(path, "an alias refers to a mapping or list that contains it")
            return None
        ancestors |= {id(node)}
        if isinstance(node, yaml.MappingNode):
            return self._build_mapping(node, path, ancestors)
        if isinstance(node, yaml.SequenceNode):
            return [self._build(item, (*path, i), ancestors) for i, item in enumerate(node.value)]
        return self._construct(node, path)

    def _build_mapping(
        self, node: yaml.MappingNode, path: KeyPath, ancestors: frozenset[int]
    ) -> dict[Any, Any]:
        own_keys = {id(key) for key, _ in node.value}
        try:
            self.constructor.flatten_mapping(node)  # applies "<<: *anchor" merge keys
        except ConstructorError as error:
            self._issue(path, f"invalid merge key: {error.problem}")
            return {}
        mapping: dict[Any, Any] = {}
        written: set[Any] = set()
        for key_node, value_node in node.value:
            if not isinstance(key_node, yaml.ScalarNode):
                self._issue(path, "a key must be a plain value, not a mapping or a list")
                continue
            key = self._construct(key_node, path)
            here = (*path, key)
            if id(key_node) in own_keys:
                if key in written:
                    self.sources.keys[here] = node_position(key_node)
                    self._issue(here, "duplicate key", "each key may appear once", prefer_key=True)
                written.add(key)
            self.sources.keys[here] = node_position(key_node)
            mapping[key] = self._build(value_node, here, ancestors)
        return mapping

    def _construct(self, node: yaml.Node, path: KeyPath) -> Any:
        try:
            value = self.constructor.construct_object(node)
            return _unshield(value) if isinstance(value, str) else value
        except (ConstructorError, ValueError) as error:
            # An explicit tag PyYAML cannot apply ("!!int abc" raises ValueError quoting the text).
            problem = error.problem if isinstance(error, ConstructorError) else None
            self.sources.values.setdefault(path, node_position(node))
            self._issue(path, f"invalid value: {problem or f'not a valid {node.tag}'}")
            self.reported.add(path)
            return None

    # --- profiles ---------------------------------------------------------------------------

    def _apply_profile(self, document: dict[Any, Any], name: str | None, chosen_by: str) -> dict:
        if name is None:
            return document
        profiles = document.get("profiles")
        if not isinstance(profiles, dict) or name not in profiles:
            available = sorted(map(str, profiles)) if isinstance(profiles, dict) else []
            if available:
                listing = f"available: {', '.join(available)}"
                suggestion = did_you_mean(name, available)
                hint = f"{suggestion} ({listing})" if suggestion else listing
            else:
                hint = "this file defines none" if self.file else "no voicegw.yaml was found"
            # Point at "profiles:" when there is one; the name itself came from outside the file.
            line, column = self.sources.keys.get(("profiles",), (None, None))
            message = f"unknown profile {name!r}{chosen_by}"
            self.issues.append(ConfigIssue(self.file, line, column, "profiles", message, hint))
            return document
        overlay = profiles[name]
        if not isinstance(overlay, dict):
            self._issue(("profiles", name), f"a profile must be a mapping, got {kind_of(overlay)}")
            self.reported.add(("profiles", name))
            return document
        if "profiles" in overlay:
            self._issue(("profiles", name, "profiles"), "a profile cannot define profiles")
            overlay = {key: value for key, value in overlay.items() if key != "profiles"}
        return self._merge(document, overlay, (), ("profiles", name))

    def _merge(self, base: dict, overlay: dict, path: KeyPath, profile: KeyPath) -> dict:
        """Mappings merge key by key; anything else in the profile replaces the base value, and so
        does a ``fallbacks:`` block whole (a profile's fallbacks are all its own: a ``dev``
        profile's ``fallbacks: {}`` hands nothing over to the base's paid providers)."""
        merged = dict(base)
        for key, value in overlay.items():
            here = (*path, key)
            whole = key == "fallbacks" and len(here) in (1, 3)  # top level, projects.<p>
            if isinstance(value, dict) and isinstance(merged.get(key), dict) and not whole:
                merged[key] = self._merge(merged[key], value, here, profile)
            else:
                merged[key] = value
                self.sources.moved[here] = profile + here
        return merged

    # --- ${VAR} -----------------------------------------------------------------------------

    def _interpolate(self, value: Any, path: KeyPath) -> Any:
        """A copy of ``value`` with references filled in; ``profiles`` stays as written."""
        if isinstance(value, dict):
            copy = {}
            for key, item in value.items():
                here = (*path, key)
                copy[key] = item if here == ("profiles",) else self._interpolate(item, here)
            return copy
        if isinstance(value, list):
            return [self._interpolate(item, (*path, i)) for i, item in enumerate(value)]
        if isinstance(value, str) and has_reference(value):
            return self._substitute(value, path)
        return value

    def _substitute(self, text: str, path: KeyPath) -> Any:
        try:
            value, missing = substitute(text, self.env)
        except ValueError as error:
            self._issue(path, str(error))
            self.reported.add(path)
            return text
        if _is_provider_setting(path):
            line = (self.sources.position(path) or (None, None))[0]
            where = dotted(self.sources.written_at(path))
            return EnvText(value, text, tuple(missing), where, self.file, line)
        for name in missing:
            hint = f"export {name}=... or write ${{{name}:-default}}"
            self._issue(path, f"environment variable {name} is not set", hint)
            self.reported.add(path)
        return text if missing else value

    # --- validation -------------------------------------------------------------------------

    def _validate_settings(self, data: dict[Any, Any]) -> None:
        """Validate each provider settings block with its provider's model, in place."""
        for path, blocks in _settings_blocks(data):
            for provider_id, block in blocks.items():
                if block is not None and not isinstance(block, dict):
                    continue  # Config validation reports it
                found = self.settings_for(str(provider_id)) if self.settings_for else None
                model = found or ProviderSettings
                try:
                    blocks[provider_id] = model.model_validate(block or {})
                except ValidationError as error:
                    self._report(error, model, (*path, provider_id), data)
                    blocks[provider_id] = model.model_construct()

    def _check_providers(self, config: Config, known: Collection[str]) -> None:
        """Every model chain and provider block names providers that exist: a typo in a fallback
        chain would otherwise show only when the chain is needed, as a provider skipped at resolve
        time, and a typo'd block (``opneai:``) would leave the real provider without its key."""
        blocks: list[tuple[KeyPath, Collection[str]]] = [(("providers",), config.providers)]
        for name, project in config.projects.items():
            blocks.append((("projects", name, "providers"), project.providers))
            if project.budget is not None:
                blocks.append((("projects", name, "budget", "providers"), project.budget.providers))
        for path, block in blocks:
            for provider in block:
                if provider not in known:
                    self._issue(
                        (*path, provider),
                        f"unknown provider {provider!r}: no installed plugin provides it and it "
                        "is not one of VoiceGateway's providers",
                        did_you_mean(provider, known)
                        or "see `voicegw providers` for the installed ones, or install its plugin",
                        prefer_key=True,
                    )
        chains: list[tuple[KeyPath, list[str], bool]] = [
            (("models", alias), choice if isinstance(choice, list) else [choice], True)
            for alias, choice in config.models.items()
        ]
        chains += [(("fallbacks", m), refs, False) for m, refs in config.fallbacks.items()]
        for name, project in config.projects.items():
            base = ("projects", name)
            chains += [
                ((*base, "fallbacks", m), refs, False) for m, refs in project.fallbacks.items()
            ]
            if project.budget is not None:
                chains.append(((*base, "budget", "throttle_to"), project.budget.throttle_to, False))
        for path, refs, in_models in chains:
            single = in_models and not isinstance(config.models[path[1]], list)
            for index, ref in enumerate(refs):
                provider, _, model = ref.split(":", 1)[0].partition("/")
                if provider in known or (not model and provider in config.models):
                    continue  # a provider, or an alias
                self._issue(
                    path if single else (*path, index),
                    f"unknown provider {provider!r} in {ref!r}: no installed plugin provides it "
                    "and it is not one of VoiceGateway's providers",
                    did_you_mean(provider, known)
                    or "see `voicegw providers` for the installed ones, or install its plugin",
                )

    def _report(self, error: ValidationError, model: type[BaseModel], root: KeyPath, data: Any):
        for detail in error.errors(include_url=False):
            path, value, on_key = locate(data, root + detail["loc"])
            if any(path[: len(done)] == done for done in self.reported):
                continue
            message, hint = describe(detail, value, model, reveal=not _is_provider_setting(path))
            on_key = on_key or detail["type"] in ("extra_forbidden", "missing")
            self._issue(path, message, hint, prefer_key=on_key or isinstance(value, dict | list))


# "{api_key: ${KEY}}" is what people write, but in YAML a brace ends a plain value inside { }.
# Before parsing, the braces of each ${...} become private-use characters of the same width (so
# line and column numbers stay true), and constructed strings get them back.
_REFERENCE = re.compile(r"\$\{([^{}\n]*)\}")
_OPEN, _CLOSE = "\ue000", "\ue001"


def _shield(text: str) -> str:
    return _REFERENCE.sub(lambda m: f"${_OPEN}{m.group(1)}{_CLOSE}", text)


def _unshield(text: str) -> str:
    return text.replace(f"${_OPEN}", "${").replace(_CLOSE, "}")


def _settings_blocks(data: dict[Any, Any]) -> Iterator[tuple[KeyPath, dict[Any, Any]]]:
    """The ``providers`` mappings: top level and per project."""
    if isinstance(data.get("providers"), dict):
        yield ("providers",), data["providers"]
    projects = data.get("projects")
    if isinstance(projects, dict):
        for name, project in projects.items():
            if isinstance(project, dict) and isinstance(project.get("providers"), dict):
                yield ("projects", name, "providers"), project["providers"]
