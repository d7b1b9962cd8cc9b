//! The plan's checksum.
//!
//! `checksum` is `"blake3:"` followed by the lowercase hex BLAKE3 hash of the document's
//! canonical serialization without its `checksum` member: compact JSON (no whitespace
//! outside strings), object members sorted by key in Unicode code point order, strings
//! escaped as serde_json does (only `"`, `\`, and control characters; those as `\b \f \n \r
//! \t` or `\u00xx` with lowercase hex; everything else literal UTF-8), integers in decimal,
//! and other numbers in shortest round-trip form (`0.5`, `1.0`, `1e-7`, `1e+20`). This is
//! Python's `json.dumps(doc, sort_keys=True, separators=(",", ":"), ensure_ascii=False)`
//! except that Python pads negative exponents (`1e-07`), which only numbers below 1e-4 use.
//! The checksum covers content, not layout: re-indenting a plan keeps it valid, changing any
//! value does not.

use super::format::ChangeDocument;
use super::read::parse_json;
use super::write::PlanView;
use super::PlanFileError;
use crate::plan::Plan;
use serde_json::Value as Json;
use std::io::Write as _;

/// The checksum `to_text` writes for `plan` (`blake3:<hex>`): the plan's identity in
/// journals and receipts. Computed change by change, without the whole document, by the
/// same [`hash_document`] the reader checks with.
pub fn checksum(plan: &Plan) -> String {
    // Serializing these types cannot fail: every map has string keys.
    let header =
        serde_json::to_value(PlanView::new(plan, &[], None)).expect("plan documents serialize");
    let Json::Object(header) = header else {
        unreachable!("a plan document serializes to an object")
    };
    let changes = plan.changes.iter().map(|change| {
        serde_json::to_value(ChangeDocument::from(change)).expect("plan documents serialize")
    });
    let members = header
        .iter()
        .filter(|(key, _)| key.as_str() != "changes")
        .map(|(key, value)| (key.as_str(), Member::Value(value)))
        .chain(std::iter::once((
            "changes",
            Member::Items(Box::new(changes)),
        )));
    hash_document(members)
}

/// `blake3:<hex>` of a document read from a file, without its `checksum` member: what the
/// reader compares with the `checksum` it found.
pub(super) fn checksum_of(document: &serde_json::Map<String, Json>) -> String {
    hash_document(members_of(document))
}

/// The canonical bytes the checksum is computed over, for tests and other tools.
pub fn canonical_body(text: &str) -> Result<Vec<u8>, PlanFileError> {
    let value = parse_json(text)?;
    let mut bytes = Vec::new();
    match &value {
        Json::Object(map) => write_document(members_of(map), &mut bytes),
        other => write_canonical(other, &mut bytes),
    }
    Ok(bytes)
}

/// One top-level member of a document being hashed: a JSON value, or an array whose items
/// come one at a time (the writer's changes), so a large plan is never one JSON value.
enum Member<'a> {
    Value(&'a Json),
    Items(Box<dyn Iterator<Item = Json> + 'a>),
}

fn members_of(map: &serde_json::Map<String, Json>) -> impl Iterator<Item = (&str, Member<'_>)> {
    map.iter()
        .map(|(key, value)| (key.as_str(), Member::Value(value)))
}

/// The one checksum path, shared by the writer ([`checksum`]) and the reader
/// ([`checksum_of`]): `blake3:<hex>` of [`write_document`]'s bytes, streamed into the hash.
fn hash_document<'a>(members: impl Iterator<Item = (&'a str, Member<'a>)>) -> String {
    let mut hasher = blake3::Hasher::new();
    {
        let mut out = std::io::BufWriter::with_capacity(1 << 16, &mut hasher);
        write_document(members, &mut out);
        out.flush().expect("hashing cannot fail");
    }
    format!("blake3:{}", hasher.finalize().to_hex())
}

/// The canonical form of a whole document: its members but `checksum`, sorted by key.
fn write_document<'a>(
    members: impl Iterator<Item = (&'a str, Member<'a>)>,
    out: &mut impl std::io::Write,
) {
    write_members(members.filter(|(key, _)| *key != "checksum").collect(), out);
}

/// Compact JSON with object members sorted by key, whatever order the map keeps. The
/// writers used here (memory, a hasher) cannot fail.
fn write_canonical(value: &Json, out: &mut impl std::io::Write) {
    match value {
        Json::Object(map) => write_members(members_of(map).collect(), out),
        Json::Array(items) => write_items(items.iter(), out),
        scalar => serde_json::to_writer(&mut *out, scalar).expect("canonical writes cannot fail"),
    }
}

/// `{` the members sorted by key in code point order `}`.
fn write_members(mut members: Vec<(&str, Member<'_>)>, out: &mut impl std::io::Write) {
    members.sort_by(|a, b| a.0.cmp(b.0));
    out.write_all(b"{").expect("canonical writes cannot fail");
    for (index, (key, member)) in members.into_iter().enumerate() {
        if index > 0 {
            out.write_all(b",").expect("canonical writes cannot fail");
        }
        write_key(key, out);
        match member {
            Member::Value(value) => write_canonical(value, out),
            Member::Items(items) => write_items(items, out),
        }
    }
    out.write_all(b"}").expect("canonical writes cannot fail");
}

/// `[` the canonical form of each item `]`.
fn write_items<J: std::borrow::Borrow<Json>>(
    items: impl Iterator<Item = J>,
    out: &mut impl std::io::Write,
) {
    out.write_all(b"[").expect("canonical writes cannot fail");
    for (index, item) in items.enumerate() {
        if index > 0 {
            out.write_all(b",").expect("canonical writes cannot fail");
        }
        write_canonical(item.borrow(), out);
    }
    out.write_all(b"]").expect("canonical writes cannot fail");
}

/// A member name and its colon, escaped as a JSON string.
fn write_key(key: &str, out: &mut impl std::io::Write) {
    serde_json::to_writer(&mut *out, key).expect("canonical writes cannot fail");
    out.write_all(b":").expect("canonical writes cannot fail");
}
