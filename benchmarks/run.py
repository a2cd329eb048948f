"""Speed targets, each a ratio against a baseline measured in the same run (never absolute time).

    hatch run bench            # all
    hatch run bench import     # one

Exit status 1 when a target is missed. Targets and why:

- import: ``python -c "import voicegateway"`` takes at most 2.5x ``python -c pass``: the package
  must not drag LiveKit, an SDK, DuckDB or pydantic into every process that imports it.
- llm_call: a chat through ``inference.LLM`` (resolution done, metering on) costs at most 1.2x the
  same chat on the bare LiveKit plugin object: metering is a record per call, nothing per token.
"""

from __future__ import annotations

import asyncio
import statistics
import subprocess
import sys
import time
from collections.abc import Callable


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
    from livekit.agents import llm

    import voicegateway
    from voicegateway.plugins import PluginHost
    from voicegateway_testkit import provider as fake_provider

    host = PluginHost(discover=False)
    host.register(fake_provider, name="fake")
    voicegateway.configure(plugins=host)
    from voicegateway import inference

    async def chats(model: llm.LLM, n: int) -> float:
        ctx = llm.ChatContext.empty()
        ctx.add_message(role="user", content="hello there")
        start = time.perf_counter()
        for _ in range(n):
            async with model.chat(chat_ctx=ctx) as stream:
                async for _ in stream:
                    pass
        return (time.perf_counter() - start) / n

    async def measure(make: Callable[[], llm.LLM]) -> float:
        model = make()
        await chats(model, 50)  # warm up
        return min([await chats(model, 300) for _ in range(5)])

    async def both() -> tuple[float, float]:
        wrapped = inference.LLM("fake/fake-llm")
        # the same plugin, built by the same factory, with nothing of ours listening
        twin, _ = voicegateway.get_gateway().build(wrapped._built.resolution, "llm")
        bare = await measure(lambda: twin)
        metered = await measure(lambda: wrapped)
        return bare, metered

    bare, metered = asyncio.run(both())
    detail = f"bare {bare * 1e6:.0f} µs/chat, metered {metered * 1e6:.0f} µs/chat"
    return metered / bare, 1.2, detail


BENCHES = {"import": bench_import, "llm_call": bench_llm_call}


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
