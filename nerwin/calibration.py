"""How far entity scores can be trusted: precision of predicted entities per score bin, and the
expected calibration error (ECE).

A predicted entity is right when gold has an entity of the same span and type (as strict scoring
counts it). Scores fall into equal-width bins over [0, 1]; a calibrated model's entities scored about
0.8 are right about 80% of the time. ECE is the mean gap |precision - mean score| over the bins,
weighted by how many entities each holds (Guo et al., 2017): 0 is perfect, and a user choosing
`--min-score` can read the precision to expect above it from the bins. All figures are fractions (0..1).
"""
from __future__ import annotations

from collections.abc import Sequence

__all__ = ["reliability", "format_calibration"]


def reliability(scores: Sequence[float], right: Sequence[bool], bins: int = 10) -> dict:
    """{"bins": [{"low", "high", "count", "right", "precision", "mean_score"}], "ece", "entities"}
    for entities with these `scores`, `right` telling which are right; empty bins have precision and
    mean score None."""
    if len(scores) != len(right):
        raise ValueError("reliability: one right/wrong flag per score")
    counts, hits, sums = [0] * bins, [0] * bins, [0.0] * bins
    for score, ok in zip(scores, right):
        b = min(int(score * bins), bins - 1)  # a score of 1.0 goes in the last bin
        counts[b] += 1
        hits[b] += bool(ok)
        sums[b] += score
    total = sum(counts)
    out, ece = [], 0.0
    for b in range(bins):
        n = counts[b]
        precision, mean = (hits[b] / n, sums[b] / n) if n else (None, None)
        if n:
            ece += n / total * abs(precision - mean)
        out.append({"low": b / bins, "high": (b + 1) / bins, "count": n, "right": hits[b],
                    "precision": precision, "mean_score": mean})
    return {"bins": out, "ece": ece, "entities": total}


def format_calibration(calibration: dict) -> str:
    """One line for the text report."""
    return (f"Calibration of entity scores: expected calibration error {calibration['ece']:.3f} over "
            f"{calibration['entities']} predicted entities ({len(calibration['bins'])} score bins)")
