"""Auto-decompose: a question about named things becomes a few narrower queries (AutoMem's rule).

"What did Caroline say about the adoption agency?" also searches "Caroline adoption" and
"Caroline agency": each name in the query (a capitalised word not opening it, at most two)
paired with each topic word (four letters or more, not a stop word, at most three). The
narrower queries find memories that name the subject without the question's other words;
recall merges them with the original, best score per memory.
"""

from __future__ import annotations

import re

from loci.recall.keywords import STOPWORDS

MAX_NAMES = 2
MAX_TOPICS = 3
MIN_TOPIC_LENGTH = 4
WORD = re.compile(r"[A-Za-z][A-Za-z0-9'_-]*")


def decompose(query: str) -> list[str]:
    """The narrower queries for `query` (none if it names nothing or has no topic words)."""
    words = WORD.findall(query)
    names: list[str] = []
    for position, word in enumerate(words):
        if word[0].isupper() and (position > 0 or len(words) == 1) and word.lower() not in STOPWORDS:
            names.append(word.removesuffix("'s").rstrip("'"))
    names = list(dict.fromkeys(names))[:MAX_NAMES]
    named = {name.lower() for name in names}
    topics = [
        word.lower()
        for word in words
        if len(word) >= MIN_TOPIC_LENGTH
        and word.lower() not in STOPWORDS
        and word.lower() not in named
        and not word[0].isupper()
    ]
    topics = list(dict.fromkeys(topics))[:MAX_TOPICS]
    return [f"{name} {topic}" for name in names for topic in topics]
