"""Checkers of configuration values: each states a type and range and names the key it checks.

A checker is called with a value and the value's dotted key (``fit.lr``); it returns the value
(normalised: an integral float of an int key becomes the int, a single name a one-item list) or
raises :class:`~pyrodyn.exceptions.ConfigError` saying ``<key> must be <expected>, got <value>
(<type>)``. :mod:`pyrodyn.app.schema` assigns one to every key of the fixed sections.
"""

from __future__ import annotations

import difflib
import math
import numbers
import os
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from pyrodyn.exceptions import ConfigError

_BOOL_WORDS = frozenset({"true", "false", "yes", "no", "on", "off"})


def _got(value: Any) -> str:
    return f"{value!r} ({type(value).__name__})"


def config_error(key: str, expected: str, value: Any, hint: str = "") -> ConfigError:
    """``<key> must be <expected>, got <value> (<type>)<hint>``."""
    return ConfigError(f"{key} must be {expected}, got {_got(value)}{hint}")


def close_match(name: str, valid: Sequence[str]) -> str:
    """`` (did you mean 'x'?)`` for the closest of ``valid`` (empty when none is close)."""
    match = difflib.get_close_matches(name, list(valid), n=1)
    return f" (did you mean {match[0]!r}?)" if match else ""


def _quoted(value: Any, number: bool) -> str:
    """A hint when a string would read as the expected number / boolean without its quotes."""
    if not isinstance(value, str):
        return ""
    if number:
        try:
            float(value)
        except ValueError:
            return ""
    elif value.strip().lower() not in _BOOL_WORDS:
        return ""
    return "; quoted, it is a string in YAML: write it without quotes"


# ---------------------------------------------------------------------------- checkers
@dataclass(frozen=True, kw_only=True)
class Check:
    """A key's type and range; calling it returns the (normalised) value or raises.

    Attributes:
        nullable: null is a valid value (only where the default is null).
    """

    nullable: bool = False

    def __call__(self, value: Any, key: str) -> Any:
        """``value`` checked for the dotted ``key`` (named in the ConfigError)."""
        if value is None:
            if self.nullable:
                return None
            raise config_error(key, self.expected(), value)
        return self._convert(value, key)

    def expected(self) -> str:
        """What the key takes, in words (``an int >= 1 or null``)."""
        return f"{self._describe()} or null" if self.nullable else self._describe()

    def _describe(self) -> str:
        raise NotImplementedError(f"{type(self).__name__} must implement _describe()")

    def _convert(self, value: Any, key: str) -> Any:
        raise NotImplementedError(f"{type(self).__name__} must implement _convert()")


@dataclass(frozen=True, kw_only=True)
class Free(Check):
    """Anything (checked where it is used)."""

    nullable: bool = True

    def _describe(self) -> str:
        return "any value"

    def _convert(self, value: Any, key: str) -> Any:
        return value


@dataclass(frozen=True, kw_only=True)
class Int(Check):
    """An int ``>= ge``; an integral float becomes the int, a bool or a string is refused."""

    ge: int = 0

    def _describe(self) -> str:
        return f"an int >= {self.ge}"

    def _convert(self, value: Any, key: str) -> int:
        if isinstance(value, bool) or not isinstance(value, numbers.Real):
            raise config_error(key, self.expected(), value, _quoted(value, number=True))
        if not isinstance(value, numbers.Integral):
            as_float = float(value)
            if not (math.isfinite(as_float) and as_float.is_integer()):
                raise config_error(key, self.expected(), value)
        if value < self.ge:
            raise config_error(key, self.expected(), value)
        return int(value)


@dataclass(frozen=True, kw_only=True)
class Real(Check):
    """A finite float (an int is accepted and kept) within the given bounds."""

    gt: float | None = None
    ge: float | None = None
    lt: float | None = None

    def _describe(self) -> str:
        if self.ge is not None and self.lt is not None:
            return f"a float in [{self.ge}, {self.lt})"
        if self.gt is not None:
            return f"a float > {self.gt}"
        return "a finite float" if self.ge is None else f"a float >= {self.ge}"

    def _convert(self, value: Any, key: str) -> Any:
        if isinstance(value, bool) or not isinstance(value, numbers.Real):
            raise config_error(key, self.expected(), value, _quoted(value, number=True))
        try:
            x = float(value)
        except OverflowError:  # an int too large for a float
            raise config_error(key, self.expected(), value) from None
        inside = (
            math.isfinite(x)
            and (self.gt is None or x > self.gt)
            and (self.ge is None or x >= self.ge)
            and (self.lt is None or x < self.lt)
        )
        if not inside:
            raise config_error(key, self.expected(), value)
        return value


@dataclass(frozen=True, kw_only=True)
class Bool(Check):
    """``true`` or ``false`` (not a string, not a number)."""

    def _describe(self) -> str:
        return "a bool (true or false)"

    def _convert(self, value: Any, key: str) -> bool:
        if not isinstance(value, bool):
            raise config_error(key, self.expected(), value, _quoted(value, number=False))
        return value


@dataclass(frozen=True, kw_only=True)
class Text(Check):
    """A string, optionally one of ``choices`` (a sequence, or a function giving it lazily)."""

    choices: Sequence[str] | Callable[[], Sequence[str]] | None = None
    ignore_case: bool = False

    def _choices(self) -> list[str] | None:
        c = self.choices
        return None if c is None else sorted(c() if callable(c) else c)

    def _describe(self) -> str:
        choices = self._choices()
        return "a str" if choices is None else f"one of {choices} (str)"

    def _convert(self, value: Any, key: str) -> str:
        if not isinstance(value, str):
            raise config_error(key, self.expected(), value)
        choices = self._choices()
        probe = value.lower() if self.ignore_case else value
        if choices is not None and probe not in choices:
            raise config_error(key, self.expected(), value, close_match(probe, choices))
        return value


@dataclass(frozen=True, kw_only=True)
class Device(Check):
    """A torch device name (``cpu``, ``cuda``, ``cuda:1``, ``mps``); fit checks it exists."""

    def _describe(self) -> str:
        return "a torch device name such as 'cpu', 'cuda' or 'cuda:1' (str)"

    def _convert(self, value: Any, key: str) -> str:
        import torch

        if not isinstance(value, str):
            raise config_error(key, self.expected(), value)
        try:
            torch.device(value)
        except RuntimeError:
            raise config_error(key, self.expected(), value) from None
        return value


@dataclass(frozen=True, kw_only=True)
class FilePath(Check):
    """A non-empty path (a str, or an ``os.PathLike`` from Python), kept as given.

    Null passes: the key is required, and the caller says how to set it.
    """

    def __call__(self, value: Any, key: str) -> Any:
        """``value`` checked for ``key`` (null passes through)."""
        return None if value is None else self._convert(value, key)

    def _describe(self) -> str:
        return "a file path (str)"

    def _convert(self, value: Any, key: str) -> Any:
        if isinstance(value, os.PathLike) or (isinstance(value, str) and value):
            return value
        raise config_error(key, self.expected(), value)


@dataclass(frozen=True, kw_only=True)
class Names(Check):
    """A list of names (str); a single name is a one-item list.

    Attributes:
        null_is_empty: null means no names (``[]``).
    """

    null_is_empty: bool = False

    def __call__(self, value: Any, key: str) -> Any:
        """``value`` checked for ``key``; null is ``[]`` with ``null_is_empty``."""
        if value is None and self.null_is_empty:
            return []
        return super().__call__(value, key)

    def _describe(self) -> str:
        return "a list of names (str)" + (" or null (none)" if self.null_is_empty else "")

    def _convert(self, value: Any, key: str) -> list[str]:
        if isinstance(value, str):
            return [value]
        if not isinstance(value, (list, tuple)):
            raise config_error(key, self.expected(), value)
        for i, name in enumerate(value):
            if not isinstance(name, str):
                raise config_error(f"{key}[{i}]", "a name (str)", name)
        return list(value)


@dataclass(frozen=True, kw_only=True)
class Section(Check):
    """A mapping whose contents are checked where they are used."""

    def _describe(self) -> str:
        return "a mapping"

    def _convert(self, value: Any, key: str) -> Any:
        if not isinstance(value, Mapping):
            raise config_error(key, self.expected(), value)
        return value


__all__ = [
    "Bool",
    "Check",
    "Device",
    "FilePath",
    "Free",
    "Int",
    "Names",
    "Real",
    "Section",
    "Text",
    "close_match",
    "config_error",
]
