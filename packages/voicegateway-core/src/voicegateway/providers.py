"""What a plugin registers: a provider, its factories, meters and models.

These are plain dataclasses so that hook modules can build them without importing LiveKit, an SDK
or pydantic. The core turns a resolved model into a :class:`BuildRequest` and calls the factory.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from voicegateway.records import MODALITIES, Meter, Modality

if TYPE_CHECKING:
    from voicegateway.config.schema import ProviderSettings

Factory = Callable[["BuildRequest"], Any]
"""Builds the LiveKit object (``stt.STT``, ``llm.LLM`` or ``tts.TTS``) for one resolved model.
Imports its ``livekit.plugins.*`` module inside the call, never at module import."""

ModelLister = Callable[["ProviderSettings", float], Sequence["ModelInfo"]]
"""Asks the server the provider's settings point at (``base_url``) which models it serves, within
the timeout in seconds. Raises with a message that says why when it cannot (``no Ollama server
answered at http://localhost:11434``); the message is shown to the user, so it names no secret."""

_PROVIDER_ID = re.compile(r"^[a-z][a-z0-9_-]*$")

FIRST_PARTY = (
    "deepgram",
    "openai",
    "anthropic",
    "groq",
    "cartesia",
    "elevenlabs",
    "assemblyai",
    "whisper",
    "ollama",
    "kokoro",
    "piper",
)
"""The providers this project ships, each its own distribution (see :func:`install_hint`).
voicegw.yaml may name one that is not installed on this machine (resolution skips it, with the
reason); a provider id that is neither one of these nor installed is a typo, reported when the
file loads."""


def install_hint(*provider_ids: str) -> str:
    """How to install providers, naming this project's distributions (``voicegateway`` on PyPI is
    an unrelated project, so never ``pip install 'voicegateway[<id>]'``)."""
    dists = " ".join(f"voicegateway-{pid}" for pid in provider_ids)
    paths = " ".join(f"./packages/voicegateway-{pid}" for pid in provider_ids)
    return f"install {dists} (from a checkout of VoiceGateway: pip install {paths})"


@dataclass(frozen=True, slots=True)
class ModelInfo:
    """A model the provider knows. ``voicegw providers`` lists these; resolution does not require
    a model to be listed (providers ship new models faster than plugins do).

    ``unpriced`` says why voice-prices has no price for a cloud model (``None``: it must have
    one); the conformance kit fails a listed cloud model that is neither priced nor marked.
    """

    name: str
    modality: Modality
    description: str = ""
    unpriced: str | None = None


@dataclass(frozen=True, slots=True)
class BuildRequest:
    """Everything a factory needs, already resolved: it looks nothing up itself.

    ``model`` is the name after the ``provider/`` prefix, or the provider's default model when the
    agent named only the provider. ``language`` (STT) and ``voice`` (TTS) come from the model
    string suffix (``deepgram/nova-3:en``) or the keyword argument. ``extra`` holds the agent's
    ``extra_kwargs``, passed through to the plugin's constructor.
    """

    provider: str
    modality: Modality
    model: str
    api_key: str | None = field(default=None, repr=False)
    base_url: str | None = None
    authorization: str | None = field(default=None, repr=False)
    """``Basic ...`` for a ``user:password@`` the configured URL held (``base_url`` never holds
    credentials): a factory sends it as the ``Authorization`` header where its SDK allows."""
    settings: ProviderSettings | None = None
    language: str | None = None
    voice: str | None = None
    sample_rate: int | None = None
    encoding: str | None = None
    http_session: Any = None
    extra: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class ProviderSpec:
    """One provider, as a plugin registers it through ``register_providers``.

    - ``id``: the provider id used in model strings and on every usage record (``deepgram``).
    - ``stt`` / ``llm`` / ``tts``: factories; the modalities a provider offers are those it has.
    - ``key_env``: environment variables the key may come from when voicegw.yaml gives none, in
      order. Empty for providers that need no key (local engines).
    - ``price_catalog``: the provider id in the price catalog; ``None`` for local engines.
    - ``models``: models it knows; ``default_models``: used when only the provider is named.
    - ``meters``: per-modality unit meters replacing the core defaults.
    - ``settings``: a ``ProviderSettings`` subclass for provider-specific keys in voicegw.yaml.
    - ``livekit_plugins``: modules the factories import; resolution imports them on the main
      thread first, because LiveKit plugins refuse to register from any other thread.
    - ``discover_models``: asks the configured server which models it serves (a local engine's
      pulled models), with the provider's settings from voicegw.yaml (empty when it has none).
      Called only by ``voicegw providers``, with a short timeout; its failure is shown there,
      never fatal. Resolution never calls it.
    - ``price_page_units``: per modality, the rate unit (a ``voicegateway.pricing.units`` name)
      the provider's own price page quotes, when the catalog's differs: ``voicegw prices`` also
      shows the rate in it (Deepgram quotes STT per minute, the catalog per 1,000 seconds).
    - ``billed_model``: ``(modality, model) -> name``: the model name records carry for a
      model the plugin object names otherwise, so ``attach()`` and ``inference`` bill one model
      under one name (Deepgram's ``aura-2-andromeda-en`` is ``aura-2``). Default: unchanged.
    """

    id: str
    stt: Factory | None = None
    llm: Factory | None = None
    tts: Factory | None = None
    key_env: tuple[str, ...] = ()
    price_catalog: str | None = None
    models: tuple[ModelInfo, ...] = ()
    default_models: Mapping[Modality, str] = field(default_factory=dict)
    meters: Mapping[Modality, Meter] = field(default_factory=dict)
    settings: type[ProviderSettings] | None = None
    livekit_plugins: tuple[str, ...] = ()
    discover_models: ModelLister | None = None
    billed_model: Callable[[Modality, str], str] | None = None
    price_page_units: Mapping[Modality, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not _PROVIDER_ID.match(self.id):
            raise ValueError(
                f"provider id {self.id!r} must be lowercase letters, digits, '-' or '_' "
                "and start with a letter"
            )
        if not self.modalities:
            raise ValueError(f"provider {self.id!r} registers no stt, llm or tts factory")
        for modality in (*self.default_models, *self.meters, *self.price_page_units):
            if modality not in MODALITIES:
                raise ValueError(f"provider {self.id!r}: unknown modality {modality!r}")

    @property
    def modalities(self) -> tuple[Modality, ...]:
        return tuple(m for m in MODALITIES if getattr(self, m) is not None)

    def factory(self, modality: Modality) -> Factory | None:
        return {"stt": self.stt, "llm": self.llm, "tts": self.tts}[modality]

    def billed_name(self, modality: Modality, model: str) -> str:
        """The name a record gives ``model`` (see ``billed_model``)."""
        return self.billed_model(modality, model) if self.billed_model else model

    @property
    def needs_key(self) -> bool:
        return bool(self.key_env)
