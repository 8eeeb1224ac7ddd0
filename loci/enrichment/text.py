"""Plain-text helpers for enrichment: a memory's first sentence, and the terms a group shares."""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable

from loci.recall.keywords import STOPWORDS, tokens

SUMMARY_MAX_CHARS = 240
KEY_TERM_MIN_LENGTH = 4
_SENTENCE_END = re.compile(r"(?<=[.!?])\s+")


def first_sentence(text: str, limit: int = SUMMARY_MAX_CHARS) -> str:
    """The first sentence, cut at a word boundary to at most `limit` characters."""
    sentence = _SENTENCE_END.split(text.strip(), maxsplit=1)[0].strip()
    if len(sentence) <= limit:
        return sentence
    cut = sentence[: limit - 1].rsplit(" ", 1)[0]
    return cut.rstrip(",;:") + "…"


def term_counts(text: str) -> Counter[str]:
    """Counts of the words worth naming a group by: long enough, not stop words, not numbers."""
    return Counter(
        word
        for word in tokens(text)
        if len(word) >= KEY_TERM_MIN_LENGTH and word not in STOPWORDS and not word.isdigit()
    )


def top_terms(counts: Counter[str] | Iterable[str], n: int = 5) -> list[str]:
    counter = counts if isinstance(counts, Counter) else Counter(counts)
    return [term for term, _ in counter.most_common(n)]
