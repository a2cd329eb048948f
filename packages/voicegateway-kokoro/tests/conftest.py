"""Fixtures for the kokoro tests: a voicegw.yaml of their own, and a tiny Kokoro-shaped model
(see tiny_kokoro.py), built once per test session."""

from __future__ import annotations

import textwrap
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

import voicegateway
from voicegateway import gateway as gateway_module

from .tiny_kokoro import write_model, write_voices

VOICES = {"af_test": 0.5, "am_loud": 1.0}
"""The voices of the test voices file, and the style level (loudness) each gives."""


@pytest.fixture
def use_config(tmp_path: Path) -> Iterator[Callable[[str], voicegateway.Gateway]]:
    """Write a voicegw.yaml and make it the process's gateway; restore the default after."""

    def use(text: str) -> voicegateway.Gateway:
        path = tmp_path / "voicegw.yaml"
        path.write_text(textwrap.dedent(text))
        return voicegateway.configure(path)

    yield use
    gateway_module._default = None


@pytest.fixture(scope="session")
def kokoro_files(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """The tiny model and its voices file."""
    directory = tmp_path_factory.mktemp("kokoro")
    return (
        write_model(directory / "kokoro-v1.0.onnx"),
        write_voices(directory / "voices-v1.0.bin", VOICES),
    )
