//! The writer's checksum and layout: a serde_json [`Formatter`] that lays the plan out
//! with the inner formatter and, call by call, feeds the same document in compact form with
//! serde_json's own string escapes to the hash (see [`super::checksum`]), so no byte is
//! scanned twice; and [`Indented`], serde_json's pretty layout written in fewer pieces.
//! The document's closing `}` is not written: the caller writes the `checksum` member and
//! closes it.

use serde_json::ser::{CharEscape, CompactFormatter, Formatter};
use std::io::{self, Write};

pub(super) struct HashingFormatter<'a, F> {
    inner: F,
    hash: &'a mut CompactHash,
}

/// The hash of the compact document, fed in large pieces.
pub(super) struct CompactHash {
    hasher: blake3::Hasher,
    /// Compact bytes not hashed yet.
    buffer: Vec<u8>,
    depth: usize,
}

const CAPACITY: usize = 1 << 16;

impl CompactHash {
    pub(super) fn new() -> Self {
        Self {
            hasher: blake3::Hasher::new(),
            buffer: Vec::with_capacity(CAPACITY),
            depth: 0,
        }
    }

    /// `blake3:<hex>` of the compact document.
    pub(super) fn finish(mut self) -> String {
        self.hasher.update(&self.buffer);
        format!("blake3:{}", self.hasher.finalize().to_hex())
    }
}

impl<'a, F> HashingFormatter<'a, F> {
    pub(super) fn new(inner: F, hash: &'a mut CompactHash) -> Self {
        Self { inner, hash }
    }

    /// Runs `compact` against the hash buffer (writes into memory cannot fail).
    fn hash(
        &mut self,
        compact: impl FnOnce(&mut CompactFormatter, &mut Vec<u8>) -> io::Result<()>,
    ) {
        let hash = &mut *self.hash;
        if hash.buffer.len() > CAPACITY {
            hash.hasher.update(&hash.buffer);
            hash.buffer.clear();
        }
        compact(&mut CompactFormatter, &mut hash.buffer).expect("hashing writes to memory");
    }
}

macro_rules! numbers {
    ($($method:ident: $type:ty),*) => {$(
        fn $method<W: ?Sized + Write>(&mut self, writer: &mut W, value: $type) -> io::Result<()> {
            self.inner.$method(writer, value)?;
            self.hash(|f, out| f.$method(out, value));
            Ok(())
        }
    )*};
}

impl<F: Formatter> Formatter for HashingFormatter<'_, F> {
    numbers!(
        write_bool: bool, write_i8: i8, write_i16: i16, write_i32: i32, write_i64: i64,
        write_i128: i128, write_u8: u8, write_u16: u16, write_u32: u32, write_u64: u64,
        write_u128: u128, write_f32: f32, write_f64: f64
    );

    fn write_null<W: ?Sized + Write>(&mut self, writer: &mut W) -> io::Result<()> {
        self.inner.write_null(writer)?;
        self.hash(|f, out| f.write_null(out));
        Ok(())
    }
    fn write_number_str<W: ?Sized + Write>(
        &mut self,
        writer: &mut W,
        value: &str,
    ) -> io::Result<()> {
        self.inner.write_number_str(writer, value)?;
        self.hash(|f, out| f.write_number_str(out, value));
        Ok(())
    }
    fn begin_string<W: ?Sized + Write>(&mut self, writer: &mut W) -> io::Result<()> {
        self.inner.begin_string(writer)?;
        self.hash(|f, out| f.begin_string(out));
        Ok(())
    }
    fn end_string<W: ?Sized + Write>(&mut self, writer: &mut W) -> io::Result<()> {
        self.inner.end_string(writer)?;
        self.hash(|f, out| f.end_string(out));
        Ok(())
    }
    fn write_string_fragment<W: ?Sized + Write>(
        &mut self,
        writer: &mut W,
        fragment: &str,
    ) -> io::Result<()> {
        self.inner.write_string_fragment(writer, fragment)?;
        self.hash(|f, out| f.write_string_fragment(out, fragment));
        Ok(())
    }
    fn write_char_escape<W: ?Sized + Write>(
        &mut self,
        writer: &mut W,
        escape: CharEscape,
    ) -> io::Result<()> {
        let copy = copy_escape(&escape);
        self.inner.write_char_escape(writer, escape)?;
        self.hash(|f, out| f.write_char_escape(out, copy));
        Ok(())
    }
    fn write_raw_fragment<W: ?Sized + Write>(
        &mut self,
        writer: &mut W,
        fragment: &str,
    ) -> io::Result<()> {
        self.inner.write_raw_fragment(writer, fragment)?;
        self.hash(|f, out| f.write_raw_fragment(out, fragment));
        Ok(())
    }
    fn begin_array<W: ?Sized + Write>(&mut self, writer: &mut W) -> io::Result<()> {
        self.hash.depth += 1;
        self.inner.begin_array(writer)?;
        self.hash(|f, out| f.begin_array(out));
        Ok(())
    }
    fn end_array<W: ?Sized + Write>(&mut self, writer: &mut W) -> io::Result<()> {
        self.hash.depth -= 1;
        self.inner.end_array(writer)?;
        self.hash(|f, out| f.end_array(out));
        Ok(())
    }
    fn begin_array_value<W: ?Sized + Write>(
        &mut self,
        writer: &mut W,
        first: bool,
    ) -> io::Result<()> {
        self.inner.begin_array_value(writer, first)?;
        self.hash(|f, out| f.begin_array_value(out, first));
        Ok(())
    }
    fn end_array_value<W: ?Sized + Write>(&mut self, writer: &mut W) -> io::Result<()> {
        self.inner.end_array_value(writer)?;
        self.hash(|f, out| f.end_array_value(out));
        Ok(())
    }
    fn begin_object<W: ?Sized + Write>(&mut self, writer: &mut W) -> io::Result<()> {
        self.hash.depth += 1;
        self.inner.begin_object(writer)?;
        self.hash(|f, out| f.begin_object(out));
        Ok(())
    }
    fn end_object<W: ?Sized + Write>(&mut self, writer: &mut W) -> io::Result<()> {
        self.hash.depth -= 1;
        self.hash(|f, out| f.end_object(out));
        if self.hash.depth == 0 {
            // The document's own `}` comes after the checksum member.
            return Ok(());
        }
        self.inner.end_object(writer)
    }
    fn begin_object_key<W: ?Sized + Write>(
        &mut self,
        writer: &mut W,
        first: bool,
    ) -> io::Result<()> {
        self.inner.begin_object_key(writer, first)?;
        self.hash(|f, out| f.begin_object_key(out, first));
        Ok(())
    }
    fn end_object_key<W: ?Sized + Write>(&mut self, writer: &mut W) -> io::Result<()> {
        self.inner.end_object_key(writer)?;
        self.hash(|f, out| f.end_object_key(out));
        Ok(())
    }
    fn begin_object_value<W: ?Sized + Write>(&mut self, writer: &mut W) -> io::Result<()> {
        self.inner.begin_object_value(writer)?;
        self.hash(|f, out| f.begin_object_value(out));
        Ok(())
    }
    fn end_object_value<W: ?Sized + Write>(&mut self, writer: &mut W) -> io::Result<()> {
        self.inner.end_object_value(writer)?;
        self.hash(|f, out| f.end_object_value(out));
        Ok(())
    }
}

/// serde_json's `PrettyFormatter` with its default two-space indent, writing each line
/// break with its indentation as one piece (`PrettyFormatter` writes the indent one level
/// at a time: five writes for a field value's line). Same bytes; the tests compare them.
#[derive(Default)]
pub(super) struct Indented {
    depth: usize,
    has_value: bool,
}

/// A line break and the indentation of 32 levels, cut to the depth needed.
const LINE: &[u8; 65] = b"\n                                                                ";

impl Indented {
    fn new_line<W: ?Sized + Write>(&self, writer: &mut W) -> io::Result<()> {
        let mut indent = 2 * self.depth;
        let first = indent.min(LINE.len() - 1);
        writer.write_all(&LINE[..1 + first])?;
        indent -= first;
        while indent > 0 {
            let piece = indent.min(LINE.len() - 1);
            writer.write_all(&LINE[1..1 + piece])?;
            indent -= piece;
        }
        Ok(())
    }

    fn begin<W: ?Sized + Write>(&mut self, writer: &mut W, open: &[u8]) -> io::Result<()> {
        self.depth += 1;
        self.has_value = false;
        writer.write_all(open)
    }

    fn end<W: ?Sized + Write>(&mut self, writer: &mut W, close: &[u8]) -> io::Result<()> {
        self.depth -= 1;
        if self.has_value {
            self.new_line(writer)?;
        }
        writer.write_all(close)
    }

    fn member<W: ?Sized + Write>(&mut self, writer: &mut W, first: bool) -> io::Result<()> {
        if !first {
            writer.write_all(b",")?;
        }
        self.new_line(writer)
    }
}

impl Formatter for Indented {
    fn begin_array<W: ?Sized + Write>(&mut self, writer: &mut W) -> io::Result<()> {
        self.begin(writer, b"[")
    }
    fn end_array<W: ?Sized + Write>(&mut self, writer: &mut W) -> io::Result<()> {
        self.end(writer, b"]")
    }
    fn begin_array_value<W: ?Sized + Write>(
        &mut self,
        writer: &mut W,
        first: bool,
    ) -> io::Result<()> {
        self.member(writer, first)
    }
    fn end_array_value<W: ?Sized + Write>(&mut self, _: &mut W) -> io::Result<()> {
        self.has_value = true;
        Ok(())
    }
    fn begin_object<W: ?Sized + Write>(&mut self, writer: &mut W) -> io::Result<()> {
        self.begin(writer, b"{")
    }
    fn end_object<W: ?Sized + Write>(&mut self, writer: &mut W) -> io::Result<()> {
        self.end(writer, b"}")
    }
    fn begin_object_key<W: ?Sized + Write>(
        &mut self,
        writer: &mut W,
        first: bool,
    ) -> io::Result<()> {
        self.member(writer, first)
    }
    fn begin_object_value<W: ?Sized + Write>(&mut self, writer: &mut W) -> io::Result<()> {
        writer.write_all(b": ")
    }
    fn end_object_value<W: ?Sized + Write>(&mut self, _: &mut W) -> io::Result<()> {
        self.has_value = true;
        Ok(())
    }
}

/// `CharEscape` is not `Clone`.
fn copy_escape(escape: &CharEscape) -> CharEscape {
    match escape {
        CharEscape::Quote => CharEscape::Quote,
        CharEscape::ReverseSolidus => CharEscape::ReverseSolidus,
        CharEscape::Solidus => CharEscape::Solidus,
        CharEscape::Backspace => CharEscape::Backspace,
        CharEscape::FormFeed => CharEscape::FormFeed,
        CharEscape::LineFeed => CharEscape::LineFeed,
        CharEscape::CarriageReturn => CharEscape::CarriageReturn,
        CharEscape::Tab => CharEscape::Tab,
        CharEscape::AsciiControl(byte) => CharEscape::AsciiControl(*byte),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::Serialize;
    use serde_json::json;

    fn written(value: &serde_json::Value, formatter: impl Formatter) -> String {
        let mut out = Vec::new();
        value
            .serialize(&mut serde_json::Serializer::with_formatter(
                &mut out, formatter,
            ))
            .unwrap();
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn issue_18_indented_writes_what_the_pretty_formatter_writes() {
        let mut value = json!({
            "empty": {}, "none": [], "nested": [[], {}, [{}], {"a": []}],
            "text": "a\"{,}:[\\\" \n \u{1f} é \u{202e}", "\"key,{": [1, -2.5, 1e-7, true, null],
        });
        // Deeper than the 32 levels one piece of spaces indents.
        for level in 0..40 {
            value = json!({ "level": level, "inner": value, "after": [level] });
        }
        let pretty = serde_json::ser::PrettyFormatter::new();
        assert_eq!(
            written(&value, Indented::default()),
            written(&value, pretty)
        );
        for scalar in [json!([]), json!({}), json!("s"), json!(1), json!([[1]])] {
            let pretty = serde_json::ser::PrettyFormatter::new();
            assert_eq!(
                written(&scalar, Indented::default()),
                written(&scalar, pretty)
            );
        }
    }
}
