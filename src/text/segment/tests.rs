use proptest::prelude::*;

use super::{paragraphs, sentences};

fn split(text: &str) -> Vec<&str> {
    sentences(text).into_iter().map(|r| &text[r]).collect()
}

fn paras(text: &str) -> Vec<&str> {
    paragraphs(text).into_iter().map(|r| &text[r]).collect()
}

/// The hard cases: input → the sentences it must be cut into.
const HARD_CASES: &[(&str, &[&str])] = &[
    // gershayim acronyms
    (
        "צה\"ל הודיע על כך. ארה״ב הגיבה.",
        &["צה\"ל הודיע על כך.", "ארה״ב הגיבה."],
    ),
    (
        "ד\"ר כהן ועו\"ד לוי הגיעו.",
        &["ד\"ר כהן ועו\"ד לוי הגיעו."],
    ),
    (
        "הוא שירת בצה\"ל. אחר כך למד.",
        &["הוא שירת בצה\"ל.", "אחר כך למד."],
    ),
    // geresh abbreviations
    (
        "גב׳ לוי, פרופ׳ כהן וכו׳ הגיעו לדיון.",
        &["גב׳ לוי, פרופ׳ כהן וכו׳ הגיעו לדיון."],
    ),
    ("גב' לוי ופרופ' כהן הגיעו.", &["גב' לוי ופרופ' כהן הגיעו."]),
    (
        "קנינו פירות, ירקות וכד׳. אחר כך הלכנו.",
        &["קנינו פירות, ירקות וכד׳.", "אחר כך הלכנו."],
    ),
    (
        "ראו מס׳ 5 בעמ׳ 12 בס׳ הזוהר. זה הכול.",
        &["ראו מס׳ 5 בעמ׳ 12 בס׳ הזוהר.", "זה הכול."],
    ),
    (
        "פרופ. כהן ולפרופ. לוי יש ספר. כאב לי הגב. מס. 5 שולם.",
        &[
            "פרופ. כהן ולפרופ. לוי יש ספר.",
            "כאב לי הגב.",
            "מס. 5 שולם.",
        ],
    ),
    // initials
    (
        "א. ב. יהושע כתב את \"מר מאני\".",
        &["א. ב. יהושע כתב את \"מר מאני\"."],
    ),
    (
        "J. R. R. Tolkien wrote it. He was British.",
        &["J. R. R. Tolkien wrote it.", "He was British."],
    ),
    (
        "The U.S. Army left. Nobody stayed.",
        &["The U.S. Army left.", "Nobody stayed."],
    ),
    (
        "She got an A. The others failed.",
        &["She got an A.", "The others failed."],
    ),
    (
        "ראו סעיף ב. הוא קובע זאת.",
        &["ראו סעיף ב.", "הוא קובע זאת."],
    ),
    (
        "לפי סוכנות איי. פי. ברשת הבי. בי. סי., הוא בא.",
        &["לפי סוכנות איי. פי. ברשת הבי. בי. סי., הוא בא."],
    ),
    (
        "מרפי ג׳יי. פול הגיע. הוא הוסיף..  הכול בסדר.",
        &["מרפי ג׳יי. פול הגיע.", "הוא הוסיף..", "הכול בסדר."],
    ),
    // titles
    (
        "Dr. Smith met Mr. Jones and Prof. Lee on St. James Street.",
        &["Dr. Smith met Mr. Jones and Prof. Lee on St. James Street."],
    ),
    (
        "ד\"ר לוי ומר כהן נפגשו. Dr. Who was there.",
        &["ד\"ר לוי ומר כהן נפגשו.", "Dr. Who was there."],
    ),
    ("ד״ר. כהן הגיע.", &["ד״ר. כהן הגיע."]),
    // lists, and a colon that opens one
    (
        "השלבים:\n1. לשטוף\n2. לייבש",
        &["השלבים:", "1. לשטוף", "2. לייבש"],
    ),
    (
        "צריך:\n- קמח\n- סוכר\n* ביצים\n• חלב",
        &["צריך:", "- קמח", "- סוכר", "* ביצים", "• חלב"],
    ),
    (
        "הסעיפים:\nא. הראשון.\nב. השני.\n(ג) השלישי\n(4) הרביעי",
        &[
            "הסעיפים:",
            "א. הראשון.",
            "ב. השני.",
            "(ג) השלישי",
            "(4) הרביעי",
        ],
    ),
    ("Steps:\n1) wash\n2) dry", &["Steps:", "1) wash", "2) dry"]),
    (
        "1. הגדרה ראשונה. היא חשובה.",
        &["1. הגדרה ראשונה.", "היא חשובה."],
    ),
    (
        "שני תנאים: 1. גיל מינימלי.",
        &["שני תנאים: 1. גיל מינימלי."],
    ),
    (
        "יא. סעיף אחד עשר\nיב. סעיף שנים עשר",
        &["יא. סעיף אחד עשר", "יב. סעיף שנים עשר"],
    ),
    (
        "- פריט ארוך\n  שממשיך כאן\nטקסט אחרי הרשימה",
        &["- פריט ארוך\n  שממשיך כאן", "טקסט אחרי הרשימה"],
    ),
    // line breaks: soft wraps join, blank lines and headings break
    (
        "זה משפט ארוך\nשנשבר באמצע.\nוזה משפט שני.",
        &["זה משפט ארוך\nשנשבר באמצע.", "וזה משפט שני."],
    ),
    ("הוא אמר:\nשלום לכולם.", &["הוא אמר:\nשלום לכולם."]),
    ("# כותרת\nגוף הטקסט.", &["# כותרת", "גוף הטקסט."]),
    ("כותרת\n\nטקסט", &["כותרת", "טקסט"]),
    ("סוף.\r\nהתחלה.", &["סוף.", "התחלה."]),
    // quotes after the terminator
    (
        "הוא אמר: \"אני בא.\" ואז הלך.",
        &["הוא אמר: \"אני בא.\"", "ואז הלך."],
    ),
    (
        "היא כתבה: ״זה נגמר.״ הוא לא ענה.",
        &["היא כתבה: ״זה נגמר.״", "הוא לא ענה."],
    ),
    ("„זה נגמר.” הוא לא ענה.", &["„זה נגמר.”", "הוא לא ענה."]),
    (
        "He said \"stop.\" Then he left.",
        &["He said \"stop.\"", "Then he left."],
    ),
    (
        "\"למה?\" הוא שאל. \"כי כך!\"",
        &["\"למה?\" הוא שאל.", "\"כי כך!\""],
    ),
    (
        "„למה?“ שאלה מרטין. „כי!“ הוא ציין שזה ברור.",
        &["„למה?“ שאלה מרטין.", "„כי!“", "הוא ציין שזה ברור."],
    ),
    (
        "\"Why?\" she asked. \"Because.\" He left.",
        &["\"Why?\" she asked.", "\"Because.\"", "He left."],
    ),
    // ?! sequences
    ("מה קרה?! אף אחד לא יודע.", &["מה קרה?!", "אף אחד לא יודע."]),
    ("Really?! Yes!!! OK.", &["Really?!", "Yes!!!", "OK."]),
    // parenthesised sentences
    (
        "(זה משפט בסוגריים.) וזה לא.",
        &["(זה משפט בסוגריים.)", "וזה לא."],
    ),
    (
        "The value (see Fig. 3) is high. Next.",
        &["The value (see Fig. 3) is high.", "Next."],
    ),
    // ellipses: a pause, except before a Latin capital
    ("חשבתי... אולי לא.", &["חשבתי... אולי לא."]),
    ("חשבתי… אולי לא.", &["חשבתי… אולי לא."]),
    ("Wait... What happened?", &["Wait...", "What happened?"]),
    ("Wait… What happened?", &["Wait…", "What happened?"]),
    ("and so on... and on.", &["and so on... and on."]),
    ("ספרנו עד… 2000 אנשים.", &["ספרנו עד… 2000 אנשים."]),
    // decimals and dates
    (
        "המחיר עלה ב-3.14 אחוזים ל-1,000.5 ש\"ח.",
        &["המחיר עלה ב-3.14 אחוזים ל-1,000.5 ש\"ח."],
    ),
    (
        "הפגישה ב-27.11.2026 ובתאריך 1.1.70 נדחתה.",
        &["הפגישה ב-27.11.2026 ובתאריך 1.1.70 נדחתה."],
    ),
    (
        "Pi is 3.14. It is irrational.",
        &["Pi is 3.14.", "It is irrational."],
    ),
    ("הוא קיבל 100. זה הרבה.", &["הוא קיבל 100.", "זה הרבה."]),
    (
        "נולד בשנת 1990. הוא גדל בחיפה.",
        &["נולד בשנת 1990.", "הוא גדל בחיפה."],
    ),
    // URLs and e-mail
    (
        "ראו www.ynet.co.il/articles או כתבו ל-info@example.com. תודה.",
        &[
            "ראו www.ynet.co.il/articles או כתבו ל-info@example.com.",
            "תודה.",
        ],
    ),
    (
        "Visit https://he.wikipedia.org/wiki/עברית today. Thanks.",
        &[
            "Visit https://he.wikipedia.org/wiki/עברית today.",
            "Thanks.",
        ],
    ),
    ("האתר דוגמה.ישראל פעיל.", &["האתר דוגמה.ישראל פעיל."]),
    // mixed scripts and niqqud
    (
        "הספר יצא ב-Penguin Books. The reviews were good. הביקורות היו טובות.",
        &[
            "הספר יצא ב-Penguin Books.",
            "The reviews were good.",
            "הביקורות היו טובות.",
        ],
    ),
    ("No. 5 היה הטוב ביותר.", &["No. 5 היה הטוב ביותר."]),
    (
        "בְּרֵאשִׁית בָּרָא אֱלֹהִים. וְהָאָרֶץ הָיְתָה תֹהוּ.",
        &["בְּרֵאשִׁית בָּרָא אֱלֹהִים.", "וְהָאָרֶץ הָיְתָה תֹהוּ."],
    ),
];

#[test]
fn hard_cases_split_as_expected() {
    let failures: Vec<String> = HARD_CASES
        .iter()
        .filter(|(text, expected)| split(text) != *expected)
        .map(|(text, expected)| format!("{text:?}\n  want {expected:?}\n  got  {:?}", split(text)))
        .collect();
    assert!(
        failures.is_empty(),
        "{} of {} hard cases fail:\n{}",
        failures.len(),
        HARD_CASES.len(),
        failures.join("\n")
    );
}

#[test]
fn empty_and_blank_text_has_no_sentences() {
    assert!(sentences("").is_empty());
    assert!(sentences(" \n\t\n ").is_empty());
    assert_eq!(split("  שלום.  "), ["שלום."]);
}

#[test]
fn paragraphs_are_separated_by_blank_lines() {
    assert_eq!(paras("א.\nב.\n\n \t\nג.\n\n\n"), ["א.\nב.", "ג."]);
    assert_eq!(paras("\r\n\r\nשורה\r\n\r\nעוד"), ["שורה", "עוד"]);
    assert_eq!(paras("one\u{2029}two"), ["one", "two"]);
    assert!(paras("").is_empty());
    assert!(paras(" \n \n").is_empty());
}

#[test]
fn a_heading_is_a_paragraph_of_its_own() {
    assert_eq!(
        paras("## פרק א׳\nטקסט ראשון.\n# Title\nbody\n#hashtag stays"),
        [
            "## פרק א׳",
            "טקסט ראשון.",
            "# Title",
            "body\n#hashtag stays"
        ]
    );
}

#[test]
fn a_long_paragraph_is_cut_into_all_its_sentences() {
    let sentence = "ד\"ר כהן, א. ב. יהושע ו-J. R. R. Tolkien נפגשו ב-27.11.2026... ";
    let text = sentence.repeat(20_000);
    let ranges = sentences(&text);
    assert_eq!(ranges.len(), 1);
    let text = "משפט קצר. ".repeat(20_000);
    assert_eq!(sentences(&text).len(), 20_000);
}

proptest! {
    #[test]
    fn sentences_are_ordered_trimmed_and_cover_all_words(text in "[א-ת a-zA-Z0-9.?!…\"״׳:()\\-\n]{0,80}") {
        let ranges = sentences(&text);
        let mut last = 0;
        for range in &ranges {
            prop_assert!(last <= range.start && range.start < range.end);
            let piece = &text[range.clone()];
            prop_assert_eq!(piece.trim(), piece);
            prop_assert!(text[last..range.start].trim().is_empty());
            last = range.end;
        }
        prop_assert!(text[last..].trim().is_empty());
    }

    #[test]
    fn paragraphs_are_ordered_and_trimmed(text in "[א-ת a-z.#\n\t]{0,80}") {
        let mut last = 0;
        for range in paragraphs(&text) {
            prop_assert!(last <= range.start && range.start < range.end);
            prop_assert_eq!(text[range.clone()].trim(), &text[range.clone()]);
            prop_assert!(text[last..range.start].trim().is_empty());
            last = range.end;
        }
        prop_assert!(text[last..].trim().is_empty());
    }
}
