"""LLMClassifier: an optional OpenAI-compatible chat model that types memories the regex table could not.

It is asked only about memories the classifier left as `Memory` (no pattern matched).
Configured by CLASSIFICATION_BASE_URL / CLASSIFICATION_API_KEY, falling back to
OPENAI_BASE_URL / OPENAI_API_KEY; with neither, there is no classifier and the regex
result stands. Any failure (network, quota, an answer that is not one of the types) is a
fallback, counted in the stats, never an error for the memory. After
CIRCUIT_FAILURES failures in a row the model is not asked at all for
ENRICHMENT_CIRCUIT_COOLDOWN_SECONDS (an exhausted quota costs nothing but a log line).
"""

from __future__ import annotations

import json
import logging
import time
from dataclasses import dataclass

import openai

from loci.config import Settings
from loci.model import MEMORY_TYPES, normalize_type
from loci.stats import Stats

log = logging.getLogger(__name__)

CANONICAL_TYPES = [t for t in MEMORY_TYPES if t != "Memory"]
SYSTEM_PROMPT = (
    "You classify short notes that an AI assistant keeps about its user and work. "
    f'Answer with a JSON object {{"type": one of {", ".join(CANONICAL_TYPES)}, "confidence": 0..1}}. '
    "Decision: a choice that was made. Pattern: something that recurs. Preference: a like or dislike. "
    "Style: how someone writes or works. Habit: a routine. Insight: something learned. Context: a fact or event."
)
MAX_INPUT_CHARS = 1000
CIRCUIT_FAILURES = 3


@dataclass
class ClassifierStats(Stats):
    llm_attempts: int = 0
    llm_successes: int = 0
    fallbacks: int = 0
    skipped_while_open: int = 0
    consecutive_failures: int = 0

    def note(self, *, success: bool, error: str | None = None) -> None:
        if not success:
            self.error(error or "unknown error", llm_attempts=1, fallbacks=1, consecutive_failures=1)
            return
        with self._lock:
            self.llm_attempts += 1
            self.llm_successes += 1
            self.consecutive_failures = 0


class LLMClassifier:
    def __init__(
        self, *, model: str, base_url: str | None, api_key: str | None, timeout: float, cooldown: float = 300.0
    ) -> None:
        self.model, self.cooldown = model, cooldown
        self._open_until = 0.0
        self._client = openai.OpenAI(api_key=api_key or "not-needed", base_url=base_url, timeout=timeout, max_retries=0)
        self.stats = ClassifierStats()

    @property
    def client(self) -> openai.OpenAI:
        """The chat client; the summarizer shares it with a deadline of its own (loci/enrichment/summarize.py)."""
        return self._client

    @classmethod
    def from_settings(cls, settings: Settings) -> LLMClassifier | None:
        base_url = settings.classification_base_url or settings.openai_base_url
        api_key = settings.classification_api_key or settings.openai_api_key
        if not (base_url or api_key):
            return None
        return cls(
            model=settings.classification_model,
            base_url=base_url,
            api_key=api_key,
            timeout=settings.classification_timeout_seconds,
            cooldown=settings.enrichment_circuit_cooldown_seconds,
        )

    def classify(self, content: str) -> tuple[str, float] | None:
        """(type, confidence) from the model, or None when it cannot say (the caller keeps its own answer)."""
        if time.monotonic() < self._open_until:
            self.stats.add(skipped_while_open=1)
            return None
        try:
            response = self._client.chat.completions.create(
                model=self.model,
                messages=[
                    {"role": "system", "content": SYSTEM_PROMPT},
                    {"role": "user", "content": content[:MAX_INPUT_CHARS]},
                ],
                response_format={"type": "json_object"},
                temperature=0,
                max_tokens=60,
            )
            answer = json.loads(response.choices[0].message.content or "")
            kind = normalize_type(str(answer.get("type", "")))
            if kind is None or kind == "Memory":
                raise ValueError(f"not a memory type: {answer.get('type')!r}")
            confidence = min(0.95, max(0.0, float(answer.get("confidence", 0.7))))
        except (openai.APIError, ValueError, TypeError, AttributeError, IndexError) as exc:
            self.stats.note(success=False, error=str(exc)[:200])
            log.warning("LLM classification failed; keeping the regex type", extra={"event": "classify.fallback"})
            if self.stats.consecutive_failures >= CIRCUIT_FAILURES:
                self._open_until = time.monotonic() + self.cooldown
                log.warning(
                    "LLM classification paused", extra={"event": "classify.circuit_open", "seconds": self.cooldown}
                )
            return None
        self.stats.note(success=True)
        return kind, confidence
