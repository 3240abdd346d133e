//! Cutting a text at the exact strings of special tokens, as llama.cpp's
//! `tokenizer_st_partition` does: longest tokens first, each one splitting every text
//! fragment left over by the longer ones.

use super::table::{TokenTable, TokenType};

/// A piece of input after partitioning: text still to encode, or a token id already found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Fragment<'a> {
    /// Text to run through the model's encoder.
    Text(&'a str),
    /// A special token matched by its exact string.
    Token(u32),
}

/// A special token's string and id.
struct Entry {
    text: String,
    id: u32,
    /// Control and unknown tokens are only matched when the caller asks for it;
    /// user-defined pieces always are.
    control: bool,
}

/// The tokens whose strings may be matched verbatim in input text.
pub(crate) struct SpecialTokens {
    entries: Vec<Entry>,
}

impl SpecialTokens {
    /// Control, unknown and user-defined tokens of the table (the set llama.cpp caches).
    pub fn from_table(table: &TokenTable) -> Self {
        let mut entries: Vec<Entry> = table
            .pieces()
            .iter()
            .enumerate()
            .filter_map(|(i, piece)| {
                let id = u32::try_from(i).ok()?;
                let control = match table.token_type(id)? {
                    TokenType::Control | TokenType::Unknown => true,
                    TokenType::UserDefined => false,
                    _ => return None,
                };
                (!piece.is_empty()).then(|| Entry {
                    text: piece.clone(),
                    id,
                    control,
                })
            })
            .collect();
        entries.sort_by(|a, b| b.text.len().cmp(&a.text.len()).then(a.id.cmp(&b.id)));
        Self { entries }
    }

    /// Whether any user-defined piece exists (then plain encoding must partition too).
    pub fn has_user_defined(&self) -> bool {
        self.entries.iter().any(|e| !e.control)
    }

    /// Splits `text` at special-token strings; control/unknown tokens only if `parse_control`.
    pub fn partition<'a>(&self, text: &'a str, parse_control: bool) -> Vec<Fragment<'a>> {
        let mut fragments = Vec::new();
        if !text.is_empty() {
            fragments.push(Fragment::Text(text));
        }
        for entry in &self.entries {
            if entry.control && !parse_control {
                continue;
            }
            if !fragments
                .iter()
                .any(|f| matches!(f, Fragment::Text(t) if t.contains(entry.text.as_str())))
            {
                continue;
            }
            let mut next = Vec::with_capacity(fragments.len() + 2);
            for fragment in fragments {
                let Fragment::Text(t) = fragment else {
                    next.push(fragment);
                    continue;
                };
                let mut rest = 0;
                for (at, matched) in t.match_indices(entry.text.as_str()) {
                    if at > rest {
                        next.push(Fragment::Text(&t[rest..at]));
                    }
                    next.push(Fragment::Token(entry.id));
                    rest = at + matched.len();
                }
                if rest < t.len() {
                    next.push(Fragment::Text(&t[rest..]));
                }
            }
            fragments = next;
        }
        fragments
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn table(pieces: &[(&str, TokenType)]) -> TokenTable {
        TokenTable::new(
            pieces.iter().map(|(p, _)| p.to_string()).collect(),
            pieces.iter().map(|(_, t)| *t).collect(),
            |p, _| p.as_bytes().to_vec(),
        )
    }

    #[test]
    fn control_tokens_only_when_asked() {
        let t = table(&[
            ("a", TokenType::Normal),
            ("<s>", TokenType::Control),
            ("<|im_start|>", TokenType::Control),
            ("<tool>", TokenType::UserDefined),
        ]);
        let sp = SpecialTokens::from_table(&t);
        let text = "<s>hi<|im_start|>x<tool>y<s>";
        assert_eq!(
            sp.partition(text, true),
            vec![
                Fragment::Token(1),
                Fragment::Text("hi"),
                Fragment::Token(2),
                Fragment::Text("x"),
                Fragment::Token(3),
                Fragment::Text("y"),
                Fragment::Token(1),
            ]
        );
        assert_eq!(
            sp.partition(text, false),
            vec![
                Fragment::Text("<s>hi<|im_start|>x"),
                Fragment::Token(3),
                Fragment::Text("y<s>"),
            ]
        );
        assert!(sp.partition("", true).is_empty());
    }

    #[test]
    fn longer_tokens_win() {
        let t = table(&[("<a>", TokenType::Control), ("<a><b>", TokenType::Control)]);
        let sp = SpecialTokens::from_table(&t);
        assert_eq!(
            sp.partition("<a><b><a>", true),
            vec![Fragment::Token(1), Fragment::Token(0)]
        );
    }
}
