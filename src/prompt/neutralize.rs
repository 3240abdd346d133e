//! Neutralizing control markers inside message content.
//!
//! A document may contain `[INST]`, `[/INST]`, `<s>`, `</s>`, `<|im_start|>`, `<|im_end|>`,
//! their spacing/case look-alikes (`[ INST ]`, `[/inst]`, `< /S >`) or any other
//! control-token string of the vocabulary. Each occurrence gets a U+2060 WORD JOINER right
//! after its first character (`[⁠INST]`, `<⁠|im_end|>`): the visible text is unchanged (the
//! joiner has no width and no glyph), but neither the tokenizer nor the model can read the
//! marker as a turn boundary — the joiner's bytes sit between `[` and `INST`, between `<`
//! and `|`, so the token sequence of the real marker cannot arise. Text that is already
//! neutralized stays as it is.

/// U+2060 WORD JOINER, the invisible character inserted into markers.
pub const WORD_JOINER: char = '\u{2060}';

/// Inserts [`WORD_JOINER`] into every control marker of `text` (see the module docs).
/// `controls` are extra exact strings to break, normally the control tokens of the model's
/// vocabulary (`<|endoftext|>`, `<repo_name>`…).
pub fn neutralize(text: &str, controls: &[String]) -> String {
    let mut out = String::with_capacity(text.len() + 8);
    for (i, c) in text.char_indices() {
        out.push(c);
        let rest = &text[i..];
        if is_marker_start(rest)
            || controls
                .iter()
                .any(|m| m.len() > 1 && rest.starts_with(m.as_str()))
        {
            out.push(WORD_JOINER);
        }
    }
    out
}

/// Whether `s` starts with `[INST`, `[/INST` (not `[instance`), `<s>`, `</s>` (any case, any spaces inside) or
/// `<|` (every ChatML-style control token).
fn is_marker_start(s: &str) -> bool {
    let mut chars = s.chars();
    match chars.next() {
        Some('[') => {
            let rest = skip_slash(chars.as_str());
            rest.get(..4)
                .is_some_and(|w| w.eq_ignore_ascii_case("inst"))
                && !rest[4..].starts_with(|c: char| c.is_alphanumeric())
        }
        Some('<') => {
            let rest = chars.as_str().trim_start();
            if rest.starts_with('|') {
                return true;
            }
            let rest = skip_slash(rest);
            let mut r = rest.chars();
            matches!(r.next(), Some('s' | 'S')) && r.as_str().trim_start().starts_with('>')
        }
        _ => false,
    }
}

/// Skips spaces, an optional `/`, and spaces.
fn skip_slash(s: &str) -> &str {
    let s = s.trim_start();
    s.strip_prefix('/').unwrap_or(s).trim_start()
}

#[cfg(test)]
mod tests {
    use super::*;

    const WJ: &str = "\u{2060}";

    #[test]
    fn breaks_mistral_and_chatml_markers_and_lookalikes() {
        let cases = [
            (
                "[INST] שלום [/INST]",
                format!("[{WJ}INST] שלום [{WJ}/INST]"),
            ),
            ("[ inst ]", format!("[{WJ} inst ]")),
            ("[ / Inst]", format!("[{WJ} / Inst]")),
            ("<s>ב</s>", format!("<{WJ}s>ב<{WJ}/s>")),
            ("< / S >", format!("<{WJ} / S >")),
            ("<|im_start|>user", format!("<{WJ}|im_start|>user")),
            ("< |im_end|>", format!("<{WJ} |im_end|>")),
        ];
        for (input, want) in cases {
            assert_eq!(neutralize(input, &[]), want, "{input}");
        }
    }

    #[test]
    fn leaves_ordinary_text_alone() {
        for text in [
            "a < b and [1] is a citation; <span> [instance] <strong>",
            "ים המלח [מקור 3] <ציטוט>",
            "",
        ] {
            assert_eq!(neutralize(text, &[]), text);
        }
    }

    #[test]
    fn breaks_vocabulary_controls_and_is_idempotent() {
        let controls = vec!["<repo_name>".to_string(), "<filename>".to_string()];
        let once = neutralize("x<repo_name>y [INST] <|endoftext|>", &controls);
        assert_eq!(
            once,
            format!("x<{WJ}repo_name>y [{WJ}INST] <{WJ}|endoftext|>")
        );
        assert_eq!(neutralize(&once, &controls), once);
        assert_eq!(once.replace(WJ, ""), "x<repo_name>y [INST] <|endoftext|>");
    }
}
