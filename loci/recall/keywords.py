"""Query words: tokenising and stop words."""

from __future__ import annotations

import re

TOKEN = re.compile(r"[a-z0-9]+")

STOPWORDS = frozenset(
    """
    a about after again all also an and any are as at be been being but by can could did do does down
    for from had has have here how i if in into is it its just me more most my not now of off on only
    or other our out over should so some such than that the their them then there these they this to
    up very was we were what when where which who whom why will with would you your
    """.split()  # noqa: SIM905 - a word list reads better as text
)

MIN_KEYWORD_LENGTH = 2


def tokens(text: str) -> list[str]:
    """Lower-case alphanumeric tokens."""
    return TOKEN.findall(text.lower())


def keywords(query: str) -> list[str]:
    """The words of a query worth matching: no stop words, no one-letter tokens, no repeats."""
    return list(dict.fromkeys(t for t in tokens(query) if len(t) >= MIN_KEYWORD_LENGTH and t not in STOPWORDS))
