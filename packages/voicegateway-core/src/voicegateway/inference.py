"""Drop-in replacements for ``livekit.agents.inference.STT``, ``LLM`` and ``TTS``.

Same arguments, same model-string grammar (``deepgram/nova-3:en``, ``cartesia/sonic-3:<voice>``),
plus voicegw.yaml aliases (``inference.STT("listener")``) and a ``project=`` keyword. Each object
is a real ``livekit.agents`` STT/LLM/TTS built around the provider's own ``livekit.plugins.*``
object (``.plugin``), so ``AgentSession(stt=..., llm=..., tts=...)`` takes it unchanged, and every
call through it passes the metering middleware chain.

Constructing one does I/O, once (``_Built.load``): voicegw.yaml is read on the process's first
use, the provider's plugin module and its ``livekit.plugins`` are imported, and the plugin object
is built; construct them at start-up (a worker's ``prewarm``) or before a session, not per call.
What a call does is chosen then too: the wrapper holds one serving strategy.

Importing this module imports LiveKit Agents; ``import voicegateway`` alone does not.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Awaitable, Callable, Iterator
from typing import TYPE_CHECKING, Any, Generic, Self, TypeVar

import aiohttp
from livekit.agents import llm, stt, tts
from livekit.agents.types import (
    DEFAULT_API_CONNECT_OPTIONS,
    NOT_GIVEN,
    APIConnectOptions,
    NotGivenOr,
)
from livekit.agents.utils import is_given
from livekit.agents.utils.audio import calculate_audio_duration

from voicegateway.gateway import Gateway, current_project_var, get_gateway
from voicegateway.metering.instrument import Instrument
from voicegateway.metering.meters import DEFAULT_METERS
from voicegateway.metering.sessions import SessionScope
from voicegateway.plain_plugins import METERED
from voicegateway.providers import Modality

if TYPE_CHECKING:
    from voicegateway.policies.fallback import Member
    from voicegateway.policies.fallback_streams import ChainServing

P = TypeVar("P", stt.STT, llm.LLM, tts.TTS)

__all__ = ["LLM", "STT", "TTS", "project", "session", "set_project"]

log = logging.getLogger("voicegateway.inference")


def set_project(name: str | None) -> None:
    """Bill objects created from now on, in this process, to ``name`` (None: back to
    ``default_project``). An explicit ``project=`` or an enclosing :func:`project` wins."""
    gateway = get_gateway()
    if name is not None:
        gateway.config.project(name)
    gateway.default_project = name


@contextlib.contextmanager
def project(name: str) -> Iterator[None]:
    """Bill objects created inside the block (in this task and its children) to ``name``."""
    get_gateway().config.project(name)
    token = current_project_var().set(name)
    try:
        yield
    finally:
        current_project_var().reset(token)


def session(session_id: str) -> SessionScope:
    """Name the conversation the calls made from here on (in this task and the tasks it starts)
    belong to: ``inference.session("call-123")``, or ``with inference.session("call-123"):``,
    which restores the previous one on exit. Inside a LiveKit room the room's id wins; an
    ``AgentSession`` takes the id in force where it first calls, for all its calls."""
    return SessionScope(session_id)


class _Built:
    """What a wrapper serves with, fixed at construction: the plugin resolution chose (``plugin``,
    ``instrument``), what its calls are billed as, and one serving strategy (``strategy``): the
    plugin alone, or every usable candidate of the chain (``members``) through
    ``policies.fallback_streams``. Made by :meth:`load`, which does the I/O."""

    def __init__(
        self,
        *,
        project: str,
        resolution: Any,
        plugin: Any,
        model: str,
        instrument: Instrument,
        members: list[Member],
        strategy: _Direct | ChainServing,
    ) -> None:
        self.project = project
        self.resolution = resolution
        self.provider = resolution.spec.id
        self.plugin = plugin
        self.model = model
        self.instrument = instrument
        self.members = members
        self.strategy = strategy

    @classmethod
    def load(
        cls,
        owner: Any,
        modality: Modality,
        model: NotGivenOr[str],
        *,
        fallback: Any,
        project_name: str | None,
        api_key: Any,
        base_url: Any,
        **options: Any,
    ) -> _Built:
        """Resolve ``model`` and build what serves it. This is where construction does I/O: the
        process's voicegw.yaml is loaded on first use, the provider's plugin module and its
        ``livekit.plugins`` are imported (main thread), and its factory builds the plugin object;
        with a fallback chain, or a budget or rate limit on the project, every usable candidate
        is built."""
        gateway: Gateway = get_gateway()
        name = model if is_given(model) and model else modality
        project = gateway.project_name(project_name)
        resolution = gateway.resolve(
            name,
            modality,
            project=project,
            fallback=_fallback_models(fallback),
            api_key=api_key if is_given(api_key) and api_key else None,
            base_url=base_url if is_given(base_url) and base_url else None,
            alternates=True,
        )
        options = {k: v for k, v in options.items() if is_given(v) and v is not None}
        plugin, built_model = gateway.build(resolution, modality, **options)
        setattr(plugin, METERED, True)  # attach() must not meter it a second time
        # Several usable candidates (run-time hand-over), or a budget or rate limit: calls go
        # through VoiceGateway's own streams, which await admission instead of blocking the
        # loop, and raise a refusal inside the stream (LiveKit's error path, so the session's
        # ``error`` event reports it).
        policed = gateway.policed(project, resolution.spec.id)
        if resolution.alternates or resolution.preceding or policed:
            from voicegateway.policies.fallback import FallbackSettings
            from voicegateway.policies.fallback_streams import ChainServing

            settings = FallbackSettings.from_config(gateway.fallback_policy(project))
            members = _members(
                owner,
                gateway,
                modality,
                project,
                resolution,
                plugin,
                built_model,
                settings,
                options,
            )
            instrument = next(m.instrument for m in members if m.plugin is plugin)
            strategy: _Direct | ChainServing = ChainServing(owner, members, settings)
        else:
            members = []
            instrument = _instrument(
                owner,
                gateway,
                modality,
                project,
                resolution,
                plugin,
                built_model,
                fallback_from=resolution.fallback_from,
            )
            strategy = _Direct(plugin, instrument)
        return cls(
            project=project,
            resolution=resolution,
            plugin=plugin,
            model=built_model,
            instrument=instrument,
            members=members,
            strategy=strategy,
        )


def _instrument(
    owner: Any,
    gateway: Gateway,
    modality: Modality,
    project: str,
    resolution: Any,
    plugin: Any,
    model: str,
    *,
    fallback_from: str | None,
    forward_errors: bool = True,
) -> Instrument:
    """The metering of one built plugin object: its events become calls of ``owner``."""
    spec = resolution.spec
    return Instrument(
        owner,
        plugin,
        modality=modality,
        provider=spec.id,
        model=model,
        project=project,
        chain=gateway.chain,
        meter=spec.meters.get(modality) or DEFAULT_METERS[modality],
        fallback_from=fallback_from,
        forward_errors=forward_errors,
    )


def _members(
    owner: Any,
    gateway: Gateway,
    modality: Modality,
    project: str,
    resolution: Any,
    plugin: Any,
    model: str,
    settings: Any,
    options: dict[str, Any],
) -> list[Any]:
    """Every usable candidate of the chain, in chain order, each with its own plugin object,
    metering and breaker; a candidate that fails to build is left out."""
    from voicegateway.policies import circuit
    from voicegateway.policies.fallback import Member

    members = []
    skipped = [text for text, _ in resolution.skipped]
    for res in (*resolution.preceding, resolution, *resolution.alternates):
        if res is resolution:
            member_plugin, member_model = plugin, model
        else:
            try:
                member_plugin, member_model = gateway.build(res, modality, **options)
            except Exception as exc:
                log.warning("%s fallback %s left out: %s", modality, res.ref, exc)
                continue
            setattr(member_plugin, METERED, True)
        # what this member serves in place of when it serves without a run-time hand-over
        before = skipped[: skipped.index(str(res.ref))] if str(res.ref) in skipped else skipped
        instrument = _instrument(
            owner,
            gateway,
            modality,
            project,
            res,
            member_plugin,
            member_model,
            fallback_from=before[0] if before else None,
            forward_errors=False,  # a failure handed over is no error; the chain reports the last
        )
        breaker = circuit.breaker(res.spec.id, settings.breaker)
        members.append(Member(member_plugin, res.spec.id, member_model, instrument, breaker))
    return members


class _Direct:
    """The serving strategy of a model with one candidate and no policy that can refuse: each
    call is one metered call of the plugin, whose own stream goes back to the agent."""

    def __init__(self, plugin: Any, instrument: Instrument) -> None:
        self.plugin, self.instrument = plugin, instrument

    # ``plugin`` is the wrapper's STT, LLM or TTS: each method below is called by one of them
    # only, and says what its plugin call returns.

    async def recognize(
        self, buffer: Any, *, language: Any, conn_options: APIConnectOptions
    ) -> stt.SpeechEvent:
        recognize: Callable[[], Awaitable[stt.SpeechEvent]] = lambda: self.plugin.recognize(  # noqa: E731
            buffer, language=language, conn_options=conn_options
        )
        return await self.instrument.recognize_call(
            recognize, audio_seconds=calculate_audio_duration(buffer)
        )

    def stt_stream(
        self, *, language: Any, conn_options: APIConnectOptions, vad: Any
    ) -> stt.RecognizeStream:
        create: Callable[[], stt.RecognizeStream] = lambda: self.plugin.stream(  # noqa: E731
            language=language, conn_options=conn_options
        )
        return self.instrument.stream_call(create)

    def chat(self, kwargs: dict[str, Any]) -> llm.LLMStream:
        create: Callable[[], llm.LLMStream] = lambda: self.plugin.chat(**kwargs)  # noqa: E731
        return self.instrument.stream_call(create, chat_ctx=kwargs.get("chat_ctx"))

    def synthesize(self, text: str, *, conn_options: APIConnectOptions) -> tts.ChunkedStream:
        create: Callable[[], tts.ChunkedStream] = lambda: self.plugin.synthesize(  # noqa: E731
            text, conn_options=conn_options
        )
        return self.instrument.stream_call(create, text=text)

    def tts_stream(self, *, conn_options: APIConnectOptions) -> tts.SynthesizeStream:
        create: Callable[[], tts.SynthesizeStream] = lambda: self.plugin.stream(  # noqa: E731
            conn_options=conn_options
        )
        return self.instrument.stream_call(create)


def _fallback_models(fallback: Any) -> list[str]:
    if not is_given(fallback) or not fallback:
        return []
    items = fallback if isinstance(fallback, list) else [fallback]
    return [item if isinstance(item, str) else item["model"] for item in items]


def _conn(given: APIConnectOptions, default: APIConnectOptions | None) -> APIConnectOptions:
    """The per-call options, or the ``conn_options=`` given at construction when the call
    passed none."""
    return default if given is DEFAULT_API_CONNECT_OPTIONS and default is not None else given


class _Wrapper(Generic[P]):
    """What the three wrappers share: the plugin they wrap and what its calls are billed as."""

    plugin: P
    _built: _Built
    _serving: Member | None = None  # the fallback member that served the last call
    _voicegateway_metered = True  # attach() leaves it alone: its calls are metered already

    @classmethod
    def from_model_string(cls, model: str) -> Self:
        make: Callable[..., Self] = cls  # each wrapper takes the model string first
        return make(model)

    @property
    def model(self) -> str:
        """The model that served the last call; before any hand-over, the one resolved."""
        serving = self._serving
        return serving.model if serving is not None else self._built.model

    @property
    def provider(self) -> str:
        """The provider that served the last call; before any hand-over, the one resolved."""
        serving = self._serving
        return serving.provider if serving is not None else self._built.provider

    @property
    def project(self) -> str:
        return self._built.project

    def update_options(self, **kwargs: Any) -> None:
        plugin: Any = self.plugin  # each plugin's own options: LiveKit's base classes have none
        plugin.update_options(**kwargs)

    async def _close_plugins(self) -> None:
        for member in self._built.members:
            if member.plugin is not self.plugin:
                await member.plugin.aclose()
        await self.plugin.aclose()


class STT(_Wrapper[stt.STT], stt.STT):
    """A metered STT. ``model`` is a voicegw.yaml alias or ``provider/model[:language]``."""

    def __init__(
        self,
        model: NotGivenOr[str] = NOT_GIVEN,
        *,
        language: NotGivenOr[str] = NOT_GIVEN,
        base_url: NotGivenOr[str] = NOT_GIVEN,
        encoding: NotGivenOr[str] = NOT_GIVEN,
        sample_rate: NotGivenOr[int] = NOT_GIVEN,
        api_key: NotGivenOr[str] = NOT_GIVEN,
        api_secret: NotGivenOr[str] = NOT_GIVEN,
        http_session: aiohttp.ClientSession | None = None,
        extra_kwargs: NotGivenOr[dict[str, Any]] = NOT_GIVEN,
        fallback: NotGivenOr[list[Any] | Any] = NOT_GIVEN,
        conn_options: NotGivenOr[APIConnectOptions] = NOT_GIVEN,
        vad: Any = NOT_GIVEN,
        project: str | None = None,
    ) -> None:
        # api_secret belongs to LiveKit Cloud's gateway; direct providers need none.
        self._built = _Built.load(
            self,
            "stt",
            model,
            fallback=fallback,
            project_name=project,
            api_key=api_key,
            base_url=base_url,
            language=language,
            encoding=encoding,
            sample_rate=sample_rate,
            http_session=http_session,
            extra=extra_kwargs if is_given(extra_kwargs) else None,
        )
        self.plugin = self._built.plugin
        super().__init__(capabilities=self.plugin.capabilities)
        self._recognize_metrics_needed = False  # the plugin reports; we must not count twice
        self._conn_options = conn_options if is_given(conn_options) else None
        self._vad = vad if is_given(vad) else None  # lets a non-streaming fallback member stream

    @property
    def capabilities(self) -> stt.STTCapabilities:
        return self.plugin.capabilities

    async def _recognize_impl(self, buffer, *, language=NOT_GIVEN, conn_options):
        return await self.plugin._recognize_impl(
            buffer, language=language, conn_options=conn_options
        )

    async def recognize(
        self,
        buffer,
        *,
        language=NOT_GIVEN,
        conn_options: APIConnectOptions = DEFAULT_API_CONNECT_OPTIONS,
    ):
        return await self._built.strategy.recognize(
            buffer, language=language, conn_options=_conn(conn_options, self._conn_options)
        )

    def stream(
        self, *, language=NOT_GIVEN, conn_options: APIConnectOptions = DEFAULT_API_CONNECT_OPTIONS
    ) -> stt.RecognizeStream:
        return self._built.strategy.stt_stream(
            language=language,
            conn_options=_conn(conn_options, self._conn_options),
            vad=self._vad,
        )

    def _update_session_keyterms(self, keyterms: list[str]) -> None:
        self.plugin._update_session_keyterms(keyterms)

    def _push_conversation_item(self, ev: Any) -> None:
        self.plugin._push_conversation_item(ev)

    def prewarm(self) -> None:
        self.plugin.prewarm()

    async def aclose(self) -> None:
        await self._close_plugins()


class LLM(_Wrapper[llm.LLM], llm.LLM):
    """A metered LLM. ``model`` is a voicegw.yaml alias or ``provider/model``."""

    def __init__(
        self,
        model: str,
        *,
        provider: str | None = None,
        base_url: str | None = None,
        api_key: str | None = None,
        api_secret: str | None = None,
        inference_class: str | None = None,
        extra_kwargs: dict[str, Any] | None = None,
        prompt_cache_breakpoints: Any = "auto",
        fallback: list[Any] | Any = NOT_GIVEN,
        project: str | None = None,
    ) -> None:
        # provider, api_secret, inference_class and prompt_cache_breakpoints steer LiveKit Cloud's
        # gateway; they have no meaning for a direct provider connection.
        super().__init__()
        self._built = _Built.load(
            self,
            "llm",
            model,
            fallback=fallback,
            project_name=project,
            api_key=api_key,
            base_url=base_url,
            extra=extra_kwargs,
        )
        self.plugin = self._built.plugin

    def chat(self, **kwargs: Any) -> llm.LLMStream:
        return self._built.strategy.chat(kwargs)

    def prewarm(self, *, loop: Any = None) -> None:
        self.plugin.prewarm(loop=loop)

    async def aclose(self) -> None:
        await self._close_plugins()
        await super().aclose()


class TTS(_Wrapper[tts.TTS], tts.TTS):
    """A metered TTS. ``model`` is a voicegw.yaml alias or ``provider/model[:voice]``."""

    def __init__(
        self,
        model: str,
        *,
        voice: NotGivenOr[str] = NOT_GIVEN,
        language: NotGivenOr[str] = NOT_GIVEN,
        encoding: NotGivenOr[str] = NOT_GIVEN,
        sample_rate: NotGivenOr[int] = NOT_GIVEN,
        base_url: NotGivenOr[str] = NOT_GIVEN,
        api_key: NotGivenOr[str] = NOT_GIVEN,
        api_secret: NotGivenOr[str] = NOT_GIVEN,
        http_session: aiohttp.ClientSession | None = None,
        extra_kwargs: NotGivenOr[dict[str, Any]] = NOT_GIVEN,
        fallback: NotGivenOr[list[Any] | Any] = NOT_GIVEN,
        conn_options: NotGivenOr[APIConnectOptions] = NOT_GIVEN,
        project: str | None = None,
    ) -> None:
        self._built = _Built.load(
            self,
            "tts",
            model,
            fallback=fallback,
            project_name=project,
            api_key=api_key,
            base_url=base_url,
            voice=voice,
            language=language,
            encoding=encoding,
            sample_rate=sample_rate,
            http_session=http_session,
            extra=extra_kwargs if is_given(extra_kwargs) else None,
        )
        self.plugin = self._built.plugin
        super().__init__(
            capabilities=self.plugin.capabilities,
            sample_rate=self.plugin.sample_rate,
            num_channels=self.plugin.num_channels,
        )
        self._conn_options = conn_options if is_given(conn_options) else None

    @property
    def capabilities(self) -> tts.TTSCapabilities:
        return self.plugin.capabilities

    @property
    def markup(self) -> Any:
        return self.plugin.markup

    def _set_expressive(self, enabled: bool) -> None:
        super()._set_expressive(enabled)
        self.plugin._set_expressive(enabled)

    def synthesize(
        self, text: str, *, conn_options: APIConnectOptions = DEFAULT_API_CONNECT_OPTIONS
    ) -> tts.ChunkedStream:
        return self._built.strategy.synthesize(
            text, conn_options=_conn(conn_options, self._conn_options)
        )

    def stream(
        self, *, conn_options: APIConnectOptions = DEFAULT_API_CONNECT_OPTIONS
    ) -> tts.SynthesizeStream:
        return self._built.strategy.tts_stream(conn_options=_conn(conn_options, self._conn_options))

    def prewarm(self) -> None:
        self.plugin.prewarm()

    async def aclose(self) -> None:
        await self._close_plugins()
