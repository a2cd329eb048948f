"""Reads AssemblyAI's daily usage chart: the data behind the dashboard's Usage page.

AssemblyAI documents no usage export, usage API or export file format. Its docs say only that
the dashboard's reporting shows usage and spend by account, product (Speech-to-text, Streaming,
LeMUR), model, project and API key (https://www.assemblyai.com/docs/account-management), that
it refreshes every 2 minutes and fills in streaming sessions once they close
(https://www.assemblyai.com/docs/faq/how-often-does-the-usage-and-spend-information-in-my-dashboard-update-),
and how usage is billed: pre-recorded audio by its duration, pro-rated to the second; streaming
by the time the websocket stays open (https://www.assemblyai.com/docs/billing-and-pricing).

The best evidence of what the dashboard produces is a third-party client of it
(github.com/GolovinElics/amb2api, ``src/api/account_api.py`` and
``tests/test_cost_parsing_merge.py``): the Usage page
(https://www.assemblyai.com/dashboard/usage?window_size=day&group_by=model) renders a chart whose
props are ``{"data": [point, ...], "names": [label, ...]}``, one point per day,
``{"name": "2026-06-28T00:00:00.000Z", "<model label>": <quantity>, ...}``, where a label is the
dashboard's model name (``Universal-Streaming``, ``Universal``, ``Slam-1``, ``Nano``) and speech
quantities are hours; LLM Gateway labels end in `` (Input)`` / `` (Output)`` and count tokens.
This reader takes that object saved as a ``.json`` file. The evidence is weak: one client,
reverse-engineered from the page, and the page may change. Its limits, accepted here:

- The chart carries no cost (``cost_usd`` is None) and no project or key (``account`` is None).
  The Cost page draws a chart of the same shape in dollars; this reader cannot tell the two
  apart, so give it the Usage page's chart only.
- LLM Gateway / LeMUR labels are skipped: VoiceGateway does not route them, and the chart's
  token scale is undocumented (the client above found fractional values it read as millions).

Mapping to :class:`~voicegateway.plugin_api.BilledUsage` (provider ``assemblyai``, leg
``stt``): ``day`` is the UTC date of ``name``; ``audio_seconds`` is the label's hours x 3600
(session hours for streaming models, audio hours for pre-recorded ones, as AssemblyAI bills);
``model`` is the label lower-cased with spaces and dots as hyphens (``Universal-Streaming
Multilingual`` -> ``universal-streaming-multilingual``), except ``Universal-Streaming``, which
AssemblyAI bills as one line for its English model: ``universal-streaming-english``, as our
records name it. Any other label (a pre-recorded model, an add-on such as ``Keyterm
Prompting``) keeps its slug, so usage our records lack shows up as a coverage gap. Zero
quantities are left out.

Errors name the JSON path of the point (``data[2]``) and the label or field.
"""

from __future__ import annotations

import datetime
import re
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path

from voicegateway.plugin_api import TOP, BilledUsage, JsonFile, all_or_nothing

PROVIDER = "assemblyai"
NAME = "assemblyai-dashboard-usage-chart"
DESCRIPTION = (
    "AssemblyAI dashboard Usage page, daily chart data ({data, names}, hours per model label) "
    "saved as JSON (AssemblyAI documents no export; "
    "https://www.assemblyai.com/docs/account-management)"
)

SECONDS_PER_HOUR = Decimal(3600)

_ALIASES = {"universal-streaming": "universal-streaming-english"}
_LLM_SUFFIXES = (" (Input)", " (Output)")
_DAY = re.compile(r"\d{4}-\d{2}-\d{2}T")


def sniff(name: str, head: bytes) -> bool:
    """A chart object: ``data`` points named by ISO day, and a ``names`` list."""
    text = head.lstrip()
    return (
        text.startswith(b"{")
        and b'"names"' in text
        and re.search(rb'"name"\s*:\s*"\d{4}-\d{2}-\d{2}T', text) is not None
    )


@all_or_nothing
def read(path: Path) -> Iterator[BilledUsage]:
    """All lines of the file, or :class:`ExportError` before any line if any point is malformed."""
    file = JsonFile(path)
    body = file.load_object()
    names = file.field(body, TOP, "names", (list,))
    if not all(isinstance(n, str) for n in names):
        raise file.error(TOP, "names", "expected an array of labels")
    for where, point in file.objects(body, TOP, "data"):
        yield from _lines(file, where, point, set(names))


def model_id(label: str) -> str:
    """Our model name for a dashboard label."""
    slug = re.sub(r"[\s.]+", "-", label.strip().lower())
    return _ALIASES.get(slug, slug)


def _lines(file: JsonFile, where: str, point: dict, names: set[str]) -> Iterator[BilledUsage]:
    stamp = point.get("name")
    if not isinstance(stamp, str) or not _DAY.match(stamp):
        raise file.error(where, "name", f"not an ISO day: {stamp!r}")
    try:
        moment = datetime.datetime.fromisoformat(stamp)
    except ValueError:
        raise file.error(where, "name", f"not an ISO day: {stamp!r}") from None
    day = moment.astimezone(datetime.UTC).date() if moment.tzinfo else moment.date()
    for label in point:
        if label == "name":
            continue
        if label not in names:
            raise file.error(where, label, "a label the chart's names do not list")
        if label.endswith(_LLM_SUFFIXES):
            continue
        hours = file.amount(point, where, label)
        yield BilledUsage(  # zero too: the day is covered, and billed nothing
            provider=PROVIDER,
            model=model_id(label),
            day=day,
            leg="stt",
            units={"audio_seconds": hours * SECONDS_PER_HOUR},
            cost_usd=None,
            source=f"{file.name}:{where}",
        )
