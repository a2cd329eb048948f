"""``PluginHost.usage_readers``: readers registered through ``register_usage_readers``, one
plugin's failure isolated from the others, and real discovery through an entry point."""

from __future__ import annotations

import types

from voicegateway.plugin_api import PLUGIN_API_VERSION, hookimpl
from voicegateway.plugins import PluginHost
from voicegateway.providers import ModelInfo, ProviderSpec
from voicegateway.reconcile.billed import UsageReader


def usage_reader(name: str, provider: str = "acme") -> UsageReader:
    return UsageReader(provider, name, name, "UTC", sniff=lambda n, h: False, read=iter)


def plugin(name: str, *readers: object, fail: Exception | None = None) -> types.ModuleType:
    module = types.ModuleType(name)
    module.VOICEGATEWAY_PLUGIN_API = PLUGIN_API_VERSION

    @hookimpl
    def register_providers(register):
        register(ProviderSpec(id=name, tts=lambda r: None, models=(ModelInfo("v1", "tts"),)))

    @hookimpl
    def register_usage_readers(register):
        for reader in readers:
            register(reader)
        if fail is not None:
            raise fail

    module.register_providers = register_providers
    module.register_usage_readers = register_usage_readers
    return module


def test_every_plugins_readers_are_collected_and_kept_on_its_info():
    host = PluginHost(discover=False)
    host.register(plugin("acme", usage_reader("acme-csv"), usage_reader("acme-invoice")))
    host.register(plugin("other", usage_reader("other-json", "other")))
    assert [r.name for r in host.usage_readers()] == ["acme-csv", "acme-invoice", "other-json"]
    assert [r.name for r in host.plugins()["other"].readers] == ["other-json"]
    assert [r.name for r in host.usage_readers()] == ["acme-csv", "acme-invoice", "other-json"]


def test_a_failing_reader_hook_does_not_hide_the_others():
    host = PluginHost(discover=False)
    host.register(plugin("broken", usage_reader("half"), fail=RuntimeError("boom")))
    host.register(plugin("wrong", object()))
    host.register(plugin("copycat", usage_reader("fine-csv")))
    host.register(plugin("fine", usage_reader("fine-csv", "fine")))
    names = [r.name for r in host.usage_readers()]
    assert names == ["fine-csv"]
    infos = host.plugins()
    assert infos["broken"].readers_error == "RuntimeError: boom" and infos["broken"].readers == []
    assert "takes a UsageReader, got object" in infos["wrong"].readers_error
    assert "'fine-csv' is already registered" in infos["fine"].readers_error
    assert infos["broken"].status == "loaded"  # its providers still work
    assert host.provider("broken").id == "broken"


def test_installed_plugins_register_readers_through_their_entry_point():
    """The testkit's fake provider is discovered like any third-party plugin."""
    readers = {r.name: r for r in PluginHost().usage_readers()}
    fake = readers["fake-usage-csv"]
    assert (fake.provider, fake.timezone) == ("fake", "America/Los_Angeles")
    assert fake.sniff("u.csv", b"date,fake_model,modality,quantity,usd\n")
