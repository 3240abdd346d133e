//! Incremental detokenization of one sample: text deltas that are always whole UTF-8
//! characters, and stop strings that never leak into the output.

/// The text of one sample as its tokens arrive.
#[derive(Debug, Default)]
pub struct TextStream {
    text: String,
    emitted: usize,
    stopped: bool,
}

impl TextStream {
    /// Updates the stream with the decoding of all ids so far and returns the text that
    /// became final. `stop` strings end the sample: what follows them is dropped.
    pub fn update(&mut self, decoded: String, stop: &[String]) -> &str {
        let start = self.emitted;
        if self.stopped || !decoded.is_char_boundary(start.min(decoded.len())) {
            return "";
        }
        if decoded.get(..start) != self.text.get(..start) {
            // Decoding never rewrites final text; if a tokenizer ever did, keep what was sent.
            return "";
        }
        // A character still split across byte tokens decodes to U+FFFD at the end: wait.
        let complete = decoded.trim_end_matches('\u{FFFD}').len();
        self.text = decoded;
        let search_from = floor_char_boundary(&self.text, start.saturating_sub(max_len(stop)));
        if let Some(cut) = stop
            .iter()
            .filter(|s| !s.is_empty())
            .filter_map(|s| {
                self.text[search_from..]
                    .find(s.as_str())
                    .map(|p| p + search_from)
            })
            .min()
        {
            self.text.truncate(cut.max(start));
            self.stopped = true;
            self.emitted = self.text.len();
            return &self.text[start..];
        }
        let hold = held_back(&self.text[..complete], stop);
        let end = (complete - hold).max(start);
        self.emitted = end;
        &self.text[start..end]
    }

    /// Flushes what was held back when the sample ends for another reason.
    pub fn finish(&mut self) -> &str {
        let start = self.emitted;
        self.emitted = self.text.len();
        &self.text[start..]
    }

    /// Bytes of `text()` handed out so far.
    pub fn emitted(&self) -> usize {
        self.emitted
    }

    /// Whether a stop string ended the sample.
    pub fn stopped(&self) -> bool {
        self.stopped
    }

    /// The sample's text (without any stop string).
    pub fn text(&self) -> &str {
        &self.text
    }
}

fn max_len(stop: &[String]) -> usize {
    stop.iter().map(String::len).max().unwrap_or(0)
}

/// Bytes at the end of `text` that could be the start of a stop string.
fn held_back(text: &str, stop: &[String]) -> usize {
    stop.iter()
        .filter(|s| !s.is_empty())
        .map(|s| {
            (1..s.len().min(text.len() + 1))
                .rev()
                .find(|&n| s.is_char_boundary(n) && text.ends_with(&s[..n]))
                .unwrap_or(0)
        })
        .max()
        .unwrap_or(0)
}

fn floor_char_boundary(s: &str, mut i: usize) -> usize {
    i = i.min(s.len());
    while !s.is_char_boundary(i) {
        i -= 1;
    }
    i
}

#[cfg(test)]
mod tests {
    use super::TextStream;

    #[test]
    fn waits_for_a_whole_hebrew_letter() {
        let mut s = TextStream::default();
        let shin = "ש".as_bytes();
        let partial = String::from_utf8_lossy(&shin[..1]).into_owned();
        assert_eq!(s.update(partial, &[]), "");
        assert_eq!(s.update("ש".into(), &[]), "ש");
        assert_eq!(s.update("שלום".into(), &[]), "לום");
    }

    #[test]
    fn stop_string_is_held_back_then_cut() {
        let stop = vec!["###".to_string()];
        let mut s = TextStream::default();
        assert_eq!(s.update("abc#".into(), &stop), "abc");
        assert_eq!(s.update("abc##".into(), &stop), "");
        assert_eq!(s.update("abc###tail".into(), &stop), "");
        assert!(s.stopped());
        assert_eq!(s.text(), "abc");
    }

    #[test]
    fn held_text_is_released_when_it_is_not_a_stop() {
        let stop = vec!["</end>".to_string()];
        let mut s = TextStream::default();
        assert_eq!(s.update("x </".into(), &stop), "x ");
        assert_eq!(s.update("x </b>".into(), &stop), "</b>");
        assert_eq!(s.update("x </b> </e".into(), &stop), " ");
        assert_eq!(s.finish(), "</e");
    }
}
