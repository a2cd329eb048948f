"""A careless or hostile voicegw.yaml (an alias bomb, thousands of nested brackets, a huge file)
is refused with one located ConfigError, never a MemoryError, a RecursionError or a minute of
parsing; configs within the limits load as before."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from voicegateway.config import ConfigError, load_config
from voicegateway.config.yaml_limits import MAX_ALIASED_VALUES, MAX_BYTES, MAX_DEPTH


def refused(path: Path) -> str:
    with pytest.raises(ConfigError) as caught:
        load_config(path, env={})
    (issue,) = caught.value.issues
    assert issue.file == path
    return str(issue).removeprefix(str(path))


def alias_bomb() -> str:
    """The "billion laughs": under 0.5 KB, nine levels of nine aliases each (9**9 values)."""
    lines = ["a: &a [lol, lol, lol, lol, lol, lol, lol, lol, lol]"]
    for previous, name in zip("abcdefgh", "bcdefghi", strict=True):
        lines.append(f"{name}: &{name} [{', '.join([f'*{previous}'] * 9)}]")
    return "\n".join(lines) + "\n"


def test_an_alias_bomb_is_refused_at_the_alias_that_crosses_the_limit(tmp_path):
    path = tmp_path / "voicegw.yaml"
    path.write_text(alias_bomb())
    assert path.stat().st_size < 512

    # a..d hold 9**4 values; the first *e alias of line 6 adds 9**5 (line 5's *d ones 9**4 each)
    message = refused(path)

    assert message.startswith(":5:")  # line 5, at the alias whose expansion passes 10,000
    assert f"aliases expand this file to more than {MAX_ALIASED_VALUES:,} values" in message
    assert "; write the repeated part out" in message


def test_merge_keys_count_as_aliases(tmp_path):
    path = tmp_path / "voicegw.yaml"
    anchor = "base: &b {" + ", ".join(f"k{i}: {i}" for i in range(50)) + "}\n"
    merges = "".join(f"m{i}: {{<<: *b}}\n" for i in range(200))  # 200 x 101 values
    path.write_text(anchor + merges)

    assert "aliases expand this file" in refused(path)


def test_aliases_within_the_limit_still_load(tmp_path):
    path = tmp_path / "voicegw.yaml"
    chain = "[openai/gpt-4o-mini, groq/llama-3.3-70b-versatile]"
    path.write_text(
        f"models:\n  brain0: &chain {chain}\n"
        + "".join(f"  brain{i}: *chain\n" for i in range(1, 1000))  # 2,997 aliased values
    )
    models = load_config(path, env={}).models
    assert len(models) == 1000
    assert models["brain999"] == ["openai/gpt-4o-mini", "groq/llama-3.3-70b-versatile"]


def test_deep_nesting_is_a_located_error_not_a_recursion_error(tmp_path):
    path = tmp_path / "voicegw.yaml"
    path.write_text("models: " + "[" * 3000 + "]" * 3000 + "\n")

    message = refused(path)

    # "models:" is depth 1, so the bracket that opens depth MAX_DEPTH + 1 is the limit's
    assert message.startswith(f":1:{len('models: ') + MAX_DEPTH}:")
    assert f"nested more than {MAX_DEPTH} deep" in message


def test_deep_block_nesting_too(tmp_path):
    path = tmp_path / "voicegw.yaml"
    path.write_text("".join(f"{'  ' * i}k{i}:\n" for i in range(200)))

    message = refused(path)

    assert message.startswith(f":{MAX_DEPTH}:")
    assert "nested more than" in message


def test_a_huge_file_is_refused_without_reading_it_all(tmp_path):
    path = tmp_path / "voicegw.yaml"
    line = "  m{:07d}: openai/gpt-4o-mini\n"
    block = "".join(line.format(i) for i in range(2**20 // len(line.format(0))))  # 1 MB
    with path.open("w") as file:
        file.write("models:\n")
        for _ in range(50):
            file.write(block)

    message = refused(path)

    limit_line = 2 + (MAX_BYTES - len("models:\n")) // len(line.format(0))
    assert message.startswith(f":{limit_line}:")
    assert f"larger than {MAX_BYTES // 1024} KiB" in message


def test_a_file_at_the_size_limit_loads(tmp_path):
    path = tmp_path / "voicegw.yaml"
    head = "default_project: app\n"
    path.write_text(head + "#" * (MAX_BYTES - len(head) - 1) + "\n")
    assert path.stat().st_size == MAX_BYTES
    assert load_config(path, env={}).default_project == "app"


def test_voicegw_check_prints_one_line_and_exits_2(tmp_path):
    (tmp_path / "voicegw.yaml").write_text(alias_bomb())
    result = subprocess.run(
        [sys.executable, "-m", "voicegateway.cli", "check"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
    )
    assert result.returncode == 2
    assert "Traceback" not in result.stderr + result.stdout
    assert "voicegw.yaml:5:" in result.stderr + result.stdout
