//! CMap streams: `/ToUnicode` maps (code → text) and embedded `/Encoding` CMaps
//! (code → CID), with their code space ranges.

use std::collections::HashMap;

/// Most mappings one CMap may define; a hostile range cannot blow memory up.
const MAX_ENTRIES: usize = 1 << 18;

/// A parsed CMap.
#[derive(Debug, Default, Clone)]
pub struct CMap {
    /// Code space ranges: (byte length, low, high).
    pub ranges: Vec<(usize, u32, u32)>,
    /// Code → Unicode text (`bfchar` / `bfrange`).
    pub unicode: HashMap<u32, String>,
    /// Code → CID (`cidchar` / `cidrange`).
    pub cids: HashMap<u32, u32>,
}

#[derive(Debug, Clone)]
enum Token {
    Hex(Vec<u8>),
    Int(i64),
    Name(String),
    Word(String),
    Array(Vec<Token>),
}

impl CMap {
    /// Parses the bytes of a CMap stream, skipping whatever it does not understand.
    pub fn parse(data: &[u8]) -> CMap {
        let tokens = tokenize(data);
        let mut cmap = CMap::default();
        let mut i = 0;
        while let Some(tok) = tokens.get(i) {
            i += 1;
            let Token::Word(w) = tok else { continue };
            let (arity, section) = match w.as_str() {
                "begincodespacerange" => (2, 0),
                "beginbfchar" => (2, 1),
                "beginbfrange" => (3, 2),
                "begincidchar" => (2, 3),
                "begincidrange" => (3, 4),
                _ => continue,
            };
            while let Some(first) = tokens.get(i) {
                if matches!(first, Token::Word(_)) {
                    break;
                }
                let group = tokens.get(i..i + arity).unwrap_or(&[]);
                if group.len() < arity {
                    break;
                }
                i += arity;
                if cmap.unicode.len() + cmap.cids.len() > MAX_ENTRIES {
                    continue;
                }
                cmap.add(section, group);
            }
        }
        cmap
    }

    fn add(&mut self, section: u8, group: &[Token]) {
        match (section, group) {
            (0, [Token::Hex(lo), Token::Hex(hi)]) => {
                let len = lo.len().clamp(1, 4);
                self.ranges.push((len, be(lo), be(hi)));
            }
            (1, [Token::Hex(src), dst]) => {
                if let Some(text) = target(dst) {
                    self.unicode.insert(be(src), text);
                }
            }
            (2, [Token::Hex(lo), Token::Hex(hi), dst]) => {
                let (lo, hi) = (be(lo), be(hi));
                let count = hi.saturating_sub(lo).min(MAX_ENTRIES as u32);
                for k in 0..=count {
                    let text = match dst {
                        Token::Hex(base) => increment(base, k),
                        Token::Array(items) => items.get(k as usize).and_then(target),
                        _ => None,
                    };
                    if let Some(text) = text {
                        self.unicode.insert(lo.saturating_add(k), text);
                    }
                }
            }
            (3, [Token::Hex(src), Token::Int(cid)]) => {
                self.cids.insert(be(src), u32::try_from(*cid).unwrap_or(0));
            }
            (4, [Token::Hex(lo), Token::Hex(hi), Token::Int(cid)]) => {
                let (lo, hi) = (be(lo), be(hi));
                let base = u32::try_from(*cid).unwrap_or(0);
                for k in 0..=hi.saturating_sub(lo).min(MAX_ENTRIES as u32) {
                    self.cids
                        .insert(lo.saturating_add(k), base.saturating_add(k));
                }
            }
            _ => {}
        }
    }

    /// The next code in `bytes` at `pos` and its length, by the code space ranges
    /// (or `default_len` bytes where none matches).
    pub fn next_code(&self, bytes: &[u8], pos: usize, default_len: usize) -> (u32, usize) {
        for len in 1..=4 {
            let Some(chunk) = bytes.get(pos..pos + len) else {
                break;
            };
            let code = be(chunk);
            if self
                .ranges
                .iter()
                .any(|&(l, lo, hi)| l == len && (lo..=hi).contains(&code))
            {
                return (code, len);
            }
        }
        let len = default_len.min(bytes.len().saturating_sub(pos)).max(1);
        (bytes.get(pos..pos + len).map(be).unwrap_or(0), len)
    }
}

/// A big-endian code of up to 4 bytes.
fn be(bytes: &[u8]) -> u32 {
    bytes
        .iter()
        .take(4)
        .fold(0u32, |acc, &b| (acc << 8) | u32::from(b))
}

/// A mapping target: UTF-16BE hex text (surrogates included), or a glyph name.
fn target(tok: &Token) -> Option<String> {
    match tok {
        Token::Hex(bytes) => utf16(bytes),
        Token::Name(name) => super::glyphs::name_to_text(name),
        _ => None,
    }
}

fn utf16(bytes: &[u8]) -> Option<String> {
    let units: Vec<u16> = bytes
        .chunks(2)
        .map(|c| match c {
            [a, b] => u16::from_be_bytes([*a, *b]),
            [a] => u16::from(*a),
            _ => 0,
        })
        .collect();
    let text: String = char::decode_utf16(units).filter_map(Result::ok).collect();
    (!text.is_empty()).then_some(text)
}

/// `base` with its last UTF-16 unit raised by `k` (a `bfrange` with a string target).
fn increment(base: &[u8], k: u32) -> Option<String> {
    let mut bytes = base.to_vec();
    let n = bytes.len();
    if n < 2 {
        let v = u32::from(*bytes.first()?).checked_add(k)?;
        return char::from_u32(v).map(String::from);
    }
    let last = u32::from(u16::from_be_bytes([*bytes.get(n - 2)?, *bytes.get(n - 1)?]));
    let v = u16::try_from(last.checked_add(k)?).ok()?;
    let [a, b] = v.to_be_bytes();
    *bytes.get_mut(n - 2)? = a;
    *bytes.get_mut(n - 1)? = b;
    utf16(&bytes)
}

fn tokenize(data: &[u8]) -> Vec<Token> {
    let mut stack: Vec<Vec<Token>> = vec![Vec::new()];
    let mut i = 0;
    while let Some(&b) = data.get(i) {
        match b {
            b'%' => {
                while data.get(i).is_some_and(|&c| c != b'\n' && c != b'\r') {
                    i += 1;
                }
            }
            b'<' if data.get(i + 1) == Some(&b'<') => i += 2,
            b'>' if data.get(i + 1) == Some(&b'>') => i += 2,
            b'<' => {
                let start = i + 1;
                let end = data
                    .get(start..)
                    .and_then(|d| d.iter().position(|&c| c == b'>'));
                let end = end.map_or(data.len(), |e| start + e);
                let hex: Vec<u8> = data
                    .get(start..end)
                    .unwrap_or(&[])
                    .iter()
                    .copied()
                    .filter(u8::is_ascii_hexdigit)
                    .collect();
                let bytes = hex
                    .chunks(2)
                    .map(|c| {
                        let s = std::str::from_utf8(c).unwrap_or("0");
                        let v = u8::from_str_radix(s, 16).unwrap_or(0);
                        if c.len() == 1 {
                            v << 4
                        } else {
                            v
                        }
                    })
                    .collect();
                push(&mut stack, Token::Hex(bytes));
                i = end + 1;
            }
            b'[' => {
                if stack.len() < 8 {
                    stack.push(Vec::new());
                }
                i += 1;
            }
            b']' => {
                if stack.len() > 1 {
                    let items = stack.pop().unwrap_or_default();
                    push(&mut stack, Token::Array(items));
                }
                i += 1;
            }
            b'(' => {
                // Literal strings do not occur in the sections read; skip them.
                let mut depth = 0usize;
                while let Some(&c) = data.get(i) {
                    i += 1;
                    match c {
                        b'\\' => i += 1,
                        b'(' => depth += 1,
                        b')' => {
                            depth = depth.saturating_sub(1);
                            if depth == 0 {
                                break;
                            }
                        }
                        _ => {}
                    }
                }
                push(&mut stack, Token::Word(String::new()));
            }
            _ if b.is_ascii_whitespace() || b == b'{' || b == b'}' || b == b'>' || b == b')' => {
                i += 1
            }
            _ => {
                let start = i;
                i += 1;
                while data
                    .get(i)
                    .is_some_and(|&c| !c.is_ascii_whitespace() && !b"[]<>()/%{}".contains(&c))
                {
                    i += 1;
                }
                let word = String::from_utf8_lossy(data.get(start..i).unwrap_or(&[])).into_owned();
                let tok = if let Some(name) = word.strip_prefix('/') {
                    Token::Name(name.to_string())
                } else if let Ok(n) = word.parse::<i64>() {
                    Token::Int(n)
                } else {
                    Token::Word(word)
                };
                push(&mut stack, tok);
            }
        }
    }
    let mut out = Vec::new();
    for level in stack {
        out.extend(level);
    }
    out
}

fn push(stack: &mut [Vec<Token>], tok: Token) {
    if let Some(top) = stack.last_mut() {
        top.push(tok);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_bfchar_bfrange_arrays_and_surrogates() {
        let src = b"/CIDInit /ProcSet findresource begin 12 dict begin begincmap
            1 begincodespacerange <0000> <FFFF> endcodespacerange
            3 beginbfchar <0003> <0020> <0010> <05D005B0> <0011> <D83DDE00> endbfchar
            2 beginbfrange <0020> <0022> <05D0> <0030> <0031> [<0066006C> <05EA>] endbfrange
            endcmap";
        let c = CMap::parse(src);
        assert_eq!(c.unicode.get(&3).map(String::as_str), Some(" "));
        assert_eq!(
            c.unicode.get(&0x10).map(String::as_str),
            Some("\u{5d0}\u{5b0}")
        );
        assert_eq!(c.unicode.get(&0x11).map(String::as_str), Some("😀"));
        assert_eq!(c.unicode.get(&0x22).map(String::as_str), Some("ג"));
        assert_eq!(c.unicode.get(&0x30).map(String::as_str), Some("fl"));
        assert_eq!(c.unicode.get(&0x31).map(String::as_str), Some("ת"));
        assert_eq!(c.next_code(&[0, 3, 0, 0x10], 2, 1), (0x10, 2));
    }

    #[test]
    fn hostile_range_is_bounded() {
        let c = CMap::parse(b"beginbfrange <00000000> <FFFFFFFF> <0041> endbfrange");
        assert!(c.unicode.len() <= MAX_ENTRIES + 1);
    }
}
