"""Natural time expressions (`time_query`) turned into [start, end] windows.

Understood: today, yesterday, this/last/past week|month|year, last/past N
hours|days|weeks|months|years (also `last 24 hours`). Weeks start on Monday; all times UTC.
Anything else is reported back as not understood rather than guessed at.
"""

from __future__ import annotations

import re
from datetime import datetime, timedelta

MAX_DAYS = 365 * 1000
"""Longer spans are not time windows anyone means."""
_UNIT_DAYS = {"hour": 1 / 24, "day": 1, "week": 7, "month": 30, "year": 365}
_RELATIVE = re.compile(r"^(?:last|past|previous)\s+(\d+)\s+(hour|day|week|month|year)s?$")
_SINGLE = re.compile(r"^(?:last|past|previous)\s+(hour|day|week|month|year)$")


def parse_time_query(text: str, now: datetime) -> tuple[datetime, datetime] | None:
    """The window a phrase names, relative to `now`; None if it is not understood."""
    phrase = " ".join(text.strip().lower().split())
    midnight = now.replace(hour=0, minute=0, second=0, microsecond=0)
    if phrase == "today":
        return midnight, now
    if phrase == "yesterday":
        return midnight - timedelta(days=1), midnight - timedelta(microseconds=1)
    if phrase == "this week":
        return midnight - timedelta(days=now.weekday()), now
    if phrase == "this month":
        return midnight.replace(day=1), now
    if phrase == "this year":
        return midnight.replace(month=1, day=1), now
    if match := _RELATIVE.match(phrase):
        days = int(match.group(1)) * _UNIT_DAYS[match.group(2)]
        if days > MAX_DAYS:
            return None
        return now - timedelta(days=days), now
    if match := _SINGLE.match(phrase):
        return now - timedelta(days=_UNIT_DAYS[match.group(1)]), now
    return None
