"""LoCoMo evidence-recall benchmark: Loci's /recall over real HTTP against a BM25 baseline.

Starts Loci under gunicorn (embedded FalkorDB and Qdrant, the local MiniLM model), stores
every dialogue turn of a LoCoMo-layout file as one memory through POST /memory/batch
("Speaker: text", tagged with its conversation, session and speaker; its dia_id in the
metadata), waits until all are searchable, then asks each question with
GET /recall?tags=conversation:<id>&limit=50. Questions are sent alone: evidence, answer and
category are read only to score the ranking afterwards.

Scores per category and overall at k = 1, 5, 10, 20, 50: evidence recall (mean of
|evidence in top k| / |evidence|, LoCoMo's measure), hit@k (any evidence turn in the top k)
and all@k (every one). BM25 (rank-bm25's BM25Okapi, default parameters) ranks the same turn
texts, scoped the same way, in the same run, so each Loci figure stands beside BM25's and
their ratio. Evidence ids are normalised first (see `normalize_evidence`); questions left
without usable evidence are counted and left out of the recall figures.

Every question is also asked with each of recall's other options (locomo_selection.py's
VARIANTS); the option chosen on all conversations is reported with its in-sample score, beside
the mean of the leave-one-conversation-out scores (chosen on the others, scored on the one left).

Usage: python scripts/bench_locomo.py [PATH] [--conversations N] [--questions N]
                                      [--data-dir DIR] [--out bench-results/locomo.json]
                                      [--variants default,entities,...]
PATH defaults to ../shared/datasets/locomo/locomo-dev.json beside the repository. With
--data-dir the memories persist and DIR/locomo-manifest.json records what was ingested, so a
second run on the same file skips ingestion (the service restarts with the current code).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import re
import statistics
import tempfile
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
from bench_api import SETTLE_SECONDS, machine, percentile
from locomo_selection import VARIANTS, Fold, Selection, format_selection, leave_one_out
from rank_bm25 import BM25Okapi
from service_process import ROOT, ServiceProcess
from tqdm import tqdm

DEFAULT_PATH = ROOT.parent / "shared" / "datasets" / "locomo" / "locomo-dev.json"
KS = (1, 5, 10, 20, 50)
SELECTION_METRIC = "recall@10"
"""What the options are chosen by (and scored on) in the leave-one-conversation-out comparison."""
DEPTH = max(KS)
"""How many results each system returns per question."""
BATCH = 500
"""Memories per POST /memory/batch (the service's MEMORY_BATCH_LIMIT default)."""
STATUS_CHUNK = 1000
"""Ids per POST /memory/status (the API takes up to 10,000)."""
MANIFEST = "locomo-manifest.json"
CATEGORIES = {1: "multi-hop", 2: "temporal", 3: "open-domain", 4: "single-hop", 5: "adversarial"}
SESSION_TIME_FORMAT = "%I:%M %p on %d %B, %Y"
"""LoCoMo's session dates, e.g. "1:56 pm on 8 May, 2023" (read as UTC)."""
STOPWORD_TEXT = (
    "a an and are as at be but by did do does for from had has have he her his how i if in into is it its me my of "
    "on or our she so that the their them they this to was we were what when where which who why will with you your"
)
STOPWORDS = frozenset(STOPWORD_TEXT.split())
"""Dropped from BM25's documents and queries alike."""
EVIDENCE_ID = re.compile(r"D:?(\d+):(\d+)")
CAPTION_PREFIX = re.compile(r"^an? (photo|photography|picture|image) of ", re.IGNORECASE)


@dataclass(frozen=True)
class Turn:
    conversation: str
    session: int
    dia_id: str
    speaker: str
    content: str
    timestamp: str


@dataclass(frozen=True)
class Question:
    conversation: str
    index: int
    text: str
    category: int
    evidence: tuple[str, ...]
    """Normalised ids that exist in the conversation; empty means excluded from recall figures."""
    raw_evidence: tuple[str, ...]


# ---- parsing --------------------------------------------------------------------------------


def parse_session_time(text: str) -> datetime:
    """ "1:56 pm on 8 May, 2023" -> 2023-05-08 13:56 UTC."""
    return datetime.strptime(text.strip(), SESSION_TIME_FORMAT).replace(tzinfo=UTC)


def turn_content(turn: dict[str, Any]) -> str:
    """ "Speaker: text", plus "[shares a photo: ...]" when the turn carries an image caption."""
    content = f"{turn['speaker']}: {turn['text'].strip()}"
    caption = (turn.get("blip_caption") or "").strip()
    if caption:
        content += f" [shares a photo: {CAPTION_PREFIX.sub('', caption)}]"
    return content


def session_numbers(conversation: dict[str, Any]) -> list[int]:
    return sorted(int(key.split("_")[1]) for key in conversation if re.fullmatch(r"session_\d+", key))


def parse_turns(sample: dict[str, Any]) -> list[Turn]:
    """One Turn per dialogue turn, in order; timestamps one second apart within a session."""
    conversation, turns = sample["conversation"], []
    for n in session_numbers(conversation):
        started = parse_session_time(conversation[f"session_{n}_date_time"])
        for index, turn in enumerate(conversation[f"session_{n}"]):
            stamp = (started + timedelta(seconds=index)).isoformat()
            turns.append(Turn(sample["sample_id"], n, turn["dia_id"], turn["speaker"], turn_content(turn), stamp))
    return turns


def normalize_evidence(raw: Iterable[str], known: set[str]) -> tuple[str, ...]:
    """Split "D8:6; D9:17", repair "D:11:26" and "D30:05", drop ids no session has, keep order, no repeats."""
    found: list[str] = []
    for item in raw:
        for part in re.split(r"[;,\s]+", str(item)):
            match = EVIDENCE_ID.fullmatch(part.strip())
            if match:
                found.append(f"D{int(match[1])}:{int(match[2])}")
    return tuple(dict.fromkeys(dia_id for dia_id in found if dia_id in known))


def parse_questions(sample: dict[str, Any], known: set[str]) -> list[Question]:
    return [
        Question(
            sample["sample_id"],
            index,
            qa["question"],
            int(qa["category"]),
            normalize_evidence(qa.get("evidence") or [], known),
            tuple(str(e) for e in qa.get("evidence") or []),
        )
        for index, qa in enumerate(sample["qa"])
    ]


def parse_samples(
    samples: list[dict[str, Any]], conversations: int | None = None, questions: int | None = None
) -> tuple[list[Turn], list[Question]]:
    """Turns and questions of the first `conversations` samples, at most `questions` per conversation."""
    turns: list[Turn] = []
    asked: list[Question] = []
    for sample in samples[:conversations]:
        sample_turns = parse_turns(sample)
        turns += sample_turns
        asked += parse_questions(sample, {t.dia_id for t in sample_turns})[:questions]
    return turns, asked


# ---- BM25 and metrics -----------------------------------------------------------------------


def tokenize(text: str) -> list[str]:
    return [word for word in re.findall(r"\w+", text.lower()) if word not in STOPWORDS]


class Bm25Index:
    """BM25Okapi (default parameters) over one conversation's turn contents."""

    def __init__(self, turns: Sequence[Turn]) -> None:
        self.dia_ids = [t.dia_id for t in turns]
        self.bm25 = BM25Okapi([tokenize(t.content) for t in turns])

    def rank(self, query: str, limit: int = DEPTH) -> list[str]:
        scores = self.bm25.get_scores(tokenize(query))
        order = sorted(range(len(scores)), key=lambda i: (-scores[i], i))  # ties keep turn order
        return [self.dia_ids[i] for i in order[:limit]]


def question_scores(ranked: Sequence[str], evidence: Sequence[str], ks: Sequence[int] = KS) -> dict[str, float]:
    """recall@k (fraction of evidence in the top k), hit@k and all@k (1.0 or 0.0) for one question."""
    gold = set(evidence)
    scores: dict[str, float] = {}
    for k in ks:
        found = len(gold.intersection(ranked[:k]))
        scores[f"recall@{k}"] = found / len(gold)
        scores[f"hit@{k}"] = float(found > 0)
        scores[f"all@{k}"] = float(found == len(gold))
    return scores


def category_label(category: int | str) -> str:
    return f"{category} {CATEGORIES[category]}" if category in CATEGORIES else str(category)


def summarize(
    questions: Sequence[Question], rankings: Sequence[Sequence[str]], ks: Sequence[int] = KS
) -> dict[str, dict[str, float]]:
    """Mean scores per category and overall; `questions` counts the scored ones, `excluded` the rest."""
    groups: dict[str, list[dict[str, float]]] = {}
    excluded: dict[str, int] = {}
    for question, ranked in zip(questions, rankings, strict=True):
        for label in (category_label(question.category), "overall"):
            groups.setdefault(label, [])
            excluded.setdefault(label, 0)
            if question.evidence:
                groups[label].append(question_scores(ranked, question.evidence, ks))
            else:
                excluded[label] += 1
    order = [*sorted(label for label in groups if label != "overall"), "overall"]
    summary: dict[str, dict[str, float]] = {}
    for label in order:
        rows = groups[label]
        means = {key: statistics.fmean(row[key] for row in rows) for key in rows[0]} if rows else {}
        summary[label] = {"questions": len(rows), "excluded": excluded[label], **means}
    return summary


def ratios(loci: dict[str, dict[str, float]], bm25: dict[str, dict[str, float]]) -> dict[str, dict[str, float | None]]:
    """Loci / BM25 for every score (None where BM25 scored 0)."""
    return {
        label: {
            key: (round(value / bm25[label][key], 3) if bm25[label][key] else None)
            for key, value in row.items()
            if key not in {"questions", "excluded"}
        }
        for label, row in loci.items()
    }


def format_table(loci: dict[str, dict[str, float]], bm25: dict[str, dict[str, float]], ks: Sequence[int] = KS) -> str:
    """Evidence recall at each k: Loci, BM25 and their ratio, one row per category and overall."""
    ratio = ratios(loci, bm25)
    head = f"{'recall@k':<16}{'n':>5}{'excl':>5}" + "".join(f" |{f'@{k} Loci':>9}{'BM25':>6}{'x':>6}" for k in ks)
    lines = [head, "-" * len(head)]
    for label, row in loci.items():
        cells = f"{label:<16}{row['questions']:>5}{row['excluded']:>5}"
        for k in ks:
            key, r = f"recall@{k}", ratio[label].get(f"recall@{k}")
            if key not in row:
                cells += f" |{'-':>9}{'-':>6}{'-':>6}"
                continue
            cells += f" |{row[key]:>9.3f}{bm25[label][key]:>6.3f}{(f'{r:.2f}' if r is not None else '-'):>6}"
        lines.append(cells)
    return "\n".join(lines)


# ---- the service ----------------------------------------------------------------------------


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def memory_body(turn: Turn) -> dict[str, Any]:
    return {
        "content": turn.content,
        "timestamp": turn.timestamp,
        "tags": [f"conversation:{turn.conversation}", f"session:{turn.session}", f"speaker:{turn.speaker}"],
        "metadata": {"dia_id": turn.dia_id, "conversation": turn.conversation, "session": turn.session},
    }


def post_turns(client: httpx.Client, turns: Sequence[Turn]) -> list[str]:
    ids: list[str] = []
    with tqdm(total=len(turns), desc="store", unit="turn") as bar:
        for start in range(0, len(turns), BATCH):
            chunk = turns[start : start + BATCH]
            response = client.post("/memory/batch", json={"memories": [memory_body(t) for t in chunk]})
            if response.status_code >= 400:
                raise RuntimeError(f"POST /memory/batch: HTTP {response.status_code}: {response.text[:300]}")
            body = response.json()
            if body["deduplicated"]:
                print(f"  note: {len(body['deduplicated'])} turns answered as duplicates", flush=True)
            ids += body["memory_ids"]
            bar.update(len(chunk))
    return ids


def wait_searchable(client: httpx.Client, ids: list[str], timeout: float = 6 * 3600) -> None:
    """Poll /memory/status until every id is completed (embedded and enriched); abort on failure."""
    deadline = time.monotonic() + timeout
    waiting = ids
    with tqdm(total=len(ids), desc="embed+enrich", unit="mem") as bar:
        while waiting:
            if time.monotonic() > deadline:
                raise TimeoutError(f"{len(waiting)} memories still pending after {timeout:.0f}s")
            still: list[str] = []
            for start in range(0, len(waiting), STATUS_CHUNK):
                response = client.post("/memory/status", json={"ids": waiting[start : start + STATUS_CHUNK]})
                response.raise_for_status()
                body = response.json()
                if body["failed_ids"] or body["unknown_ids"]:
                    raise RuntimeError(
                        f"{len(body['failed_ids'])} memories failed, {len(body['unknown_ids'])} unknown; "
                        f"first failures: {body['failed'][:3]}, unknown: {body['unknown_ids'][:3]}"
                    )
                still += body["pending_ids"]
            bar.update(len(waiting) - len(still))
            waiting = still
            if waiting:
                time.sleep(0.5)


def ingest(client: httpx.Client, turns: list[Turn], manifest: dict[str, Any], manifest_path: Path | None) -> int:
    """Store and wait for the conversations the manifest lacks; returns how many turns were stored."""
    todo = [t for t in turns if t.conversation not in manifest["conversations"]]
    names = list(dict.fromkeys(t.conversation for t in todo))
    for name in names:  # leftovers of an interrupted run would rank twice
        response = client.delete("/memory/by-tag", params={"tags": f"conversation:{name}"})
        response.raise_for_status()
        if response.json()["deleted_count"]:
            print(f"  removed {response.json()['deleted_count']} memories left from an interrupted run of {name}")
    if todo:
        wait_searchable(client, post_turns(client, todo))
    for name in names:
        manifest["conversations"][name] = {"turns": sum(1 for t in todo if t.conversation == name)}
    if manifest_path is not None:
        manifest_path.write_text(json.dumps(manifest, indent=2))
    return len(todo)


def load_manifest(path: Path | None, file_sha: str, file_name: str) -> dict[str, Any]:
    if path is None or not path.exists():
        return {"file": file_name, "sha256": file_sha, "conversations": {}}
    manifest: dict[str, Any] = json.loads(path.read_text())
    if manifest["sha256"] != file_sha:
        raise SystemExit(f"{path} was written for another file ({manifest['file']}); use a fresh --data-dir")
    return manifest


def recall(
    client: httpx.Client, question: Question, options: dict[str, str] | None = None
) -> tuple[list[str | None], float, float | None]:
    """Ranked dia ids (None where a result lacks one), client latency and the server's query_time_ms;
    `options` are extra /recall parameters (an option compared by locomo_selection.py)."""
    params: dict[str, str | int] = {
        "query": question.text,
        "tags": f"conversation:{question.conversation}",
        "tag_match": "exact",
        "limit": DEPTH,
        **(options or {}),
    }
    started = time.perf_counter()
    response = client.get("/recall", params=params)
    elapsed = (time.perf_counter() - started) * 1000
    if response.status_code >= 400:
        raise RuntimeError(f"GET /recall: HTTP {response.status_code}: {response.text[:300]}")
    body = response.json()
    ranked = [(r["memory"].get("metadata") or {}).get("dia_id") for r in body["results"]]
    return ranked, elapsed, body.get("query_time_ms")


def run(args: argparse.Namespace, data_dir: Path, log: Path, turns: list[Turn], questions: list[Question]) -> dict:
    manifest_path = data_dir / MANIFEST if args.data_dir else None
    file_sha = sha256(args.path)
    manifest = load_manifest(manifest_path, file_sha, args.path.name)
    indexes = {
        name: Bm25Index([t for t in turns if t.conversation == name])
        for name in dict.fromkeys(q.conversation for q in questions)
    }
    with ServiceProcess(data_dir, log) as service, httpx.Client(base_url=service.base_url, timeout=120) as client:
        print(f"service up at {service.base_url} (log: {log})", flush=True)
        started = time.perf_counter()
        stored = ingest(client, turns, manifest, manifest_path)
        ingest_s = time.perf_counter() - started
        print(f"ingest: {stored} turns stored and searchable in {ingest_s:.1f}s ({len(turns) - stored} reused)")
        if stored:
            time.sleep(SETTLE_SECONDS)  # the idle worker builds the vector index after a bulk load: time recall after
        recall(client, Question("warm-up", -1, "warm-up query", 0, (), ()))  # model and connections, not timed
        loci_raw, latencies, server_ms = [], [], []
        started = time.perf_counter()
        for question in tqdm(questions, desc="recall", unit="q"):
            ranked, elapsed, server = recall(client, question)
            loci_raw.append(ranked)
            latencies.append(elapsed)
            server_ms.append(server)
        query_s = time.perf_counter() - started
        others = {}  # each other option's rankings, for choosing among them by leave-one-out
        for name in args.variants:
            if name != "default":
                runs = [recall(client, q, VARIANTS[name])[0] for q in tqdm(questions, desc=name, unit="q")]
                others[name] = [list(dict.fromkeys(d for d in ranked if d is not None)) for ranked in runs]
    missing = sum(1 for ranked in loci_raw if None in ranked)
    loci_ranked = [list(dict.fromkeys(d for d in ranked if d is not None)) for ranked in loci_raw]
    bm25_ranked = [indexes[q.conversation].rank(q.text) for q in questions]
    loci, bm25 = summarize(questions, loci_ranked), summarize(questions, bm25_ranked)
    scored = [n for n, q in enumerate(questions) if q.evidence]
    rankings = {"default": loci_ranked, **others}
    selection = leave_one_out(
        {
            name: [question_scores(ranked[n], questions[n].evidence)[SELECTION_METRIC] for n in scored]
            for name, ranked in rankings.items()
        },
        [questions[n].conversation for n in scored],
    )
    return {
        "selection": {
            "metric": SELECTION_METRIC,
            "by_variant": selection.by_variant,
            "in_sample": {"choice": selection.in_sample_choice, "score": selection.in_sample_score},
            "folds": [vars(fold) for fold in selection.folds],
            "held_out_mean": selection.held_out_mean,
            "variants": {name: VARIANTS[name] for name in rankings},
        },
        "file": {"name": args.path.name, "path": str(args.path), "sha256": file_sha},
        "machine": machine(),
        "args": {k: str(v) for k, v in vars(args).items()},
        "counts": {
            "conversations": len(indexes),
            "turns": len(turns),
            "questions": len(questions),
            "excluded": sum(1 for q in questions if not q.evidence),
            "results_without_dia_id": missing,
        },
        "timing": {"ingest_s": round(ingest_s, 2), "turns_stored": stored, "queries_s": round(query_s, 2)},
        "latency_ms": {
            "p50": round(percentile(latencies, 50), 2),
            "p95": round(percentile(latencies, 95), 2),
            "mean": round(statistics.fmean(latencies), 2),
            "server_p50": round(percentile([s for s in server_ms if s is not None] or [0.0], 50), 2),
        },
        "metrics": {"loci": loci, "bm25": bm25, "ratio": ratios(loci, bm25)},
        "questions": [
            {
                "conversation": q.conversation,
                "index": q.index,
                "category": q.category,
                "question": q.text,
                "evidence": list(q.evidence),
                "raw_evidence": list(q.raw_evidence),
                "latency_ms": round(latency, 2),
                "loci": loci_ranked[n],
                "bm25": bm25_ranked[n],
            }
            for n, (q, latency) in enumerate(zip(questions, latencies, strict=True))
        ],
    }


def selection_of(saved: dict[str, Any]) -> Selection:
    """The Selection a results file recorded."""
    folds = [Fold(**fold) for fold in saved["folds"]]
    return Selection(saved["by_variant"], saved["in_sample"]["choice"], saved["in_sample"]["score"], folds)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("path", nargs="?", type=Path, default=DEFAULT_PATH, help="a file in LoCoMo's JSON layout")
    parser.add_argument("--conversations", type=int, help="only the first N conversations")
    parser.add_argument("--questions", type=int, help="only the first N questions of each conversation")
    parser.add_argument("--data-dir", type=Path, help="keep the memories here and reuse them on the next run")
    parser.add_argument("--out", type=Path, default=Path("bench-results/locomo.json"))
    parser.add_argument(
        "--variants",
        default=",".join(VARIANTS),
        help="recall options to compare by leave-one-conversation-out (locomo_selection.py; 'default' alone: none)",
    )
    args = parser.parse_args()
    args.variants = [name.strip() for name in args.variants.split(",") if name.strip()]
    unknown = set(args.variants) - set(VARIANTS)
    if unknown:
        parser.error(f"unknown variants {sorted(unknown)}; known: {', '.join(VARIANTS)}")
    args.path = args.path.resolve()
    turns, questions = parse_samples(json.loads(args.path.read_text()), args.conversations, args.questions)
    print(f"{args.path.name}: {len(turns)} turns, {len(questions)} questions", flush=True)
    if args.data_dir:
        args.data_dir.mkdir(parents=True, exist_ok=True)
        results = run(args, args.data_dir, args.data_dir / "locomo-service.log", turns, questions)
    else:
        with tempfile.TemporaryDirectory() as tmp:
            results = run(args, Path(tmp) / "data", Path(tmp) / "service.log", turns, questions)

    loci, bm25 = results["metrics"]["loci"], results["metrics"]["bm25"]
    print()
    print(format_table(loci, bm25))
    overall = lambda row, key: f"{row['overall'].get(key, 0.0):.3f}"  # noqa: E731
    print(
        f"\noverall hit@10 Loci {overall(loci, 'hit@10')} BM25 {overall(bm25, 'hit@10')};"
        f" all@10 Loci {overall(loci, 'all@10')} BM25 {overall(bm25, 'all@10')}"
    )
    latency, timing = results["latency_ms"], results["timing"]
    print(f"recall latency p50 {latency['p50']} ms, p95 {latency['p95']} ms (client side, {len(questions)} questions)")
    print(f"ingest {timing['ingest_s']}s ({timing['turns_stored']} turns stored), queries {timing['queries_s']}s")
    selection = results["selection"]
    if len(selection["by_variant"]) > 1:
        print()
        print(format_selection(selection_of(selection), SELECTION_METRIC))
    if results["counts"]["results_without_dia_id"]:
        print(f"warning: {results['counts']['results_without_dia_id']} rankings held results without a dia_id")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(results, indent=2))
    print(f"\nwritten to {args.out}")


if __name__ == "__main__":
    main()
