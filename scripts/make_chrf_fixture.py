#!/usr/bin/env python3
"""Writes tests/fixtures/chrf/cases.jsonl: hypothesis/reference pairs scored by sacrebleu.

References are NTREX-128 sentences (Hebrew and English); hypotheses are seeded edits of
them (words dropped, swapped or repeated, letters changed, niqqud and punctuation added)
plus the other language's sentence and edge cases. Needs `pip install sacrebleu==2.6.0`.
Run from the repo root with the project's .venv: .venv/bin/python scripts/make_chrf_fixture.py
"""
import json
import os
import random

import sacrebleu
from sacrebleu.metrics import CHRF

DATA = os.environ.get("SOFER_DATA", "data/eval")
OUT = "tests/fixtures/chrf/cases.jsonl"


def perturb(rng, text):
    words = text.split()
    for _ in range(rng.randint(0, 4)):
        if not words:
            break
        i = rng.randrange(len(words))
        op = rng.choice(["drop", "swap", "repeat", "letter", "niqqud", "punct"])
        if op == "drop":
            del words[i]
        elif op == "swap" and len(words) > 1:
            j = rng.randrange(len(words))
            words[i], words[j] = words[j], words[i]
        elif op == "repeat":
            words.insert(i, words[i])
        elif op == "letter" and words[i]:
            k = rng.randrange(len(words[i]))
            words[i] = words[i][:k] + rng.choice("אבגדהוזחטיכלמנסעפצקרשתabcdefgxyz") + words[i][k + 1:]
        elif op == "niqqud":
            words[i] = words[i] + "\u05b8"
        elif op == "punct":
            words[i] = words[i] + rng.choice(",.;!?״")
    return " ".join(words)


def main():
    rng = random.Random(20261127)
    rows = [json.loads(l) for l in open(f"{DATA}/parallel/ntrex128_eng_heb.jsonl", encoding="utf-8")]
    pairs = []
    for row in rows[:150]:
        for lang in ("heb", "eng"):
            pairs.append((perturb(rng, row[lang]), row[lang]))
    for row in rows[150:170]:
        pairs.append((row["eng"], row["heb"]))
    pairs += [
        ("", "שלום"), ("שלום", ""), ("", ""), ("   ", "שלום"), ("א", "א"), ("אב", "אב"),
        ("ש ל ו ם", "שלום"), ("Hello, World!", "hello world"), ("😀 שלום 😀", "שלום"),
        ("שָׁלוֹם", "שלום"), ("a\u001cb", "ab"), ("abc abc abc", "abc"),
    ]
    chrf = CHRF()
    os.makedirs(os.path.dirname(OUT), exist_ok=True)
    with open(OUT, "w", encoding="utf-8") as out:
        for hyp, ref in pairs:
            score = chrf.sentence_score(hyp, [ref]).score
            out.write(json.dumps({"hyp": hyp, "ref": ref, "chrf": score}, ensure_ascii=False) + "\n")
        corpus = chrf.corpus_score([h for h, _ in pairs], [[r for _, r in pairs]]).score
        out.write(json.dumps({"corpus_chrf": corpus}) + "\n")
    print(f"{OUT}: {len(pairs)} pairs, corpus chrF {corpus:.4f} (sacrebleu {sacrebleu.__version__})")


if __name__ == "__main__":
    main()
