"""Fixtures for the kokoro tests: a tiny Kokoro-shaped model (see tiny_kokoro.py), built once per
test session. ``use_config`` is the testkit's."""

from __future__ import annotations

from pathlib import Path

import pytest

from .tiny_kokoro import write_model, write_voices

VOICES = {"af_test": 0.5, "am_loud": 1.0}
"""The voices of the test voices file, and the style level (loudness) each gives."""


@pytest.fixture(scope="session")
def kokoro_files(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """The tiny model and its voices file."""
    directory = tmp_path_factory.mktemp("kokoro")
    return (
        write_model(directory / "kokoro-v1.0.onnx"),
        write_voices(directory / "voices-v1.0.bin", VOICES),
    )
