#!/usr/bin/env python3
"""Measure how well `sofer text extract` reads the real-producer fixtures (dev only).

Usage:
  python3 scripts/document_accuracy.py --sofer target/release/sofer [--fixtures tests/fixtures/documents]
  python3 scripts/document_accuracy.py --anchor-only

For every file in the fixtures' manifest.json (not bad/) that has a <source>.expected.json, runs
`SOFER text extract FILE --json` (one JSON object a line: kind, text, direction, page, level,
table/row/column) and compares its paragraphs with the expected ones. An anchor extractor runs
beside it so the numbers can be read against a known tool:
  PDF        `pdftotext FILE -`  paragraphs = blocks separated by blank lines
  DOCX, ODT  `soffice --headless --convert-to txt:Text`  paragraphs = lines
  HTML       `pandoc -f html -t plain --wrap=none`  paragraphs = blocks separated by blank lines
             (the whole page: the anchor keeps the nav/footer boilerplate)

Metrics (text normalised: NFC, bidi controls and soft hyphens removed, presentation forms and
ligatures decomposed, whitespace collapsed; words = whitespace-separated tokens):
  word acc    matched source words / source words, words aligned with difflib.SequenceMatcher
              (the number of extra, inserted words is shown after a '+')
  para F1     F1 of paragraph starts: source starts are the word positions where a paragraph
              (after the first) begins; an extracted paragraph start is mapped through the
              alignment to the source position of its first matched word
              (the JSON also has word_acc_no_edge_punct: the same with punctuation stripped
              from both ends of every word, so misplaced bidi punctuation does not count)
  reversed    extracted Hebrew words (2+ letters, punctuation stripped) that are not source words
              but whose character reversal is (text left in visual order)

Exit status 1 when the sofer command fails (non-zero exit, or no JSON) on any file; they are
listed at the end. --json PATH also writes every number as JSON.
"""

import argparse
import difflib
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import unicodedata

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

BIDI_CONTROLS = dict.fromkeys(map(ord, "\u200e\u200f\u061c\u202a\u202b\u202c\u202d\u202e"
                                   "\u2066\u2067\u2068\u2069\ufeff\u00ad\u200b\u200c\u200d"), None)
HEB_LETTER = re.compile(r"[\u05D0-\u05EA]")
EDGE_PUNCT = re.compile(r"^[^\w\u0590-\u05FF]+|[^\w\u0590-\u05FF]+$")


def normalize(text):
    text = unicodedata.normalize("NFC", text)
    text = text.translate(BIDI_CONTROLS)
    # Latin ligatures (U+FB00-FB06) and Hebrew presentation forms (U+FB1D-FB4F)
    text = re.sub(r"[\uFB00-\uFB4F]", lambda m: unicodedata.normalize("NFKC", m.group(0)), text)
    text = unicodedata.normalize("NFC", text)
    return " ".join(text.split())


def words_and_starts(paragraphs):
    """(words, set of word indexes where a paragraph starts, the first excluded)."""
    words, starts = [], set()
    for p in paragraphs:
        w = normalize(p).split()
        if not w:
            continue
        if words:
            starts.add(len(words))
        words.extend(w)
    return words, starts


def strip_word(w):
    return EDGE_PUNCT.sub("", w)


def compare(src_paras, ext_paras):
    sw, sstarts = words_and_starts(src_paras)
    ew, estarts_raw = words_and_starts(ext_paras)
    # paragraph starts of the extraction, as (start index, end index) ranges
    bounds = sorted({0} | estarts_raw) + [len(ew)]
    sm = difflib.SequenceMatcher(None, sw, ew, autojunk=False)
    blocks = [b for b in sm.get_matching_blocks() if b.size]
    matched = sum(b.size for b in blocks)
    # map each extracted word position that is matched to its source position
    e2s = {}
    for b in blocks:
        for k in range(b.size):
            e2s[b.b + k] = b.a + k
    mapped = set()
    for lo, hi in zip(bounds, bounds[1:]):
        for j in range(lo, hi):
            if j in e2s:
                if e2s[j] != 0:
                    mapped.add(e2s[j])
                break
    tp = len(mapped & sstarts)
    prec = tp / len(mapped) if mapped else (1.0 if not sstarts else 0.0)
    rec = tp / len(sstarts) if sstarts else 1.0
    f1 = 2 * prec * rec / (prec + rec) if prec + rec else 0.0
    # the same with punctuation stripped from word edges (JSON only): separates bidi
    # punctuation placement from lost or reordered letters
    sl = [x for x in (strip_word(w) for w in sw) if x]
    el = [x for x in (strip_word(w) for w in ew) if x]
    ml = sum(b.size for b in difflib.SequenceMatcher(None, sl, el, autojunk=False).get_matching_blocks())
    sset = {strip_word(w) for w in sw}
    reversed_n = 0
    for w in ew:
        w = strip_word(w)
        if len(HEB_LETTER.findall(w)) >= 2 and w not in sset and w[::-1] in sset:
            reversed_n += 1
    return {"source_words": len(sw), "extracted_words": len(ew), "matched": matched,
            "word_acc": matched / len(sw) if sw else 0.0, "extra": len(ew) - matched,
            "word_acc_no_edge_punct": ml / len(sl) if sl else 0.0,
            "source_paragraphs": len(sstarts) + 1, "extracted_paragraphs": len(bounds) - 1,
            "para_precision": prec, "para_recall": rec, "para_f1": f1, "reversed": reversed_n}


# ---------------------------------------------------------------------------------------------
# extractors


def sofer_extract(sofer, path):
    p = subprocess.run([sofer, "text", "extract", path, "--json"], capture_output=True,
                       text=True, timeout=600)
    items, bad = [], 0
    for line in p.stdout.splitlines():
        line = line.strip()
        if not line:
            continue
        try:
            obj = json.loads(line)
        except json.JSONDecodeError:
            bad += 1
            continue
        if isinstance(obj, dict) and isinstance(obj.get("text"), str):
            items.append(obj)
    err = None
    if p.returncode != 0:
        err = f"exit {p.returncode}: {p.stderr.strip()[-300:]}"
    elif not items and bad:
        err = f"no JSON paragraphs ({bad} unparsable lines)"
    return items, err


def blank_line_blocks(text):
    text = text.replace("\f", "\n")
    return [b for b in re.split(r"\n[ \t]*\n", text) if b.strip()]


def anchor_pdf(path):
    out = subprocess.run(["pdftotext", path, "-"], capture_output=True, text=True)
    if out.returncode:
        return None, f"pdftotext exit {out.returncode}"
    return blank_line_blocks(out.stdout), None


def anchor_html(path):
    out = subprocess.run(["pandoc", "-f", "html", "-t", "plain", "--wrap=none", path],
                         capture_output=True, text=True)
    if out.returncode:
        return None, f"pandoc exit {out.returncode}"
    return blank_line_blocks(out.stdout), None


def anchor_office_all(paths, workdir):
    """soffice --convert-to txt for many files at once: {path: (paragraphs, err)}."""
    res = {}
    by_ext = {}
    for p in paths:
        by_ext.setdefault(os.path.splitext(p)[1], []).append(p)
    profile = os.path.join(workdir, "lo_profile")
    for ext, group in by_ext.items():
        outdir = os.path.join(workdir, "txt" + ext)
        os.makedirs(outdir, exist_ok=True)
        cmd = ["soffice", f"-env:UserInstallation=file://{profile}", "--headless", "--norestore",
               "--convert-to", "txt:Text (encoded):UTF8", "--outdir", outdir] + group
        subprocess.run(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, timeout=900)
        for p in group:
            t = os.path.join(outdir, os.path.splitext(os.path.basename(p))[0] + ".txt")
            if os.path.exists(t):
                text = open(t, encoding="utf-8-sig", errors="replace").read()
                res[p] = ([l for l in text.splitlines() if l.strip()], None)
            else:
                res[p] = (None, "soffice made no .txt")
    return res


# ---------------------------------------------------------------------------------------------


def fmt_num(r, key):
    if r is None:
        return "—"
    if key == "word_acc":
        return f"{r['word_acc']:.1%} +{r['extra']}"
    if key == "para_f1":
        return f"{r['para_f1']:.2f} ({r['extracted_paragraphs']}/{r['source_paragraphs']})"
    return str(r[key])


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sofer", help="path to the sofer binary")
    ap.add_argument("--fixtures", default=os.path.join(ROOT, "tests/fixtures/documents"))
    ap.add_argument("--anchor-only", action="store_true", help="run only the anchor extractors")
    ap.add_argument("--no-anchor", action="store_true", help="run only sofer")
    ap.add_argument("--only", help="regex: only files whose name matches")
    ap.add_argument("--json", metavar="PATH", help="also write all numbers as JSON here")
    args = ap.parse_args()
    if not args.anchor_only and not args.sofer:
        ap.error("--sofer PATH is required (or --anchor-only)")
    if args.anchor_only and args.no_anchor:
        ap.error("--anchor-only and --no-anchor exclude each other")
    fx = os.path.abspath(args.fixtures)
    manifest = json.load(open(os.path.join(fx, "manifest.json"), encoding="utf-8"))
    entries = []
    for e in manifest:
        if e["file"].startswith("bad/"):
            continue
        if args.only and not re.search(args.only, e["file"]):
            continue
        exp = os.path.join(fx, e["source"] + ".expected.json")
        if not os.path.exists(exp):
            print(f"skip {e['file']}: no {e['source']}.expected.json", file=sys.stderr)
            continue
        entries.append(e)

    expected = {}
    for e in entries:
        if e["source"] not in expected:
            expected[e["source"]] = [p["text"] for p in
                                     json.load(open(os.path.join(fx, e["source"] + ".expected.json"),
                                                    encoding="utf-8"))]

    workdir = tempfile.mkdtemp(prefix="sofer_docacc_")
    failures, rows, records = [], [], []
    try:
        office = {}
        if not args.no_anchor:
            paths = [os.path.join(fx, e["file"]) for e in entries if e["format"] in ("docx", "odt")]
            if paths:
                office = anchor_office_all(paths, workdir)
        for e in entries:
            path = os.path.join(fx, e["file"])
            src = expected[e["source"]]
            rec = {"file": e["file"], "producer": e["producer"], "format": e["format"],
                   "stream_order": e.get("stream_order")}
            sres = ares = None
            if not args.anchor_only:
                items, err = sofer_extract(args.sofer, path)
                if err:
                    failures.append(f"{e['file']}: {err}")
                    rec["sofer_error"] = err
                else:
                    sres = compare(src, [it["text"] for it in items])
                    kinds = {}
                    for it in items:
                        kinds[it.get("kind", "?")] = kinds.get(it.get("kind", "?"), 0) + 1
                    sres["kinds"] = kinds
                    rec["sofer"] = sres
            if not args.no_anchor:
                if e["format"] == "pdf":
                    paras, err = anchor_pdf(path)
                elif e["format"] in ("docx", "odt"):
                    paras, err = office.get(path, (None, "not converted"))
                elif e["format"] == "html":
                    paras, err = anchor_html(path)
                else:
                    paras, err = None, "no anchor for " + e["format"]
                if paras is not None:
                    ares = compare(src, paras)
                    rec["anchor"] = ares
                else:
                    rec["anchor_error"] = err
            records.append(rec)
            rows.append([e["file"], e["producer"], e["format"],
                         fmt_num(sres, "word_acc"), fmt_num(sres, "para_f1"), fmt_num(sres, "reversed"),
                         fmt_num(ares, "word_acc"), fmt_num(ares, "para_f1"), fmt_num(ares, "reversed")])
    finally:
        shutil.rmtree(workdir, ignore_errors=True)

    head = ["file", "producer", "format", "sofer word acc", "sofer para F1", "sofer reversed",
            "anchor word acc", "anchor para F1", "anchor reversed"]
    print("| " + " | ".join(head) + " |")
    print("|" + "|".join("---" for _ in head) + "|")
    for r in rows:
        print("| " + " | ".join(r) + " |")
    print()
    print("word acc: matched/source words, +extra inserted words; para F1 (extracted/source "
          "paragraphs); anchors: pdftotext (PDF), soffice txt (DOCX/ODT), pandoc plain (HTML, "
          "boilerplate included)")
    if args.json:
        with open(args.json, "w", encoding="utf-8") as f:
            json.dump(records, f, ensure_ascii=False, indent=1)
    if failures:
        print("\nsofer failed on:", file=sys.stderr)
        for f in failures:
            print("  " + f, file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
