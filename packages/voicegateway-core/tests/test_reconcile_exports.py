"""The toolkit provider readers share: checked JSON access that names file, path and field,
exact numbers, all-or-nothing reading and lazy imports for plugin hooks."""

from __future__ import annotations

import datetime
import sys
from decimal import Decimal

import pytest

from voicegateway.reconcile.billed import ExportError
from voicegateway.reconcile.exports import (
    TOP,
    JsonFile,
    all_or_nothing,
    lazy,
    utc_day_from_seconds,
)


def file_with(tmp_path, text: str | bytes) -> JsonFile:
    path = tmp_path / "export.json"
    if isinstance(text, bytes):
        path.write_bytes(text)
    else:
        path.write_text(text)
    return JsonFile(path)


def refused(call, *args) -> ExportError:
    with pytest.raises(ExportError) as caught:
        call(*args)
    return caught.value


def test_numbers_load_as_exact_decimals(tmp_path):
    doc = file_with(tmp_path, '{"cost": 0.1, "tokens": 3}').load()
    assert doc == {"cost": Decimal("0.1"), "tokens": 3}
    assert type(doc["cost"]) is Decimal


@pytest.mark.parametrize(
    ("text", "where", "problem"),
    [
        ('{"data": [1,', "line 1 column 13", "not JSON: Expecting value"),
        (b'{"model": "\xff"}', "byte 11", "not UTF-8 text"),
    ],
)
def test_unreadable_files_name_the_place(tmp_path, text, where, problem):
    error = refused(file_with(tmp_path, text).load)
    assert (error.file, error.where, error.column, error.problem) == (
        "export.json",
        where,
        None,
        problem,
    )


def test_load_object_refuses_other_documents(tmp_path):
    error = refused(file_with(tmp_path, "[]").load_object)
    assert (error.where, error.problem) == (TOP, "expected an object, got an array")


@pytest.mark.parametrize(
    ("obj", "kinds", "problem"),
    [
        ({}, (int,), "missing"),
        ({"n": None}, (int,), "expected an integer, got null"),
        ({"n": True}, (int,), "expected an integer, got a boolean"),
        ({"n": "3"}, (int, Decimal), "expected a number, got a string"),
        ({"n": Decimal("1.5")}, (int,), "expected an integer, got a number"),
        ({"n": float("nan")}, (int, Decimal), "expected a number, got nan"),
        ({"n": 3}, (list,), "expected an array, got an integer"),
    ],
)
def test_field_names_the_place_and_what_was_found(tmp_path, obj, kinds, problem):
    file = file_with(tmp_path, "{}")
    error = refused(file.field, obj, "data[2]", "n", kinds)
    assert (error.where, error.column, error.problem) == ("data[2]", "n", problem)
    assert str(error) == f"export.json: data[2], column 'n': {problem}"


def test_field_label_names_nested_fields_and_list_items(tmp_path):
    file = file_with(tmp_path, "{}")
    error = refused(file.field, {"value": "1"}, "data[0]", "value", (int,), "amount.value")
    assert error.column == "amount.value"
    assert file.field([5, 7], "usage.x[1]", 1, (int,), "x") == 7
    assert refused(file.field, [5], "usage.x[1]", 1, (int,), "x").problem == "missing"


def test_optional_is_none_when_absent_or_null_and_checked_otherwise(tmp_path):
    file = file_with(tmp_path, "{}")
    assert file.optional({}, "x", "model", (str,)) is None
    assert file.optional({"model": None}, "x", "model", (str,)) is None
    assert refused(file.optional, {"model": 4}, "x", "model", (str,)).problem == (
        "expected a string, got an integer"
    )


def test_counts_are_whole_and_not_negative(tmp_path):
    file = file_with(tmp_path, "{}")
    assert file.count({"n": 12}, "x", "n") == Decimal(12)
    assert file.count({}, "x", "n", required=False) == 0
    assert refused(file.count, {"n": -1}, "x", "n").problem == (
        "expected a non-negative integer, got -1"
    )
    assert refused(file.count, {}, "x", "n").problem == "missing"


def test_amounts_are_exact_and_not_negative(tmp_path):
    file = file_with(tmp_path, "{}")
    assert file.amount({"v": Decimal("0.0000159")}, "x", "v") == Decimal("0.0000159")
    assert file.amount({"v": 2}, "x", "v") == Decimal(2)
    error = refused(file.amount, {"v": Decimal("-0.5")}, "x", "v", "amount.value")
    assert (error.column, error.problem) == (
        "amount.value",
        "expected a non-negative number, got -0.5",
    )


@pytest.mark.parametrize(
    ("text", "problem"),
    [("tomorrow", "not an RFC 3339 time: 'tomorrow'"), ("2025-03-03", "no time zone")],
)
def test_moment_needs_an_rfc3339_time_with_a_zone(tmp_path, text, problem):
    file = file_with(tmp_path, "{}")
    assert problem in refused(file.moment, {"t": text}, "data[0]", "t").problem
    moment = file.moment({"t": "2025-03-02T19:00:00-05:00"}, "data[0]", "t")
    assert moment.utcoffset() == datetime.timedelta(hours=-5)


def test_objects_give_each_object_its_path_and_refuse_others(tmp_path):
    file = file_with(tmp_path, "{}")
    bucket = {"results": [{"a": 1}, {"a": 2}]}
    assert list(file.objects(bucket, "data[1]", "results", "data[1].")) == [
        ("data[1].results[0]", {"a": 1}),
        ("data[1].results[1]", {"a": 2}),
    ]
    error = refused(list, file.objects({"data": [{}, 7]}, TOP, "data"))
    assert (error.where, error.column, error.problem) == (
        "data[1]",
        None,
        "expected an object, got an integer",
    )


def test_pages_take_one_response_or_a_list_of_them(tmp_path):
    file = file_with(tmp_path, "{}")
    assert list(file.pages({"data": []})) == [(TOP, "", {"data": []})]
    assert list(file.pages([{"a": 1}, {"b": 2}])) == [
        ("[0]", "[0].", {"a": 1}),
        ("[1]", "[1].", {"b": 2}),
    ]
    assert refused(list, file.pages([{}, []])).where == "[1]"


def test_all_or_nothing_reads_the_whole_file_before_the_first_line(tmp_path):
    def lines(path):
        """A reader whose last line is broken."""
        yield "first"
        raise ExportError(path.name, "data[9]", None, "broken")

    read = all_or_nothing(lines)
    assert read.__doc__ == "A reader whose last line is broken."
    with pytest.raises(ExportError, match=r"data\[9\]"):
        read(tmp_path / "x.json")  # raised by the call, before any line is taken
    assert list(all_or_nothing(lambda path: iter([1, 2]))(tmp_path)) == [1, 2]


def test_utc_day_from_seconds():
    assert utc_day_from_seconds(1754092800) == datetime.date(2025, 8, 2)
    assert utc_day_from_seconds(1754092799) == datetime.date(2025, 8, 1)


def test_lazy_imports_the_module_on_the_first_call_only(monkeypatch):
    monkeypatch.delitem(sys.modules, "colorsys", raising=False)
    to_hsv = lazy("colorsys", "rgb_to_hsv")
    assert "colorsys" not in sys.modules
    assert to_hsv(1.0, 0.0, 0.0) == (0.0, 1.0, 1.0)
    assert "colorsys" in sys.modules
    assert to_hsv.__name__ == "rgb_to_hsv"
