"""Resource slots: unit parsing, arithmetic, comparison and the JSON form."""

from __future__ import annotations

from decimal import Decimal

import pytest

from backendai.common.errors import InvalidRequest
from backendai.common.slots import ResourceSlot, format_amount, parse_amount

GiB = 1024**3


@pytest.mark.parametrize(
    ("slot", "text", "expected"),
    [
        ("mem", "2g", 2 * GiB), ("mem", "2G", 2 * GiB), ("mem", "512m", 512 * 1024**2),
        ("mem", "1.5g", GiB + GiB // 2), ("mem", "1024", 1024), ("mem", 4096, 4096),
        ("mem", "2GiB", 2 * GiB), ("mem", "1t", 1024 * GiB), ("mem", "64k", 65536),
        ("cpu", "1.5", Decimal("1.5")), ("cpu", 2, 2), ("cuda.shares", "0.5", Decimal("0.5")),
    ],
)  # fmt: skip
def test_parse_amount(slot: str, text: object, expected: object) -> None:
    assert parse_amount(slot, text) == Decimal(str(expected))


@pytest.mark.parametrize(("slot", "text"), [("mem", "abc"), ("mem", "2x"), ("mem", "-1g"),
                                            ("cpu", "2g"), ("cpu", ""), ("cpu", True)])  # fmt: skip
def test_bad_amounts_are_clear(slot: str, text: object) -> None:
    with pytest.raises(InvalidRequest, match=f"Invalid amount for resource {slot}"):
        parse_amount(slot, text)


def test_parse_request_checks_names() -> None:
    slots = ResourceSlot.parse({"cpu": "3", "mem": "2g", "cuda.shares": "0.5"})
    assert slots.to_json() == {"cpu": "3", "mem": str(2 * GiB), "cuda.shares": "0.5"}
    with pytest.raises(InvalidRequest, match="Unknown resource slot gpu; known slots: cpu, mem"):
        ResourceSlot.parse({"gpu": "1"})
    with pytest.raises(InvalidRequest, match="Invalid amount for resource mem: 'abc'"):
        ResourceSlot.parse({"mem": "abc"})


def test_arithmetic_and_comparison() -> None:
    cap = ResourceSlot.from_json({"cpu": "4", "mem": str(8 * GiB)})
    used = ResourceSlot.from_json({"cpu": "1.5", "mem": str(GiB)})
    free = cap - used
    assert free.to_json() == {"cpu": "2.5", "mem": str(7 * GiB)}
    assert (free + used) == cap
    assert used.fits_in(cap) and used <= cap and cap >= used
    big = ResourceSlot.from_json({"cpu": "3"})
    assert not big.fits_in(free)
    assert big.shortage(free) == {"cpu": Decimal("0.5")}
    assert ResourceSlot.from_json({"cuda.device": "1"}).shortage(cap) == {"cuda.device": 1}
    assert ResourceSlot.from_json({"cuda.device": "0"}).fits_in(cap)  # zero needs nothing
    assert ResourceSlot().get_amount("cpu") == 0


def test_json_form_is_decimal_strings() -> None:
    slots = ResourceSlot({"cpu": Decimal("2.50"), "mem": Decimal("5.36870912E+8")})
    assert slots.to_json() == {"cpu": "2.5", "mem": "536870912"}
    assert ResourceSlot.from_json(slots.to_json()) == slots
    with pytest.raises(InvalidRequest):
        ResourceSlot.from_json({"cpu": "NaN"})


def test_format_amount() -> None:
    assert format_amount("mem", Decimal(512 * 1024**2)) == "512 MiB"
    assert format_amount("mem", Decimal(GiB + GiB // 2)) == "1.5 GiB"
    assert format_amount("cpu", Decimal("4")) == "4"
    assert ResourceSlot.parse({"cpu": "2", "mem": "4g"}).describe() == "cpu 2, mem 4 GiB"


@pytest.mark.parametrize(
    ("slot", "text", "message"),
    [
        ("mem", "99999999999999999999999p", "is too large; at most 8 EiB can be asked for"),
        ("mem", "8193p", "is too large"),
        ("mem", str(2**63), "is too large"),
        ("cpu", "1000000.5", "is too large; at most 1000000 can be asked for"),
        ("cuda.shares", "1" * 30, "is too large"),
        ("cpu", "1" * 65, "is too long"),
    ],
)  # fmt: skip
def test_absurd_amounts_are_refused(slot: str, text: str, message: str) -> None:
    with pytest.raises(InvalidRequest, match=f"Invalid amount for resource {slot}: .*{message}"):
        parse_amount(slot, text)


def test_largest_amounts_are_taken() -> None:
    assert parse_amount("mem", "8191p") == 8191 * 1024**5
    assert parse_amount("mem", str(2**63 - 1)) == 2**63 - 1
    assert parse_amount("cpu", "1000000") == 1_000_000


def test_format_amount_of_any_size() -> None:
    """Amounts an agent reports are not bounded: printing them must never fail (quantize used to
    raise InvalidOperation past 28 digits)."""
    assert format_amount("mem", Decimal(2**63 - 1)) == "8 EiB"
    assert format_amount("mem", Decimal(3 * 1024**5)) == "3 PiB"
    assert format_amount("mem", Decimal(10) ** 40).endswith(" EiB")
    assert format_amount("mem", Decimal(-5)) == "-5 B"
