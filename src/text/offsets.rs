//! Byte offsets (what Rust slices use) to character offsets (what JSON consumers use).

/// Maps byte offsets of one text to character (Unicode scalar value) offsets.
pub struct CharOffsets {
    /// Byte offset of every character start, plus the text length at the end.
    starts: Vec<usize>,
}

impl CharOffsets {
    /// Indexes `text`'s character boundaries.
    pub fn new(text: &str) -> Self {
        let mut starts: Vec<usize> = text.char_indices().map(|(i, _)| i).collect();
        starts.push(text.len());
        Self { starts }
    }

    /// The character offset of byte offset `byte`, which must be a character boundary
    /// (any other byte maps to the character that contains it).
    pub fn char_at(&self, byte: usize) -> usize {
        match self.starts.binary_search(&byte) {
            Ok(i) => i,
            Err(i) => i.saturating_sub(1),
        }
    }

    /// The number of characters in the text.
    pub fn len(&self) -> usize {
        self.starts.len() - 1
    }

    /// Whether the text is empty.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hebrew_letters_are_two_bytes_one_char() {
        let text = "שלום, world";
        let map = CharOffsets::new(text);
        assert_eq!(map.len(), 11);
        assert_eq!(map.char_at(0), 0);
        assert_eq!(map.char_at(8), 4);
        assert_eq!(map.char_at(text.len()), 11);
    }
}
