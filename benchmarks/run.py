"""Speed targets, each a ratio against a baseline measured in the same run (never absolute time).

    hatch run bench            # all
    hatch run bench import     # one

Exit status 1 when a target is missed. Targets and why:

- import: ``python -c "import voicegateway"`` takes at most 2.5x ``python -c pass``: the package
  must not drag LiveKit, an SDK, DuckDB or pydantic into every process that imports it.
- llm_call: what VoiceGateway adds to one LLM call (open it, meter the report through the default
  chain, end it) is at most 50 µs of CPU and at most 10% of a whole chat on the bare LiveKit
  plugin measured in the same run: metering is a record per call, nothing per token.
"""

from __future__ import annotations

import asyncio
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def _wall(cmd: list[str], runs: int) -> float:
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        subprocess.run(cmd, check=True)
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def bench_import() -> tuple[float, float, str]:
    base = _wall([sys.executable, "-c", "pass"], 15)
    ours = _wall([sys.executable, "-c", "import voicegateway"], 15)
    return (
        ours / base,
        2.5,
        f"python -c pass {base * 1e3:.1f} ms, import voicegateway {ours * 1e3:.1f} ms",
    )


def bench_llm_call() -> tuple[float, float, str]:
    """VoiceGateway's own work per LLM call (open the call, meter its report, end it, through the
    default chain) against a whole chat on the bare LiveKit plugin, both in thread CPU time."""
    import timeit

    from livekit.agents import llm
    from livekit.agents.metrics import LLMMetrics

    import voicegateway
    from voicegateway.plugins import PluginHost
    from voicegateway_testkit import provider as fake_provider

    host = PluginHost(discover=False)
    host.register(fake_provider, name="fake")
    scratch = tempfile.mkdtemp()  # the records spooled here are thrown away
    config = Path(scratch) / "voicegw.yaml"
    config.write_text(f"storage: {{path: {scratch}/usage.duckdb}}\n")
    voicegateway.configure(config, plugins=host)
    from voicegateway import inference

    async def chats(model: llm.LLM, n: int) -> float:
        ctx = llm.ChatContext.empty()
        ctx.add_message(role="user", content="hello there")
        start = time.thread_time()
        for _ in range(n):
            async with model.chat(chat_ctx=ctx) as stream:
                async for _ in stream:
                    pass
        return (time.thread_time() - start) / n

    metered = inference.LLM("fake/fake-llm")
    bare, _ = voicegateway.get_gateway().build(metered._built.resolution, "llm")

    async def bare_chat() -> float:
        await chats(bare, 50)
        return min([await chats(bare, 200) for _ in range(7)])

    chat = asyncio.run(bare_chat())

    instrument = metered._built.instrument
    report = LLMMetrics(
        label="x",
        request_id="r",
        timestamp=0.0,
        duration=0.2,
        ttft=0.1,
        cancelled=False,
        completion_tokens=5,
        prompt_tokens=40,
        prompt_cached_tokens=10,
        total_tokens=45,
        tokens_per_second=25.0,
    )

    def one_call() -> None:
        with instrument.call() as metered, metered.scope():
            instrument._on_metrics(report)

    runs = timeit.repeat(one_call, number=2000, repeat=7, timer=time.thread_time)
    ours = min(runs) / 2000
    detail = (
        f"VoiceGateway per call {ours * 1e6:.1f} µs (target <= 50 µs); "
        f"a bare LiveKit chat {chat * 1e6:.0f} µs"
    )
    voicegateway.get_gateway().spooler.close()
    shutil.rmtree(scratch)
    return (ours / chat if ours <= 50e-6 else float("inf")), 0.1, detail


_JOB_RSS = """
import asyncio, gc, json, sys
def rss():
    gc.collect()
    for line in open("/proc/self/status"):
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
from livekit.agents import llm
import livekit.plugins.openai  # a job process has its plugins loaded already
from voicegateway_testkit.fakes import FakeLLM
async def chat(model):
    ctx = llm.ChatContext.empty()
    ctx.add_message(role="user", content="hello")
    async with model.chat(chat_ctx=ctx) as stream:
        async for _ in stream:
            pass
asyncio.run(chat(FakeLLM()))
before = rss()
import voicegateway
from voicegateway import inference
from voicegateway.pricing import rates_for
voicegateway.configure(sys.argv[1])
asyncio.run(chat(inference.LLM("fake/fake-llm")))
rates_for("openai", "gpt-4o-mini", "llm", catalog="openai")  # a cloud model's rates, from the cache
after = rss()
heavy = sorted(m for m in sys.modules if m.split(".")[0] in ("duckdb", "pyarrow", "voice_prices"))
print(json.dumps({"before": before, "after": after, "heavy": heavy}))
"""


def bench_job_rss() -> tuple[float, float, str]:
    """What a LiveKit job process gains from VoiceGateway: at most 5 MiB over the same process
    with LiveKit, a plugin and a chat already done (the baseline), and no DuckDB or voice-prices."""
    import json

    from voicegateway.pricing import rates_for
    from voicegateway_testkit.fake_discovery import discoverable

    rates_for("openai", "gpt-4o-mini", "llm", catalog="openai")  # fill the machine's price cache
    with tempfile.TemporaryDirectory() as tmp, discoverable():  # the job finds the fake provider
        config = Path(tmp) / "voicegw.yaml"
        config.write_text(f"storage: {{path: {tmp}/usage.duckdb}}\n")
        out = subprocess.run(
            [sys.executable, "-c", _JOB_RSS, str(config)],
            check=True,
            capture_output=True,
            text=True,
        ).stdout
    result = json.loads(out.strip().splitlines()[-1])
    gained = result["after"] - result["before"]
    detail = (
        f"job RSS {result['before']:.1f} -> {result['after']:.1f} MiB (+{gained:.2f} MiB, "
        f"target <= 5); heavy modules imported: {result['heavy'] or 'none'}"
    )
    ratio = gained / 5.0 if not result["heavy"] else float("inf")
    return ratio, 1.0, detail


BENCHES = {"import": bench_import, "llm_call": bench_llm_call, "job_rss": bench_job_rss}

import ledger  # noqa: E402  (benchmarks/ledger.py, next to this file: the ledger's targets)

BENCHES.update(ledger.BENCHES)

import policies  # noqa: E402  (benchmarks/policies.py: budget and rate-limit checks)

BENCHES.update(policies.BENCHES)

import cold_start  # noqa: E402  (benchmarks/cold_start.py: the first inference.LLM of a job)

BENCHES.update(cold_start.BENCHES)


def main(names: list[str]) -> int:
    failed = 0
    for name in names or list(BENCHES):
        ratio, target, detail = BENCHES[name]()
        ok = ratio <= target
        failed += not ok
        verdict = "ok" if ok else "MISSED"
        print(f"{name:10s} ratio {ratio:5.2f} (target <= {target})  {verdict}  {detail}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
