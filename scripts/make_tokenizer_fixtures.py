#!/usr/bin/env python3
"""Write tests/fixtures/tokenizer/mistral_v1_ids.jsonl: SentencePiece's own ids for a
deterministic sample of the Hebrew and English texts in ../shared/data plus hand-written
edge cases. The oracle for tests/tokenizer_parity.rs (our tokenizer built from GGUF metadata).

Usage (a venv outside the repo):
    python3 -m venv /work/venv-sp && /work/venv-sp/bin/pip install sentencepiece
    /work/venv-sp/bin/python scripts/make_tokenizer_fixtures.py [SHARED_DATA_DIR]

One JSON object a line: {"text": str, "ids": [int]}; ids are `sp.encode(text)` (no BOS).
Data licenses: see ../shared/data/README.md (UD Hebrew, NTREX-128 and the SVLM Wikipedia
sentences are CC BY-SA; HeQ CC BY 4.0; OMILab sentiment comments MIT).
"""

import json
import random
import sys
from pathlib import Path

import sentencepiece as spm

ROOT = Path(__file__).resolve().parent.parent
DATA = Path(sys.argv[1]) if len(sys.argv) > 1 else ROOT.parent / "shared" / "data"
OUT = ROOT / "tests" / "fixtures" / "tokenizer" / "mistral_v1_ids.jsonl"
SEED = 20240611

EDGE_CASES = [
    "",
    " ",
    "  ",
    "\t",
    "\n",
    "\r\n",
    "a",
    "ש",
    " leading space",
    "trailing space ",
    "  both sides  ",
    "runs    of     spaces",
    "tabs\tand\t\ttabs",
    "new\nlines\n\n\nand\r\nCRLF",
    "   \n\t  mixed whitespace \t\n  ",
    "\u00a0no-break\u00a0space\u3000ideographic\u2028line separator",
    # niqqud and cantillation
    "בְּרֵאשִׁית בָּרָא אֱלֹהִים אֵת הַשָּׁמַיִם וְאֵת הָאָרֶץ",
    "בְּרֵאשִׁ֖ית בָּרָ֣א אֱלֹהִ֑ים אֵ֥ת הַשָּׁמַ֖יִם וְאֵ֥ת הָאָֽרֶץ׃",
    "שָׁלוֹם עֲלֵיכֶם",
    "מַה נִּשְׁתַּנָּה הַלַּיְלָה הַזֶּה",
    # emoji, including ZWJ sequences, flags, skin tones, variation selectors
    "👍",
    "שלום 👋🏽 world 🌍!",
    "👨‍👩‍👧‍👦 family",
    "🏳️‍🌈 🇮🇱 🇺🇸 ❤️ ✌🏿",
    "😀😃😄😁😆😅😂🤣",
    # digits and numbers
    "0123456789",
    "3.14159 2.71828 1,000,000 1.000.000,50",
    "₪199.90 $5 €3.50 100% 2024-01-15 12:30:45",
    "٠١٢٣٤٥٦٧٨٩ ½ ¾ ² ³ Ⅻ",
    "בשנת 1948 הוכרזה המדינה; ב-2023 היו בה 9.8 מיליון תושבים.",
    # mixed Hebrew / English / RTL marks
    "שלום world, מה שלומך today?",
    "\u200fטקסט\u200e mixed \u202bembedded\u202c \u200d\u200c",
    "ה-COVID-19 וה-GDP של ישראל (IL) ב-Q3",
    "קוד: `print('שלום')` ו-<div dir=\"rtl\">טקסט</div>",
    "מייל: user@example.co.il, אתר: https://www.gov.il/he/departments",
    "״ציטוט״ ׳גרש׳ – מקף — ארוך … שלוש נקודות",
    # control-token look-alikes
    "<s>",
    "</s>",
    "<unk>",
    "<s>[INST] שלום [/INST]",
    "[INST] What is the capital of Israel? [/INST] Jerusalem</s>",
    "<|im_start|>user\nשלום<|im_end|>\n<|im_start|>assistant\n",
    "<0x41> <0xD7> ▁ ▁▁ x▁y",
    # rare scripts and CJK
    "漢字テスト 中文 日本語",
    "𠜎𠜱𠝹𠱓 (CJK Ext. B)",
    "한국어 텍스트",
    "Привет, мир! Γειά σου κόσμε! مرحبا بالعالم नमस्ते",
    "e\u0301 combining vs é precomposed; ﬁ ligature; Ａｂｃ fullwidth",
    "control chars: \x00 \x01 \x07 \x1b[0m \x7f \ufeff end",
    "א" * 300,
    "ab" * 200,
    "!!!???...---___===",
    "Mr. O'Neil's \"quoted\" text isn't (really) [hard] {to} <tokenize>.",
]


def sample(rng, items, k):
    items = list(items)
    if len(items) <= k:
        return items
    idx = sorted(rng.sample(range(len(items)), k))
    return [items[i] for i in idx]


def corpus_texts(rng):
    texts = []
    docs = [json.loads(l) for l in open(DATA / "hebrew" / "he_ud_docs.jsonl", encoding="utf-8")]
    for d in docs:
        texts.extend(d["paragraphs"])
    # two whole documents as single long texts (paragraphs joined by blank lines)
    for d in docs[:2]:
        texts.append("\n\n".join(d["paragraphs"]))

    pairs = [json.loads(l) for l in open(DATA / "parallel" / "ntrex128_eng_heb.jsonl", encoding="utf-8")]
    for p in sample(rng, pairs, 300):
        texts.append(p["eng"])
        texts.append(p["heb"])

    heq = json.load(open(DATA / "qa" / "heq_test_v1.1.json", encoding="utf-8"))
    paragraphs = [p for art in heq["data"] for p in art["paragraphs"]]
    for p in sample(rng, paragraphs, 30):
        texts.append(p["context"])
    questions = [q["question"] for p in paragraphs for q in p["qas"]]
    texts.extend(sample(rng, questions, 250))

    comments = []
    for name in ("onlp_clean_token_train.tsv", "onlp_clean_token_dev.tsv"):
        lines = open(DATA / "sentiment" / name, encoding="utf-8").read().split("\n")[1:]
        comments.extend(l.rsplit("\t", 1)[0] for l in lines if l.strip())
    texts.extend(sample(rng, comments, 250))

    wiki = [l for l in open(DATA / "wiki" / "SVLM_Hebrew_Wikipedia_Corpus.txt", encoding="utf-8").read().split("\n") if l]
    texts.extend(sample(rng, wiki, 300))
    return texts


def main():
    sp = spm.SentencePieceProcessor(model_file=str(DATA / "tokenizers" / "mistral_v1_tokenizer.model"))
    rng = random.Random(SEED)
    texts = EDGE_CASES + corpus_texts(rng)
    seen = set()
    OUT.parent.mkdir(parents=True, exist_ok=True)
    n = 0
    with open(OUT, "w", encoding="utf-8", newline="\n") as f:
        for t in texts:
            if t in seen:
                continue
            seen.add(t)
            ids = sp.encode(t)
            # the property tests/tokenizer_parity.rs asserts for our decoder
            assert sp.decode(ids) == t.replace("\u2581", " "), repr(t)
            f.write(json.dumps({"text": t, "ids": ids}, ensure_ascii=False, separators=(",", ":")) + "\n")
            n += 1
    print(f"{OUT}: {n} texts, {OUT.stat().st_size} bytes")


if __name__ == "__main__":
    main()
