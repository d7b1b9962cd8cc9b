//! JSON for a terminal or a pipe: the same documents `serde_json` writes, pretty, with
//! every character [`super::escape::is_hidden`] names (control characters, line and
//! paragraph separators, invisible format characters and bidirectional controls) written
//! as a `\uXXXX` escape inside strings. The text stays valid JSON and a JSON reader decodes
//! the same strings; a terminal shows the escape instead of acting on the character
//! (U+202E would otherwise reverse the rest of the line).

use super::escape::is_hidden;
use serde::Serialize;
use serde_json::ser::{Formatter, PrettyFormatter};
use std::io::{self, Write};

/// `value` as pretty JSON text with invisible characters escaped, without a line end.
///
/// # Errors
/// Whatever `value`'s `Serialize` reports (a map with non-string keys, a failing custom
/// impl); writing to memory itself cannot fail.
pub fn to_string_pretty(value: &impl Serialize) -> serde_json::Result<String> {
    let mut out = Vec::with_capacity(256);
    to_writer_pretty(&mut out, value)?;
    // serde_json writes only UTF-8, and the escapes are ASCII.
    Ok(String::from_utf8(out).expect("JSON text is UTF-8"))
}

/// As [`to_string_pretty`], streamed to `out`.
///
/// # Errors
/// `out`'s I/O errors and `value`'s serialization errors.
pub fn to_writer_pretty(out: impl Write, value: &impl Serialize) -> serde_json::Result<()> {
    let mut serializer = serde_json::Serializer::with_formatter(out, VisibleFormatter::pretty());
    value.serialize(&mut serializer)
}

/// A [`Formatter`] that lays out like `inner` and escapes hidden characters in strings.
/// serde_json escapes `"`, `\` and C0 controls itself and hands every other run of string
/// text to [`Formatter::write_string_fragment`], overridden here.
#[derive(Clone, Debug)]
pub struct VisibleFormatter<F> {
    inner: F,
}

impl VisibleFormatter<PrettyFormatter<'static>> {
    /// Two-space indentation, as `serde_json::to_string_pretty`.
    pub fn pretty() -> Self {
        Self {
            inner: PrettyFormatter::new(),
        }
    }
}

/// Writes `fragment` with each hidden character as `\uXXXX` (a UTF-16 surrogate pair
/// above U+FFFF), lowercase hex as serde_json writes its own escapes.
fn write_visible<W: ?Sized + Write>(writer: &mut W, fragment: &str) -> io::Result<()> {
    let mut start = 0;
    for (at, c) in fragment.char_indices() {
        if !is_hidden(c) {
            continue;
        }
        writer.write_all(&fragment.as_bytes()[start..at])?;
        let mut units = [0u16; 2];
        for unit in c.encode_utf16(&mut units) {
            write!(writer, "\\u{unit:04x}")?;
        }
        start = at + c.len_utf8();
    }
    writer.write_all(&fragment.as_bytes()[start..])
}

impl<F: Formatter> Formatter for VisibleFormatter<F> {
    fn write_string_fragment<W: ?Sized + Write>(
        &mut self,
        writer: &mut W,
        fragment: &str,
    ) -> io::Result<()> {
        write_visible(writer, fragment)
    }

    fn begin_array<W: ?Sized + Write>(&mut self, writer: &mut W) -> io::Result<()> {
        self.inner.begin_array(writer)
    }

    fn end_array<W: ?Sized + Write>(&mut self, writer: &mut W) -> io::Result<()> {
        self.inner.end_array(writer)
    }

    fn begin_array_value<W: ?Sized + Write>(
        &mut self,
        writer: &mut W,
        first: bool,
    ) -> io::Result<()> {
        self.inner.begin_array_value(writer, first)
    }

    fn end_array_value<W: ?Sized + Write>(&mut self, writer: &mut W) -> io::Result<()> {
        self.inner.end_array_value(writer)
    }

    fn begin_object<W: ?Sized + Write>(&mut self, writer: &mut W) -> io::Result<()> {
        self.inner.begin_object(writer)
    }

    fn end_object<W: ?Sized + Write>(&mut self, writer: &mut W) -> io::Result<()> {
        self.inner.end_object(writer)
    }

    fn begin_object_key<W: ?Sized + Write>(
        &mut self,
        writer: &mut W,
        first: bool,
    ) -> io::Result<()> {
        self.inner.begin_object_key(writer, first)
    }

    fn end_object_key<W: ?Sized + Write>(&mut self, writer: &mut W) -> io::Result<()> {
        self.inner.end_object_key(writer)
    }

    fn begin_object_value<W: ?Sized + Write>(&mut self, writer: &mut W) -> io::Result<()> {
        self.inner.begin_object_value(writer)
    }

    fn end_object_value<W: ?Sized + Write>(&mut self, writer: &mut W) -> io::Result<()> {
        self.inner.end_object_value(writer)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn issue_12_hidden_characters_are_escaped_and_decode_unchanged() {
        let name = "evil\u{202e}gnp\u{200b}x\u{2028}y\u{7f}\u{9b}\u{e0041}\u{1b}Zürich";
        let text = to_string_pretty(&serde_json::json!({ "names": [name] })).unwrap();
        assert_eq!(
            text,
            "{\n  \"names\": [\n    \"evil\\u202egnp\\u200bx\\u2028y\\u007f\\u009b\\udb40\\udc41\\u001bZürich\"\n  ]\n}"
        );
        let back: serde_json::Value = serde_json::from_str(&text).unwrap();
        assert_eq!(back["names"][0], name);
    }

    #[test]
    fn plain_documents_match_serde_json() {
        let value = serde_json::json!({"a": [1, "b", {"c": null}], "d": "東京 \"q\" \\"});
        assert_eq!(
            to_string_pretty(&value).unwrap(),
            serde_json::to_string_pretty(&value).unwrap()
        );
    }
}
