"""The shape of voicegw.yaml, as pydantic models.

Every model forbids unknown keys, so a typo is reported instead of silently ignored, and hides its
input in validation errors, since the input may be an API key. Later features (budget thresholds,
rate limits, pricing overrides) add fields to these models.
"""

from __future__ import annotations

import os
import re
import urllib.parse
from collections.abc import Iterator, Mapping
from decimal import Decimal
from pathlib import Path
from typing import Annotated, Any, ClassVar, Literal, Self

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Discriminator,
    Field,
    ModelWrapValidatorHandler,
    PrivateAttr,
    SerializeAsAny,
    SerializerFunctionWrapHandler,
    Tag,
    ValidationError,
    field_validator,
    model_serializer,
    model_validator,
)
from pydantic_core import InitErrorDetails, PydanticCustomError

from voicegateway.config.env import MASK, EnvText, MissingEnvError, Secret, mask_template
from voicegateway.config.errors import UnknownProjectError, did_you_mean

Modality = Literal["stt", "llm", "tts"]

_PROVIDER_ID = re.compile(r"[a-z][a-z0-9_-]*")
_MODEL_STRING = re.compile(r"[a-z][a-z0-9_-]*(?:/[^\s:/][^\s:]*)?(?::\S+)?")


def _check_provider_id(value: str) -> str:
    if not _PROVIDER_ID.fullmatch(value):
        raise ValueError(
            f"{value!r} is not a provider id: use lowercase letters, digits, '-' or '_', "
            "starting with a letter"
        )
    return value


def _check_model_string(value: str) -> str:
    if not _MODEL_STRING.fullmatch(value):
        raise ValueError(
            f"{value!r} is not a model string: expected 'provider' or 'provider/model', "
            "optionally followed by ':suffix' (lowercase provider id, no spaces)"
        )
    return value


ProviderId = Annotated[str, AfterValidator(_check_provider_id)]
ModelRef = Annotated[str, AfterValidator(_check_model_string)]
"""``provider`` or ``provider/model``, optionally with a ``:suffix`` (``deepgram/nova-3:en``)."""
ModelChain = Annotated[list[ModelRef], Field(min_length=1)]
"""Models tried in order until one works."""
ModelChoice = Annotated[
    Annotated[ModelRef, Tag("model")] | Annotated[ModelChain, Tag("chain")],
    # Picking the branch by type gives one clear error instead of one per branch of the union.
    Discriminator(lambda value: "chain" if isinstance(value, list) else "model"),
]
Fallbacks = dict[Modality, list[ModelRef]]
"""Per modality, the models tried when the requested one fails. An empty list turns them off."""
Money = Annotated[Decimal, Field(ge=0)]


class ConfigModel(BaseModel):
    """Base of every voicegw.yaml model."""

    model_config = ConfigDict(extra="forbid", hide_input_in_errors=True)


class ProviderSettings(ConfigModel):
    """How to reach one provider: ``providers.<id>`` and ``projects.<p>.providers.<id>``.

    Plugins subclass it for provider-specific keys (``model_path``...); declare credentials as
    :class:`Secret`. A ``${VAR}`` that is unset stays pending rather than failing the load: it is
    listed by :meth:`missing_env` and raised by :meth:`resolve` when the provider is used.
    """

    api_key: Secret | None = None
    base_url: str | None = Field(default=None, repr=False)  # may hold user:password@ or ?key=

    # The data as validated, ${VAR} references included: resolve() re-reads them from it, and a
    # project override merges with it key by key.
    _input: dict[str, Any] = PrivateAttr(default_factory=dict)

    @model_validator(mode="wrap")
    @classmethod
    def _keep_input(cls, data: Any, handler: ModelWrapValidatorHandler[Self]) -> Self:
        settings = handler(data)
        if isinstance(data, Mapping):
            settings._input = dict(data)
        return settings

    def missing_env(self) -> list[MissingEnvError]:
        """Every ``${VAR}`` in these settings that was unset, with no default, at load."""
        return [error for text in _env_texts(self._input) for error in text.errors()]

    def resolve(self, env: Mapping[str, str] | None = None) -> Self:
        """A copy with pending ``${VAR}`` references read again from ``env`` (os.environ).

        Raises :class:`MissingEnvError` naming the variable, key and line when one is still unset.
        """
        if not self.missing_env():
            return self.model_copy()
        return self.model_validate(_resolve_texts(self._input, env))

    def merged_with(self, override: ProviderSettings) -> ProviderSettings:
        """These settings with every key that ``override`` sets taken from ``override``."""
        return type(override).model_validate({**self._input, **override._input})


def _env_texts(value: Any) -> Iterator[EnvText]:
    if isinstance(value, EnvText):
        yield value
    elif isinstance(value, Mapping):
        for item in value.values():
            yield from _env_texts(item)
    elif isinstance(value, list):
        for item in value:
            yield from _env_texts(item)


def _resolve_texts(value: Any, env: Mapping[str, str] | None) -> Any:
    if isinstance(value, EnvText):
        return value.resolve(env)
    if isinstance(value, Mapping):
        return {key: _resolve_texts(item, env) for key, item in value.items()}
    if isinstance(value, list):
        return [_resolve_texts(item, env) for item in value]
    return value


class BudgetLimits(ConfigModel):
    """Spending limits in US dollars: a project's budget, or one provider's share of it
    (``projects.<p>.budget.providers.<id>``)."""

    LIMITS: ClassVar[tuple[str, ...]] = ("daily_usd", "monthly_usd", "per_session_usd")

    daily_usd: Money | None = None
    monthly_usd: Money | None = None
    per_session_usd: Money | None = None

    @model_validator(mode="after")
    def _has_a_limit(self) -> Self:
        if all(getattr(self, name) is None for name in self.LIMITS):
            raise ValueError(f"a budget needs at least one limit: {', '.join(self.LIMITS)}")
        return self


Fraction = Annotated[float, Field(gt=0, le=10)]


def webhook_problem(url: str) -> str | None:
    """Why ``url`` cannot be a webhook (said without quoting any of it), or None if it can."""
    try:
        parts = urllib.parse.urlsplit(url)
        has_host = bool(parts.hostname)
    except ValueError:  # a malformed port or IPv6 host
        return "is not a valid URL"
    if parts.scheme not in ("http", "https") or not has_host:
        return "is not an http(s) URL: it must start with https:// (or http://) and name a host"
    return None


def _check_webhook(url: Secret) -> Secret:
    """An http(s) URL, when its value is known at load; a ``${VAR}`` still unset is checked when
    an alert is sent. The error never quotes the URL: its path is the credential."""
    try:
        problem = webhook_problem(url.get_secret_value())
    except MissingEnvError:
        return url
    if problem:
        hint = "a Slack incoming webhook looks like https://hooks.slack.com/services/..."
        raise PydanticCustomError("config_check", "{message}", {"message": problem, "hint": hint})
    return url


class BudgetNotify(ConfigModel):
    """Where threshold crossings are announced (``projects.<p>.budget.notify``): ``webhook``, an
    http(s) URL taking Slack-compatible JSON, a secret like an API key (``${SLACK_WEBHOOK_URL}``).
    See docs/policies.md, "Alerts"."""

    webhook: Annotated[Secret, AfterValidator(_check_webhook)]


class BudgetConfig(BudgetLimits):
    """A project's spending limits in US dollars, and what happens when one is reached.

    - ``action``: ``warn`` (log once per threshold crossed, record a budget event), ``throttle``
      (new calls go to ``throttle_to`` once the last threshold is crossed) or ``block`` (new calls
      are refused with ``BudgetExceeded``). Required.
    - ``thresholds``: fractions of a limit at which a warning is logged (default 80% and 100%).
    - ``providers``: optional limits for one provider's calls within the project.
    - ``throttle_to``: the cheaper chain that serves the project once throttled (default: the
      project's ``fallbacks:``).
    - ``reserve_usd``: what a call is assumed to cost at most when it is admitted and no rate card
      gives a better estimate (STT/TTS streams; LLM calls of unpriced models). See docs/policies.md.
    - ``reserve_output_tokens``: the output an LLM call reserves before VoiceGateway has learned
      the model's usual output (95th percentile of its recent calls) and when the plugin sets no
      cap of its own; ``max_reserve_output_tokens`` caps any of the three.
    - ``lease``: the fraction of a limit's remaining room a process takes at a time, so admission
      is a local check (0 takes exactly each call's reservation: a worker round trip per call).
    - ``notify``: ``{webhook: ...}``, posted to once per threshold crossed (:class:`BudgetNotify`).
    """

    action: Literal["warn", "throttle", "block"]
    thresholds: Annotated[list[Fraction], Field(min_length=1)] = [0.8, 1.0]
    providers: dict[ProviderId, BudgetLimits] = {}
    throttle_to: list[ModelRef] = []
    reserve_usd: Money = Decimal("0.01")
    reserve_output_tokens: int = Field(default=256, gt=0)
    max_reserve_output_tokens: int = Field(default=4096, gt=0)
    lease: float = Field(default=0.1, ge=0, le=1)
    notify: BudgetNotify | None = None

    @model_validator(mode="after")
    def _sorted_thresholds(self) -> Self:
        self.thresholds = sorted(set(self.thresholds))
        return self


_RATE = re.compile(r"\s*(\d+(?:\.\d+)?)\s*/\s*(s|sec|second|m|min|minute|h|hour)\s*")
_RATE_PERIODS = {"s": 1, "sec": 1, "second": 1, "m": 60, "min": 60, "minute": 60}
_RATE_PERIODS |= {"h": 3600, "hour": 3600}


def parse_rate(text: str) -> tuple[float, float]:
    """``"5/s"`` -> (5.0, 1.0): a count and the seconds it is allowed per."""
    match = _RATE.fullmatch(text)
    if not match or float(match.group(1)) <= 0:
        raise ValueError(
            f"{text!r} is not a rate: expected 'N/s', 'N/min' or 'N/h' with N > 0 (5/s means 5 per "
            "second)"
        )
    return float(match.group(1)), float(_RATE_PERIODS[match.group(2)])


def _check_rate(value: str) -> str:
    parse_rate(value)
    return value


def _check_limit_key(value: str) -> str:
    return value if value == "*" else _check_provider_id(value)


LimitKey = Annotated[str, AfterValidator(_check_limit_key)]
"""A provider id, or ``*`` for every provider together."""


class RateLimitConfig(ConfigModel):
    """Rate limits: ``rate_limits.<provider|*>`` (all projects of this machine together) and
    ``projects.<p>.rate_limits.<provider|*>`` (that project only). See docs/policies.md.

    - ``requests``: ``N/s``, ``N/min`` or ``N/h``, enforced by GCRA; ``burst`` requests may go
      back to back (default 1: evenly spaced).
    - ``concurrent``: calls open at once (streams included).
    - ``tokens_per_minute``, ``audio_seconds_per_minute``, ``characters_per_minute``: units
      reported by the calls; a new call waits while the last minute's allowance is overdrawn.
    - ``on_limit``: ``reject`` (``RateLimited`` saying when to retry) or ``wait`` (up to
      ``max_wait`` seconds, then ``RateLimited``).
    """

    requests: Annotated[str, AfterValidator(_check_rate)] | None = None
    burst: int = Field(default=1, ge=1)
    concurrent: int | None = Field(default=None, ge=1)
    tokens_per_minute: float | None = Field(default=None, gt=0)
    audio_seconds_per_minute: float | None = Field(default=None, gt=0)
    characters_per_minute: float | None = Field(default=None, gt=0)
    on_limit: Literal["wait", "reject"] = "reject"
    max_wait: float = Field(default=5.0, ge=0, le=300)

    UNITS: ClassVar[tuple[str, ...]] = (
        "tokens_per_minute",
        "audio_seconds_per_minute",
        "characters_per_minute",
    )

    @model_validator(mode="after")
    def _has_a_limit(self) -> Self:
        if (
            self.requests is None
            and self.concurrent is None
            and not any(getattr(self, name) is not None for name in self.UNITS)
        ):
            raise ValueError(
                "a rate limit needs at least one of: requests, concurrent, " + ", ".join(self.UNITS)
            )
        return self


def _check_price_key(value: str) -> str:
    provider, slash, model = value.partition("/")
    if not _PROVIDER_ID.fullmatch(provider) or (slash and not model) or len(value.split()) != 1:
        raise ValueError(
            f"{value!r} is not a pricing key: expected 'provider' or 'provider/model' "
            "(lowercase provider id, the model name as recorded, no spaces)"
        )
    return value


PriceKey = Annotated[str, AfterValidator(_check_price_key)]
"""``provider/model`` (that model) or ``provider`` (all its models): the more specific applies."""


class RateOverride(ConfigModel):
    """Negotiated (or, for a local engine, compute) rates in US dollars per unit:
    ``pricing.<provider>[/<model>]``.

    Replaces the catalog's whole rate card for the model, unless ``inherit`` is true: then each
    rate given replaces the catalog's rate for the same quantity, and the catalog's other rates
    still apply. Names are the ones ``voicegw prices`` shows (voice-prices' own), plus the units
    contracts are written in: ``mchars``, ``audio_second``/``audio_minute``/``audio_hour`` and
    ``compute_hour``. See docs/pricing.md.
    """

    input_mtok: Money | None = None
    cache_read_mtok: Money | None = None
    cache_write_mtok: Money | None = None
    input_audio_mtok: Money | None = None
    cache_audio_read_mtok: Money | None = None
    output_mtok: Money | None = None
    output_audio_mtok: Money | None = None
    input_kchars: Money | None = None
    mchars: Money | None = None
    input_audio_kseconds: Money | None = None
    output_audio_kseconds: Money | None = None
    audio_second: Money | None = None
    audio_minute: Money | None = None
    audio_hour: Money | None = None
    compute_hour: Money | None = None
    requests_kcount: Money | None = None
    inherit: bool = False

    ALTERNATIVES: ClassVar[dict[str, tuple[str, ...]]] = {
        "characters": ("input_kchars", "mchars"),
        "seconds": (
            "input_audio_kseconds",
            "output_audio_kseconds",
            "audio_second",
            "audio_minute",
            "audio_hour",
            "compute_hour",
        ),
    }
    """Units that price the same quantity (``voicegateway.pricing.units``): give one of each."""

    @model_validator(mode="after")
    def _one_rate_per_quantity(self) -> Self:
        units = self.units()
        if not units:
            hint = "for example {input_mtok: 0.12, output_mtok: 0.48} or {audio_minute: 0.0036}"
            raise _error_at((), "gives no rate", hint)
        for quantity, names in self.ALTERNATIVES.items():
            given = [name for name in names if name in units]
            if len(given) > 1:
                first, *others = given
                message = f"{first} and {others[0]} both price {quantity}"
                raise _error_at((others[0],), message, "keep one of them")
        return self

    def units(self) -> dict[str, Decimal]:
        """The rates given, by unit name."""
        return {
            name: rate
            for name in type(self).model_fields
            if name != "inherit" and (rate := getattr(self, name)) is not None
        }

    @model_serializer(mode="wrap")
    def _as_written(self, handler: SerializerFunctionWrapHandler) -> dict[str, Any]:
        """Only the rates given (and ``inherit`` when set), so ``voicegw check`` stays readable."""
        data = handler(self)
        return {
            key: value for key, value in data.items() if value is not None and value is not False
        }


class FallbackPolicy(ConfigModel):
    """Run-time fallback and the circuit breaker (``fallback_policy:``, top level or per project;
    a project's block replaces the top-level one). See docs/policies.md, "Fallback"."""

    failures: int = Field(default=3, ge=0)
    """Consecutive failures that open a provider's circuit; 0 turns the breaker off."""
    cooldown_s: float = Field(default=30.0, ge=0)
    """Seconds an open circuit skips its provider before one call probes it."""
    attempt_timeout_s: float = Field(default=5.0, gt=0)
    """Timeout of one attempt against one provider (connect and first byte included)."""
    retries: int = Field(default=0, ge=0, le=10)
    """Extra attempts on the same provider for a timeout, a connection error or a 5xx before
    handing over; a bad key (401/403) or an unknown model (404) is never retried there."""
    retry_on_chunk_sent: bool = False
    """Hand an LLM reply over even after the failing provider sent part of it."""


class ProjectConfig(ConfigModel):
    """One app sharing this gateway: its own keys, budget and fallbacks."""

    providers: dict[ProviderId, SerializeAsAny[ProviderSettings]] = {}
    budget: BudgetConfig | None = None
    rate_limits: dict[LimitKey, RateLimitConfig] = {}
    fallbacks: Fallbacks = {}
    fallback_policy: FallbackPolicy | None = None


def default_storage_path() -> Path:
    """Where usage is recorded unless ``storage.path`` says otherwise (XDG data directory)."""
    data_home = os.environ.get("XDG_DATA_HOME") or Path.home() / ".local" / "share"
    return Path(data_home).expanduser() / "voicegateway" / "usage.duckdb"


class StorageConfig(ConfigModel):
    """The usage ledger: job processes spool records to ``spool_dir``; whoever holds the
    ledger's lock (``voicegw ingest``, any query command) moves them into the DuckDB file at
    ``path``. See docs/ledger.md.

    - ``path``: the DuckDB file.
    - ``spool_dir``: where job processes drop their JSON-lines spool files; default
      ``<path>.spool/`` next to the database. Must be on the same host as the jobs.
    - ``flush_interval``: seconds between a job's spool flushes (> 0, at most 60). A worker
      killed with SIGKILL loses at most the records of its last interval.
    - ``ingest_interval``: seconds between ingests of ``voicegw ingest --follow`` (> 0, at most
      3600); queries ingest first anyway, so this bounds freshness for other readers only.
    - ``timezone``: the IANA zone whose calendar days, weeks (Monday first) and months the
      reports group by, and in which dates given to ``--since``/``--until`` are read.
    - ``fsync``: fsync each spool file (and its directory) before it is published. Without it a
      SIGKILL still loses nothing (the page cache survives the process); with it, records also
      survive a power loss, at the cost of a disk flush per interval.
    """

    path: Path = Field(default_factory=default_storage_path)
    spool_dir: Path | None = None
    flush_interval: float = Field(default=0.25, gt=0, le=60)
    ingest_interval: float = Field(default=1.0, gt=0, le=3600)
    timezone: str = "UTC"
    fsync: bool = False

    @field_validator("path", "spool_dir")
    @classmethod
    def _expand_home(cls, path: Path | None) -> Path | None:
        if path is not None and "\0" in str(path):  # every file call would raise ValueError
            raise ValueError("holds a NUL character (\\0), which no file name can hold: remove it")
        return None if path is None else path.expanduser()

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, name: str) -> str:
        import zoneinfo

        try:
            zoneinfo.ZoneInfo(name)
        except (zoneinfo.ZoneInfoNotFoundError, ValueError):
            raise ValueError(
                f"{name!r} is not a known time zone: use an IANA name such as 'UTC' or "
                "'Europe/Paris'"
            ) from None
        return name

    @model_validator(mode="after")
    def _default_spool_dir(self) -> Self:
        if self.spool_dir is None:
            self.spool_dir = self.path.with_name(self.path.name + ".spool")
        return self


class Config(ConfigModel):
    """A whole voicegw.yaml, with the active profile applied. ``load_config`` builds it."""

    default_project: str = "default"
    providers: dict[ProviderId, SerializeAsAny[ProviderSettings]] = {}
    projects: dict[str, ProjectConfig] = {}
    fallbacks: Fallbacks = {}
    fallback_policy: FallbackPolicy = Field(default_factory=FallbackPolicy)
    models: dict[str, ModelChoice] = {}
    pricing: dict[PriceKey, RateOverride] = {}
    profiles: dict[str, dict[str, Any]] = Field(default={}, repr=False)  # as written: may hold keys
    storage: StorageConfig = Field(default_factory=StorageConfig)
    rate_limits: dict[LimitKey, RateLimitConfig] = {}

    _source: Path | None = PrivateAttr(default=None)
    _profile: str | None = PrivateAttr(default=None)
    _locations: dict[tuple[str | int, ...], tuple[int, int]] = PrivateAttr(default_factory=dict)

    @model_validator(mode="after")
    def _default_project_is_defined(self) -> Self:
        explicit = "default_project" in self.model_fields_set
        problem = unknown_default_project(self.default_project, self.projects, explicit=explicit)
        if problem:
            raise _error_at(("default_project",), *problem)
        return self

    @property
    def source(self) -> Path | None:
        """The file this config came from; None for the embedded default."""
        return self._source

    @property
    def profile(self) -> str | None:
        """The active profile, already applied."""
        return self._profile

    def _set_origin(
        self,
        source: Path | None,
        profile: str | None,
        locations: dict[tuple[str | int, ...], tuple[int, int]],
    ) -> None:
        """Set by the loader: where the config came from. These are not config keys."""
        self._source, self._profile, self._locations = source, profile, locations

    def project(self, name: str | None = None) -> ProjectConfig:
        """The named project (default: ``default_project``).

        With no ``projects:`` at all, the default project exists implicitly and is empty.
        Raises UnknownProjectError, a ValueError, for any other name.
        """
        name = self.default_project if name is None else name
        if name in self.projects:
            return self.projects[name]
        if not self.projects and name == self.default_project:
            return ProjectConfig()
        raise UnknownProjectError(name, self.projects, self.default_project)

    def provider_settings(self, provider_id: str, project: str | None = None) -> ProviderSettings:
        """``providers.<id>`` overridden key by key by ``projects.<project>.providers.<id>``."""
        base = self.providers.get(provider_id)
        override = self.project(project).providers.get(provider_id)
        if base is None or override is None:
            found = override if base is None else base
            return ProviderSettings() if found is None else found
        return base.merged_with(override)

    def missing_env(self) -> list[MissingEnvError]:
        """Every unset ``${VAR}`` without a default in provider settings and budget webhooks, for
        ``voicegw check``."""
        blocks = [*self.providers.values()]
        for project in self.projects.values():
            blocks.extend(project.providers.values())
        missing = [error for settings in blocks for error in settings.missing_env()]
        for project in self.projects.values():
            if project.budget is not None and project.budget.notify is not None:
                try:
                    project.budget.notify.webhook.get_secret_value()
                except MissingEnvError as error:
                    missing.append(error)
        return missing

    def redacted(self) -> dict[str, Any]:
        """The effective config as plain data, safe to print: secrets show as their ``${VAR}``
        source or ``****``, never their value."""
        data = self.model_dump(mode="json")
        data["profiles"] = {name: _redact_profile(raw) for name, raw in data["profiles"].items()}
        return data

    def location(self, path: tuple[str | int, ...]) -> tuple[int, int] | None:
        """(line, column), 1-based, where ``path`` (``("providers", "openai", "api_key")``) is
        written in the file; for values from the active profile, inside that profile."""
        return self._locations.get(tuple(path))


def unknown_default_project(
    name: Any, projects: Any, *, explicit: bool
) -> tuple[str, str | None] | None:
    """Message and hint when ``default_project`` names none of ``projects`` (a non-empty mapping);
    None when it does, or when the data is too broken to tell. ``explicit``: set in the file."""
    if not isinstance(name, str) or not isinstance(projects, Mapping) or not projects:
        return None
    if name in projects:
        return None
    names = [str(project) for project in projects]
    if not explicit:
        return (
            f"not set, and projects: has no project named {name!r} ({', '.join(names)})",
            f"add default_project: {names[0]}",
        )
    return f"names no project under projects: ({', '.join(names)})", did_you_mean(name, names)


def _error_at(loc: tuple[str | int, ...], message: str, hint: str | None) -> ValidationError:
    """A validation error at ``loc`` raised by a model-level check, so that the loader can point at
    the offending key rather than at the whole model. ``hint`` travels in the error's context."""
    error = PydanticCustomError("config_check", "{message}", {"message": message, "hint": hint})
    return ValidationError.from_exception_data(
        "Config", [InitErrorDetails(type=error, loc=loc, input=None)]
    )


def _redact_profile(profile: dict[str, Any]) -> dict[str, Any]:
    """Profiles are kept as written, so their provider blocks may hold literal keys: mask them."""
    redacted = dict(profile)
    if "providers" in redacted:
        redacted["providers"] = _mask(redacted["providers"])
    projects = redacted.get("projects")
    if isinstance(projects, dict):
        redacted["projects"] = {name: _redact_project(p) for name, p in projects.items()}
    return redacted


def _redact_project(project: Any) -> Any:
    """A project as a profile wrote it: its provider blocks and budget webhook may be literal."""
    if not isinstance(project, dict):
        return project
    project = dict(project)
    if "providers" in project:
        project["providers"] = _mask(project["providers"])
    budget = project.get("budget")
    if isinstance(budget, dict) and "notify" in budget:
        project["budget"] = {**budget, "notify": _mask(budget["notify"])}
    return project


def _mask(value: Any) -> Any:
    if isinstance(value, dict):
        return {key: _mask(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_mask(item) for item in value]
    if isinstance(value, str):
        return mask_template(value)
    return None if value is None else MASK
