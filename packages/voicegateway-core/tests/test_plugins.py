"""Plugin discovery and loading: isolation of failures, the API version, hook name checking."""

from __future__ import annotations

import types

import pytest

from voicegateway.errors import PluginError, ProviderUnavailable
from voicegateway.plugin_api import PLUGIN_API_VERSION, hookimpl
from voicegateway.plugins import PluginHost
from voicegateway.providers import ModelInfo, ProviderSpec


def _plugin(name: str, *specs: ProviderSpec, api=PLUGIN_API_VERSION, **hooks) -> types.ModuleType:
    module = types.ModuleType(name)
    module.VOICEGATEWAY_PLUGIN_API = api

    @hookimpl
    def register_providers(register):
        for spec in specs:
            register(spec)

    module.register_providers = register_providers
    for hook_name, fn in hooks.items():
        setattr(module, hook_name, hookimpl(fn))
    return module


def _spec(pid="acme", **kw) -> ProviderSpec:
    return ProviderSpec(id=pid, tts=lambda request: None, models=(ModelInfo("v1", "tts"),), **kw)


def test_registered_plugin_provides_its_providers():
    host = PluginHost(discover=False)
    host.register(_plugin("acme_plugin", _spec("acme"), _spec("acme-eu")))
    assert set(host.providers()) == {"acme", "acme-eu"}
    assert host.provider("acme").modalities == ("tts",)
    assert host.plugins()["acme_plugin"].status == "loaded"


def test_each_plugin_registers_only_its_own_providers_once():
    host = PluginHost(discover=False)
    host.register(_plugin("one", _spec("one")))
    host.register(_plugin("two", _spec("two")))
    assert [s.id for s in host.plugins()["two"].providers] == ["two"]
    assert [s.id for s in host.plugins()["one"].providers] == ["one"]


def test_api_version_mismatch_is_refused_with_a_clear_error():
    host = PluginHost(discover=False)
    with pytest.raises(PluginError, match=r"targets plugin API 99.*implements API 1"):
        host.register(_plugin("future", _spec("future"), api=99))
    assert "future" not in host.providers()


def test_misspelled_hook_implementation_is_rejected():
    host = PluginHost(discover=False)
    with pytest.raises(PluginError, match="register_provider"):
        host.register(_plugin("typo", _spec("typo"), register_provider=lambda register: None))
    assert host.plugins()["typo"].status == "failed"


def test_a_failing_plugin_does_not_break_the_others():
    host = PluginHost(discover=False)

    broken = types.ModuleType("broken")
    broken.VOICEGATEWAY_PLUGIN_API = PLUGIN_API_VERSION

    @hookimpl
    def register_providers(register):
        raise RuntimeError("boom")

    broken.register_providers = register_providers
    with pytest.raises(PluginError, match="RuntimeError: boom"):
        host.register(broken)
    host.register(_plugin("fine", _spec("fine")))
    assert list(host.providers()) == ["fine"]


def test_two_plugins_claiming_one_provider_id_is_an_error():
    host = PluginHost(discover=False)
    host.register(_plugin("first", _spec("same")))
    with pytest.raises(PluginError, match="already registered by plugin 'first'"):
        host.register(_plugin("second", _spec("same")))


def test_unknown_provider_names_what_is_installed_and_how_to_install():
    host = PluginHost(discover=False)
    host.register(_plugin("acme_plugin", _spec("acme")))
    with pytest.raises(ProviderUnavailable) as raised:
        host.provider("nope")
    message = str(raised.value)
    assert message.startswith("no provider 'nope' is installed (installed: acme)")
    # named by its own distribution: the PyPI 'voicegateway' is another project
    assert "install voicegateway-nope (from a checkout of VoiceGateway: pip install " in message
    assert "./packages/voicegateway-nope)" in message
    assert "voicegateway[" not in message


def test_unregister_removes_providers():
    host = PluginHost(discover=False)
    host.register(_plugin("temp", _spec("temp")))
    host.unregister("temp")
    assert host.providers() == {}


def test_provider_spec_validates_itself():
    with pytest.raises(ValueError, match="lowercase"):
        ProviderSpec(id="Bad Id", tts=lambda r: None)
    with pytest.raises(ValueError, match="no stt, llm or tts factory"):
        ProviderSpec(id="empty")
    with pytest.raises(ValueError, match="unknown modality"):
        ProviderSpec(id="x", tts=lambda r: None, default_models={"video": "v"})


def test_discovery_lists_installed_plugins_without_importing_them():

    host = PluginHost()
    infos = host.plugins()
    assert {"openai", "deepgram", "fake"} <= set(infos)
    assert infos["openai"].distribution == "voicegateway-openai"
    assert all(info.status in ("available", "disabled") for info in infos.values())
    spec = host.provider("deepgram")
    assert spec.modalities == ("stt", "tts")
    assert "livekit.plugins.deepgram" in spec.livekit_plugins


def test_disabled_plugins_are_skipped(monkeypatch):
    monkeypatch.setenv("VOICEGW_DISABLE_PLUGINS", "deepgram")
    host = PluginHost()
    assert host.plugins()["deepgram"].status == "disabled"
    with pytest.raises(ProviderUnavailable):
        host.provider("deepgram")


def test_livekit_plugins_are_not_imported_off_the_main_thread():
    import threading

    from voicegateway.plugins import loaded_modules

    errors = []
    worker = threading.Thread(
        target=lambda: errors.append(_capture(loaded_modules, ["json.tool_not_imported_vg"]))
    )
    worker.start()
    worker.join()
    assert "must be imported on the main thread" in str(errors[0])
    assert "voicegateway.preload()" in str(errors[0])


def _capture(fn, *args):
    try:
        fn(*args)
    except Exception as exc:
        return exc
    return None
