//! The plan's checksum, `"blake3:"` and the lowercase hex BLAKE3 hash of the document
//! without its `checksum` member.
//!
//! **Format version 2** hashes the document's own text with every whitespace byte outside
//! strings removed (space, tab, line feed, carriage return), strings that hold an escape
//! decoded and escaped again as serde_json does (only `"`, `\`, and control characters;
//! those as `\b \f \n \r \t` or `\u00xx` with lowercase hex), and without the `checksum`
//! member and the comma that separated it from its neighbour: for the file ckplan writes,
//! the text up to its last member, compacted, and a closing `}`. The writer hashes the bytes
//! as it writes them and the reader the bytes it read, one pass each, with no document
//! tree. The checksum covers content, not layout: re-indenting a plan, converting its line
//! ends, escaping characters in strings or moving the `checksum` member keeps it valid; any
//! other edit, including reordering members or spelling a number differently, does not.
//!
//! **Format version 1** (still read) hashed a canonical serialization instead: compact
//! JSON, object members sorted by key in Unicode code point order, strings escaped as
//! serde_json does (only `"`, `\`, and control characters; those as `\b \f \n \r \t` or
//! `\u00xx` with lowercase hex; everything else literal UTF-8), integers in decimal, and
//! other numbers in shortest round-trip form (`0.5`, `1.0`, `1e-7`, `1e+20`): Python's
//! `json.dumps(doc, sort_keys=True, separators=(",", ":"), ensure_ascii=False)` except that
//! Python pads negative exponents (`1e-07`).

use super::read::parse_json;
use super::write::write_formatted;
use super::PlanFileError;
use crate::plan::Plan;
use serde_json::Value as Json;
use std::io::Write as _;

/// The checksum `to_text` writes for `plan` (`blake3:<hex>`): the plan's identity in
/// journals and receipts. Computed by writing the plan to nowhere.
pub fn checksum(plan: &Plan) -> String {
    // Writing to a sink cannot fail.
    write_formatted(
        plan,
        std::io::sink(),
        serde_json::ser::PrettyFormatter::new(),
    )
    .expect("plans write to a sink")
}

/// Hands `sink` a string token: as written, or, when it holds an escape, decoded and
/// escaped again as serde_json escapes (only `"`, `\` and control characters), so that
/// `\u0041` and `A` hash alike (`ckplan show --json` escapes invisible characters).
fn hash_string(token: &[u8], has_escape: bool, sink: &mut impl FnMut(&[u8])) {
    if has_escape {
        if let Ok(text) = serde_json::from_slice::<String>(token) {
            let mut canonical = Vec::with_capacity(token.len());
            // Writing into a Vec cannot fail.
            serde_json::to_writer(&mut canonical, &text).expect("strings write to memory");
            sink(&canonical);
            return;
        }
    }
    sink(token);
}

/// A BLAKE3 hasher fed through a buffer: the compacted text comes in pieces of a few bytes.
struct Batched {
    hasher: blake3::Hasher,
    buffer: Vec<u8>,
}

impl Batched {
    const CAPACITY: usize = 1 << 16;

    fn new() -> Self {
        Self {
            hasher: blake3::Hasher::new(),
            buffer: Vec::with_capacity(Self::CAPACITY),
        }
    }

    #[inline]
    fn update(&mut self, bytes: &[u8]) {
        if self.buffer.len() + bytes.len() > Self::CAPACITY {
            self.hasher.update(&self.buffer);
            self.buffer.clear();
        }
        if bytes.len() > Self::CAPACITY {
            self.hasher.update(bytes);
        } else {
            self.buffer.extend_from_slice(bytes);
        }
    }

    fn finish(mut self) -> String {
        self.hasher.update(&self.buffer);
        self.buffer.clear();
        format!("blake3:{}", self.hasher.finalize().to_hex())
    }
}

fn is_space(byte: u8) -> bool {
    matches!(byte, b' ' | b'\t' | b'\n' | b'\r')
}

/// Version 2: `blake3:<hex>` of a plan's text (a JSON object) without its top-level
/// `checksum` member, with that member's content (`Some`) if its value is a string. The
/// text must already be known to be JSON.
pub(super) fn checksum_of_text(text: &str) -> (String, Option<String>) {
    let mut hasher = Batched::new();
    let found = compact_without_checksum(text.as_bytes(), &mut |bytes| hasher.update(bytes));
    (hasher.finish(), found)
}

/// Hands `sink` the text's bytes outside whitespace, without the top-level `checksum`
/// member and the comma that separates it from a neighbour, strings with escapes in
/// canonical form; returns that member's string value. Bytes go out in runs, as long as
/// nothing needs leaving out.
fn compact_without_checksum(bytes: &[u8], sink: &mut impl FnMut(&[u8])) -> Option<String> {
    let mut found = None;
    let mut depth = 0usize;
    // At depth 1 a comma is held back until what follows it is known: the comma before
    // the checksum member is not hashed, nor the one after it when it is the first member.
    let mut comma_held = false;
    let mut skip_comma = false;
    // The start of the bytes not handed to `sink` yet.
    let mut run = 0;
    let mut at = 0;
    while at < bytes.len() {
        let byte = bytes[at];
        if is_space(byte) {
            sink(&bytes[run..at]);
            while at < bytes.len() && is_space(bytes[at]) {
                at += 1;
            }
            run = at;
            continue;
        }
        if byte == b',' && depth == 1 {
            sink(&bytes[run..at]);
            if !std::mem::take(&mut skip_comma) {
                comma_held = true;
            }
            at += 1;
            run = at;
            continue;
        }
        if byte == b'"' && depth == 1 {
            if let Some((end, value)) = checksum_member(bytes, at) {
                sink(&bytes[run..at]);
                found = Some(value);
                skip_comma = !std::mem::take(&mut comma_held);
                (at, run) = (end, end);
                continue;
            }
        }
        if std::mem::take(&mut comma_held) {
            sink(&bytes[run..at]);
            sink(b",");
            run = at;
        }
        match byte {
            b'"' => {
                let (end, escaped) = string_end(bytes, at);
                if escaped {
                    sink(&bytes[run..at]);
                    hash_string(&bytes[at..end], true, sink);
                    run = end;
                }
                at = end;
                continue;
            }
            b'{' | b'[' => depth += 1,
            b'}' | b']' => depth = depth.saturating_sub(1),
            _ => {}
        }
        at += 1;
    }
    sink(&bytes[run..]);
    found
}

/// The index just past the string token starting at `start` (a `"`), or the end of the
/// text; whether the string holds an escape.
fn string_end(bytes: &[u8], start: usize) -> (usize, bool) {
    let mut escaped = false;
    let mut at = start + 1;
    while at < bytes.len() {
        match bytes[at] {
            b'\\' => (at, escaped) = (at + 2, true),
            b'"' => return (at + 1, escaped),
            _ => at += 1,
        }
    }
    (bytes.len(), escaped)
}

/// When the token at `start` is the key `"checksum"` followed by `:` and a string value:
/// the index just past that value, and the value's content (a checksum has no escapes; one
/// with escapes is kept as written, and fails the comparison).
fn checksum_member(bytes: &[u8], start: usize) -> Option<(usize, String)> {
    const KEY: &[u8] = b"\"checksum\"";
    if !bytes[start..].starts_with(KEY) {
        return None;
    }
    let skip_space = |mut at: usize| {
        while at < bytes.len() && is_space(bytes[at]) {
            at += 1;
        }
        at
    };
    let colon = skip_space(start + KEY.len());
    if bytes.get(colon) != Some(&b':') {
        return None;
    }
    let value = skip_space(colon + 1);
    if bytes.get(value) != Some(&b'"') {
        return None;
    }
    let (end, _) = string_end(bytes, value);
    let content = std::str::from_utf8(&bytes[value + 1..end.saturating_sub(1)]).ok()?;
    Some((end, content.to_owned()))
}

/// Version 1: `blake3:<hex>` of a document read from a file, without its `checksum`
/// member: what the reader compares with the `checksum` it found.
pub(super) fn checksum_of(document: &serde_json::Map<String, Json>) -> String {
    let mut hasher = blake3::Hasher::new();
    {
        let mut out = std::io::BufWriter::with_capacity(1 << 16, &mut hasher);
        write_document(document, &mut out);
        out.flush().expect("hashing cannot fail");
    }
    format!("blake3:{}", hasher.finalize().to_hex())
}

/// The bytes the checksum is computed over, by the document's own format version, for
/// tests and other tools.
pub fn canonical_body(text: &str) -> Result<Vec<u8>, PlanFileError> {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let value = parse_json(text)?;
    let mut bytes = Vec::new();
    match &value {
        Json::Object(map) if map.get("format_version") == Some(&Json::from(1)) => {
            write_document(map, &mut bytes)
        }
        Json::Object(_) => {
            compact_without_checksum(text.as_bytes(), &mut |part| bytes.extend_from_slice(part));
        }
        other => write_canonical(other, &mut bytes),
    }
    Ok(bytes)
}

/// Version 1's canonical form of a whole document: its members but `checksum`, sorted by
/// key.
fn write_document(document: &serde_json::Map<String, Json>, out: &mut impl std::io::Write) {
    let members = document
        .iter()
        .filter(|(key, _)| key.as_str() != "checksum");
    write_members(members.collect(), out);
}

/// Compact JSON with object members sorted by key, whatever order the map keeps. The
/// writers used here (memory, a hasher) cannot fail.
fn write_canonical(value: &Json, out: &mut impl std::io::Write) {
    match value {
        Json::Object(map) => write_members(map.iter().collect(), out),
        Json::Array(items) => {
            out.write_all(b"[").expect("canonical writes cannot fail");
            for (index, item) in items.iter().enumerate() {
                if index > 0 {
                    out.write_all(b",").expect("canonical writes cannot fail");
                }
                write_canonical(item, out);
            }
            out.write_all(b"]").expect("canonical writes cannot fail");
        }
        scalar => serde_json::to_writer(&mut *out, scalar).expect("canonical writes cannot fail"),
    }
}

/// `{` the members sorted by key in code point order `}`.
fn write_members(mut members: Vec<(&String, &Json)>, out: &mut impl std::io::Write) {
    members.sort_by(|a, b| a.0.cmp(b.0));
    out.write_all(b"{").expect("canonical writes cannot fail");
    for (index, (key, value)) in members.into_iter().enumerate() {
        if index > 0 {
            out.write_all(b",").expect("canonical writes cannot fail");
        }
        serde_json::to_writer(&mut *out, key).expect("canonical writes cannot fail");
        out.write_all(b":").expect("canonical writes cannot fail");
        write_canonical(value, out);
    }
    out.write_all(b"}").expect("canonical writes cannot fail");
}
