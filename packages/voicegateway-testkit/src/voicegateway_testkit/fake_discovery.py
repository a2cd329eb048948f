"""The ``fake`` provider is discoverable where it is asked for, and nowhere else.

Plugin authors install the testkit for its servers and conformance kit; that must not add a
provider to their ``voicegw providers``. So the testkit's own metadata declares no
``voicegateway`` entry point. Where the fake is wanted (the pytest plugin's ``fake_provider``,
the demo's scripted LLM), :func:`write_distribution` writes the metadata of a distribution that
holds only that entry point, and :func:`discoverable` puts its directory on ``sys.path`` and
``$PYTHONPATH`` (for ``voicegw`` and job subprocesses). Discovery then finds the fake through
``importlib.metadata``, exactly as it finds an installed plugin.

Standard library only: the pytest plugin imports it in every run that asks for the fake.
"""

from __future__ import annotations

import contextlib
import importlib
import os
import sys
import tempfile
from collections.abc import Iterator
from importlib.metadata import version
from pathlib import Path

DISTRIBUTION = "voicegateway-testkit-fake"
"""The name ``voicegw providers`` shows as the fake's distribution."""
ENTRY_POINT = "fake = voicegateway_testkit.provider"


def write_distribution(directory: Path) -> Path:
    """Write the fake's distribution metadata into ``directory`` (a ``sys.path`` entry to be);
    returns ``directory``."""
    release = version("voicegateway-testkit")
    info = directory / f"{DISTRIBUTION.replace('-', '_')}-{release}.dist-info"
    info.mkdir(parents=True, exist_ok=True)
    (info / "METADATA").write_text(
        f"Metadata-Version: 2.1\nName: {DISTRIBUTION}\nVersion: {release}\n"
    )
    (info / "entry_points.txt").write_text(f"[voicegateway]\n{ENTRY_POINT}\n")
    return directory


def search_path(directory: Path, current: str | None) -> str:
    """``$PYTHONPATH`` with ``directory`` first."""
    return os.pathsep.join(p for p in (str(directory), current) if p)


@contextlib.contextmanager
def discoverable() -> Iterator[Path]:
    """The fake is discoverable in this process, and in the processes it starts, until the
    block ends; yields the directory of its metadata."""
    saved = os.environ.get("PYTHONPATH")
    with tempfile.TemporaryDirectory(prefix="voicegateway-fake-") as tmp:
        directory = write_distribution(Path(tmp))
        sys.path.insert(0, str(directory))
        os.environ["PYTHONPATH"] = search_path(directory, saved)
        importlib.invalidate_caches()
        try:
            yield directory
        finally:
            sys.path.remove(str(directory))
            if saved is None:
                os.environ.pop("PYTHONPATH", None)
            else:
                os.environ["PYTHONPATH"] = saved
            importlib.invalidate_caches()
