"""Precision and recall of the opt-out detector over its labelled corpus.

    .venv/bin/python bench/optout.py [--corpus tests/outreach/optout_corpus.tsv] [--rounds 200]

For each tier (certain: suppress at once; probable: stop automatic sends, flag for a human)
and each language (pt, en, es), precision (of the messages given that tier, the share
labelled so) and recall (of the messages labelled so, the share found). "opt-out" is both
tiers together (any stop of automatic sends). Then how many messages a second one process
classifies (the whole corpus, `--rounds` times), and one summary line. Targets: certain
precision 1.0 (an innocent message must never suppress anyone), recall as high as the corpus
allows. Misclassified lines are listed.
"""

from __future__ import annotations

import argparse
import sys
import time
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "src"))

from mirage.outreach.optout import classify

ROOT = Path(__file__).resolve().parent.parent
CORPUS = ROOT / "tests" / "outreach" / "optout_corpus.tsv"
LANGUAGES = ("pt", "en", "es")


@dataclass
class Score:
    tp: int = 0
    fp: int = 0
    fn: int = 0

    @property
    def precision(self) -> float:
        return self.tp / (self.tp + self.fp) if self.tp + self.fp else 1.0

    @property
    def recall(self) -> float:
        return self.tp / (self.tp + self.fn) if self.tp + self.fn else 1.0

    def add(self, expected: bool, found: bool) -> None:
        if expected and found:
            self.tp += 1
        elif found:
            self.fp += 1
        elif expected:
            self.fn += 1


def load(path: Path) -> list[tuple[str, str, str]]:
    rows = []
    for line in path.read_text(encoding="utf-8").splitlines():
        if line.strip() and not line.startswith("#"):
            tier, language, text = line.split("\t", 2)
            rows.append((tier, language, text))
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--corpus", type=Path, default=CORPUS)
    parser.add_argument("--rounds", type=int, default=200)
    args = parser.parse_args()
    rows = load(args.corpus)

    groups = ("certain", "probable", "opt-out")
    scores = {(g, lang): Score() for g in groups for lang in (*LANGUAGES, "all")}
    wrong = []
    for tier, language, text in rows:
        got = classify(text).tier.value
        if got != tier:
            wrong.append((tier, got, language, text))
        for group in groups:
            if group == "opt-out":
                expected, found = tier != "none", got != "none"
            else:
                expected, found = tier == group, got == group
            for lang in (language, "all"):
                scores[(group, lang)].add(expected, found)

    where = args.corpus.relative_to(ROOT) if args.corpus.is_relative_to(ROOT) else args.corpus
    per_language = ", ".join(f"{lang} {sum(1 for r in rows if r[1] == lang)}" for lang in LANGUAGES)
    print(f"corpus: {where}")
    print(f"lines: {len(rows)} ({per_language})")
    print(f"{'tier':<9} {'lang':<4} {'n':>4} {'precision':>9} {'recall':>7}")
    for group in groups:
        for lang in (*LANGUAGES, "all"):
            s = scores[(group, lang)]
            print(f"{group:<9} {lang:<4} {s.tp + s.fn:>4} {s.precision:>9.3f} {s.recall:>7.3f}")
    for tier, got, language, text in wrong:
        print(f"  wrong: expected {tier}, got {got} ({language}): {text}")

    texts = [text for _, _, text in rows]
    start = time.perf_counter()
    for _ in range(args.rounds):
        for text in texts:
            classify(text)
    elapsed = time.perf_counter() - start
    rate = len(texts) * args.rounds / elapsed
    print(f"classifications per second (one process): {rate:,.0f}")
    c, p = scores[("certain", "all")], scores[("probable", "all")]
    print(
        f"summary: {len(rows)} lines, certain precision {c.precision:.3f} recall {c.recall:.3f}, "
        f"probable precision {p.precision:.3f} recall {p.recall:.3f}, "
        f"{len(wrong)} misclassified, {rate:,.0f} classifications/s"
    )


if __name__ == "__main__":
    main()
