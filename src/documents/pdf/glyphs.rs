//! Glyph names and the standard single-byte encodings of simple fonts.

/// The character a glyph name stands for: the Adobe names common in text fonts, Hebrew
/// `afii577xx` names, `uniXXXX`, `uXXXX[XX]`, and `name.suffix` / `a_b` ligature forms.
pub fn name_to_text(name: &str) -> Option<String> {
    let base = name.split('.').next().unwrap_or(name);
    if base.is_empty() {
        return None;
    }
    if base.contains('_') {
        let parts: Option<String> = base.split('_').map(name_to_text).collect();
        return parts;
    }
    if let Some(hex) = base.strip_prefix("uni") {
        if hex.len() >= 4 && hex.len() % 4 == 0 && hex.bytes().all(|b| b.is_ascii_hexdigit()) {
            let units: Vec<u16> = hex
                .as_bytes()
                .chunks(4)
                .filter_map(|c| std::str::from_utf8(c).ok())
                .filter_map(|s| u16::from_str_radix(s, 16).ok())
                .collect();
            return String::from_utf16(&units).ok();
        }
    }
    if let Some(hex) = base.strip_prefix('u') {
        if (4..=6).contains(&hex.len()) && hex.bytes().all(|b| b.is_ascii_hexdigit()) {
            return u32::from_str_radix(hex, 16)
                .ok()
                .and_then(char::from_u32)
                .map(String::from);
        }
    }
    if base.len() == 1 && base.as_bytes().first().is_some_and(u8::is_ascii_alphabetic) {
        return Some(base.to_string());
    }
    if let Some(n) = base.strip_prefix("afii") {
        if let Ok(n) = n.parse::<u32>() {
            if let Some(c) = afii(n) {
                return Some(c.to_string());
            }
        }
    }
    NAMES
        .binary_search_by(|(n, _)| n.cmp(&base))
        .ok()
        .and_then(|i| NAMES.get(i))
        .map(|(_, c)| c.to_string())
}

fn afii(n: u32) -> Option<char> {
    let c = match n {
        57664..=57690 => 0x05D0 + (n - 57664),
        57636 => 0x20AA,
        57645 => 0x05BE,
        57658 => 0x05C3,
        57716 => 0x05F0,
        57717 => 0x05F1,
        57718 => 0x05F2,
        57793 => 0x05B4,
        57794 => 0x05B5,
        57795 => 0x05B6,
        57796 => 0x05BB,
        57797 => 0x05B8,
        57798 => 0x05B7,
        57799 => 0x05B0,
        57800 => 0x05B2,
        57801 => 0x05B1,
        57802 => 0x05B3,
        57803 => 0x05C2,
        57804 => 0x05C1,
        57806 => 0x05B9,
        57807 => 0x05BC,
        57839 => 0x05BD,
        57841 => 0x05BF,
        57842 => 0x05C0,
        61664 => 0x200C,
        300 => 0x200D,
        _ => return None,
    };
    char::from_u32(c)
}

/// Adobe glyph names (sorted for binary search): ASCII punctuation, Latin-1 and the
/// WinAnsi extras, and Hebrew letter names.
const NAMES: &[(&str, char)] = &[
    ("AE", 'Æ'),
    ("Aacute", 'Á'),
    ("Acircumflex", 'Â'),
    ("Adieresis", 'Ä'),
    ("Agrave", 'À'),
    ("Aring", 'Å'),
    ("Atilde", 'Ã'),
    ("Ccedilla", 'Ç'),
    ("Eacute", 'É'),
    ("Ecircumflex", 'Ê'),
    ("Edieresis", 'Ë'),
    ("Egrave", 'È'),
    ("Eth", 'Ð'),
    ("Euro", '€'),
    ("Iacute", 'Í'),
    ("Icircumflex", 'Î'),
    ("Idieresis", 'Ï'),
    ("Igrave", 'Ì'),
    ("Lslash", 'Ł'),
    ("Ntilde", 'Ñ'),
    ("OE", 'Œ'),
    ("Oacute", 'Ó'),
    ("Ocircumflex", 'Ô'),
    ("Odieresis", 'Ö'),
    ("Ograve", 'Ò'),
    ("Oslash", 'Ø'),
    ("Otilde", 'Õ'),
    ("Scaron", 'Š'),
    ("Thorn", 'Þ'),
    ("Uacute", 'Ú'),
    ("Ucircumflex", 'Û'),
    ("Udieresis", 'Ü'),
    ("Ugrave", 'Ù'),
    ("Yacute", 'Ý'),
    ("Ydieresis", 'Ÿ'),
    ("Zcaron", 'Ž'),
    ("aacute", 'á'),
    ("acircumflex", 'â'),
    ("acute", '´'),
    ("adieresis", 'ä'),
    ("ae", 'æ'),
    ("agrave", 'à'),
    ("alefhebrew", 'א'),
    ("ampersand", '&'),
    ("aring", 'å'),
    ("asciicircum", '^'),
    ("asciitilde", '~'),
    ("asterisk", '*'),
    ("at", '@'),
    ("atilde", 'ã'),
    ("ayinhebrew", 'ע'),
    ("backslash", '\\'),
    ("bar", '|'),
    ("bethebrew", 'ב'),
    ("braceleft", '{'),
    ("braceright", '}'),
    ("bracketleft", '['),
    ("bracketright", ']'),
    ("breve", '˘'),
    ("brokenbar", '¦'),
    ("bullet", '•'),
    ("caron", 'ˇ'),
    ("ccedilla", 'ç'),
    ("cedilla", '¸'),
    ("cent", '¢'),
    ("circumflex", 'ˆ'),
    ("colon", ':'),
    ("comma", ','),
    ("copyright", '©'),
    ("currency", '¤'),
    ("dagger", '†'),
    ("daggerdbl", '‡'),
    ("daletdagesh", 'ד'),
    ("dalethebrew", 'ד'),
    ("degree", '°'),
    ("dieresis", '¨'),
    ("divide", '÷'),
    ("dollar", '$'),
    ("dotaccent", '˙'),
    ("dotlessi", 'ı'),
    ("eacute", 'é'),
    ("ecircumflex", 'ê'),
    ("edieresis", 'ë'),
    ("egrave", 'è'),
    ("eight", '8'),
    ("ellipsis", '…'),
    ("emdash", '—'),
    ("endash", '–'),
    ("equal", '='),
    ("eth", 'ð'),
    ("exclam", '!'),
    ("exclamdown", '¡'),
    ("ff", 'ﬀ'),
    ("ffi", 'ﬃ'),
    ("ffl", 'ﬄ'),
    ("fi", 'ﬁ'),
    ("finalkafhebrew", 'ך'),
    ("finalmemhebrew", 'ם'),
    ("finalnunhebrew", 'ן'),
    ("finalpehebrew", 'ף'),
    ("finaltsadihebrew", 'ץ'),
    ("five", '5'),
    ("fl", 'ﬂ'),
    ("florin", 'ƒ'),
    ("four", '4'),
    ("fraction", '⁄'),
    ("germandbls", 'ß'),
    ("gimelhebrew", 'ג'),
    ("grave", '`'),
    ("greater", '>'),
    ("guillemotleft", '«'),
    ("guillemotright", '»'),
    ("guilsinglleft", '‹'),
    ("guilsinglright", '›'),
    ("hehebrew", 'ה'),
    ("hethebrew", 'ח'),
    ("hungarumlaut", '˝'),
    ("hyphen", '-'),
    ("iacute", 'í'),
    ("icircumflex", 'î'),
    ("idieresis", 'ï'),
    ("igrave", 'ì'),
    ("kafhebrew", 'כ'),
    ("lamedhebrew", 'ל'),
    ("less", '<'),
    ("logicalnot", '¬'),
    ("lslash", 'ł'),
    ("macron", '¯'),
    ("maqafhebrew", '־'),
    ("memhebrew", 'מ'),
    ("minus", '−'),
    ("mu", 'µ'),
    ("multiply", '×'),
    ("nbspace", '\u{a0}'),
    ("nine", '9'),
    ("ntilde", 'ñ'),
    ("numbersign", '#'),
    ("nunhebrew", 'נ'),
    ("oacute", 'ó'),
    ("ocircumflex", 'ô'),
    ("odieresis", 'ö'),
    ("oe", 'œ'),
    ("ogonek", '˛'),
    ("ograve", 'ò'),
    ("one", '1'),
    ("onehalf", '½'),
    ("onequarter", '¼'),
    ("onesuperior", '¹'),
    ("ordfeminine", 'ª'),
    ("ordmasculine", 'º'),
    ("oslash", 'ø'),
    ("otilde", 'õ'),
    ("paragraph", '¶'),
    ("parenleft", '('),
    ("parenright", ')'),
    ("pehebrew", 'פ'),
    ("percent", '%'),
    ("period", '.'),
    ("periodcentered", '·'),
    ("perthousand", '‰'),
    ("plus", '+'),
    ("plusminus", '±'),
    ("qofhebrew", 'ק'),
    ("question", '?'),
    ("questiondown", '¿'),
    ("quotedbl", '"'),
    ("quotedblbase", '„'),
    ("quotedblleft", '“'),
    ("quotedblright", '”'),
    ("quoteleft", '‘'),
    ("quoteright", '’'),
    ("quotesinglbase", '‚'),
    ("quotesingle", '\''),
    ("registered", '®'),
    ("reshhebrew", 'ר'),
    ("ring", '˚'),
    ("samekhhebrew", 'ס'),
    ("scaron", 'š'),
    ("section", '§'),
    ("semicolon", ';'),
    ("seven", '7'),
    ("sheqel", '₪'),
    ("shinhebrew", 'ש'),
    ("six", '6'),
    ("slash", '/'),
    ("space", ' '),
    ("sterling", '£'),
    ("tavhebrew", 'ת'),
    ("tethebrew", 'ט'),
    ("thorn", 'þ'),
    ("three", '3'),
    ("threequarters", '¾'),
    ("threesuperior", '³'),
    ("tilde", '˜'),
    ("trademark", '™'),
    ("tsadihebrew", 'צ'),
    ("two", '2'),
    ("twosuperior", '²'),
    ("uacute", 'ú'),
    ("ucircumflex", 'û'),
    ("udieresis", 'ü'),
    ("ugrave", 'ù'),
    ("underscore", '_'),
    ("vavhebrew", 'ו'),
    ("yacute", 'ý'),
    ("ydieresis", 'ÿ'),
    ("yen", '¥'),
    ("yodhebrew", 'י'),
    ("zayinhebrew", 'ז'),
    ("zcaron", 'ž'),
    ("zero", '0'),
];

/// Text as extraction should give it: Latin ligatures spelled out, Hebrew presentation
/// forms decomposed, no NUL or other control characters.
pub fn normalize(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        let u = c as u32;
        match u {
            0xFB00 => out.push_str("ff"),
            0xFB01 => out.push_str("fi"),
            0xFB02 => out.push_str("fl"),
            0xFB03 => out.push_str("ffi"),
            0xFB04 => out.push_str("ffl"),
            0xFB05 | 0xFB06 => out.push_str("st"),
            0xFB1D..=0xFB4F => hebrew_form(u, &mut out),
            0x09 | 0x0A | 0x0D => out.push(' '),
            0x00..=0x1F | 0x7F | 0xFFFE | 0xFFFF => {}
            _ => out.push(c),
        }
    }
    out
}

fn hebrew_form(u: u32, out: &mut String) {
    let pair: (u32, u32) = match u {
        0xFB1D => (0x5D9, 0x5B4),
        0xFB1F => (0x5F2, 0x5B7),
        0xFB20 => (0x5E2, 0),
        0xFB21 => (0x5D0, 0),
        0xFB22 => (0x5D3, 0),
        0xFB23 => (0x5D4, 0),
        0xFB24 => (0x5DB, 0),
        0xFB25 => (0x5DC, 0),
        0xFB26 => (0x5DD, 0),
        0xFB27 => (0x5E8, 0),
        0xFB28 => (0x5EA, 0),
        0xFB29 => (0x2B, 0),
        0xFB2A => (0x5E9, 0x5C1),
        0xFB2B => (0x5E9, 0x5C2),
        0xFB2C | 0xFB2D => {
            out.push('\u{5e9}');
            out.push('\u{5bc}');
            (if u == 0xFB2C { 0x5C1 } else { 0x5C2 }, 0)
        }
        0xFB2E => (0x5D0, 0x5B7),
        0xFB2F => (0x5D0, 0x5B8),
        0xFB30 => (0x5D0, 0x5BC),
        0xFB31..=0xFB4A => (0x5D1 + (u - 0xFB31), 0x5BC),
        0xFB4B => (0x5D5, 0x5B9),
        0xFB4C => (0x5D1, 0x5BF),
        0xFB4D => (0x5DB, 0x5BF),
        0xFB4E => (0x5E4, 0x5BF),
        0xFB4F => (0x5D0, 0x5DC),
        _ => (u, 0),
    };
    for v in [pair.0, pair.1] {
        if let Some(c) = char::from_u32(v).filter(|_| v != 0) {
            out.push(c);
        }
    }
}

/// WinAnsiEncoding's 0x80–0x9F block (the rest is Latin-1).
const WIN_80: [char; 32] = [
    '€', '\0', '‚', 'ƒ', '„', '…', '†', '‡', 'ˆ', '‰', 'Š', '‹', 'Œ', '\0', 'Ž', '\0', '\0', '‘',
    '’', '“', '”', '•', '–', '—', '˜', '™', 'š', '›', 'œ', '\0', 'ž', 'Ÿ',
];

/// MacRomanEncoding's upper half.
const MAC_80: [char; 128] = [
    'Ä', 'Å', 'Ç', 'É', 'Ñ', 'Ö', 'Ü', 'á', 'à', 'â', 'ä', 'ã', 'å', 'ç', 'é', 'è', 'ê', 'ë', 'í',
    'ì', 'î', 'ï', 'ñ', 'ó', 'ò', 'ô', 'ö', 'õ', 'ú', 'ù', 'û', 'ü', '†', '°', '¢', '£', '§', '•',
    '¶', 'ß', '®', '©', '™', '´', '¨', '≠', 'Æ', 'Ø', '∞', '±', '≤', '≥', '¥', 'µ', '∂', '∑', '∏',
    'π', '∫', 'ª', 'º', 'Ω', 'æ', 'ø', '¿', '¡', '¬', '√', 'ƒ', '≈', '∆', '«', '»', '…', '\u{a0}',
    'À', 'Ã', 'Õ', 'Œ', 'œ', '–', '—', '“', '”', '‘', '’', '÷', '◊', 'ÿ', 'Ÿ', '⁄', '€', '‹', '›',
    'ﬁ', 'ﬂ', '‡', '·', '‚', '„', '‰', 'Â', 'Ê', 'Á', 'Ë', 'È', 'Í', 'Î', 'Ï', 'Ì', 'Ó', 'Ô',
    '\u{f8ff}', 'Ò', 'Ú', 'Û', 'Ù', 'ı', 'ˆ', '˜', '¯', '˘', '˙', '˚', '¸', '˝', '˛', 'ˇ',
];

/// Which built-in single-byte encoding a simple font starts from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BaseEncoding {
    /// StandardEncoding (Type 1 default), approximated by ASCII with typographic quotes.
    Standard,
    /// WinAnsiEncoding.
    WinAnsi,
    /// MacRomanEncoding.
    MacRoman,
}

/// The character a byte stands for in a base encoding.
pub fn base_char(encoding: BaseEncoding, code: u8) -> Option<char> {
    let c = match (encoding, code) {
        (_, 0..=31) => return None,
        (BaseEncoding::Standard, 0x27) => '’',
        (BaseEncoding::Standard, 0x60) => '‘',
        (_, 32..=126) => code as char,
        (BaseEncoding::WinAnsi, 0x80..=0x9F) => *WIN_80.get(usize::from(code - 0x80))?,
        (BaseEncoding::WinAnsi, 0xA0..=0xFF) => char::from(code),
        (BaseEncoding::MacRoman, 0x80..=0xFF) => *MAC_80.get(usize::from(code - 0x80))?,
        (BaseEncoding::Standard, 0xA1..=0xFF) => match code {
            0xA1 => '¡',
            0xA2 => '¢',
            0xA3 => '£',
            0xA5 => '¥',
            0xA7 => '§',
            0xAA => '“',
            0xAB => '«',
            0xB1 => '–',
            0xB7 => '•',
            0xBA => '”',
            0xBB => '»',
            0xBC => '…',
            0xD0 => '—',
            0xAE => 'ﬁ',
            0xAF => 'ﬂ',
            0xE1 => 'Æ',
            0xF1 => 'æ',
            0xFB => 'ß',
            _ => return None,
        },
        _ => return None,
    };
    (c != '\0').then_some(c)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_sorted() {
        assert!(NAMES.windows(2).all(|w| w[0].0 < w[1].0));
    }

    #[test]
    fn normalizes() {
        assert_eq!(
            normalize("\u{fb01}nal \u{fb2a}\u{fb4f}"),
            "final \u{5e9}\u{5c1}\u{5d0}\u{5dc}"
        );
    }

    #[test]
    fn names_resolve() {
        assert_eq!(name_to_text("afii57664").as_deref(), Some("א"));
        assert_eq!(name_to_text("afii57690").as_deref(), Some("ת"));
        assert_eq!(
            name_to_text("uni05D305B0").as_deref(),
            Some("\u{5d3}\u{5b0}")
        );
        assert_eq!(name_to_text("u1F600").as_deref(), Some("😀"));
        assert_eq!(name_to_text("f_i").as_deref(), Some("fi"));
        assert_eq!(name_to_text("a.sc").as_deref(), Some("a"));
        assert_eq!(name_to_text("quotedblright").as_deref(), Some("”"));
        assert_eq!(name_to_text("g123"), None);
    }
}
