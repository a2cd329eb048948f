"""Every hook is documented where it is declared, with an example (datasette's rule)."""

import inspect

from voicegateway import hookspecs


def _hooks():
    return [
        (name, fn)
        for name, fn in vars(hookspecs).items()
        if inspect.isfunction(fn) and hasattr(fn, "voicegateway_spec")
    ]


def test_there_are_hooks():
    assert sorted(name for name, _ in _hooks()) == [
        "register_middlewares",
        "register_providers",
        "register_usage_readers",
    ]


def test_every_hook_is_documented_with_when_it_runs_and_an_example():
    for name, fn in _hooks():
        doc = inspect.getdoc(fn) or ""
        assert len(doc) > 200, f"hook {name} needs a real docstring"
        assert "Example::" in doc, f"hook {name} docstring needs an example"
        assert "Runs" in doc, f"hook {name} docstring must say when it runs"
        for param in inspect.signature(fn).parameters:
            assert param in doc, f"hook {name} docstring must describe {param!r}"
