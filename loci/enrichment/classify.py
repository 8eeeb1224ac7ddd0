"""Memory type classification by keyword patterns (AutoMem's regex table, in order).

The first type whose patterns match wins. Confidence is 0.6 for one matching pattern and
0.6 + 0.1 per matching pattern when several match (at most 0.95). Nothing matched:
`Memory` with 0.3.
"""

from __future__ import annotations

import re

_TABLE: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("Decision", (
        r"\bdecided\b", r"\bdecision\b", r"\bchose\b", r"\bchosen\b", r"\bgoing with\b",
        r"\bwe will use\b", r"\bopted (for|to)\b", r"\bsettled on\b", r"\bagreed to\b", r"\bpicked\b",
    )),
    ("Pattern", (
        r"\busually\b", r"\btypically\b", r"\btends? to\b", r"\bpattern\b", r"\bevery time\b",
        r"\bconsistently\b", r"\brecurring\b", r"\bkeeps? happening\b",
    )),
    ("Preference", (
        r"\bprefers?\b", r"\bpreferred\b", r"\blikes?\b", r"\bloves?\b", r"\bfavou?rite\b",
        r"\brather than\b", r"\bdislikes?\b", r"\bhates?\b", r"\benjoys?\b",
    )),
    ("Style", (
        r"\bstyle\b", r"\bformatting\b", r"\bnaming convention\b", r"\bindentation\b", r"\btone\b",
        r"\bwrites? in\b", r"\bcode style\b",
    )),
    ("Habit", (
        r"\bevery (day|morning|evening|night|week|weekend)\b", r"\bdaily\b", r"\bweekly\b",
        r"\broutine\b", r"\bhabit\b", r"\beach (morning|evening|day)\b",
    )),
    ("Insight", (
        r"\brealized\b", r"\brealised\b", r"\blearned\b", r"\bdiscovered\b", r"\binsight\b",
        r"\bturns out\b", r"\blesson\b", r"\bfigured out\b", r"\bnoticed that\b",
    )),
    ("Context", (
        r"\bworking on\b", r"\bduring\b", r"\bmeeting\b", r"\bcurrently\b", r"\bwhen\b",
        r"\bproject\b", r"\bdeadline\b",
    )),
)  # fmt: skip

_COMPILED = tuple(
    (
        name,
        re.compile("|".join(f"(?:{p})" for p in patterns), re.IGNORECASE),  # any of them: one search per type
        tuple(re.compile(p, re.IGNORECASE) for p in patterns),  # counted one by one only for the winner
    )
    for name, patterns in _TABLE
)

FALLBACK = ("Memory", 0.3)


def classify(content: str) -> tuple[str, float]:
    """(type, confidence) for a memory's text."""
    for name, any_pattern, patterns in _COMPILED:
        if any_pattern.search(content):
            hits = sum(1 for pattern in patterns if pattern.search(content))
            return name, 0.6 if hits == 1 else min(0.95, 0.6 + 0.1 * hits)
    return FALLBACK
