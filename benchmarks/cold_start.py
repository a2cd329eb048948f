"""The first ``inference.LLM(...)`` of a LiveKit job process, against the first bare
``livekit.plugins.openai.LLM(...)`` in the same kind of process.

    hatch run bench cold_start

A job process has LiveKit and its plugins imported before a job starts (LiveKit requires plugins
to be imported on the main thread), so both sides start from there; what is measured is the CPU
time and the resident memory the first object costs, median of 5 fresh processes each, run
alternately. Targets: VoiceGateway's first object takes at most 1.5x the CPU time of the bare
plugin's, and grows the process at most 3 MiB more than the bare plugin does. Byte code is
compiled by one unmeasured run of each side (into a scratch ``PYTHONPYCACHEPREFIX``), as an
installed wheel's would be.
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

RUNS = 5

FIRST = r"""
import gc, json, sys, time
def rss():
    for line in open("/proc/self/status"):
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
import livekit.agents
import livekit.plugins.openai
gc.collect()
before, start = rss(), time.process_time()
if sys.argv[1] == "bare":
    model = livekit.plugins.openai.LLM(model="gpt-4o-mini")
else:
    from voicegateway import inference
    model = inference.LLM("openai/gpt-4o-mini")
cpu = time.process_time() - start
gc.collect()
print(json.dumps({"cpu": cpu, "rss": rss() - before}))
"""


def _first(side: str, env: dict[str, str]) -> dict[str, float]:
    out = subprocess.run(
        [sys.executable, "-c", FIRST, side], env=env, check=True, capture_output=True, text=True
    ).stdout
    return json.loads(out.strip().splitlines()[-1])


def bench_cold_start() -> tuple[float, float, str]:
    with tempfile.TemporaryDirectory() as tmp:
        config = Path(tmp) / "voicegw.yaml"
        config.write_text(f"storage: {{path: {tmp}/usage.duckdb}}\n")
        env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
        env.update(
            PYTHONPYCACHEPREFIX=str(Path(tmp) / "pycache"),
            VOICEGW_CONFIG=str(config),
            OPENAI_API_KEY="sk-benchmark",
        )
        _first("bare", env)  # each side once, unmeasured: what it imports is compiled then
        _first("ours", env)
        bare, ours = [], []
        for _ in range(RUNS):
            bare.append(_first("bare", env))
            ours.append(_first("ours", env))
    cpu = (statistics.median(r["cpu"] for r in bare), statistics.median(r["cpu"] for r in ours))
    rss = (statistics.median(r["rss"] for r in bare), statistics.median(r["rss"] for r in ours))
    extra = rss[1] - rss[0]
    detail = (
        f"first LLM object: bare plugin {cpu[0] * 1e3:.0f} ms CPU, +{rss[0]:.1f} MiB; "
        f"inference.LLM {cpu[1] * 1e3:.0f} ms CPU ({cpu[1] / cpu[0]:.2f}x, target <= 1.5x), "
        f"+{rss[1]:.1f} MiB ({extra:+.1f} MiB more, target <= +3)"
    )
    return max(cpu[1] / cpu[0] / 1.5, extra / 3.0), 1.0, detail


BENCHES = {"cold_start": bench_cold_start}
