"""Drives Sofer's web page in headless Chromium against a live server.

usage: page_check.py BASE_URL SHOT_DIR HEBREW_TEXT ENGLISH_TEXT DOCX

Pastes the Hebrew paragraph, translates it to English (streamed), classifies the English one
by votes and by score, then drops the DOCX and downloads its translation, checking the DOM
at each step; prints one JSON object of what it saw
for the Rust test to compare with the gRPC answers. Exits non-zero on any failed check.
"""

import json
import os
import shutil
import sys

from playwright.sync_api import sync_playwright

base, shots, hebrew, english, docx = sys.argv[1:6]

# The direction a paragraph must take: that of its first strong character (the rule
# `dir="auto"` applies), so the check holds whatever text the model produced.
DIRECTION_CHECK = """
(els) => els.map((el) => {
  const strong = /[\\u0590-\\u08FF\\uFB1D-\\uFDFF\\uFE70-\\uFEFF]|[A-Za-z\\u00C0-\\u024F\\u0370-\\u03FF\\u0400-\\u04FF]/u;
  const m = el.textContent.match(strong);
  const want = !m ? null : (/[\\u0590-\\u08FF\\uFB1D-\\uFDFF\\uFE70-\\uFEFF]/u.test(m[0]) ? "rtl" : "ltr");
  return {dir: el.getAttribute("dir"), computed: getComputedStyle(el).direction, want, text: el.textContent};
})
"""


def check(condition, what):
    if not condition:
        print(f"page check failed: {what}", file=sys.stderr)
        sys.exit(1)


def wait_done(page):
    page.wait_for_function(
        "() => !document.getElementById('run').disabled && document.getElementById('status').textContent !== ''",
        timeout=120_000,
    )
    status = page.locator("#status")
    check("error" not in (status.get_attribute("class") or ""), f"the task failed: {status.text_content()}")


chromium = os.environ.get("SOFER_CHROMIUM") or shutil.which("chromium") or shutil.which("chromium-browser")
seen = {}
with sync_playwright() as p:
    browser = p.chromium.launch(executable_path=chromium, args=["--no-sandbox"])
    page = browser.new_page(viewport={"width": 1200, "height": 900}, locale="he-IL")
    errors = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.goto(base + "/")
    page.wait_for_function("() => document.getElementById('model').textContent.includes('·')")
    seen["model"] = page.locator("#model").text_content()

    # Translate a pasted Hebrew paragraph, streamed.
    page.fill("#text", hebrew)
    check(page.eval_on_selector("#text", "el => getComputedStyle(el).direction") == "rtl",
          "the Hebrew text area is not right-to-left")
    page.check("input[value=translate]")
    check(page.is_visible("#target") and not page.is_visible("#labels"), "translate options not shown alone")
    page.select_option("#target", "LANGUAGE_ENGLISH")
    page.click("details summary")
    page.fill("#seed", "7")
    page.fill("#temperature", "0")
    page.evaluate("""() => {
      window.__updates = 0;
      new MutationObserver(() => { window.__updates += 1; })
        .observe(document.getElementById('output'), {childList: true, subtree: true, characterData: true});
    }""")
    page.keyboard.press("Tab")
    page.click("#run")
    wait_done(page)
    paragraphs = page.eval_on_selector_all("#output p", DIRECTION_CHECK)
    check(len(paragraphs) > 0, "no translated paragraphs")
    for para in paragraphs:
        check(para["dir"] == "auto", f"a paragraph without dir=auto: {para}")
        check(para["want"] is None or para["computed"] == para["want"], f"a paragraph in the wrong direction: {para}")
    seen["translation_updates"] = page.evaluate("window.__updates")
    check(seen["translation_updates"] >= 3, f"the output did not stream ({seen['translation_updates']} updates)")
    seen["translation"] = "\n".join(p["text"] for p in paragraphs)
    seen["translation_usage"] = page.locator("#usage").text_content()
    check("prompt tokens" in seen["translation_usage"], "no usage shown")
    page.screenshot(path=os.path.join(shots, "page-hebrew-translate.png"), full_page=True)

    # A glossary term the translation misses is listed and marked on its paragraph.
    page.fill("#glossary", "ים המלח = the Dead Sea")
    page.fill("#max-tokens", "8")
    page.click("#run")
    wait_done(page)
    violations = page.eval_on_selector_all("#violations li", "els => els.map(el => el.textContent)")
    seen["violations"] = violations
    check(page.is_visible("#violations") == bool(violations), "the violations list shows iff there are some")
    marks = page.eval_on_selector_all("#output p.violation mark", "els => els.map(el => el.textContent)")
    check(len(marks) == len(violations), f"marks {marks} for violations {violations}")
    check(all("the Dead Sea" in v for v in violations), violations)
    page.fill("#glossary", "")
    page.fill("#max-tokens", "")

    # Classify an English paragraph by votes: the tally as a bar chart.
    page.fill("#text", english)
    check(page.eval_on_selector("#text", "el => getComputedStyle(el).direction") == "ltr",
          "the English text area is not left-to-right")
    page.check("input[value=classify]")
    page.fill("#labels", "sport\npolitics\nweather")
    page.select_option("#method", "CLASSIFY_METHOD_VOTE")
    page.fill("#votes", "5")
    page.click("#run")
    wait_done(page)
    bars = page.eval_on_selector_all(
        "#tally .bar",
        "els => els.map(el => ({name: el.querySelector('.name').textContent,"
        " value: el.querySelector('.value').textContent,"
        " width: el.querySelector('.fill').style.width}))",
    )
    check([b["name"] for b in bars] == ["sport", "politics", "weather"], f"tally rows: {bars}")
    check(all(b["width"].endswith("%") for b in bars), f"bar widths: {bars}")
    check(page.get_attribute("#tally", "role") == "img" and page.get_attribute("#tally", "aria-label"),
          "the chart has no accessible name")
    seen["tally"] = bars

    # By score: each label's exact probability, the bars adding up to the whole.
    page.select_option("#method", "CLASSIFY_METHOD_SCORE")
    page.click("#run")
    wait_done(page)
    seen["scores"] = page.eval_on_selector_all(
        "#tally .bar",
        "els => els.map(el => ({name: el.querySelector('.name').textContent,"
        " value: el.querySelector('.value').textContent,"
        " width: el.querySelector('.fill').style.width}))",
    )
    check(len(seen["scores"]) == 3, f"score rows: {seen['scores']}")
    page.screenshot(path=os.path.join(shots, "page-english-classify.png"), full_page=True)

    # A dropped DOCX comes back translated, as a download.
    page.check("input[value=translate]")
    page.set_input_files("#file", docx)
    # The page reads the file asynchronously: wait until it says it has it.
    page.wait_for_function(
        "(name) => document.getElementById('file-name').textContent.startsWith(name)",
        arg=os.path.basename(docx),
        timeout=30_000,
    )
    page.fill("#max-tokens", "4")
    page.click("#run")
    wait_done(page)
    link = page.locator("#download")
    check(link.is_visible(), "no download link for the translated file")
    with page.expect_download() as info:
        link.click()
    saved = os.path.join(shots, "translated.docx")
    info.value.save_as(saved)
    seen["download"] = {"path": saved, "name": info.value.suggested_filename}
    check(seen["download"]["name"].endswith(".translated.docx"), seen["download"])

    # Readable on a phone: nothing wider than the screen.
    page.set_viewport_size({"width": 390, "height": 844})
    width = page.evaluate("document.documentElement.scrollWidth")
    check(width <= 390, f"the page is {width}px wide on a 390px screen")
    page.screenshot(path=os.path.join(shots, "page-phone.png"), full_page=True)

    check(not errors, f"script errors: {errors}")
    browser.close()

print(json.dumps(seen, ensure_ascii=False))
