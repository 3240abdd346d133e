#!/usr/bin/env bash
# Round-trip check of `sofer translate --output` on real-producer documents (dev only).
#
# Usage:
#   scripts/document_roundtrip.sh [--sofer PATH] [--model M.gguf] [--work DIR] [FILE...]
#
# Defaults: --sofer target/debug/sofer; --model: a tiny random-weight GGUF made with
# `sofer model synth --preset tiny --quant q8_0` (its output is gibberish, which is fine: this
# checks the document, not the translation); FILEs: he_knesset.python-docx.docx,
# he_wiki.libreoffice.docx, en_news.pandoc.docx, he_wiki.page.html from
# tests/fixtures/documents/.
#
# For each file: `sofer translate FILE --max-tokens 4 --seed 1 --output OUT` (same extension),
# then
#   (a) LibreOffice headless converts OUT to txt (and, for DOCX, to pdf);
#   (b) counts, original vs output: paragraphs (`sofer text extract --json | wc -l`; a
#       paragraph whose translation came out empty is not extracted, so a drop that equals the
#       number of emptied paragraphs is a warning, not a failure), tables (<w:tbl> / <table>),
#       images (<w:drawing>, r:embed / <img>), and word/media/* bytes (or img src) identical;
#   (c) structure: word/document.xml with <w:t>, w:bidi, w:rtl, w:lang, w:bCs/w:iCs/w:szCs,
#       w:bidiVisual, then empty rPr/pPr and empty runs stripped must be identical (HTML: the
#       tag skeleton without text, dir and lang; inline tags compared separately).
# Warnings (reported, not failures): run formatting per paragraph changed (e.g. runs merged),
# hyperlinks left without text, other zip parts changed, paragraphs emptied.
#
# Prints a summary table; exits 1 if any check failed.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
SOFER="$ROOT/target/debug/sofer"
MODEL=""
WORK=""
FILES=()
while [[ $# -gt 0 ]]; do
    case "$1" in
        --sofer) SOFER="$2"; shift 2 ;;
        --model) MODEL="$2"; shift 2 ;;
        --work) WORK="$2"; shift 2 ;;
        -h|--help) sed -n '2,27p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'; exit 0 ;;
        -*) echo "unknown option $1" >&2; exit 2 ;;
        *) FILES+=("$1"); shift ;;
    esac
done
if [[ ${#FILES[@]} -eq 0 ]]; then
    FX="$ROOT/tests/fixtures/documents"
    FILES=("$FX/he_knesset.python-docx.docx" "$FX/he_wiki.libreoffice.docx"
           "$FX/en_news.pandoc.docx" "$FX/he_wiki.page.html")
fi
[[ -x "$SOFER" ]] || { echo "no sofer binary at $SOFER (cargo build?)" >&2; exit 2; }
for t in soffice python3; do
    command -v "$t" >/dev/null || { echo "$t not found" >&2; exit 2; }
done
if [[ -z "$WORK" ]]; then
    WORK="$(mktemp -d "${TMPDIR:-/tmp}/sofer_roundtrip.XXXXXX")"
fi
mkdir -p "$WORK"
if [[ -z "$MODEL" ]]; then
    MODEL="$WORK/tiny_q8_0.gguf"
    "$SOFER" model synth --preset tiny --quant q8_0 --out "$MODEL" >/dev/null
fi
LO_PROFILE="file://${WORK}/lo_rt"
echo "sofer: $SOFER"
echo "model: $MODEL"
echo "work:  $WORK"
echo

HELPER="$WORK/roundtrip_compare.py"
cat >"$HELPER" <<'PY'
"""compare ORIG OUT ORIG_PARAS OUT_PARAS: prints details, last line 'ROW|...'; exit 1 on FAIL."""
import difflib, hashlib, re, sys, zipfile
import xml.etree.ElementTree as ET
from html.parser import HTMLParser

orig, out, n_orig, n_out = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
fails, warns = [], []
W = "http://schemas.openxmlformats.org/wordprocessingml/2006/main"
PREFIX = {W: "w", "http://schemas.openxmlformats.org/officeDocument/2006/relationships": "r",
          "http://schemas.openxmlformats.org/drawingml/2006/wordprocessingDrawing": "wp",
          "http://schemas.openxmlformats.org/drawingml/2006/main": "a",
          "http://schemas.openxmlformats.org/drawingml/2006/picture": "pic",
          "http://www.w3.org/XML/1998/namespace": "xml",
          "http://schemas.openxmlformats.org/markup-compatibility/2006": "mc"}
STRIP = {f"{{{W}}}{n}" for n in ("t", "bidi", "rtl", "lang", "bCs", "iCs", "szCs", "bidiVisual")}


def qn(name):
    m = re.match(r"\{(.*)\}(.*)", name)
    return f"{PREFIX.get(m.group(1), m.group(1))}:{m.group(2)}" if m else name


def show(el):
    attrs = " ".join(f'{qn(k)}="{v}"' for k, v in sorted(el.attrib.items()))
    return f"<{qn(el.tag)}{' ' + attrs if attrs else ''}>"


def strip(el):
    for ch in list(el):
        if ch.tag in STRIP:
            el.remove(ch)
            continue
        strip(ch)
        if ch.tag in (f"{{{W}}}rPr", f"{{{W}}}pPr") and len(ch) == 0 and not ch.attrib:
            el.remove(ch)
        elif ch.tag == f"{{{W}}}r" and all(c.tag == f"{{{W}}}rPr" for c in ch):
            el.remove(ch)


def skeleton(el, depth=0, lines=None):
    lines = [] if lines is None else lines
    text = (el.text or "").strip()
    lines.append("  " * depth + show(el) + (f" {text!r}" if text else ""))
    for ch in el:
        skeleton(ch, depth + 1, lines)
    return lines


def para_text(p):
    return "".join(t.text or "" for t in p.iter(f"{{{W}}}t"))


def run_format(p):
    """Merged sequence of the rPr (direction/lang stripped) of the runs that carry text."""
    seq = []
    for r in p.iter(f"{{{W}}}r"):
        if not any((t.text or "").strip() for t in r.iter(f"{{{W}}}t")):
            continue
        rpr = r.find(f"{{{W}}}rPr")
        key = "" if rpr is None else "".join(
            show(c) for c in rpr if c.tag not in STRIP)
        if not seq or seq[-1] != key:
            seq.append(key)
    return seq


def count(pattern, s):
    return len(re.findall(pattern, s))


def docx():
    zo, zn = zipfile.ZipFile(orig), zipfile.ZipFile(out)
    do, dn = zo.read("word/document.xml").decode("utf-8"), zn.read("word/document.xml").decode("utf-8")
    # tables and images
    t = (count(r"<w:tbl[ >]", do), count(r"<w:tbl[ >]", dn))
    dr = (count(r"<w:drawing[ >]", do), count(r"<w:drawing[ >]", dn))
    em = (count(r"r:embed=", do), count(r"r:embed=", dn))
    if t[0] != t[1]:
        fails.append(f"tables {t[0]} -> {t[1]}")
    if dr != (dr[0], dr[0]) or em[0] != em[1]:
        fails.append(f"drawings {dr[0]} -> {dr[1]}, r:embed {em[0]} -> {em[1]}")
    no, nn = set(zo.namelist()), set(zn.namelist())
    media_o = sorted(n for n in no if n.startswith("word/media/"))
    media_n = sorted(n for n in nn if n.startswith("word/media/"))
    media_ok = media_o == media_n and all(zo.read(n) == zn.read(n) for n in media_o)
    if not media_ok:
        fails.append(f"word/media differs: {media_o} vs {media_n}")
    if no != nn:
        fails.append(f"zip parts added {sorted(nn - no)} removed {sorted(no - nn)}")
    changed = sorted(n for n in no & nn if n != "word/document.xml" and not n.startswith("word/media/")
                     and zo.read(n) != zn.read(n))
    if changed:
        warns.append(f"other parts changed: {changed}")
    # structure
    ro, rn = ET.fromstring(do.encode()), ET.fromstring(dn.encode())
    po, pn = list(ro.iter(f"{{{W}}}p")), list(rn.iter(f"{{{W}}}p"))
    emptied = sum(1 for a, b in zip(po, pn) if para_text(a).strip() and not para_text(b).strip())
    fmt_diff = [(i, run_format(a), run_format(b)) for i, (a, b) in enumerate(zip(po, pn))
                if para_text(b).strip() and run_format(a) != run_format(b)]
    hl = lambda r: [h for h in r.iter(f"{{{W}}}hyperlink")]
    hl_text = lambda r: sum(1 for h in hl(r) if "".join(t.text or "" for t in h.iter(f"{{{W}}}t")).strip())
    ho, hn = (len(hl(ro)), hl_text(ro)), (len(hl(rn)), hl_text(rn))
    if hn[1] < ho[1]:
        warns.append(f"hyperlinks with text {ho[1]}/{ho[0]} -> {hn[1]}/{hn[0]} "
                     "(link text moved out of <w:hyperlink>: the link is lost)")
    if fmt_diff:
        i, a, b = fmt_diff[0]
        warns.append(f"run formatting changed in {len(fmt_diff)}/{len(pn)} paragraphs, e.g. "
                     f"paragraph {i}: {len(a)} run format(s) -> {len(b)}: {a[:3]} -> {b[:3]}")
    strip(ro)
    strip(rn)
    so, sn = skeleton(ro), skeleton(rn)
    struct_ok = so == sn
    if not struct_ok:
        diff = [l for l in difflib.unified_diff(so, sn, "orig", "out", n=1, lineterm="")]
        fails.append(f"document.xml structure differs ({sum(1 for l in diff if l[:1] in '+-') - 2} lines)")
        print("    structure diff (first 40 lines):")
        for l in diff[:40]:
            print("      " + l)
    return t, (f"{dr[0]}/{em[0]}", f"{dr[1]}/{em[1]}"), media_ok, struct_ok, emptied


INLINE = {"a", "abbr", "b", "bdi", "bdo", "br", "cite", "code", "em", "i", "mark", "q", "s",
          "small", "span", "strong", "sub", "sup", "u", "wbr"}
BLOCK = {"p", "h1", "h2", "h3", "h4", "h5", "h6", "li", "td", "th", "caption", "figcaption",
         "dt", "dd", "blockquote", "pre"}
VOID = {"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source",
        "track", "wbr"}


class Skel(HTMLParser):
    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.tokens, self.inline, self.imgs, self.raw = [], {}, [], None
        self.blocks, self.stack = [], []

    def handle_starttag(self, tag, attrs):
        a = {k: v for k, v in attrs if k not in ("dir", "lang")}
        if tag == "img":
            self.imgs.append(hashlib.sha256((a.get("src") or "").encode()).hexdigest()[:12])
        if tag in INLINE:
            self.inline[tag] = self.inline.get(tag, 0) + 1
        else:
            self.tokens.append(f"<{tag} {sorted(a.items())}>" if a else f"<{tag}>")
        if tag in BLOCK:
            self.blocks.append([tag, ""])
            self.stack.append(len(self.blocks) - 1)
        if tag in ("script", "style"):
            self.raw = tag

    def handle_endtag(self, tag):
        if tag not in INLINE and tag not in VOID:
            self.tokens.append(f"</{tag}>")
        if tag in BLOCK and self.stack:
            self.stack.pop()
        self.raw = None

    def handle_data(self, data):
        if self.raw:
            self.tokens.append(f"  {self.raw} text sha {hashlib.sha256(data.encode()).hexdigest()[:12]}")
        elif self.stack:
            self.blocks[self.stack[-1]][1] += data


def html():
    so, sn = Skel(), Skel()
    so.feed(open(orig, encoding="utf-8").read())
    sn.feed(open(out, encoding="utf-8").read())
    t = (sum(1 for x in so.tokens if x.startswith("<table")), sum(1 for x in sn.tokens if x.startswith("<table")))
    if t[0] != t[1]:
        fails.append(f"tables {t[0]} -> {t[1]}")
    media_ok = so.imgs == sn.imgs
    if not media_ok:
        fails.append(f"img src differ: {so.imgs} vs {sn.imgs}")
    struct_ok = so.tokens == sn.tokens
    if not struct_ok:
        diff = list(difflib.unified_diff(so.tokens, sn.tokens, "orig", "out", n=1, lineterm=""))
        fails.append(f"HTML block skeleton differs ({sum(1 for l in diff if l[:1] in '+-') - 2} lines)")
        print("    skeleton diff (first 40 lines):")
        for l in diff[:40]:
            print("      " + l)
    if so.inline != sn.inline:
        keys = sorted(set(so.inline) | set(sn.inline))
        warns.append("inline tags changed: " + ", ".join(
            f"<{k}> {so.inline.get(k, 0)}->{sn.inline.get(k, 0)}" for k in keys
            if so.inline.get(k, 0) != sn.inline.get(k, 0)))
    emptied = sum(1 for a, b in zip(so.blocks, sn.blocks) if a[1].strip() and not b[1].strip())
    return t, (str(len(so.imgs)), str(len(sn.imgs))), media_ok, struct_ok, emptied


if out.lower().endswith(".docx"):
    t, img, media_ok, struct_ok, emptied = docx()
else:
    t, img, media_ok, struct_ok, emptied = html()
if n_out != n_orig:
    if emptied and n_orig - n_out == emptied:
        warns.append(f"paragraphs {n_orig} -> {n_out}: {emptied} translated to empty text")
    else:
        fails.append(f"paragraphs {n_orig} -> {n_out} ({emptied} emptied)")
elif emptied:
    warns.append(f"{emptied} paragraphs emptied")
for f in fails:
    print(f"    FAIL {f}")
for w in warns:
    print(f"    WARN {w}")
print("ROW|%d->%d|%d->%d|%s->%s|%s|%s|%s|%d" % (
    n_orig, n_out, t[0], t[1], img[0], img[1], "same" if media_ok else "DIFF",
    "same" if struct_ok else "DIFF", "FAIL" if fails else ("WARN" if warns else "ok"), len(warns)))
sys.exit(1 if fails else 0)
PY

paras() { "$SOFER" text extract "$1" --json | wc -l; }

ROWS=()
FAILED=0
for f in "${FILES[@]}"; do
    name="$(basename "$f")"
    ext="${name##*.}"
    stem="${name%.*}"
    d="$WORK/$stem"
    mkdir -p "$d"
    outf="$d/$stem.translated.$ext"
    echo "== $name"
    t0=$(date +%s.%N)
    if ! "$SOFER" translate "$f" --model "$MODEL" --max-tokens 4 --seed 1 --output "$outf" \
            >"$d/translate.stdout" 2>"$d/translate.stderr"; then
        echo "    FAIL translate exited non-zero:"; tail -5 "$d/translate.stderr" | sed 's/^/      /'
        ROWS+=("$name|translate FAILED|||||||"); FAILED=1; continue
    fi
    tr_s=$(python3 -c "import sys; print(f'{float(sys.argv[2])-float(sys.argv[1]):.1f}')" "$t0" "$(date +%s.%N)")
    if [[ ! -s "$outf" ]]; then
        echo "    FAIL no output file"; ROWS+=("$name|no output|||||||"); FAILED=1; continue
    fi
    # (a) LibreOffice conversions
    lo="ok"
    formats=("txt:Text")
    if [[ "$ext" == "docx" ]]; then formats+=("pdf"); fi
    for fmt in "${formats[@]}"; do
        oext="${fmt%%:*}"
        rm -f "$d/$stem.translated.$oext"
        timeout 300 soffice --headless "-env:UserInstallation=$LO_PROFILE" --norestore \
            --convert-to "$fmt" --outdir "$d" "$outf" >"$d/soffice.$oext.log" 2>&1 || true
        if [[ ! -s "$d/$stem.translated.$oext" ]]; then
            echo "    FAIL soffice --convert-to $fmt made no $oext"; lo="FAIL"
        elif [[ "$oext" == "pdf" ]] && ! head -c 5 "$d/$stem.translated.pdf" | grep -q '%PDF-'; then
            echo "    FAIL soffice pdf is not a PDF"; lo="FAIL"
        fi
    done
    if [[ "$lo" == "ok" ]]; then
        # does LibreOffice see the text we wrote? (output paragraphs found in its txt)
        read -r found total < <(python3 - "$d/$stem.translated.txt" <("$SOFER" text extract "$outf" --json) <<'PY'
import json, sys
text = " ".join(open(sys.argv[1], encoding="utf-8-sig", errors="replace").read().split())
paras = [" ".join(json.loads(l)["text"].split()) for l in open(sys.argv[2], encoding="utf-8") if l.strip()]
print(sum(1 for p in paras if p in text), len(paras))
PY
)
        pages=""
        if [[ "$ext" == "docx" ]] && command -v pdfinfo >/dev/null; then
            pages=", pdf $(pdfinfo "$d/$stem.translated.pdf" 2>/dev/null | awk '/^Pages:/{print $2}') page(s)"
        fi
        echo "    soffice: ${formats[*]} ok${pages}; output paragraphs found in LibreOffice's txt: $found/$total"
        [[ "$found" == "$total" ]] || echo "    WARN LibreOffice's txt lacks $((total - found)) output paragraph(s)"
        lo="ok ($found/$total)"
    fi
    # (b) + (c)
    n_o=$(paras "$f"); n_n=$(paras "$outf")
    set +e
    py_out=$(python3 "$HELPER" "$f" "$outf" "$n_o" "$n_n")
    py_rc=$?
    set -e
    echo "$py_out" | grep -v '^ROW|' || true
    row=$(echo "$py_out" | grep '^ROW|' | sed 's/^ROW|//')
    if [[ -z "$row" ]]; then
        echo "    FAIL compare helper crashed (rc $py_rc)"; row="|||||FAIL|0"; py_rc=1
    fi
    status="${row%|*}"; status="${status##*|}"
    if [[ "$lo" == "FAIL" ]]; then status="FAIL"; fi
    if [[ $py_rc -ne 0 || "$lo" == "FAIL" ]]; then FAILED=1; fi
    ROWS+=("$name|${tr_s}s|$lo|${row%|*|*}|$status")
done

echo
echo "| file | translate | LibreOffice | paragraphs | tables | images (drawing/embed; img) | media bytes | structure | result |"
echo "|---|---|---|---|---|---|---|---|---|"
for r in "${ROWS[@]}"; do
    echo "| ${r//|/ | } |"
done
echo
echo "structure: document.xml minus text runs, bidi/rtl/lang, bCs/iCs/szCs, bidiVisual, empty runs"
echo "(HTML: tag skeleton minus text, dir, lang and inline tags). WARN lines above are not failures."
if [[ $FAILED -ne 0 ]]; then
    echo "RESULT: FAILED"
    exit 1
fi
echo "RESULT: ok"
