#!/usr/bin/env python3
"""Make the real-producer document fixtures in tests/fixtures/documents/ (dev only).

Every text comes from licensed data already in the repository (CC BY-SA 4.0, see
data/eval/README.md): data/eval/hebrew/he_ud_docs.jsonl (UD_Hebrew-IAHLTwiki and
UD_Hebrew-IAHLTknesset) and data/eval/parallel/ntrex128_eng_heb.jsonl (NTREX-128). The
fixtures stay under CC BY-SA 4.0.

Sources (each a list of paragraphs, written to <source>.expected.json):
  he_wiki     one Hebrew Wikipedia article (title, section headings, body)
  he_knesset  several pages of Knesset speeches, a numbered list, a 3x3 table, one image
  en_news     an English NTREX news document
  mixed_news  Hebrew NTREX news with embedded Latin names and digits

Producers: python-docx, LibreOffice (odt, docx, pdf), an HTML page, Chromium print-to-PDF,
reportlab, Ghostscript (pdfwrite of the LibreOffice PDF), pandoc (markdown to docx/html).
Bad inputs go to bad/. See tests/fixtures/documents/README.md.

Needs: soffice, chromium, pdftotext, pdftoppm, gs, pandoc, the culmus fonts, python-docx,
reportlab, Pillow; optional pikepdf (AES-encrypted PDF, stream-order check),
msoffcrypto-tool (password-protected DOCX).

Usage:
  python3 scripts/make_document_fixtures.py [--out DIR] [--sources he_wiki,mixed_news]
  python3 scripts/make_document_fixtures.py --long-pdf /tmp/long_500_pages.pdf
  python3 scripts/make_document_fixtures.py --many-entries /tmp/many_entries.docx
"""

import argparse
import base64
import datetime
import html
import io
import json
import os
import re
import shutil
import struct
import subprocess
import sys
import tempfile
import zipfile
import zlib

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
UD_DOCS = os.path.join(ROOT, "data/eval/hebrew/he_ud_docs.jsonl")
NTREX = os.path.join(ROOT, "data/eval/parallel/ntrex128_eng_heb.jsonl")
DEFAULT_OUT = os.path.join(ROOT, "tests/fixtures/documents")

HEB_FONT = "/usr/share/fonts/truetype/culmus/FrankRuehlCLM-Medium.ttf"
HEB_FONT_BOLD = "/usr/share/fonts/truetype/culmus/FrankRuehlCLM-Bold.ttf"
DOCX_CS_FONT = "Frank Ruehl CLM"  # complex-script (Hebrew) font named in the DOCX files
LONG_PAGES = 500
FIXED_DATE = datetime.datetime(2024, 1, 1, 0, 0, 0)
ZIP_DATE = (2024, 1, 1, 0, 0, 0)

SOURCES = ["he_wiki", "mixed_news", "he_knesset", "en_news"]

HEB_RE = re.compile(r"[\u0590-\u05FF]")


def log(*a):
    print(*a, file=sys.stderr, flush=True)


# ---------------------------------------------------------------------------------------------
# Sources


def load_ud():
    docs = {}
    for i, line in enumerate(open(UD_DOCS, encoding="utf-8")):
        d = json.loads(line)
        docs[d.get("doc_id") or f"line{i}"] = d
    return docs


def load_ntrex():
    docs = {}
    for line in open(NTREX, encoding="utf-8"):
        d = json.loads(line)
        docs.setdefault(d["doc_id"], []).append(d)
    return docs


def P(kind, text, **kw):
    p = {"kind": kind, "text": text}
    p.update(kw)
    return p


def group_sentences(sents, sizes=(3, 2)):
    """Groups sentences into paragraphs of alternately 3 and 2 sentences (deterministic)."""
    out, i, k = [], 0, 0
    while i < len(sents):
        n = sizes[k % len(sizes)]
        out.append(" ".join(sents[i:i + n]))
        i += n
        k += 1
    return out


def source_he_wiki(ud):
    d = ud["iahltwiki_bird-mosaic"]
    ps = d["paragraphs"]
    # ps[1], ps[4], ps[7] are the article's section headings ("מיקום וגילוי" ...)
    out = [P("heading", d["meta"]["title"], level=1),
           P("body", ps[0]),
           P("heading", ps[1], level=2), P("body", ps[2]), P("body", ps[3]),
           P("heading", ps[4], level=2), P("body", ps[5]), P("body", ps[6]),
           P("heading", ps[7], level=2), P("body", ps[8])]
    meta = {"lang": "he", "dir": "rtl", "title": d["meta"]["title"],
            "url": d["meta"]["sourceURL"],
            "credit": "UD_Hebrew-IAHLTwiki (" + d["doc_id"] + "), from Hebrew Wikipedia, "
                      + d["meta"]["sourceURL"]}
    return out, meta


def sentences_with_digits(ud, doc_ids):
    out = []
    for doc_id in doc_ids:
        for p in ud[doc_id]["paragraphs"]:
            for s in re.split(r"(?<=[.?!])\s+", p):
                if re.search(r"\d", s):
                    out.append(s)
    return out


def source_he_knesset(ud):
    a = ud["19_ptm_221681"]["paragraphs"]
    b = ud["15_ptv_490855"]["paragraphs"]
    c = ud["15_ptv_490826"]["paragraphs"]
    h1 = "רבות דובר על היקף החקיקה במדינת ישראל"  # first sentence of a[1], without its full stop
    assert a[1].startswith(h1)
    out = [P("heading", h1, level=1)]
    for p in a[1:]:
        out.append(P("body", p))
    # a numbered list made of the speeches' sentences that hold numbers
    digits = sentences_with_digits(ud, ["15_ptv_490826", "15_ptv_490855", "19_ptm_221681",
                                        "19_ptm_260915", "19_ptv_224515", "20_ptv_320216"])
    pick = [s for s in digits if len(s) < 260]
    want = [
        (1, "בפעם הראשונה יש 47 חברי כנסת חדשים."),
        (1, "65 שנה עברו ועדיין לא הצלחנו להגיע למציאות כל כך פשוטה."),
        (1, "אנחנו עוברים לסעיף הבא בסדר-היום: כוונת רשות המיסים להטיל מס של עד 48% על מענקי"
            " עידוד למתמחים בפריפריה או במקצועות במחסור."),
        (2, "היה הסכם, 500,000 שקל, 300,000 שקל."),
        (2, "התשובה הרשמית של המשרד היא כזאת: הרפורמה בתעריפים שבוצעה ביולי 2011 הייתה רפורמה"
            " במטרופולין גוש-דן."),
        (1, "במסגרת רפורמות אלו נקבע תעריף אזורי אחיד עם מעברים חופשיים במשך 90 דקות, כל זאת"
            " באזורים המצוינים כאמור, חיפה, גוש-דן וירושלים."),
        (1, "זה לא בבעלות הבלעדית של משרד התחבורה, ואני מאוד מקווה שב-2014 נוכל להציג את"
            " הרפורמה הזאת כשלמה."),
    ]
    for lvl, s in want:
        assert s in pick, s
    out.append(P("heading", a[0].rstrip("."), level=2))  # "800 הצעות חוק פרטיות"
    for lvl, s in want:
        out.append(P("list_item", s, level=lvl))
    # a 3x3 table; every cell is a phrase of the speeches
    cells = [["הצעות חוק פרטיות", "800", "4,600"],
             ["מענקי עידוד", "48%", "500,000 שקל"],
             ["מעברים חופשיים", "90 דקות", "2011"]]
    alltext = " ".join(a + b + c + ud["19_ptv_224515"]["paragraphs"]
                       + ud["19_ptm_260915"]["paragraphs"])
    for row in cells:
        for cell in row:
            assert cell in alltext, cell
    for r, row in enumerate(cells):
        for col, cell in enumerate(row):
            out.append(P("table_cell", cell, table=0, row=r, column=col))
    h2 = "זכותו של חבר כנסת להגיע לכל מקום"
    assert b[10] == h2 + "."
    out.append(P("heading", h2, level=2))
    for i, p in enumerate(b):
        if i != 10:
            out.append(P("body", p))
    for p in c:
        out.append(P("body", p))
    meta = {"lang": "he", "dir": "rtl", "title": h1,
            "url": "https://github.com/UniversalDependencies/UD_Hebrew-IAHLTknesset",
            "credit": "UD_Hebrew-IAHLTknesset (19_ptm_221681, 15_ptv_490855, 15_ptv_490826 and"
                      " sentences of 19_ptm_260915, 19_ptv_224515), Knesset proceedings"}
    return out, meta


def source_en_news(nt):
    doc = nt["bbc.381790"]
    sents = [d["eng"] for d in doc]
    out = [P("heading", sents[0], level=1)]
    for p in group_sentences(sents[1:]):
        out.append(P("body", p))
    meta = {"lang": "en", "dir": "ltr", "title": sents[0],
            "url": "https://github.com/MicrosoftTranslator/NTREX",
            "credit": "NTREX-128 (newstest2019 document bbc.381790, English source)"}
    return out, meta


def source_mixed_news(nt):
    out = []
    for doc_id in ["bbc.381669", "rt.com.91350"]:
        sents = [d["heb"] for d in nt[doc_id]]
        out.append(P("heading", sents[0], level=1))
        for p in group_sentences(sents[1:]):
            out.append(P("body", p))
    meta = {"lang": "he", "dir": "rtl", "title": nt["bbc.381669"][0]["heb"],
            "url": "https://github.com/MicrosoftTranslator/NTREX",
            "credit": "NTREX-128 (newstest2019 documents bbc.381669 and rt.com.91350, Hebrew"
                      " reference translation)"}
    return out, meta


def build_sources():
    ud, nt = load_ud(), load_ntrex()
    return {
        "he_wiki": source_he_wiki(ud),
        "he_knesset": source_he_knesset(ud),
        "en_news": source_en_news(nt),
        "mixed_news": source_mixed_news(nt),
    }


def blocks(paras):
    """Groups paragraphs into blocks: ('p', para) | ('list', [paras]) | ('table', [[cells]])."""
    out = []
    for p in paras:
        k = p["kind"]
        if k == "list_item":
            if out and out[-1][0] == "list":
                out[-1][1].append(p)
            else:
                out.append(("list", [p]))
        elif k == "table_cell":
            if not (out and out[-1][0] == "table" and out[-1][2] == p["table"]):
                out.append(("table", [], p["table"]))
            rows = out[-1][1]
            while len(rows) <= p["row"]:
                rows.append([])
            rows[p["row"]].append(p["text"])
        else:
            out.append(("p", p))
    return out


# inline formatting put into the DOCX (and HTML) files: (paragraph index, substring, kind)
def formatting(source, paras, meta):
    body = [i for i, p in enumerate(paras) if p["kind"] == "body"]
    f = []
    if source == "he_wiki":
        f = [(body[0], "פסיפס הציפורים", "b"), (body[1], "שער שכם", "i"),
             (body[2], "1894", "b"), (body[3], "הביזנטית", "link:" + meta["url"])]
    elif source == "he_knesset":
        f = [(body[0], "רבות דובר", "b"), (body[1], "נחמן שי", "i"),
             (body[2], "אדוני השר", "link:" + meta["url"])]
    elif source == "mixed_news":
        f = [(body[0], "HIV", "b"), (body[0], "2018", "i"),
             (body[5], "Rheinland-Pfalz", "link:https://github.com/MicrosoftTranslator/NTREX")]
    elif source == "en_news":
        f = [(body[0], "consternation", "b"), (body[1], "Twp and Pwp", "i"),
             (body[3], "Government of Wales Act 2017", "link:" + meta["url"])]
    for i, s, _ in f:
        assert s in paras[i]["text"], (source, i, s)
    return f


# ---------------------------------------------------------------------------------------------
# helpers


def run(cmd, **kw):
    log("+", " ".join(cmd) if isinstance(cmd, list) else cmd)
    return subprocess.run(cmd, check=True, **kw)


def tool_version(cmd):
    try:
        out = subprocess.run(cmd, capture_output=True, text=True, timeout=60)
        lines = [l for l in (out.stdout + out.stderr).splitlines()
                 if l.strip() and "unexpected operator" not in l]
        return lines[0].strip() if lines else "?"
    except Exception as e:  # noqa
        return f"unavailable ({e})"


def normalize_zip(path):
    """Rewrites a zip with fixed timestamps (same entries, order and compression)."""
    with zipfile.ZipFile(path) as z:
        items = [(i, z.read(i.filename)) for i in z.infolist()]
    with zipfile.ZipFile(path, "w") as z:
        for info, data in items:
            zi = zipfile.ZipInfo(info.filename, ZIP_DATE)
            zi.compress_type = info.compress_type
            zi.external_attr = 0o644 << 16
            z.writestr(zi, data)


def pdftotext(path, *args):
    return subprocess.run(["pdftotext", *args, path, "-"], capture_output=True, text=True,
                          check=True).stdout


def pdf_pages(path):
    out = subprocess.run(["pdfinfo", path], capture_output=True, text=True).stdout
    m = re.search(r"^Pages:\s+(\d+)", out, re.M)
    return int(m.group(1)) if m else 0


def make_png(width=160, height=80):
    """A small deterministic PNG (a blue-white stripe pattern with a frame), hand-encoded."""
    rows = []
    for y in range(height):
        row = bytearray([0])
        for x in range(width):
            edge = x < 3 or y < 3 or x >= width - 3 or y >= height - 3
            if edge:
                px = (20, 40, 120)
            elif ((x + y) // 10) % 2:
                px = (60, 110, 200)
            else:
                px = (235, 240, 250)
            row += bytes(px)
        rows.append(bytes(row))
    raw = zlib.compress(b"".join(rows), 9)

    def chunk(t, d):
        return struct.pack(">I", len(d)) + t + d + struct.pack(">I", zlib.crc32(t + d) & 0xffffffff)

    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0))
            + chunk(b"IDAT", raw) + chunk(b"IEND", b""))


# ---------------------------------------------------------------------------------------------
# python-docx


LATIN_SEG = re.compile(r"[A-Za-z][A-Za-z0-9&'.\-/ ]*[A-Za-z0-9]|[A-Za-z]")


def script_segments(text, rtl_doc):
    """Splits text into (segment, is_rtl_run) as Word does: Latin words are LTR runs."""
    if not rtl_doc:
        return [(text, False)]
    out, pos = [], 0
    for m in LATIN_SEG.finditer(text):
        if m.start() > pos:
            out.append((text[pos:m.start()], True))
        out.append((m.group(0), False))
        pos = m.end()
    if pos < len(text):
        out.append((text[pos:], True))
    return out


def make_docx(path, source, paras, meta, image_png=None, page_breaks=False):
    import docx
    from docx.enum.text import WD_ALIGN_PARAGRAPH
    from docx.opc.constants import RELATIONSHIP_TYPE as RT
    from docx.oxml import OxmlElement
    from docx.oxml.ns import qn
    from docx.shared import Cm, RGBColor

    rtl = meta["dir"] == "rtl"
    d = docx.Document()
    cp = d.core_properties
    cp.author = "Sofer fixtures"
    cp.last_modified_by = "Sofer fixtures"
    cp.created = FIXED_DATE
    cp.modified = FIXED_DATE
    cp.revision = 1
    cp.title = meta["title"]
    cp.language = "he-IL" if rtl else "en-US"
    cp.comments = "Text: " + meta["credit"] + ". Licence: CC BY-SA 4.0."

    # document defaults: language and complex-script font and size
    rpr_default = d.styles.element.find(qn("w:docDefaults")).find(qn("w:rPrDefault")).find(qn("w:rPr"))
    for tag in ("w:lang", "w:rFonts"):
        for el in rpr_default.findall(qn(tag)):
            rpr_default.remove(el)
    fonts = OxmlElement("w:rFonts")
    fonts.set(qn("w:cs"), DOCX_CS_FONT)
    fonts.set(qn("w:ascii"), "Liberation Serif" if rtl else "Liberation Sans")
    fonts.set(qn("w:hAnsi"), "Liberation Serif" if rtl else "Liberation Sans")
    rpr_default.insert(0, fonts)
    szcs = OxmlElement("w:szCs")
    szcs.set(qn("w:val"), "24")
    rpr_default.append(szcs)
    lang = OxmlElement("w:lang")
    lang.set(qn("w:val"), "en-US")
    lang.set(qn("w:bidi"), "he-IL")
    rpr_default.append(lang)

    if rtl:
        sect = d.sections[0]._sectPr
        bidi = OxmlElement("w:bidi")
        # w:bidi goes after w:pgMar/w:cols/... ; before w:docGrid is good enough for Word and LO
        grid = sect.find(qn("w:docGrid"))
        if grid is not None:
            grid.addprevious(bidi)
        else:
            sect.append(bidi)

    fmt = formatting(source, paras, meta)

    def set_pbidi(p):
        if rtl:
            ppr = p._p.get_or_add_pPr()
            b = OxmlElement("w:bidi")
            # keep schema order: pStyle, keepNext, ..., numPr, ..., bidi, ..., jc
            jc = ppr.find(qn("w:jc"))
            if jc is not None:
                jc.addprevious(b)
            else:
                ppr.append(b)

    def add_run(p, text, is_rtl, bold=False, italic=False, parent=None):
        r = p.add_run(text)
        if bold:
            r.bold = True
            # complex-script bold too
            r._r.get_or_add_rPr().append(OxmlElement("w:bCs"))
        if italic:
            r.italic = True
            r._r.get_or_add_rPr().append(OxmlElement("w:iCs"))
        rpr = r._r.get_or_add_rPr()
        if is_rtl:
            rpr.append(OxmlElement("w:rtl"))
            lg = OxmlElement("w:lang")
            lg.set(qn("w:bidi"), "he-IL")
            rpr.append(lg)
        elif rtl:
            lg = OxmlElement("w:lang")
            lg.set(qn("w:val"), "en-US")
            rpr.append(lg)
        if parent is not None:
            parent.append(r._r)
        return r

    def add_text(p, text, spans):
        # spans: [(start, end, kind)]
        cuts = sorted({0, len(text)} | {s for s, _, _ in spans} | {e for _, e, _ in spans})
        for a, b in zip(cuts, cuts[1:]):
            kind = next((k for s, e, k in spans if s <= a and b <= e), None)
            piece = text[a:b]
            link = None
            if kind and kind.startswith("link:"):
                rid = d.part.relate_to(kind[5:], RT.HYPERLINK, is_external=True)
                link = OxmlElement("w:hyperlink")
                link.set(qn("r:id"), rid)
                p._p.append(link)
            for seg, is_rtl in script_segments(piece, rtl):
                r = add_run(p, seg, is_rtl, bold=(kind == "b"), italic=(kind == "i"), parent=link)
                if link is not None:
                    r.font.underline = True
                    r.font.color.rgb = RGBColor(0x05, 0x63, 0xC1)

    def spans_for(i, text):
        out = []
        for j, s, k in fmt:
            if j == i:
                a = text.index(s)
                out.append((a, a + len(s), k))
        return out

    idx = {id(p): i for i, p in enumerate(paras)}
    first = True
    for blk in blocks(paras):
        if blk[0] == "p":
            p0 = blk[1]
            if p0["kind"] == "heading":
                p = d.add_paragraph(style=f"Heading {p0['level']}")
            else:
                p = d.add_paragraph()
            if page_breaks and not first:
                p.paragraph_format.page_break_before = True
            first = False
            set_pbidi(p)
            add_text(p, p0["text"], spans_for(idx[id(p0)], p0["text"]))
        elif blk[0] == "list":
            for it in blk[1]:
                style = "List Number" if it["level"] == 1 else f"List Number {it['level']}"
                p = d.add_paragraph(style=style)
                set_pbidi(p)
                add_text(p, it["text"], spans_for(idx[id(it)], it["text"]))
        else:
            rows = blk[1]
            t = d.add_table(rows=len(rows), cols=max(len(r) for r in rows))
            t.style = "Table Grid"
            if rtl:
                tblpr = t._tbl.tblPr
                bv = OxmlElement("w:bidiVisual")
                tblpr.insert(1 if tblpr.find(qn("w:tblStyle")) is not None else 0, bv)
            for r, row in enumerate(rows):
                for c, cell in enumerate(row):
                    cp_ = t.cell(r, c).paragraphs[0]
                    set_pbidi(cp_)
                    add_text(cp_, cell, [])
            if image_png:
                p = d.add_paragraph()
                p.alignment = WD_ALIGN_PARAGRAPH.CENTER
                set_pbidi(p)
                p.add_run().add_picture(io.BytesIO(image_png), width=Cm(4))
    d.save(path)
    normalize_zip(path)


# ---------------------------------------------------------------------------------------------
# HTML

BOILER = {
    "he": {"site": "אתר הדוגמאות של סופר", "nav": ["דף הבית", "חדשות", "ארכיון", "צור קשר"],
           "aside": "כתבות קשורות", "related": ["עוד באותו נושא", "הכי נקראים"],
           "footer": "כל התכנים באתר זה הם דוגמה בלבד. מדיניות פרטיות | תנאי שימוש"},
    "en": {"site": "Sofer sample site", "nav": ["Home", "News", "Archive", "Contact"],
           "aside": "Related stories", "related": ["More on this topic", "Most read"],
           "footer": "All content on this site is a sample only. Privacy policy | Terms of use"},
}

CSS = """
body { font-family: 'Frank Ruehl CLM', 'David CLM', 'Noto Serif Hebrew', serif; font-size: 12pt;
       line-height: 1.4; margin: 0; }
main { max-width: 42em; margin: 0 auto; padding: 1em; }
nav a, header a { margin: 0 .5em; }
table { border-collapse: collapse; margin: 1em 0; }
td { border: 1px solid #444; padding: .2em .6em; }
figure { text-align: center; }
"""


def html_inline(text, spans):
    cuts = sorted({0, len(text)} | {s for s, _, _ in spans} | {e for _, e, _ in spans})
    out = []
    for a, b in zip(cuts, cuts[1:]):
        kind = next((k for s, e, k in spans if s <= a and b <= e), None)
        t = html.escape(text[a:b], quote=False)
        if kind == "b":
            t = f"<strong>{t}</strong>"
        elif kind == "i":
            t = f"<em>{t}</em>"
        elif kind and kind.startswith("link:"):
            t = f'<a href="{html.escape(kind[5:])}">{t}</a>'
        out.append(t)
    return "".join(out)


def make_html(source, paras, meta, boilerplate=True, image_png=None):
    lang, dr = meta["lang"], meta["dir"]
    fmt = formatting(source, paras, meta)
    idx = {id(p): i for i, p in enumerate(paras)}

    def spans(p):
        i = idx[id(p)]
        return [(p["text"].index(s), p["text"].index(s) + len(s), k) for j, s, k in fmt if j == i]

    body = []
    for blk in blocks(paras):
        if blk[0] == "p":
            p = blk[1]
            if p["kind"] == "heading":
                body.append(f"<h{p['level']}>{html_inline(p['text'], spans(p))}</h{p['level']}>")
            else:
                body.append(f"<p>{html_inline(p['text'], spans(p))}</p>")
        elif blk[0] == "list":
            # nested ordered lists: a level-2 item sits inside the preceding level-1 <li>
            s, depth = [], 0
            for it in blk[1]:
                lvl = it["level"]
                if depth == 0:
                    s.append("<ol>")
                    depth = 1
                while depth < lvl:
                    s.append("<ol>")
                    depth += 1
                while depth > lvl:
                    s.append("</li></ol>")
                    depth -= 1
                if s[-1] not in ("<ol>",):
                    s.append("</li>")
                s.append(f"<li>{html_inline(it['text'], spans(it))}")
            while depth > 0:
                s.append("</li></ol>")
                depth -= 1
            body.append("\n".join(s))
        else:
            rows = "\n".join("<tr>" + "".join(f"<td>{html.escape(c, quote=False)}</td>" for c in r)
                             + "</tr>" for r in blk[1])
            body.append(f"<table>\n<tbody>\n{rows}\n</tbody>\n</table>")
            if image_png:
                b64 = base64.b64encode(image_png).decode()
                body.append(f'<figure><img src="data:image/png;base64,{b64}" alt="" width="151"'
                            f' height="76"></figure>')
    article = "\n".join(body)
    title = html.escape(meta["title"], quote=False)
    if not boilerplate:
        return (f'<!DOCTYPE html>\n<html lang="{lang}" dir="{dr}">\n<head>\n<meta charset="utf-8">\n'
                f"<title>{title}</title>\n<style>{CSS}</style>\n</head>\n<body>\n<main>\n<article>\n"
                f"{article}\n</article>\n</main>\n</body>\n</html>\n")
    b = BOILER[lang]
    nav = "\n".join(f'<li><a href="#{i}">{html.escape(x)}</a></li>' for i, x in enumerate(b["nav"]))
    rel = "\n".join(f'<li><a href="#r{i}">{html.escape(x)}</a></li>' for i, x in enumerate(b["related"]))
    credit = html.escape("Text: " + meta["credit"] + ". CC BY-SA 4.0.", quote=False)
    return f"""<!DOCTYPE html>
<html lang="{lang}" dir="{dr}">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{title} | {html.escape(b['site'])}</title>
<style>{CSS}</style>
<script>
  window.dataLayer = window.dataLayer || [];
  function track(event) {{ window.dataLayer.push({{event: event, page: "{source}"}}); }}
  document.addEventListener("DOMContentLoaded", function () {{ track("view"); }});
</script>
</head>
<body>
<header>
<a class="logo" href="#top">{html.escape(b['site'])}</a>
<nav aria-label="menu">
<ul>
{nav}
</ul>
</nav>
</header>
<main>
<article>
{article}
</article>
<aside>
<h2>{html.escape(b['aside'])}</h2>
<ul>
{rel}
</ul>
</aside>
</main>
<footer>
<p>{html.escape(b['footer'])}</p>
<p>{credit}</p>
</footer>
<script>track("footer");</script>
</body>
</html>
"""


# ---------------------------------------------------------------------------------------------
# reportlab


def make_reportlab(path, paras, meta, encrypt=None, image_png=None):
    from reportlab import rl_config
    rl_config.invariant = 1
    from reportlab.lib.enums import TA_LEFT, TA_RIGHT
    from reportlab.lib.pagesizes import A4
    from reportlab.lib.styles import ParagraphStyle
    from reportlab.lib.units import cm
    from reportlab.pdfbase import pdfmetrics
    from reportlab.pdfbase.ttfonts import TTFont
    from reportlab.platypus import Paragraph, SimpleDocTemplate, Spacer, Table, TableStyle, Image
    from reportlab.lib import colors

    try:
        pdfmetrics.getFont("FrankRuehl")
    except KeyError:
        pdfmetrics.registerFont(TTFont("FrankRuehl", HEB_FONT))
        pdfmetrics.registerFont(TTFont("FrankRuehl-Bold", HEB_FONT_BOLD))
    align = TA_RIGHT if meta["dir"] == "rtl" else TA_LEFT
    base = ParagraphStyle("b", fontName="FrankRuehl", fontSize=12, leading=16, alignment=align,
                          spaceAfter=6)
    heads = {1: ParagraphStyle("h1", parent=base, fontName="FrankRuehl-Bold", fontSize=18,
                               leading=22, spaceBefore=6, spaceAfter=10),
             2: ParagraphStyle("h2", parent=base, fontName="FrankRuehl-Bold", fontSize=14,
                               leading=18, spaceBefore=8, spaceAfter=6)}
    lists = {1: ParagraphStyle("l1", parent=base, leftIndent=18, rightIndent=18, spaceAfter=2),
             2: ParagraphStyle("l2", parent=base, leftIndent=36, rightIndent=36, spaceAfter=2)}
    cellst = ParagraphStyle("c", parent=base, spaceAfter=0)
    esc = lambda t: html.escape(t, quote=False)  # noqa: E731
    story = []
    for blk in blocks(paras):
        if blk[0] == "p":
            p = blk[1]
            st = heads[p["level"]] if p["kind"] == "heading" else base
            story.append(Paragraph(esc(p["text"]), st))
        elif blk[0] == "list":
            n = {1: 0, 2: 0}
            for it in blk[1]:
                lvl = it["level"]
                n[lvl] += 1
                if lvl == 1:
                    n[2] = 0
                label = f"{n[1]}." if lvl == 1 else f"{n[1]}.{n[2]}."
                story.append(Paragraph(esc(it["text"]), lists[lvl], bulletText=label))
        else:
            data = [[Paragraph(esc(c), cellst) for c in r] for r in blk[1]]
            t = Table(data, colWidths=[4.5 * cm] * len(data[0]))
            t.setStyle(TableStyle([("GRID", (0, 0), (-1, -1), 0.5, colors.black),
                                   ("VALIGN", (0, 0), (-1, -1), "TOP")]))
            story.append(Spacer(1, 6))
            story.append(t)
            story.append(Spacer(1, 6))
            if image_png:
                story.append(Image(io.BytesIO(image_png), width=4 * cm, height=2 * cm))
    kw = {}
    if encrypt is not None:
        kw["encrypt"] = encrypt
    doc = SimpleDocTemplate(path, pagesize=A4, title=meta["title"], author="Sofer fixtures",
                            subject="Text: " + meta["credit"] + ". CC BY-SA 4.0.",
                            leftMargin=2 * cm, rightMargin=2 * cm, topMargin=2 * cm,
                            bottomMargin=2 * cm, invariant=1, **kw)
    doc.build(story)


# ---------------------------------------------------------------------------------------------
# pandoc


def make_markdown(paras, meta):
    out = []
    for blk in blocks(paras):
        if blk[0] == "p":
            p = blk[1]
            t = p["text"]
            if p["kind"] == "heading":
                out.append("#" * p["level"] + " " + t)
            else:
                # escape characters markdown would read as markup
                t = re.sub(r"([\\`*_\[\]<>#|])", r"\\\1", t)
                if re.match(r"^\d+[.)]\s", t) or t.startswith(("- ", "+ ", "> ")):
                    t = "\\" + t
                out.append(t)
        elif blk[0] == "list":
            lines = []
            for it in blk[1]:
                lines.append("    " * (it["level"] - 1) + "1.  " + it["text"])
            out.append("\n".join(lines))
        else:
            rows = blk[1]
            lines = ["| " + " | ".join(" " for _ in rows[0]) + " |",
                     "|" + "|".join("---" for _ in rows[0]) + "|"]
            lines += ["| " + " | ".join(c for c in r) + " |" for r in rows]
            out.append("\n".join(lines))
    body = "\n\n".join(out) + "\n"
    if meta["dir"] == "rtl":
        body = "::: {dir=rtl lang=he}\n\n" + body + "\n:::\n"
    return body


def make_pandoc(workdir, outdir, source, paras, meta, manifest):
    md = os.path.join(workdir, source + ".md")
    with open(md, "w", encoding="utf-8") as f:
        f.write(make_markdown(paras, meta))
    common = ["pandoc", "-f", "markdown-smart", md, "--metadata", "lang=" + ("he-IL" if meta["lang"] == "he" else "en-US"),
              "--metadata", "pagetitle=" + meta["title"]]
    if meta["dir"] == "rtl":
        common += ["--metadata", "dir=rtl"]
    out_docx = os.path.join(outdir, f"{source}.pandoc.docx")
    env = dict(os.environ, SOURCE_DATE_EPOCH=str(int(FIXED_DATE.replace(tzinfo=datetime.timezone.utc).timestamp())))
    run(common + ["-t", "docx", "-o", out_docx], env=env)
    normalize_zip(out_docx)
    out_html = os.path.join(outdir, f"{source}.pandoc.html")
    run(common + ["-t", "html5", "-s", "-o", out_html], env=env)
    with zipfile.ZipFile(out_docx) as z:
        doc = z.read("word/document.xml").decode()
    has_bidi = "<w:bidi" in doc
    has_rtl = "<w:rtl" in doc
    note = ("pandoc markdown -> docx" + (f"; Hebrew paragraphs have w:bidi={has_bidi}, runs w:rtl={has_rtl}"
                                         if meta["dir"] == "rtl" else ""))
    add(manifest, f"{source}.pandoc.docx", source, "pandoc", "docx", "n/a", note)
    add(manifest, f"{source}.pandoc.html", source, "pandoc", "html", "n/a",
        "pandoc -s markdown -> html5 (no boilerplate)")


# ---------------------------------------------------------------------------------------------
# PDF content-stream order (needs pikepdf)


def _parse_tounicode(data):
    m = {}
    for blk in re.findall(rb"beginbfchar(.*?)endbfchar", data, re.S):
        for a, b in re.findall(rb"<([0-9A-Fa-f]+)>\s*<([0-9A-Fa-f]*)>", blk):
            m[int(a, 16)] = (bytes.fromhex(b.decode()).decode("utf-16-be", "replace"), len(a) // 2)
    for blk in re.findall(rb"beginbfrange(.*?)endbfrange", data, re.S):
        for a, b, rest in re.findall(rb"<([0-9A-Fa-f]+)>\s*<([0-9A-Fa-f]+)>\s*(\[[^\]]*\]|<[0-9A-Fa-f]*>)", blk):
            lo, hi, nb = int(a, 16), int(b, 16), len(a) // 2
            if rest.startswith(b"["):
                for k, h in enumerate(re.findall(rb"<([0-9A-Fa-f]*)>", rest)):
                    m[lo + k] = (bytes.fromhex(h.decode()).decode("utf-16-be", "replace"), nb)
            else:
                base = bytes.fromhex(rest[1:-1].decode())
                for k in range(hi - lo + 1):
                    v = int.from_bytes(base, "big") + k
                    m[lo + k] = (v.to_bytes(len(base), "big").decode("utf-16-be", "replace"), nb)
    return m


def stream_text_runs(path):
    """Text of the PDF's show operators in content-stream order, one string per BT..ET block."""
    import pikepdf
    out = []
    with pikepdf.open(path) as pdf:
        def font_map(font):
            if "/ToUnicode" in font:
                return _parse_tounicode(font.ToUnicode.read_bytes())
            return None

        def walk(obj, resources):
            fonts = {}
            if resources is not None and "/Font" in resources:
                for name, f in resources.Font.items():
                    fonts[name] = f
            cur = None
            cmap = None
            buf = []
            for operands, op in pikepdf.parse_content_stream(obj):
                op = str(op)
                if op == "Tf":
                    fname = str(operands[0])
                    f = fonts.get(fname)
                    cur = f
                    cmap = font_map(f) if f is not None else None
                elif op in ("Tj", "'", '"', "TJ"):
                    items = operands[-1]
                    strs = [items] if op != "TJ" else [x for x in items if isinstance(x, pikepdf.String)]
                    for s in strs:
                        b = bytes(s)
                        if cmap:
                            nb = next(iter(cmap.values()))[1]
                            for k in range(0, len(b), nb):
                                code = int.from_bytes(b[k:k + nb], "big")
                                buf.append(cmap.get(code, ("?", nb))[0])
                        else:
                            buf.append(b.decode("latin-1"))
                elif op == "ET":
                    out.append("".join(buf))
                    buf = []
                elif op == "Do":
                    xo = resources.XObject.get(str(operands[0])) if resources is not None and "/XObject" in resources else None
                    if xo is not None and xo.get("/Subtype") == "/Form":
                        walk(xo, xo.get("/Resources", resources))
            if buf:
                out.append("".join(buf))

        for page in pdf.pages:
            walk(page, page.obj.get("/Resources"))
    return out


def stream_order(path, paras):
    """'logical' | 'visual' | 'mixed' | 'n/a' for the Hebrew in a PDF's content stream."""
    heb = "".join(re.sub(r"[^\u05D0-\u05EA]", "", p["text"]) for p in paras)
    if not heb:
        return "n/a", "no Hebrew"
    try:
        runs = stream_text_runs(path)
    except ImportError:
        return "?", "pikepdf not installed: not checked"
    except Exception as e:  # encrypted etc.
        return "?", f"not checked ({e})"
    logical = visual = 0
    for r in runs:
        for w in re.findall(r"[\u05D0-\u05EA]{3,}", r):
            if w in heb and w[::-1] not in heb:
                logical += 1
            elif w[::-1] in heb and w not in heb:
                visual += 1
    total = logical + visual
    how = (f"content stream decoded with ToUnicode (pikepdf): {logical} Hebrew letter runs in"
           f" logical order, {visual} reversed")
    if total == 0:
        return "?", how
    if logical >= 0.9 * total:
        return "logical", how
    if visual >= 0.9 * total:
        return "visual", how
    return "mixed", how


# ---------------------------------------------------------------------------------------------
# manifest


def add(manifest, file, source, producer, fmt, order, notes):
    manifest[file] = {"file": file, "source": source, "producer": producer, "format": fmt,
                      "stream_order": order, "notes": notes}


def soffice(args, workdir):
    profile = os.path.join(workdir, "lo_profile")
    cmd = ["soffice", f"-env:UserInstallation=file://{profile}", "--headless", "--norestore"] + args
    run(cmd, stdout=subprocess.DEVNULL, timeout=900)


def lo_convert(files, fmt, outdir, workdir):
    os.makedirs(outdir, exist_ok=True)
    soffice(["--convert-to", fmt, "--outdir", outdir] + files, workdir)


def chromium_pdf(html_path, pdf_path, workdir):
    udd = tempfile.mkdtemp(prefix="chromium_", dir=workdir)
    cmd = ["chromium", "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
           "--no-first-run", "--disable-background-networking", "--disable-component-update",
           "--disable-sync", f"--user-data-dir={udd}", "--no-pdf-header-footer",
           f"--print-to-pdf={pdf_path}", "file://" + html_path]
    run(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, timeout=300)
    shutil.rmtree(udd, ignore_errors=True)


def make_columns_pdf(out, workdir, s, paras, meta, manifest):
    """A two-column page (CSS columns) printed by Chromium: columns read in the page's
    direction, right column first for Hebrew."""
    page = make_html(s, paras, meta, boilerplate=False)
    page = page.replace("</head>", "<style>article{column-count:2;column-gap:3em}</style>\n</head>", 1)
    src = os.path.join(workdir, f"{s}.columns.html")
    open(src, "w", encoding="utf-8").write(page)
    pdf = os.path.join(out, f"{s}.chromium-columns.pdf")
    chromium_pdf(src, pdf, workdir)
    order, how = stream_order(pdf, paras)
    add(manifest, f"{s}.chromium-columns.pdf", s, "chromium", "pdf", order,
        "Chromium print-to-pdf of the page set in two CSS columns (column-count: 2); "
        f"{how}")


def ghostscript(src, dst, *extra):
    run(["gs", "-q", "-dSAFER", "-dBATCH", "-dNOPAUSE", "-sDEVICE=pdfwrite", "-dOmitInfoDate",
         "-dOmitID", "-dOmitXMP", *extra,
         "-o", dst, src], stdout=subprocess.DEVNULL)


def check_pdf_text(path, paras):
    """Fraction of the expected words that pdftotext finds (a quick sanity check)."""
    txt = pdftotext(path)
    have = set(txt.split())
    words = [w for p in paras for w in p["text"].split()]
    return sum(1 for w in words if w in have) / max(1, len(words))


# ---------------------------------------------------------------------------------------------
# bad inputs


def zip_bomb(path, inflated=320 * 1024 * 1024):
    """A valid-looking DOCX whose word/document.xml inflates to > 300 MiB."""
    ct = ('<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
          '<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">'
          '<Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships+xml"/>'
          '<Default Extension="xml" ContentType="application/xml"/>'
          '<Override PartName="/word/document.xml" ContentType="application/vnd.openxmlformats-officedocument.wordprocessingml.document.main+xml"/>'
          '</Types>')
    rels = ('<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
            '<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">'
            '<Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/officeDocument" Target="word/document.xml"/>'
            '</Relationships>')
    head = ('<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
            '<w:document xmlns:w="http://schemas.openxmlformats.org/wordprocessingml/2006/main"><w:body>'
            '<w:p><w:r><w:t>').encode()
    tail = b"</w:t></w:r></w:p></w:body></w:document>"
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED, compresslevel=9) as z:
        for name, data in (("[Content_Types].xml", ct), ("_rels/.rels", rels)):
            zi = zipfile.ZipInfo(name, ZIP_DATE)
            zi.compress_type = zipfile.ZIP_DEFLATED
            z.writestr(zi, data)
        zi = zipfile.ZipInfo("word/document.xml", ZIP_DATE)
        zi.compress_type = zipfile.ZIP_DEFLATED
        chunk = b"a" * (1 << 20)
        with z.open(zi, "w") as f:
            f.write(head)
            n = len(head) + len(tail)
            while n + len(chunk) <= inflated:
                f.write(chunk)
                n += len(chunk)
            f.write(b"a" * (inflated - n))
            f.write(tail)


def many_entries(path, n=20000):
    """A zip named .docx with a minimal valid DOCX plus n tiny entries (about 1.6 MB)."""
    ct = ('<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
          '<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">'
          '<Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships+xml"/>'
          '<Default Extension="xml" ContentType="application/xml"/>'
          '<Override PartName="/word/document.xml" ContentType="application/vnd.openxmlformats-officedocument.wordprocessingml.document.main+xml"/>'
          '</Types>')
    rels = ('<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
            '<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">'
            '<Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/officeDocument" Target="word/document.xml"/>'
            '</Relationships>')
    doc = ('<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
           '<w:document xmlns:w="http://schemas.openxmlformats.org/wordprocessingml/2006/main"><w:body>'
           '<w:p><w:r><w:t>many entries</w:t></w:r></w:p></w:body></w:document>')
    with zipfile.ZipFile(path, "w", zipfile.ZIP_STORED) as z:
        for name, data in (("[Content_Types].xml", ct), ("_rels/.rels", rels), ("word/document.xml", doc)):
            z.writestr(zipfile.ZipInfo(name, ZIP_DATE), data)
        alphabet = "0123456789abcdefghijklmnopqrstuvwxyz"
        for i in range(n):
            name = alphabet[i // 1296] + alphabet[(i // 36) % 36] + alphabet[i % 36]
            z.writestr(zipfile.ZipInfo(name, ZIP_DATE), b"")


def make_bad(out, workdir, manifest, sources):
    bad = os.path.join(out, "bad")
    os.makedirs(bad, exist_ok=True)
    wiki, wmeta = sources["he_wiki"]

    # encrypted PDF with a user password (reportlab, RC4 128-bit)
    from reportlab.lib.pdfencrypt import StandardEncryption
    enc = StandardEncryption("sofer", ownerPassword="sofer-owner", canPrint=1, canCopy=0,
                             strength=128)
    p = os.path.join(bad, "encrypted_user_password.pdf")
    make_reportlab(p, wiki, wmeta, encrypt=enc)
    add(manifest, "bad/encrypted_user_password.pdf", "he_wiki", "reportlab", "pdf", "n/a",
        "he_wiki, RC4-128 encrypted with user password 'sofer' (owner 'sofer-owner'): cannot be "
        "opened without the password; expect a clean 'encrypted' error")

    try:
        import pikepdf
        p = os.path.join(bad, "encrypted_owner_only.pdf")
        with pikepdf.open(os.path.join(out, "he_wiki.libreoffice.pdf")) as pdf:
            pdf.save(p, encryption=pikepdf.Encryption(owner="sofer-owner", user="", R=6,
                                                       allow=pikepdf.Permissions(extract=False)),
                     static_id=True, deterministic_id=False)
        add(manifest, "bad/encrypted_owner_only.pdf", "he_wiki", "pikepdf", "pdf", "visual",
            "he_wiki.libreoffice.pdf re-saved AES-256 (R6) with an owner password only and "
            "extraction not permitted: opens with the empty user password; a reader that "
            "decrypts may extract the text (expected = he_wiki.expected.json) or refuse cleanly")
    except ImportError:
        log("pikepdf missing: no encrypted_owner_only.pdf")

    # password-protected DOCX (OOXML agile encryption in an OLE compound file)
    try:
        from msoffcrypto.format.ooxml import OOXMLFile
        p = os.path.join(bad, "password_protected.docx")
        with open(os.path.join(out, "he_wiki.python-docx.docx"), "rb") as f, open(p, "wb") as g:
            OOXMLFile(f).encrypt("sofer", g)
        add(manifest, "bad/password_protected.docx", "he_wiki", "msoffcrypto-tool", "docx", "n/a",
            "he_wiki.python-docx.docx encrypted with password 'sofer' (ECMA-376 agile "
            "encryption, AES-256): an OLE compound file, not a zip; expect a clean "
            "'encrypted/password' error")
    except ImportError:
        log("msoffcrypto-tool missing: no password_protected.docx")

    src = open(os.path.join(out, "he_wiki.python-docx.docx"), "rb").read()
    open(os.path.join(bad, "truncated.docx"), "wb").write(src[:len(src) // 2])
    add(manifest, "bad/truncated.docx", "he_wiki", "truncated", "docx", "n/a",
        f"first {len(src) // 2} of {len(src)} bytes of he_wiki.python-docx.docx (no central directory)")
    src = open(os.path.join(out, "he_wiki.libreoffice.pdf"), "rb").read()
    open(os.path.join(bad, "truncated.pdf"), "wb").write(src[:len(src) // 2])
    add(manifest, "bad/truncated.pdf", "he_wiki", "truncated", "pdf", "n/a",
        f"first {len(src) // 2} of {len(src)} bytes of he_wiki.libreoffice.pdf (no xref/trailer)")

    # a scanned PDF: page 1 rendered at 50 dpi, wrapped as an image, no text layer
    png_base = os.path.join(workdir, "scan")
    run(["pdftoppm", "-r", "50", "-f", "1", "-l", "1", "-gray", "-png", "-singlefile",
         os.path.join(out, "he_wiki.libreoffice.pdf"), png_base])
    from reportlab import rl_config
    rl_config.invariant = 1
    from reportlab.lib.pagesizes import A4
    from reportlab.pdfgen import canvas
    p = os.path.join(bad, "scanned_no_text.pdf")
    c = canvas.Canvas(p, pagesize=A4, invariant=1)
    from reportlab.lib.utils import ImageReader
    c.drawImage(ImageReader(io.BytesIO(open(png_base + ".png", "rb").read())), 0, 0,
                width=A4[0], height=A4[1])
    c.showPage()
    c.save()
    add(manifest, "bad/scanned_no_text.pdf", "he_wiki", "pdftoppm+reportlab", "pdf", "n/a",
        "page 1 of he_wiki.libreoffice.pdf rendered at 50 dpi (grey PNG) and drawn as one image:"
        " no text layer; expect empty text or a 'no text layer / needs OCR' error")

    shutil.copyfile(os.path.join(out, "he_wiki.reportlab.pdf"), os.path.join(bad, "pdf_named.docx"))
    add(manifest, "bad/pdf_named.docx", "he_wiki", "reportlab", "pdf", "n/a",
        "the bytes of he_wiki.reportlab.pdf named .docx (the extension lies): sniff the magic "
        "bytes, then read it as PDF or refuse cleanly")

    zip_bomb(os.path.join(bad, "zip_bomb.docx"))
    add(manifest, "bad/zip_bomb.docx", "none", "python-zipfile", "docx", "n/a",
        "valid-looking DOCX whose word/document.xml deflates 320 MiB of 'a' into one <w:t>: "
        "expect a size-limit error, never a 320 MiB allocation")

    open(os.path.join(bad, "empty.docx"), "wb").close()
    open(os.path.join(bad, "empty.pdf"), "wb").close()
    add(manifest, "bad/empty.docx", "none", "none", "docx", "n/a", "zero bytes")
    add(manifest, "bad/empty.pdf", "none", "none", "pdf", "n/a", "zero bytes")

    docdir = os.path.join(workdir, "doc")
    lo_convert([os.path.join(out, "he_wiki.python-docx.docx")], "doc", docdir, workdir)
    shutil.copyfile(os.path.join(docdir, "he_wiki.python-docx.doc"), os.path.join(bad, "he_wiki.libreoffice.doc"))
    add(manifest, "bad/he_wiki.libreoffice.doc", "he_wiki", "libreoffice", "doc", "n/a",
        "legacy binary Word 97-2003 (.doc, OLE compound file) saved by LibreOffice from "
        "he_wiki.python-docx.docx: expect 'unsupported format' (or text, if .doc is supported)")


# ---------------------------------------------------------------------------------------------
# long PDF


def long_paragraphs(sources):
    kn = [p for p in sources["he_knesset"][0] if p["kind"] == "body" and len(p["text"]) <= 700]
    return [P("body", kn[i % len(kn)]["text"]) for i in range(LONG_PAGES)]


def make_long_pdf(path, sources, workdir):
    paras = long_paragraphs(sources)
    meta = dict(sources["he_knesset"][1])
    d = os.path.join(workdir, "long")
    os.makedirs(d, exist_ok=True)
    src = os.path.join(d, "long_500_pages.docx")
    make_docx(src, "long", paras, meta, page_breaks=True)
    lo_convert([src], "pdf", d, workdir)
    shutil.copyfile(os.path.join(d, "long_500_pages.pdf"), path)
    n = pdf_pages(path)
    log(f"{path}: {n} pages, {os.path.getsize(path)} bytes")
    return n


# ---------------------------------------------------------------------------------------------


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", default=DEFAULT_OUT)
    ap.add_argument("--sources", default=",".join(SOURCES))
    ap.add_argument("--no-bad", action="store_true", help="do not make bad/")
    ap.add_argument("--no-long", action="store_true", help="do not make long_500_pages.libreoffice.pdf")
    ap.add_argument("--long-pdf", metavar="PATH", help="only make the 500-page PDF at PATH")
    ap.add_argument("--many-entries", metavar="PATH",
                    help="only make the 20,000-entry zip (named .docx) at PATH")
    ap.add_argument("--keep-work", action="store_true")
    args = ap.parse_args()

    if args.many_entries:
        many_entries(args.many_entries)
        log(f"{args.many_entries}: {os.path.getsize(args.many_entries)} bytes")
        return

    sources = build_sources()
    workdir = tempfile.mkdtemp(prefix="sofer_docfix_")
    try:
        if args.long_pdf:
            make_long_pdf(os.path.abspath(args.long_pdf), sources, workdir)
            return
        out = os.path.abspath(args.out)
        os.makedirs(out, exist_ok=True)
        wanted = [s for s in args.sources.split(",") if s]
        mpath = os.path.join(out, "manifest.json")
        manifest = {}
        if os.path.exists(mpath):
            for e in json.load(open(mpath, encoding="utf-8")):
                if e["source"] not in wanted and not e["file"].startswith("bad/"):
                    manifest[e["file"]] = e
        png = make_png()

        docx_files = []
        for s in wanted:
            paras, meta = sources[s]
            with open(os.path.join(out, f"{s}.expected.json"), "w", encoding="utf-8") as f:
                json.dump(paras, f, ensure_ascii=False, indent=1)
                f.write("\n")
            img = png if s == "he_knesset" else None
            p = os.path.join(out, f"{s}.python-docx.docx")
            make_docx(p, s, paras, meta, image_png=img)
            docx_files.append(p)
            heb = meta["dir"] == "rtl"
            add(manifest, f"{s}.python-docx.docx", s, "python-docx", "docx", "n/a",
                "styles Heading 1/2" + (", List Number/List Number 2, Table Grid table" if s == "he_knesset" else "")
                + ", bold/italic runs, one external hyperlink"
                + ("; w:bidi on paragraphs and the section, w:rtl + w:lang bidi=he-IL on Hebrew runs,"
                   " Latin runs separate" if heb else "")
                + ("; one inline PNG image (160x80) after the table" if img else ""))
            html_page = make_html(s, paras, meta, boilerplate=True, image_png=img)
            open(os.path.join(out, f"{s}.page.html"), "w", encoding="utf-8").write(html_page)
            add(manifest, f"{s}.page.html", s, "page", "html", "n/a",
                f"hand-written page, <html lang={meta['lang']} dir={meta['dir']}>, header/nav/aside/"
                "footer boilerplate and <script>/<style> that are NOT in the expected text; the "
                "article is in <main><article>")
            pr = os.path.join(workdir, f"{s}.print.html")
            open(pr, "w", encoding="utf-8").write(make_html(s, paras, meta, boilerplate=False, image_png=img))
            cpdf = os.path.join(out, f"{s}.chromium.pdf")
            chromium_pdf(pr, cpdf, workdir)
            order, how = stream_order(cpdf, paras)
            add(manifest, f"{s}.chromium.pdf", s, "chromium", "pdf", order,
                "Chromium headless --print-to-pdf of the page without its boilerplate"
                f" (.print.html, not kept); {how}")
            if s in ("he_wiki", "en_news"):
                make_columns_pdf(out, workdir, s, paras, meta, manifest)
            rpdf = os.path.join(out, f"{s}.reportlab.pdf")
            make_reportlab(rpdf, paras, meta, image_png=img)
            order, how = stream_order(rpdf, paras)
            add(manifest, f"{s}.reportlab.pdf", s, "reportlab", "pdf", order,
                "reportlab platypus, Frank Ruehl CLM TTF, no bidi (rlbidi not installed): glyphs drawn"
                " left to right in logical order, so the Hebrew LOOKS reversed on the page"
                f"{', list numbers as bullets' if s == 'he_knesset' else ''}; {how}")
            if s in ("en_news", "he_wiki"):
                make_pandoc(workdir, out, s, paras, meta, manifest)

        # LibreOffice: odt, docx, pdf from the python-docx files
        for fmt, ext, filt in (("odt", "odt", "odt"), ("docx", "docx", 'docx:MS Word 2007 XML'),
                               ("pdf", "pdf", "pdf")):
            d = os.path.join(workdir, "lo_" + fmt)
            lo_convert(docx_files, filt, d, workdir)
            for p in docx_files:
                s = os.path.basename(p).split(".")[0]
                dst = os.path.join(out, f"{s}.libreoffice.{ext}")
                shutil.copyfile(os.path.join(d, f"{s}.python-docx.{ext}"), dst)
                paras = sources[s][0]
                if ext == "pdf":
                    order, how = stream_order(dst, paras)
                    add(manifest, f"{s}.libreoffice.{ext}", s, "libreoffice", "pdf", order,
                        f"soffice --convert-to pdf of {s}.python-docx.docx; {how}")
                    gpdf = os.path.join(out, f"{s}.ghostscript.pdf")
                    ghostscript(dst, gpdf)
                    ok = check_pdf_text(gpdf, paras)
                    order, how = stream_order(gpdf, paras)
                    add(manifest, f"{s}.ghostscript.pdf", s, "ghostscript", "pdf", order,
                        f"gs -sDEVICE=pdfwrite of {s}.libreoffice.pdf; pdftotext finds {ok:.0%} of"
                        f" the expected words; {how}")
                else:
                    add(manifest, f"{s}.libreoffice.{ext}", s, "libreoffice", ext, "n/a",
                        f"soffice --convert-to {filt} of {s}.python-docx.docx")

        if not args.no_bad and "he_wiki" in wanted:
            make_bad(out, workdir, manifest, sources)

        if not args.no_long and "he_knesset" in wanted:
            name = "long_500_pages.libreoffice.pdf"
            n = make_long_pdf(os.path.join(out, name), sources, workdir)
            nk = len({p["text"] for p in long_paragraphs(sources)})
            order, how = stream_order(os.path.join(out, name), long_paragraphs(sources))
            add(manifest, name, "long_500_pages", "libreoffice", "pdf", order,
                f"{n} pages: soffice --convert-to pdf of a python-docx DOCX whose page i holds one"
                f" he_knesset body paragraph (the {nk} of at most 700 characters, in order, cycled),"
                " each after a page break; no expected.json (the accuracy script skips it); made"
                " again with --long-pdf PATH; " + how)

        entries = sorted(manifest.values(), key=lambda e: (e["file"].startswith("bad/"), e["file"]))
        for e in entries:
            path = os.path.join(out, e["file"])
            if os.path.exists(path):
                e["bytes"] = os.path.getsize(path)
                if e["format"] == "pdf" and not e["file"].startswith("bad/"):
                    e["pages"] = pdf_pages(path)
        with open(mpath, "w", encoding="utf-8") as f:
            json.dump(entries, f, ensure_ascii=False, indent=1)
            f.write("\n")
        log(f"wrote {len(entries)} manifest entries to {mpath}")
    finally:
        if args.keep_work:
            log("work dir:", workdir)
        else:
            shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    main()
