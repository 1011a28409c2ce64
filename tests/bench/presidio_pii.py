#!/usr/bin/env python3
"""Microsoft Presidio on the same PII data as Airlock's EvalPii (classifier/eval_pii.cc).

Runs presidio-analyzer's predefined recognizers (pattern recognizers plus the phone recognizer,
which uses the `phonenumbers` package) on pii/presidio_synth_dataset_v2.json and prints the
same per-entity table as `airlock eval detectors --only pii`: same span criterion (same entity
type, overlap covering at least half of the shorter span), same recall / precision / F2, and
the document-level recall of "contains PII". Also the analysis time per document.

No spaCy model is available offline (spaCy's models are not on PyPI), so Presidio's NER
(PERSON, LOCATION, NRP, ...) does not run: the AnalyzerEngine gets a no-op NLP engine, which
also means no context-word score boosts. Every result is kept (Presidio's default threshold 0).

    scripts/presidio-venv.sh BUILD/presidio-venv
    BUILD/presidio-venv/bin/python tests/bench/presidio_pii.py [DATA_DIR]   # default ../shared/data
"""
import importlib.metadata
import json
import os
import sys
import time

from presidio_analyzer import AnalyzerEngine, RecognizerRegistry
from presidio_analyzer.nlp_engine import NlpArtifacts, NlpEngine

# Presidio's entity names that differ from the data set's.
ENTITY_ALIASES = {"URL": "DOMAIN_NAME"}


class NoNlpEngine(NlpEngine):
    """An NLP engine that finds nothing: no tokens, lemmas or named entities."""

    def load(self):
        pass

    def is_loaded(self):
        return True

    def process_text(self, text, language):
        return NlpArtifacts(entities=[], tokens=[], tokens_indices=[], lemmas=[],
                            nlp_engine=self, language=language)

    def process_batch(self, texts, language, batch_size=1, n_process=1, **kwargs):
        for t in texts:
            yield t, self.process_text(t, language)

    def is_stopword(self, word, language):
        return False

    def is_punct(self, word, language):
        return False

    def get_supported_entities(self):
        return []

    def get_supported_languages(self):
        return ["en"]


def match(a, b):
    lo, hi = max(a[0], b[0]), min(a[1], b[1])
    if hi <= lo:
        return False
    return 2 * (hi - lo) >= min(a[1] - a[0], b[1] - b[0])


def main():
    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    data_dir = sys.argv[1] if len(sys.argv) > 1 else os.path.join(root, "..", "shared", "data")
    path = os.path.join(data_dir, "pii", "presidio_synth_dataset_v2.json")
    with open(path, encoding="utf-8") as f:
        docs = json.load(f)

    nlp = NoNlpEngine()
    registry = RecognizerRegistry()
    registry.load_predefined_recognizers(languages=["en"], nlp_engine=nlp)
    # Drop the recognizers that need a real NLP model (spaCy NER).
    registry.recognizers = [r for r in registry.recognizers
                            if type(r).__name__ not in ("SpacyRecognizer", "StanzaRecognizer",
                                                        "TransformersRecognizer")]
    analyzer = AnalyzerEngine(registry=registry, nlp_engine=nlp, supported_languages=["en"])
    names = sorted({type(r).__name__ for r in registry.recognizers})

    counts = {}  # entity -> [gold, found, predicted, correct]
    docs_gold = docs_gold_flagged = docs_none = docs_none_flagged = 0
    elapsed = 0.0
    for doc in docs:
        text = doc["full_text"]
        gold = [(s["start_position"], s["end_position"], s["entity_type"]) for s in doc["spans"]]
        start = time.perf_counter()
        results = analyzer.analyze(text=text, language="en")
        elapsed += time.perf_counter() - start
        pred = [(r.start, r.end, ENTITY_ALIASES.get(r.entity_type, r.entity_type)) for r in results]
        flagged = bool(pred)
        if gold:
            docs_gold += 1
            docs_gold_flagged += flagged
        else:
            docs_none += 1
            docs_none_flagged += flagged
        for g in gold:
            c = counts.setdefault(g[2], [0, 0, 0, 0])
            c[0] += 1
            c[1] += any(p[2] == g[2] and match(g, p) for p in pred)
        for p in pred:
            c = counts.setdefault(p[2], [0, 0, 0, 0])
            c[2] += 1
            c[3] += any(g[2] == p[2] and match(g, p) for g in gold)

    version = importlib.metadata.version("presidio-analyzer")
    print(f"Presidio {version}, predefined recognizers without an NLP model: {', '.join(names)}")
    print(f"PII spans: pii/presidio_synth_dataset_v2.json ({len(docs)} texts)")
    header = ["entity", "gold", "found", "recall", "findings", "correct", "precision", "F2"]
    rows = []
    for entity in sorted(counts):
        g, fo, pr, co = counts[entity]
        r = fo / g if g else 0.0
        p = co / pr if pr else 0.0
        f2 = 5 * p * r / (4 * p + r) if p + r > 0 else 0.0
        rows.append([entity, str(g), str(fo), f"{r:.3f}" if g else "-", str(pr), str(co),
                     f"{p:.3f}" if pr else "-", f"{f2:.3f}" if g and pr else "-"])
    widths = [max(len(x) for x in col) for col in zip(header, *rows)]
    for row in [header] + rows:
        print("  ".join(c.ljust(w) for c, w in zip(row, widths)).rstrip())
    print(f"documents with gold spans flagged: {docs_gold_flagged}/{docs_gold} "
          f"({docs_gold_flagged / max(1, docs_gold):.3f}); without gold spans flagged: "
          f"{docs_none_flagged}/{docs_none} ({docs_none_flagged / max(1, docs_none):.3f})")
    print(f"time per document: {1000 * elapsed / len(docs):.2f} ms (analyze only, one thread)")


if __name__ == "__main__":
    main()
