"""Focus: what a recall request says it is working on, as bonuses for the memories that fit it.

AutoMem's "context profile". A client names what it is doing: `priority_ids` (memories it
must see), `context_tags` and `context_types`, a `language` (or an `active_path` whose
extension says the language), and a `context` label. Each becomes something to look for
in a candidate, and each hit adds AutoMem's bonus to its score (`score_components.priority`):

    +0.90  the memory is one of `priority_ids`
    +0.45  one of its tags fits a focus tag (equal, begins with it or contains it; `/` = `:`)
    +0.25  its type is a focus type
    +0.20  a focus keyword (the language's names) appears in its metadata

A language brings the tags `<lang>`, `<lang>-style` and `<lang>:style`; a label with a
style word (`style`, `conventions`, `formatting`, ...) brings the coding-style tags and the
Style and Preference types; any other label is a focus tag itself.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import PurePosixPath
from typing import Any

from loci.model import Memory

ID_BONUS = 0.90
TAG_BONUS = 0.45
TYPE_BONUS = 0.25
KEYWORD_BONUS = 0.20

LANGUAGES: dict[str, tuple[str, ...]] = {
    "python": ("python", "py", "python3"),
    "typescript": ("typescript", "ts", "tsx"),
    "javascript": ("javascript", "js", "jsx", "node", "nodejs"),
    "go": ("go", "golang"),
    "rust": ("rust", "rs"),
    "java": ("java",),
    "csharp": ("csharp", "c#", "cs", "dotnet"),
    "cpp": ("cpp", "c++", "cxx"),
    "swift": ("swift",),
}
"""Each language Loci recognises, with the names a client may give it by."""

EXTENSIONS = {
    ".py": "python", ".pyi": "python",
    ".ts": "typescript", ".tsx": "typescript", ".mts": "typescript",
    ".js": "javascript", ".jsx": "javascript", ".mjs": "javascript", ".cjs": "javascript",
    ".go": "go", ".rs": "rust", ".java": "java", ".cs": "csharp",
    ".cpp": "cpp", ".cc": "cpp", ".cxx": "cpp", ".hpp": "cpp", ".hh": "cpp",
    ".swift": "swift",
}  # fmt: skip

STYLE_WORDS = frozenset({"style", "styles", "coding-style", "code-style", "convention", "conventions", "formatting"})
STYLE_TAGS = ("coding-style", "style", "style-guide", "preferences", "preference:coding")
STYLE_TYPES = ("Style", "Preference")


def language_of(name: str | None, path: str | None) -> str | None:
    """The language a client names (by any of its names), or else the one its file's extension says."""
    if name:
        wanted = name.strip().lower()
        for language, names in LANGUAGES.items():
            if wanted in names:
                return language
    if path:
        return EXTENSIONS.get(PurePosixPath(path.replace("\\", "/")).suffix.lower())
    return None


@dataclass(frozen=True)
class Focus:
    ids: frozenset[str] = frozenset()
    tags: tuple[str, ...] = ()
    """Lower case, `:` for `/`."""
    types: tuple[str, ...] = ()
    keywords: tuple[str, ...] = ()
    language: str | None = None
    label: str | None = None

    @classmethod
    def of(
        cls,
        *,
        priority_ids: list[str],
        context_tags: list[str],
        context_types: list[str],
        language: str | None,
        active_path: str | None,
        context: str | None,
    ) -> Focus:
        lang = language_of(language, active_path)
        tags, types = list(context_tags), list(context_types)
        keywords: list[str] = []
        if lang:
            tags += [lang, f"{lang}-style", f"{lang}:style"]
            keywords += LANGUAGES[lang]
        label = context.strip().lower() if context else None
        if label:
            if STYLE_WORDS & set(label.replace("_", " ").split()) or label in STYLE_WORDS:
                tags += STYLE_TAGS
                types += STYLE_TYPES
            else:
                tags.append(label)
        return cls(
            ids=frozenset(priority_ids),
            tags=tuple(dict.fromkeys(_tag_form(tag) for tag in tags)),
            types=tuple(dict.fromkeys(types)),
            keywords=tuple(dict.fromkeys(keywords)),
            language=lang,
            label=label,
        )

    @property
    def profiled(self) -> bool:
        """True when the request names tags, types or keywords to look for (not only ids)."""
        return bool(self.tags or self.types or self.keywords)

    def bonus(self, memory: Memory) -> float:
        """The sum of the bonuses this memory earns."""
        total = ID_BONUS if memory.id in self.ids else 0.0
        if self.tag_hit(memory):
            total += TAG_BONUS
        if memory.type in self.types:
            total += TYPE_BONUS
        if self.keywords and self._keyword_hit(memory):
            total += KEYWORD_BONUS
        return total

    def fits(self, memory: Memory) -> bool:
        """The memory fits the profile: a focus tag or a focus type."""
        return self.tag_hit(memory) or memory.type in self.types

    def tag_hit(self, memory: Memory) -> bool:
        if not self.tags:
            return False
        keys = [_tag_form(tag) for tag in memory.tags]
        return any(focus in key for focus in self.tags for key in keys)  # equal and prefix are substrings too

    def _keyword_hit(self, memory: Memory) -> bool:
        text = " ".join(_strings(memory.metadata)).lower()
        return any(keyword in text for keyword in self.keywords if len(keyword) >= 2)

    def describe(self, injected: bool) -> dict[str, Any]:
        """The response's `context_priority`."""
        return {
            "language": self.language,
            "context": self.label,
            "priority_tags": list(self.tags[:10]),
            "priority_types": list(self.types),
            "injected": injected,
        }


def _tag_form(tag: str) -> str:
    return tag.strip().lower().replace("/", ":")


def _strings(value: Any) -> Iterator[str]:
    """Every string in a JSON value (metadata), keys included."""
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for key, item in value.items():
            yield str(key)
            yield from _strings(item)
    elif isinstance(value, list):
        for item in value:
            yield from _strings(item)
