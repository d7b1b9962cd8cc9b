//! Escaping untrusted text for a terminal. Record names, record types, field names and
//! values come from data files, plan files and CloudKit (in a public database, from other
//! people's apps); written raw, an escape sequence could clear the screen or move the
//! cursor over the `- delete` line a reviewer must see, and a bidirectional override could
//! show a name reversed. Every view passes such text through [`escape`].

use std::borrow::Cow;
use std::fmt::Write as _;

/// `text` with every character a terminal would act on or not show written visibly as
/// `\u{hex}`: control characters (C0, DEL, C1, so every escape sequence loses its ESC), the
/// line and paragraph separators, and the invisible format characters (Unicode category
/// Cf: zero-width spaces and joiners, bidirectional marks, embeddings, overrides and
/// isolates, the byte-order mark, …). Other text is returned as it is, without copying.
pub fn escape(text: &str) -> Cow<'_, str> {
    escape_keeping(text, &[])
}

/// As [`escape`], keeping line ends: for messages of several lines.
pub fn escape_lines(text: &str) -> Cow<'_, str> {
    escape_keeping(text, &['\n'])
}

fn escape_keeping<'a>(text: &'a str, keep: &[char]) -> Cow<'a, str> {
    let hidden = |c: char| is_hidden(c) && !keep.contains(&c);
    if !text.chars().any(hidden) {
        return Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len() + 8);
    for c in text.chars() {
        if hidden(c) {
            let _ = write!(out, "\\u{{{:x}}}", u32::from(c));
        } else {
            out.push(c);
        }
    }
    Cow::Owned(out)
}

/// Whether a terminal acts on `c` or shows nothing for it: the one definition of the
/// characters both [`escape`] and [`super::json`] write as escapes.
pub fn is_hidden(c: char) -> bool {
    c.is_control() || matches!(c, '\u{2028}' | '\u{2029}') || is_format(c)
}

/// Unicode general category Cf (format characters), Unicode 15.1
/// (<https://www.unicode.org/Public/15.1.0/ucd/extracted/DerivedGeneralCategory.txt>).
fn is_format(c: char) -> bool {
    matches!(
        u32::from(c),
        0x00AD
            | 0x0600..=0x0605
            | 0x061C
            | 0x06DD
            | 0x070F
            | 0x0890..=0x0891
            | 0x08E2
            | 0x180E
            | 0x200B..=0x200F
            | 0x202A..=0x202E
            | 0x2060..=0x2064
            | 0x2066..=0x206F
            | 0xFEFF
            | 0xFFF9..=0xFFFB
            | 0x110BD
            | 0x110CD
            | 0x13430..=0x1343F
            | 0x1BCA0..=0x1BCA3
            | 0x1D173..=0x1D17A
            | 0xE0001
            | 0xE0020..=0xE007F
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_text_is_borrowed_unchanged() {
        assert!(matches!(escape("stadium-1 Zürich 東京"), Cow::Borrowed(_)));
    }

    #[test]
    fn escape_sequences_lose_their_escape_character() {
        assert_eq!(escape("a\u{1b}[2J\u{1b}[1Ab"), "a\\u{1b}[2J\\u{1b}[1Ab");
        assert_eq!(escape("bell\u{7}\r\n\t"), "bell\\u{7}\\u{d}\\u{a}\\u{9}");
        assert_eq!(escape("c1\u{9b}2J del\u{7f}"), "c1\\u{9b}2J del\\u{7f}");
    }

    #[test]
    fn bidirectional_and_invisible_characters_are_shown() {
        assert_eq!(escape("evil\u{202e}txt.exe"), "evil\\u{202e}txt.exe");
        assert_eq!(escape("\u{2066}x\u{2069}"), "\\u{2066}x\\u{2069}");
        assert_eq!(
            escape("zero\u{200b}width\u{feff}"),
            "zero\\u{200b}width\\u{feff}"
        );
        assert_eq!(escape("line\u{2028}sep"), "line\\u{2028}sep");
        assert_eq!(escape("tag\u{e0041}"), "tag\\u{e0041}");
    }

    #[test]
    fn messages_keep_their_line_ends() {
        assert_eq!(escape_lines("one\ntwo\u{1b}"), "one\ntwo\\u{1b}");
    }
}
