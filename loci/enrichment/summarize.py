"""The content soft limit (MEMORY_CONTENT_SOFT_LIMIT): what is stored in place of a long memory.

A memory longer than the soft limit (and within the hard limit, which validation enforces)
is stored at once with a first-sentences summary of itself (`SoftLimit.apply`, called by
the write path, loci/writes.py): whole sentences up to the soft limit, never cut inside a
word. The original stays in the metadata (`original_content`, `was_summarized`,
`original_length`, and `summary_method`: `first_sentences` or `llm`), for single stores
and batches alike.

No request waits on a model: when an LLM is configured (the classifier's OpenAI-compatible
client, loci/enrichment/llm.py) the enrichment worker asks it for a better summary
afterwards (`LLMSummarizer.refine`), within MEMORY_SUMMARY_TIMEOUT_SECONDS, and replaces
the first-sentences summary with it (the memory is embedded again). A timeout, an error
or an empty answer leaves the first-sentences summary in place, logged with the memory's
id. After CIRCUIT_FAILURES failures in a row the model is not asked for
ENRICHMENT_CIRCUIT_COOLDOWN_SECONDS.
"""

from __future__ import annotations

import logging
import re
import time
from dataclasses import dataclass
from typing import Any

import openai

from loci.config import Settings
from loci.enrichment.llm import LLMClassifier
from loci.model import Memory, StageStatus
from loci.stats import Stats

log = logging.getLogger(__name__)

FIRST_SENTENCES = "first_sentences"
LLM = "llm"
ELLIPSIS = "…"
CIRCUIT_FAILURES = 3

_SENTENCE_END = re.compile("[.!?\u2026]+[\"'\u201d\u2019)\\]]*(?=\\s)|\n")
"""Where a sentence (or a line) ends: after its punctuation and closing quotes, before whitespace."""


def first_sentences(text: str, limit: int) -> str:
    """The leading whole sentences of `text` that fit in `limit` characters (lines count as sentences).

    When those fill less than half the limit (the next sentence is long), the text is cut at
    the last word boundary within the limit instead and ends with an ellipsis; only a single
    word longer than the limit is cut inside.
    """
    text = text.strip()
    if len(text) <= limit:
        return text
    ends = [m.end() for m in _SENTENCE_END.finditer(text, 0, limit + 1) if m.end() <= limit]
    kept = text[: ends[-1]].rstrip() if ends else ""
    if len(kept) >= limit // 2:
        return kept
    room = max(0, limit - len(ELLIPSIS))
    cut = text[:room]
    if room < len(text) and not text[room].isspace():
        space = max(cut.rfind(" "), cut.rfind("\n"), cut.rfind("\t"))
        if space > 0:  # else one word is longer than the limit: it is cut, nothing else can be
            cut = cut[:space]
    return cut.rstrip(" \t\n,;:-\u2013\u2014") + ELLIPSIS


@dataclass(frozen=True)
class SoftLimit:
    """The store-time rule: content over `limit` characters is replaced by its first sentences."""

    limit: int
    enabled: bool = True

    @classmethod
    def from_settings(cls, settings: Settings) -> SoftLimit:
        return cls(settings.memory_content_soft_limit, settings.memory_auto_summarize)

    def exceeded_by(self, content: str) -> bool:
        return self.enabled and len(content) > self.limit

    def apply(self, content: str, metadata: dict[str, Any]) -> tuple[str, dict[str, Any]]:
        """The content and metadata to store: a summary with the original in metadata, or both unchanged."""
        if not self.exceeded_by(content):
            return content, metadata
        summary = first_sentences(content, self.limit)
        return summary, {
            **metadata,
            "original_content": content,
            "was_summarized": True,
            "original_length": len(content),
            "summary_method": FIRST_SENTENCES,
        }

    def awaits_llm(self, memory: Memory) -> bool:
        """True while the memory holds the first-sentences summary this rule gave it (not edited since)."""
        original = memory.metadata.get("original_content")
        return (
            memory.metadata.get("summary_method") == FIRST_SENTENCES
            and isinstance(original, str)
            and memory.content == first_sentences(original, self.limit)
        )


SYSTEM_PROMPT = (
    "You shorten notes that an AI assistant keeps about its user and work. Rewrite the note in at most "
    "{target} characters, in the note's language, keeping names, numbers, dates and decisions. "
    "Answer with the shortened note only."
)


@dataclass
class SummaryStats(Stats):
    llm_attempts: int = 0
    llm_successes: int = 0
    fallbacks: int = 0
    skipped_while_open: int = 0
    consecutive_failures: int = 0

    def succeeded(self) -> None:
        with self._lock:
            self.llm_attempts += 1
            self.llm_successes += 1
            self.consecutive_failures = 0


class LLMSummarizer:
    """Replaces first-sentences summaries with the LLM's, in the enrichment worker."""

    def __init__(
        self, client: openai.OpenAI, model: str, soft_limit: SoftLimit, *, target_length: int, cooldown: float
    ) -> None:
        """`client` carries the deadline of one request (MEMORY_SUMMARY_TIMEOUT_SECONDS) and no retries."""
        self.client, self.model, self.soft_limit = client, model, soft_limit
        self.target = min(target_length, soft_limit.limit)
        self.cooldown = cooldown
        self.stats = SummaryStats()
        self._open_until = 0.0

    @classmethod
    def from_settings(cls, settings: Settings, classifier: LLMClassifier | None) -> LLMSummarizer | None:
        """The classifier's model and client with the summary deadline; None without an LLM or with
        MEMORY_AUTO_SUMMARIZE off."""
        if classifier is None or not settings.memory_auto_summarize:
            return None
        return cls(
            classifier.client.with_options(timeout=settings.memory_summary_timeout_seconds, max_retries=0),
            classifier.model,
            SoftLimit.from_settings(settings),
            target_length=settings.memory_summary_target_length,
            cooldown=settings.enrichment_circuit_cooldown_seconds,
        )

    def refine(self, memory: Memory) -> Memory | None:
        """The memory with the LLM's summary as its content (to be embedded again), or None: nothing to
        refine, or the model did not help (the first-sentences summary stays)."""
        if not self.soft_limit.awaits_llm(memory):
            return None
        if time.monotonic() < self._open_until:
            self.stats.add(skipped_while_open=1)
            return None
        original = str(memory.metadata["original_content"])
        try:
            summary = self._ask(original)
        except (openai.APIError, ValueError, TypeError, AttributeError, IndexError) as exc:
            self._failed(memory.id, exc)
            return None
        self.stats.succeeded()
        log.info(
            "memory summarized by the LLM",
            extra={"event": "summary.llm", "memory_id": memory.id, "length": len(summary)},
        )
        return memory.with_changes(
            content=summary,
            metadata={**memory.metadata, "summary_method": LLM},
            embedding_status=StageStatus.PENDING,
        )

    def _ask(self, original: str) -> str:
        limit = self.soft_limit.limit
        response = self.client.chat.completions.create(
            model=self.model,
            messages=[
                {"role": "system", "content": SYSTEM_PROMPT.format(target=self.target)},
                {"role": "user", "content": original},
            ],
            temperature=0.3,
            max_tokens=max(32, limit // 2),  # room for the limit in any language; the answer is cut to it
        )
        choice = response.choices[0]
        answer = (choice.message.content or "").strip()
        if choice.finish_reason == "length":  # cut off mid-sentence: keep the sentences that are whole
            answer = first_sentences(answer, len(answer) - 1)
        summary = first_sentences(answer, limit)
        if not summary.strip(ELLIPSIS).strip():
            raise ValueError("empty summary")
        return summary

    def _failed(self, memory_id: str, exc: Exception) -> None:
        reason = str(exc)[:200] or type(exc).__name__
        self.stats.error(reason, llm_attempts=1, fallbacks=1, consecutive_failures=1)
        log.warning(
            "LLM summary failed; the first-sentences summary stays",
            extra={"event": "summary.fallback", "memory_id": memory_id, "error": reason},
        )
        if self.stats.consecutive_failures >= CIRCUIT_FAILURES:
            self._open_until = time.monotonic() + self.cooldown
            log.warning("LLM summaries paused", extra={"event": "summary.circuit_open", "seconds": self.cooldown})
