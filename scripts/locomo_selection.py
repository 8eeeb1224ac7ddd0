"""Choosing among recall's options on LoCoMo without scoring on the data that chose it.

Each option (a set of /recall parameters, `VARIANTS`) ranks every question. The in-sample
choice is the option with the best mean score over all the development conversations, and
its score there is optimistic: the data that chose it also scores it. Leave one conversation
out: for each conversation, choose the option best on the other conversations and score that
choice on the one left out; the mean of those held-out scores estimates what the choice
brings to conversations nobody tuned on. `make bench-locomo` prints both.
"""

from __future__ import annotations

import statistics
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

VARIANTS: dict[str, dict[str, str]] = {
    "default": {},
    "entities": {"expand_entities": "true"},
    "relations": {"expand_relations": "true"},
    "entities+relations": {"expand_entities": "true", "expand_relations": "true"},
    "recency-off": {"recency_bias": "off"},
    "decompose": {"auto_decompose": "true"},
}
"""The options compared: recall's request-level parameters, each against the service's defaults."""


@dataclass(frozen=True)
class Fold:
    held_out: str
    chosen: str
    training_score: float
    """The chosen option's mean over the other conversations' questions."""
    held_out_score: float
    """Its mean over the held-out conversation's questions."""


@dataclass(frozen=True)
class Selection:
    by_variant: dict[str, float]
    """Each option's mean over every question (in-sample)."""
    in_sample_choice: str
    in_sample_score: float
    folds: list[Fold]

    @property
    def held_out_mean(self) -> float:
        """The mean of the held-out scores, one per conversation."""
        return statistics.fmean(fold.held_out_score for fold in self.folds)


def mean_where(scores: Sequence[float], conversations: Sequence[str], keep: set[str]) -> float:
    """The mean score of the questions whose conversation is in `keep`."""
    kept = [score for score, conversation in zip(scores, conversations, strict=True) if conversation in keep]
    return statistics.fmean(kept) if kept else 0.0


def best(scores_by_variant: Mapping[str, Sequence[float]], conversations: Sequence[str], keep: set[str]) -> str:
    """The option with the best mean over `keep`'s questions; a tie goes to the one listed first."""
    return max(scores_by_variant, key=lambda v: mean_where(scores_by_variant[v], conversations, keep))


def leave_one_out(scores_by_variant: Mapping[str, Sequence[float]], conversations: Sequence[str]) -> Selection:
    """`scores_by_variant[option][i]`: question i's score under that option; `conversations[i]` its conversation."""
    everything = set(conversations)
    folds = []
    for held_out in sorted(everything):
        training = everything - {held_out}
        chosen = best(scores_by_variant, conversations, training)
        folds.append(
            Fold(
                held_out=held_out,
                chosen=chosen,
                training_score=mean_where(scores_by_variant[chosen], conversations, training),
                held_out_score=mean_where(scores_by_variant[chosen], conversations, {held_out}),
            )
        )
    by_variant = {v: mean_where(s, conversations, everything) for v, s in scores_by_variant.items()}
    in_sample = best(scores_by_variant, conversations, everything)
    return Selection(by_variant, in_sample, by_variant[in_sample], folds)


def format_selection(selection: Selection, metric: str) -> str:
    lines = [f"{metric} by option, all conversations (in-sample):"]
    lines += [f"  {variant:<20}{score:.3f}" for variant, score in selection.by_variant.items()]
    lines.append(
        f"chosen on all conversations: {selection.in_sample_choice} {selection.in_sample_score:.3f} (in-sample)"
    )
    lines.append("leave one conversation out (choose on the others, score the one left out):")
    lines += [
        f"  {f.held_out:<10} chose {f.chosen:<20} others {f.training_score:.3f}  held out {f.held_out_score:.3f}"
        for f in selection.folds
    ]
    lines.append(
        f"held-out mean of the {len(selection.folds)}: {selection.held_out_mean:.3f}"
        f" (beside the in-sample {selection.in_sample_score:.3f})"
    )
    return "\n".join(lines)
