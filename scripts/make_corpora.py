#!/usr/bin/env python3
"""Builds corpora/ (the default corpus) from data/eval/ (or $SOFER_DATA). Run from the repo root.

UD Hebrew documents keep their paragraphs; an NTREX news document's first line is its
headline (the title) and its other sentences form its text, in Hebrew and in English.
"""
import collections
import json
import os
import sys

DATA = os.environ.get("SOFER_DATA", "data/eval")
UD_DOCS = 10
NEWS_DOCS = 12


def write(path, rows):
    with open(path, "w", encoding="utf-8") as out:
        for row in rows:
            out.write(json.dumps(row, ensure_ascii=False) + "\n")
    print(f"{path}: {len(rows)} documents", file=sys.stderr)


def ud_documents():
    rows = []
    with open(f"{DATA}/hebrew/he_ud_docs.jsonl", encoding="utf-8") as f:
        for line in f:
            doc = json.loads(line)
            if not doc["doc_id"]:
                continue
            meta = doc.get("meta") or {}
            title = meta.get("title") or f"ישיבת הכנסת {doc['doc_id']}"
            rows.append({
                "id": f"ud/{doc['doc_id']}",
                "title": title,
                "paragraphs": doc["paragraphs"],
                "language": "he",
                "source": meta.get("sourceURL") or f"{doc['corpus']} ({doc['split']})",
            })
    return rows[:UD_DOCS]


def news_documents():
    docs = collections.OrderedDict()
    with open(f"{DATA}/parallel/ntrex128_eng_heb.jsonl", encoding="utf-8") as f:
        for line in f:
            row = json.loads(line)
            docs.setdefault(row["doc_id"], []).append(row)
    he, en = [], []
    for doc_id, rows in list(docs.items())[:NEWS_DOCS]:
        for lang, key, out in (("he", "heb", he), ("en", "eng", en)):
            out.append({
                "id": f"ntrex/{doc_id}/{lang}",
                "title": rows[0][key],
                "text": " ".join(r[key] for r in rows[1:]),
                "language": lang,
                "source": f"NTREX-128 newstest2019, {doc_id}",
            })
    return he, en


if __name__ == "__main__":
    write("corpora/he_ud.jsonl", ud_documents())
    he, en = news_documents()
    write("corpora/ntrex_news_he.jsonl", he)
    write("corpora/ntrex_news_en.jsonl", en)
