"""Resource slots: how much of each resource (``cpu``, ``mem``, ``cuda.shares``...) something uses.

A ``ResourceSlot`` maps slot names to ``Decimal`` amounts. It is what a session requests, what
an agent offers and what a kernel occupies; the scheduler adds, subtracts and compares them.
On the wire and in the database the values are decimal strings (``{"cpu": "1",
"mem": "536870912"}``), never floats.

Users write amounts the way Backend.AI's CLI passes them: ``cpu=1.5``, ``mem=2g``, ``mem=512m``
(binary units, case-insensitive; a bare number of ``mem`` is bytes).
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from decimal import Context, Decimal, InvalidOperation
from enum import StrEnum

from backendai.common.errors import InvalidRequest


class SlotUnit(StrEnum):
    COUNT = "count"  # cores, devices, fractional shares
    BYTES = "bytes"


# Every slot a session may request. Agents may report more; requests are checked against these.
SLOT_TYPES: Mapping[str, SlotUnit] = {
    "cpu": SlotUnit.COUNT,
    "mem": SlotUnit.BYTES,
    "cuda.device": SlotUnit.COUNT,
    "cuda.shares": SlotUnit.COUNT,
}

_BINARY_SUFFIXES = {"": 0, "k": 1, "m": 2, "g": 3, "t": 4, "p": 5}
# The largest amounts anyone may ask for: far above any machine, yet small enough for every
# consumer (Docker takes memory as a signed 64-bit count of bytes; Decimal arithmetic and the
# messages that print amounts stay exact). Without them a request of 10^23 PiB reached places
# that fail on such numbers instead of saying the amount was too large.
MAX_BYTES = Decimal(2**63 - 1)
MAX_COUNT = Decimal(1_000_000)
_MAX_TEXT = 64  # characters in a typed amount
_SIZE_RE = re.compile(r"^\s*(\d+(?:\.\d*)?|\.\d+)\s*([kmgtp]?)(?:i?b)?\s*$", re.IGNORECASE)
_NUMBER_RE = re.compile(r"^\s*(\d+(?:\.\d*)?|\.\d+)\s*$")


def _unit_of(name: str) -> SlotUnit:
    return SLOT_TYPES.get(name, SlotUnit.BYTES if name.endswith(".mem") else SlotUnit.COUNT)


def parse_amount(name: str, value: object) -> Decimal:
    """One user-typed amount of slot ``name`` (``"2g"``, ``"1.5"``, ``3``) as a Decimal."""
    unit = _unit_of(name)
    text = str(value) if isinstance(value, int | float | Decimal | str) else None
    if isinstance(value, bool) or text is None:
        raise InvalidRequest(f"Invalid amount for resource {name}: {value!r} is not a number.")
    if len(text) > _MAX_TEXT:
        raise InvalidRequest(
            f"Invalid amount for resource {name}: {text[:_MAX_TEXT]!r}... is too long."
        )
    if unit is SlotUnit.BYTES:
        m = _SIZE_RE.match(text)
        if m is None:
            raise InvalidRequest(
                f"Invalid amount for resource {name}: {text!r}. Write a size like 2g, 512m "
                "or 1.5g (binary units k/m/g/t/p), or a number of bytes."
            )
        size = Decimal(m.group(1)) * (1024 ** _BINARY_SUFFIXES[m.group(2).lower()])
        if size > MAX_BYTES:
            raise InvalidRequest(
                f"Invalid amount for resource {name}: {text!r} is too large; "
                f"at most {format_amount(name, MAX_BYTES)} can be asked for."
            )
        return Decimal(int(size))  # whole bytes
    m = _NUMBER_RE.match(text)
    if m is None:
        raise InvalidRequest(
            f"Invalid amount for resource {name}: {text!r}. Write a number like 1, 2 or 0.5."
        )
    amount = Decimal(m.group(1))
    if amount > MAX_COUNT:
        raise InvalidRequest(
            f"Invalid amount for resource {name}: {text!r} is too large; "
            f"at most {_plain(MAX_COUNT)} can be asked for."
        )
    return amount


def format_amount(name: str, value: Decimal) -> str:
    """An amount for people: ``8 GiB`` for sizes, ``2`` or ``0.5`` for counts."""
    if _unit_of(name) is SlotUnit.BYTES:
        size = Decimal(value)
        for suffix in _SIZE_UNITS:
            if abs(size) < 1024 or suffix == _SIZE_UNITS[-1]:
                return f"{_plain(_round(size))} {suffix}"
            size /= 1024
    return _plain(value)


_SIZE_UNITS = ("B", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB")


def _round(value: Decimal) -> Decimal:
    """To two decimals, however many digits come before the point: the default context's 28
    digits made ``quantize`` raise on amounts a reporting agent may send."""
    digits = max(value.adjusted(), 0) + 4
    return value.quantize(Decimal("0.01"), context=Context(prec=max(28, digits)))


def _plain(value: Decimal) -> str:
    """A Decimal without exponent or trailing zeros: ``Decimal("5.3687E+8")`` -> ``536870000``."""
    if value == value.to_integral_value():
        return str(int(value))
    return format(value.normalize(), "f")


class ResourceSlot(Mapping[str, Decimal]):
    """An immutable mapping of slot name -> amount; a missing slot counts as zero."""

    __slots__ = ("_data",)

    def __init__(self, data: Mapping[str, Decimal | int | str] | None = None) -> None:
        self._data: dict[str, Decimal] = {}
        for name, value in (data or {}).items():
            try:
                amount = Decimal(value)
            except (InvalidOperation, TypeError, ValueError) as e:
                raise InvalidRequest(f"Invalid amount for resource {name}: {value!r}.") from e
            if not amount.is_finite():
                raise InvalidRequest(f"Invalid amount for resource {name}: {value!r}.")
            self._data[name] = amount

    @classmethod
    def parse(cls, spec: Mapping[str, object]) -> ResourceSlot:
        """A user's request (``{"cpu": "2", "mem": "4g"}``): known slot names, units parsed."""
        unknown = sorted(set(spec) - set(SLOT_TYPES))
        if unknown:
            raise InvalidRequest(
                f"Unknown resource slot {', '.join(unknown)}; known slots: "
                f"{', '.join(SLOT_TYPES)}.",
                data={name: "unknown resource slot" for name in unknown},
            )
        parsed = {name: parse_amount(name, value) for name, value in spec.items()}
        negative = [name for name, amount in parsed.items() if amount < 0]
        if negative:
            raise InvalidRequest(f"Resource amounts must not be negative: {', '.join(negative)}.")
        partial = [n for n, a in parsed.items() if n.endswith(".device") and a % 1 != 0]
        if partial:
            raise InvalidRequest(
                f"{', '.join(partial)} counts whole devices: ask for a whole number of them, "
                "or for a fraction of one device with cuda.shares."
            )
        return cls(parsed)

    @classmethod
    def from_json(cls, data: Mapping[str, str] | None) -> ResourceSlot:
        """Stored or reported slots (decimal strings); any slot name is accepted."""
        return cls(data or {})

    def to_json(self) -> dict[str, str]:
        return {name: _plain(amount) for name, amount in self._data.items()}

    def __getitem__(self, name: str) -> Decimal:
        return self._data[name]

    def get_amount(self, name: str) -> Decimal:
        return self._data.get(name, Decimal(0))

    def __iter__(self) -> Iterator[str]:
        return iter(self._data)

    def __len__(self) -> int:
        return len(self._data)

    def __repr__(self) -> str:
        return f"ResourceSlot({self.to_json()!r})"

    def __add__(self, other: Mapping[str, Decimal]) -> ResourceSlot:
        names = dict.fromkeys([*self._data, *other])
        return ResourceSlot({n: self.get_amount(n) + other.get(n, Decimal(0)) for n in names})

    def __sub__(self, other: Mapping[str, Decimal]) -> ResourceSlot:
        names = dict.fromkeys([*self._data, *other])
        return ResourceSlot({n: self.get_amount(n) - other.get(n, Decimal(0)) for n in names})

    def __le__(self, other: Mapping[str, Decimal]) -> bool:
        return self.fits_in(other)

    def __ge__(self, other: Mapping[str, Decimal]) -> bool:
        return ResourceSlot(other).fits_in(self)

    def fits_in(self, capacity: Mapping[str, Decimal]) -> bool:
        """Whether every amount here is at most the same slot of ``capacity``."""
        return not self.shortage(capacity)

    def shortage(self, capacity: Mapping[str, Decimal]) -> dict[str, Decimal]:
        """The slots where ``capacity`` falls short, and by how much."""
        return {
            name: amount - capacity.get(name, Decimal(0))
            for name, amount in self._data.items()
            if amount > 0 and amount > capacity.get(name, Decimal(0))
        }

    def nonzero(self) -> ResourceSlot:
        return ResourceSlot({n: a for n, a in self._data.items() if a != 0})

    def describe(self) -> str:
        """For messages: ``cpu 2, mem 4 GiB``."""
        return ", ".join(f"{n} {format_amount(n, a)}" for n, a in self._data.items()) or "nothing"
