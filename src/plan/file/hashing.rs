//! The writer's checksum and layout. The plan is serialized once, in compact form:
//! [`PrettyHashWriter`] hashes those bytes as they are (the checksum is over the compact
//! document, see [`super::checksum`]) and lays them out as `serde_json`'s
//! `PrettyFormatter` would, in pieces of 64 KiB, so the file gets a few large writes and no
//! token is formatted twice. [`HashingFormatter`] is the general form, for layouts other
//! than the file's (`ckplan show --json` escapes invisible characters): a serde_json
//! [`Formatter`] that lays the plan out with the inner formatter and, call by call, feeds
//! the same document in compact form with serde_json's own string escapes to the hash.
//! Either way the document's closing `}` is not written: the caller writes the `checksum`
//! member and closes it.

use serde_json::ser::{CharEscape, CompactFormatter, Formatter};
use std::io::{self, Write};

/// Takes the compact document (serde_json's `CompactFormatter` output: no whitespace
/// outside strings), hashes it, and writes it to `out` laid out as serde_json's
/// `PrettyFormatter` lays it out (two-space indent), all but its closing `}`.
pub(super) struct PrettyHashWriter<W> {
    out: W,
    hash: CompactHash,
    /// Compact bytes not laid out yet; the last one is held back until more come (the
    /// document's closing `}` never goes out).
    compact: Vec<u8>,
    /// Laid-out bytes for `out`.
    pretty: Vec<u8>,
    layout: Layout,
    /// Whether the pretty form is written at all (not for the checksum alone).
    writes: bool,
}

impl<W: Write> PrettyHashWriter<W> {
    /// Writes the pretty form to `out`.
    pub(super) fn new(out: W) -> Self {
        Self::with(out, true)
    }

    fn with(out: W, writes: bool) -> Self {
        Self {
            out,
            hash: CompactHash::new(),
            compact: Vec::with_capacity(CAPACITY + 1),
            pretty: Vec::with_capacity(if writes { 2 * CAPACITY } else { 0 }),
            layout: Layout::default(),
            writes,
        }
    }

    /// Hashes and lays out every compact byte but the last.
    fn drain(&mut self) -> io::Result<()> {
        let Some((&last, done)) = self.compact.split_last() else {
            return Ok(());
        };
        self.hash.update(done);
        if self.writes {
            self.layout.lay_out(done, &mut self.pretty);
            self.out.write_all(&self.pretty)?;
            self.pretty.clear();
        }
        self.compact.clear();
        self.compact.push(last);
        Ok(())
    }

    /// Ends the document: hashes its closing `}` (which is not laid out) and returns the
    /// hash and the output, for the caller to write the checksum member into.
    pub(super) fn finish(mut self) -> io::Result<(CompactHash, W)> {
        self.drain()?;
        debug_assert_eq!(self.compact, b"}", "the document is an object");
        self.hash.update(&self.compact);
        Ok((self.hash, self.out))
    }
}

impl PrettyHashWriter<io::Sink> {
    /// Only hashes: for the checksum of a plan that is not written.
    pub(super) fn hash_only() -> Self {
        Self::with(io::sink(), false)
    }
}

impl<W: Write> Write for PrettyHashWriter<W> {
    fn write(&mut self, bytes: &[u8]) -> io::Result<usize> {
        self.compact.extend_from_slice(bytes);
        if self.compact.len() > CAPACITY {
            self.drain()?;
        }
        Ok(bytes.len())
    }

    fn write_all(&mut self, bytes: &[u8]) -> io::Result<()> {
        self.write(bytes).map(drop)
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// Where the layout is in the compact text, between pieces of it.
#[derive(Default)]
struct Layout {
    depth: usize,
    in_string: bool,
    /// The previous byte was a `\` inside a string.
    escaped: bool,
    /// The previous structural byte opened an object or array whose first member's line
    /// break is not written yet: `{}` and `[]` stay on one line.
    opened: bool,
}

/// Two-space indentation, written in pieces of this.
const SPACES: &[u8; 64] = &[b' '; 64];

impl Layout {
    /// Appends `compact`, laid out, to `pretty`: PrettyFormatter puts each member and
    /// element on its own line, indented two spaces per level, `": "` after a key, and
    /// closes a non-empty object or array on its own line.
    fn lay_out(&mut self, compact: &[u8], pretty: &mut Vec<u8>) {
        let mut at = 0;
        while at < compact.len() {
            if self.in_string {
                // Copy up to and including the string's end, or all of this piece.
                let start = at;
                while at < compact.len() {
                    let byte = compact[at];
                    at += 1;
                    if std::mem::take(&mut self.escaped) {
                        continue;
                    }
                    match byte {
                        b'\\' => self.escaped = true,
                        b'"' => {
                            self.in_string = false;
                            break;
                        }
                        _ => {}
                    }
                }
                pretty.extend_from_slice(&compact[start..at]);
                continue;
            }
            let byte = compact[at];
            at += 1;
            if std::mem::take(&mut self.opened) {
                if matches!(byte, b'}' | b']') {
                    self.depth -= 1;
                    pretty.push(byte);
                    continue;
                }
                self.new_line(pretty);
            }
            match byte {
                b'{' | b'[' => {
                    pretty.push(byte);
                    self.depth += 1;
                    self.opened = true;
                }
                b'}' | b']' => {
                    self.depth -= 1;
                    self.new_line(pretty);
                    pretty.push(byte);
                }
                b',' => {
                    pretty.push(b',');
                    self.new_line(pretty);
                }
                b':' => pretty.extend_from_slice(b": "),
                b'"' => {
                    pretty.push(byte);
                    self.in_string = true;
                }
                _ => {
                    // A number, `true`, `false` or `null`: up to the next structural byte.
                    let start = at - 1;
                    while at < compact.len()
                        && !matches!(compact[at], b'{' | b'[' | b'}' | b']' | b',' | b':' | b'"')
                    {
                        at += 1;
                    }
                    pretty.extend_from_slice(&compact[start..at]);
                }
            }
        }
    }

    fn new_line(&self, pretty: &mut Vec<u8>) {
        pretty.push(b'\n');
        let mut indent = 2 * self.depth;
        while indent > 0 {
            let piece = indent.min(SPACES.len());
            pretty.extend_from_slice(&SPACES[..piece]);
            indent -= piece;
        }
    }
}

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

    /// Hashes `bytes` after whatever the buffer holds.
    fn update(&mut self, bytes: &[u8]) {
        self.hasher.update(&self.buffer);
        self.buffer.clear();
        self.hasher.update(bytes);
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
    use serde_json::json;

    /// The layout of `value`'s compact text, fed in pieces of `piece` bytes.
    fn laid_out(value: &serde_json::Value, piece: usize) -> String {
        let compact = serde_json::to_vec(value).unwrap();
        let mut layout = Layout::default();
        let mut pretty = Vec::new();
        for chunk in compact.chunks(piece) {
            layout.lay_out(chunk, &mut pretty);
        }
        String::from_utf8(pretty).unwrap()
    }

    #[test]
    fn issue_18_the_layout_is_the_pretty_formatters_in_pieces_of_any_size() {
        let value = json!({
            "empty": {}, "none": [], "nested": [[], {}, [{}], {"a": []}],
            "text": "a\"{,}:[\\\" \n \u{1f} é \u{202e}", "\"key,{": [1, -2.5, 1e-7, true, null],
        });
        // Deeper than the 32 levels one piece of spaces indents.
        let mut value = value;
        for level in 0..40 {
            value = json!({ "level": level, "inner": value, "after": [level] });
        }
        let expected = serde_json::to_string_pretty(&value).unwrap();
        for piece in 1..=9 {
            assert_eq!(laid_out(&value, piece), expected, "pieces of {piece}");
        }
        assert_eq!(laid_out(&value, usize::MAX), expected);
        for scalar in [json!([]), json!({}), json!("s"), json!(1)] {
            let pretty = serde_json::to_string_pretty(&scalar).unwrap();
            assert_eq!(laid_out(&scalar, 1), pretty);
        }
    }

    #[test]
    fn issue_18_the_writer_hashes_the_compact_document_and_holds_back_its_end() {
        let value = json!({"b": [1, {"c": "x"}], "a": {}});
        let compact = serde_json::to_vec(&value).unwrap();
        let mut out = Vec::new();
        let mut writer = PrettyHashWriter::new(&mut out);
        for byte in &compact {
            writer.write_all(std::slice::from_ref(byte)).unwrap();
        }
        let (hash, _) = writer.finish().unwrap();
        let expected = format!("blake3:{}", blake3::hash(&compact).to_hex());
        assert_eq!(hash.finish(), expected);
        let pretty = serde_json::to_string_pretty(&value).unwrap();
        assert_eq!(
            String::from_utf8(out).unwrap(),
            pretty.strip_suffix("\n}").unwrap()
        );
    }
}
