"""Timestamps: parse ISO-8601 input, normalise to UTC, format the one way Loci stores them.

Stored timestamps are `datetime.isoformat()` strings in UTC (`...+00:00`). Time-range
queries use a numeric copy (`Memory.to_node` writes `timestamp_epoch`), because
FalkorDB's range index compares strings wrongly for `<` and `<=`.
"""

from __future__ import annotations

from datetime import UTC, datetime


def utcnow() -> datetime:
    return datetime.now(UTC)


def parse_timestamp(value: str) -> datetime:
    """Parse an ISO-8601 string (a trailing `Z` is fine); naive values are taken as UTC.

    Raises ValueError with a readable message for anything else.
    """
    text = value.strip()
    if not text:
        raise ValueError("must be a non-empty ISO-8601 timestamp")
    try:
        parsed = datetime.fromisoformat(text)
        if parsed.tzinfo is None:
            parsed = parsed.replace(tzinfo=UTC)
        return parsed.astimezone(UTC)
    except (ValueError, OverflowError):  # OverflowError: a year 1 or 9999 moment shifted out of range
        raise ValueError(f"invalid ISO-8601 timestamp: {value!r}") from None


def iso(moment: datetime) -> str:
    """The stored form of a timestamp: UTC, isoformat."""
    return moment.astimezone(UTC).isoformat()


def age_days(stamp: str | None, now: datetime) -> float | None:
    """Days between a stored timestamp and `now` (negative for the future); None if unparsable."""
    if not stamp:
        return None
    try:
        return (now - parse_timestamp(stamp)).total_seconds() / 86400.0
    except ValueError:
        return None
