"""The LoCoMo benchmark's pure parts on a tiny made-up conversation: parsing, evidence, metrics, BM25."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import bench_locomo as bench  # a script under scripts/ (on pytest's pythonpath, pyproject.toml)
import locomo_selection as selection
import pytest

SAMPLE: dict[str, Any] = {
    "sample_id": "conv-t",
    "conversation": {
        "speaker_a": "Ana",
        "speaker_b": "Ben",
        "session_1_date_time": "1:56 pm on 8 May, 2023",
        "session_1": [
            {"speaker": "Ana", "dia_id": "D1:1", "text": "I adopted a greyhound named Pixel last week."},
            {
                "speaker": "Ben",
                "dia_id": "D1:2",
                "text": "Look at this!",
                "img_url": ["http://example.invalid/x.jpg"],
                "blip_caption": "a photo of a painting of a sunrise",
                "query": "painting sunrise",
            },
        ],
        "session_2_date_time": "9:05 am on 30 June, 2023",
        "session_2": [
            {"speaker": "Ana", "dia_id": "D2:1", "text": "Pixel loves the beach."},
            {"speaker": "Ben", "dia_id": "D2:2", "text": "I started learning the cello."},
        ],
    },
    "qa": [
        {"question": "What dog did Ana adopt?", "answer": "a greyhound", "evidence": ["D1:1"], "category": 4},
        {"question": "Where does Pixel go?", "answer": "beach", "evidence": ["D1:1; D2:1"], "category": 1},
        {"question": "What did Ben paint?", "answer": "a sunrise", "evidence": ["D:1:2", "D2:02"], "category": 1},
        {"question": "Who plays drums?", "adversarial_answer": "Ben", "evidence": ["D9:1", "D"], "category": 5},
        {"question": "Is Ana kind?", "answer": "yes", "evidence": [], "category": 3},
    ],
}
KNOWN = {"D1:1", "D1:2", "D2:1", "D2:2"}


def test_session_time_is_parsed_as_utc() -> None:
    assert bench.parse_session_time("1:56 pm on 8 May, 2023") == datetime(2023, 5, 8, 13, 56, tzinfo=UTC)
    assert bench.parse_session_time("12:09 am on 1 January, 2024") == datetime(2024, 1, 1, 0, 9, tzinfo=UTC)


def test_turns_carry_speaker_caption_order_and_tags() -> None:
    turns = bench.parse_turns(SAMPLE)
    assert [t.dia_id for t in turns] == ["D1:1", "D1:2", "D2:1", "D2:2"]
    assert turns[1].content == "Ben: Look at this! [shares a photo: a painting of a sunrise]"
    assert [t.timestamp for t in turns[:2]] == ["2023-05-08T13:56:00+00:00", "2023-05-08T13:56:01+00:00"]
    assert turns[2].session == 2 and turns[2].timestamp == "2023-06-30T09:05:00+00:00"
    body = bench.memory_body(turns[0])
    assert body["tags"] == ["conversation:conv-t", "session:1", "speaker:Ana"]
    assert body["metadata"] == {"dia_id": "D1:1", "conversation": "conv-t", "session": 1}
    assert "type" not in body


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        (["D1:1"], ("D1:1",)),
        (["D1:1; D2:1"], ("D1:1", "D2:1")),  # several ids in one string
        (["D:1:2"], ("D1:2",)),  # stray colon
        (["D2:02"], ("D2:2",)),  # leading zero
        (["D9:1", "D", ""], ()),  # no such turn, not an id
        (["D1:1", "D1:01"], ("D1:1",)),  # repeats once normalised
    ],
)
def test_evidence_is_normalised(raw: list[str], expected: tuple[str, ...]) -> None:
    assert bench.normalize_evidence(raw, KNOWN) == expected


def test_questions_without_usable_evidence_are_counted_not_scored() -> None:
    turns, questions = bench.parse_samples([SAMPLE])
    assert len(turns) == 4 and len(questions) == 5
    rankings = [["D1:1"]] * len(questions)
    summary = bench.summarize(questions, rankings, ks=(1,))
    assert summary["5 adversarial"] == {"questions": 0, "excluded": 1}
    assert summary["3 open-domain"] == {"questions": 0, "excluded": 1}
    assert summary["overall"]["questions"] == 3 and summary["overall"]["excluded"] == 2
    # single-hop: found; "Where does Pixel go?": half; "What did Ben paint?": none
    assert summary["overall"]["recall@1"] == pytest.approx((1 + 0.5 + 0) / 3)
    assert list(summary) == ["1 multi-hop", "3 open-domain", "4 single-hop", "5 adversarial", "overall"]


def test_slices_take_the_first_questions_of_each_conversation() -> None:
    other = {**SAMPLE, "sample_id": "conv-u"}
    turns, questions = bench.parse_samples([SAMPLE, other], conversations=1, questions=2)
    assert {t.conversation for t in turns} == {"conv-t"}
    assert [q.index for q in questions] == [0, 1]


def test_scores_at_k() -> None:
    ranked = ["D1:2", "D2:1", "D1:1", "D2:2"]
    scores = bench.question_scores(ranked, ("D1:1", "D2:1"), ks=(1, 2, 3))
    assert scores["recall@1"] == 0.0 and scores["hit@1"] == 0.0 and scores["all@1"] == 0.0
    assert scores["recall@2"] == 0.5 and scores["hit@2"] == 1.0 and scores["all@2"] == 0.0
    assert scores["recall@3"] == 1.0 and scores["hit@3"] == 1.0 and scores["all@3"] == 1.0
    assert bench.question_scores([], ("D1:1",), ks=(50,))["recall@50"] == 0.0


def test_ratios_leave_zero_baselines_undefined() -> None:
    loci = {"overall": {"questions": 2, "excluded": 0, "recall@1": 0.5, "hit@1": 0.4}}
    bm25 = {"overall": {"questions": 2, "excluded": 0, "recall@1": 0.25, "hit@1": 0.0}}
    assert bench.ratios(loci, bm25) == {"overall": {"recall@1": 2.0, "hit@1": None}}


def test_bm25_ranks_the_obvious_turn_first() -> None:
    index = bench.Bm25Index(bench.parse_turns(SAMPLE))
    assert index.rank("Who is learning the cello?")[0] == "D2:2"
    assert index.rank("greyhound adopted")[0] == "D1:1"
    assert len(index.rank("anything", limit=2)) == 2


def test_tokenize_lowercases_and_drops_stopwords() -> None:
    assert bench.tokenize("What did Ana's DOG eat, at 5pm?") == ["ana", "s", "dog", "eat", "5pm"]


# --- choosing among recall's options: leave one conversation out (scripts/locomo_selection.py)
def test_leave_one_out_scores_each_choice_on_the_conversation_it_never_saw() -> None:
    conversations = ["a", "a", "b", "b", "c", "c"]
    scores = {
        "default": [0.5, 0.5, 0.5, 0.5, 0.5, 0.5],
        "overfit": [1.0, 1.0, 0.4, 0.4, 0.4, 0.4],  # great on conversation a only
    }
    chosen = selection.leave_one_out(scores, conversations)
    assert chosen.by_variant == {"default": 0.5, "overfit": pytest.approx(0.6)}
    assert chosen.in_sample_choice == "overfit" and chosen.in_sample_score == pytest.approx(0.6)
    folds = {fold.held_out: fold for fold in chosen.folds}
    assert folds["a"].chosen == "default" and folds["a"].held_out_score == 0.5  # without a, overfit loses
    assert folds["b"].chosen == "overfit" and folds["b"].held_out_score == pytest.approx(0.4)
    assert folds["c"].chosen == "overfit" and folds["c"].training_score == pytest.approx(0.7)
    assert chosen.held_out_mean == pytest.approx((0.5 + 0.4 + 0.4) / 3)  # below the in-sample 0.6: it overfit


def test_a_tie_keeps_the_option_listed_first() -> None:
    same = [0.5, 0.5]
    chosen = selection.leave_one_out({"default": same, "other": same}, ["a", "b"])
    assert chosen.in_sample_choice == "default" and {fold.chosen for fold in chosen.folds} == {"default"}


def test_every_option_is_a_recall_parameter_the_service_accepts() -> None:
    from loci.recall.params import RecallParams

    for options in selection.VARIANTS.values():
        params = RecallParams.from_args({"query": "x", **options}, max_limit=50, dimension=384)
        assert not params.ignored, options  # a misspelt option would be ignored, comparing nothing
        assert all(getattr(params, name) not in (None, False) for name in options), options
