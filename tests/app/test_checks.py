from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest

from pyrodyn.app.checks import Bool, Device, FilePath, Free, Int, Names, Real, Section, Text
from pyrodyn.exceptions import ConfigError, PyrodynError


def test_int_takes_ints_and_integral_floats_only():
    check = Int(ge=1)
    assert check(3, "k") == 3
    for value in (2.0, np.float64(5.0), np.int64(7), 10**400):
        got = check(value, "k")
        assert type(got) is int and got == int(value)
    for value in (2.5, float("inf"), float("nan"), True, "3", [3]):
        with pytest.raises(ConfigError, match=r"^k must be an int >= 1, got "):
            check(value, "k")
    with pytest.raises(ConfigError, match=r"^k must be an int >= 1, got 0 \(int\)$"):
        check(0, "k")
    with pytest.raises(ConfigError, match=r"^k must be an int >= 1, got None \(NoneType\)$"):
        check(None, "k")
    assert Int(nullable=True)(None, "k") is None
    assert Int(nullable=True).expected() == "an int >= 0 or null"


def test_real_keeps_numbers_in_range_and_refuses_the_rest():
    assert Real(gt=0)(2, "k") == 2 and type(Real(gt=0)(2, "k")) is int
    assert Real(ge=0, lt=1)(0.0, "k") == 0.0
    for value, check in [
        (1.0, Real(ge=0, lt=1)),
        (0, Real(gt=0)),
        (10**400, Real(gt=0)),  # no float holds it
        (float("-inf"), Real()),
        (False, Real()),
    ]:
        with pytest.raises(
            ConfigError, match="^k must be " + re.escape(check.expected()) + ", got "
        ):
            check(value, "k")
    assert Real(ge=0, lt=1).expected() == "a float in [0, 1)"
    assert Real(gt=0, nullable=True).expected() == "a float > 0 or null"
    assert Real().expected() == "a finite float"


def test_bool_is_strict_and_hints_at_quotes():
    assert Bool()(False, "k") is False
    with pytest.raises(ConfigError, match=r"got 'no' \(str\); quoted, it is a string in YAML"):
        Bool()("no", "k")
    with pytest.raises(ConfigError, match=r"^k must be a bool \(true or false\), got 0 \(int\)$"):
        Bool()(0, "k")
    with pytest.raises(ConfigError, match=r"got 'maybe' \(str\)$"):  # no hint: not a boolean
        Bool()("maybe", "k")


def test_text_choices_are_listed_sorted_and_matched():
    check = Text(choices=lambda: ["b", "a"], ignore_case=True)
    assert check("A", "k") == "A"
    with pytest.raises(ConfigError, match=r"^k must be one of \['a', 'b'\] \(str\), got 'c'"):
        check("c", "k")
    with pytest.raises(ConfigError, match=r"^k must be a str, got 1 \(int\)$"):
        Text()(1, "k")


def test_names_paths_sections_devices_and_free_values():
    assert Names()("a", "k") == ["a"] and Names()(("a", "b"), "k") == ["a", "b"]
    assert Names(null_is_empty=True)(None, "k") == []
    with pytest.raises(ConfigError, match=r"^k must be a list of names \(str\), got None"):
        Names()(None, "k")
    with pytest.raises(ConfigError, match=r"^k\[1\] must be a name \(str\), got 2 \(int\)$"):
        Names()(["a", 2], "k")
    assert FilePath()(Path("x.npz"), "k") == Path("x.npz") and FilePath()(None, "k") is None
    with pytest.raises(ConfigError, match=r"^k must be a file path \(str\), got '' \(str\)$"):
        FilePath()("", "k")
    assert Section(nullable=True)(None, "k") is None and Section()({"a": 1}, "k") == {"a": 1}
    with pytest.raises(ConfigError, match=r"^k must be a mapping, got \[1\] \(list\)$"):
        Section()([1], "k")
    assert Device()("cuda:3", "k") == "cuda:3"
    with pytest.raises(ConfigError, match=r"^k must be a torch device name .*got 'cuda:x'"):
        Device()("cuda:x", "k")
    marker = object()
    assert Free()(marker, "k") is marker and Free()(None, "k") is None


def test_config_errors_are_value_errors_of_pyrodyn():
    with pytest.raises(ValueError, match="k must be") as err:
        Int()(-1, "k")
    assert isinstance(err.value, PyrodynError)
