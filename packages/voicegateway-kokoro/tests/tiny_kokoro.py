"""A tiny stand-in for a Kokoro export, for tests: no English Kokoro weights are on PyPI.

The graph has the inputs and output kokoro-onnx feeds and reads (``tokens`` int64 ``[1, n]``,
``style`` float32 ``[1, 256]``, ``speed`` float32 ``[1]`` → ``audio`` float32), and makes
:data:`TOKEN_SAMPLES` samples of a tone per phoneme token (none for the padding token 0), scaled by
the mean of the voice's style vector times the speed: the audio shows which voice and speed
reached the model. The ``onnx`` package is not installed, so the protobuf is written by hand
(field numbers from onnx/onnx.proto).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

TOKEN_SAMPLES = 600
"""Samples per phoneme token: 25 ms at Kokoro's 24 kHz."""

WAVE_AMPLITUDE = 0.5

_FLOAT, _INT64 = 1, 7  # TensorProto.DataType
_ATTRIBUTE_INT = 2  # AttributeProto.AttributeType


def _varint(value: int) -> bytes:
    value &= (1 << 64) - 1
    out = bytearray()
    while True:
        byte, value = value & 0x7F, value >> 7
        out.append(byte | (0x80 if value else 0))
        if not value:
            return bytes(out)


def _message(*fields: tuple[int, int | str | bytes]) -> bytes:
    """A protobuf message from (field number, value): ints as varints, the rest length-delimited."""
    out = bytearray()
    for number, value in fields:
        if isinstance(value, int):
            out += _varint(number << 3) + _varint(value)
        else:
            data = value.encode() if isinstance(value, str) else value
            out += _varint(number << 3 | 2) + _varint(len(data)) + data
    return bytes(out)


def _value_info(name: str, elem_type: int, dims: list[int | str]) -> bytes:
    shape = _message(*[(1, _message((2, d) if isinstance(d, str) else (1, d))) for d in dims])
    tensor_type = _message((1, elem_type), (2, shape))
    return _message((1, name), (2, _message((1, tensor_type))))


def _node(op: str, inputs: list[str], outputs: list[str], **ints: int) -> bytes:
    attributes = [(5, _message((1, k), (3, v), (20, _ATTRIBUTE_INT))) for k, v in ints.items()]
    return _message(*[(1, i) for i in inputs], *[(2, o) for o in outputs], (4, op), *attributes)


def _initializer(name: str, array: np.ndarray) -> bytes:
    data_type = _FLOAT if array.dtype == np.float32 else _INT64
    dims = [(1, d) for d in array.shape]
    return _message(*dims, (2, data_type), (8, name), (9, np.ascontiguousarray(array).tobytes()))


def write_model(path: Path) -> Path:
    """Write the tiny Kokoro-shaped ONNX model to ``path``."""
    t = np.arange(TOKEN_SAMPLES) / 24000
    wave = (WAVE_AMPLITUDE * np.sin(2 * np.pi * 220 * t)).astype(np.float32)
    graph = _message(
        (1, _node("Cast", ["tokens"], ["ids"], to=_FLOAT)),
        (1, _node("Sign", ["ids"], ["spoken"])),  # 1 per phoneme, 0 for the padding
        (1, _node("Unsqueeze", ["spoken", "last_axis"], ["spoken3"])),
        (1, _node("Mul", ["spoken3", "wave"], ["tones"])),
        (1, _node("ReduceMean", ["style"], ["voice_level"])),
        (1, _node("Mul", ["voice_level", "speed"], ["level"])),
        (1, _node("Mul", ["tones", "level"], ["scaled"])),
        (1, _node("Reshape", ["scaled", "flat"], ["audio"])),
        (2, "tiny-kokoro"),
        (5, _initializer("wave", wave.reshape(1, 1, TOKEN_SAMPLES))),
        (5, _initializer("last_axis", np.array([2], dtype=np.int64))),
        (5, _initializer("flat", np.array([-1], dtype=np.int64))),
        (11, _value_info("tokens", _INT64, [1, "tokens"])),
        (11, _value_info("style", _FLOAT, [1, 256])),
        (11, _value_info("speed", _FLOAT, [1])),
        (12, _value_info("audio", _FLOAT, ["samples"])),
    )
    opset = _message((1, ""), (2, 13))
    path.write_bytes(_message((1, 8), (2, "voicegateway-tests"), (7, graph), (8, opset)))
    return path


def write_voices(path: Path, levels: dict[str, float]) -> Path:
    """A voices file like ``voices-v1.0.bin`` (an ``.npz`` of ``(510, 1, 256)`` style arrays),
    each voice's style filled with its level."""
    with path.open("wb") as file:
        np.savez(file, **{v: np.full((510, 1, 256), lv, np.float32) for v, lv in levels.items()})
    return path
