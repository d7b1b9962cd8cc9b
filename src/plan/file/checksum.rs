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
use crate::plan::{Change, Plan};
use serde_json::Value as Json;
use std::io::Write as _;

/// The checksum `to_text` writes for `plan` (`blake3:<hex>`): the plan's identity in
/// journals and receipts. Computed change by change, without the whole document.
pub fn checksum(plan: &Plan) -> String {
    // Serializing these types cannot fail: every map has string keys.
    let header =
        serde_json::to_value(PlanView::new(plan, &[], None)).expect("plan documents serialize");
    let Json::Object(header) = header else {
        unreachable!("a plan document serializes to an object")
    };
    let mut hasher = blake3::Hasher::new();
    {
        let mut out = std::io::BufWriter::with_capacity(1 << 16, &mut hasher);
        let mut members: Vec<(&String, &Json)> = header.iter().collect();
        members.sort_by(|a, b| a.0.cmp(b.0));
        out.write_all(b"{").expect("hashing cannot fail");
        for (index, (key, member)) in members.into_iter().enumerate() {
            if index > 0 {
                out.write_all(b",").expect("hashing cannot fail");
            }
            write_key(key, &mut out);
            if key == "changes" {
                write_canonical_changes(&plan.changes, &mut out);
            } else {
                write_canonical(member, &mut out);
            }
        }
        out.write_all(b"}").expect("hashing cannot fail");
        out.flush().expect("hashing cannot fail");
    }
    format!("blake3:{}", hasher.finalize().to_hex())
}

/// `[` the canonical form of each change `]`, one small JSON value at a time.
fn write_canonical_changes(changes: &[Change], out: &mut impl std::io::Write) {
    out.write_all(b"[").expect("hashing cannot fail");
    for (index, change) in changes.iter().enumerate() {
        if index > 0 {
            out.write_all(b",").expect("hashing cannot fail");
        }
        let value =
            serde_json::to_value(ChangeDocument::from(change)).expect("plan documents serialize");
        write_canonical(&value, out);
    }
    out.write_all(b"]").expect("hashing cannot fail");
}

/// `blake3:<hex>` of the canonical form of `value` without a `checksum` member, streamed
/// into the hash.
pub(super) fn checksum_of(value: &Json) -> String {
    let mut hasher = blake3::Hasher::new();
    {
        let mut out = std::io::BufWriter::with_capacity(1 << 16, &mut hasher);
        match value {
            Json::Object(map) => write_canonical_object(map, Some("checksum"), &mut out),
            other => write_canonical(other, &mut out),
        }
        out.flush().expect("hashing cannot fail");
    }
    format!("blake3:{}", hasher.finalize().to_hex())
}

/// Compact JSON with object members sorted by key, whatever order the map keeps. The
/// writers used here (memory, a hasher) cannot fail.
fn write_canonical(value: &Json, out: &mut impl std::io::Write) {
    match value {
        Json::Object(map) => write_canonical_object(map, None, out),
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

/// An object's members sorted by key, leaving out the member named `skip`.
fn write_canonical_object(
    map: &serde_json::Map<String, Json>,
    skip: Option<&str>,
    out: &mut impl std::io::Write,
) {
    let mut members: Vec<(&String, &Json)> = map
        .iter()
        .filter(|(key, _)| Some(key.as_str()) != skip)
        .collect();
    members.sort_by(|a, b| a.0.cmp(b.0));
    out.write_all(b"{").expect("canonical writes cannot fail");
    for (index, (key, member)) in members.into_iter().enumerate() {
        if index > 0 {
            out.write_all(b",").expect("canonical writes cannot fail");
        }
        write_key(key, out);
        write_canonical(member, out);
    }
    out.write_all(b"}").expect("canonical writes cannot fail");
}

/// A member name and its colon, escaped as a JSON string.
fn write_key(key: &str, out: &mut impl std::io::Write) {
    serde_json::to_writer(&mut *out, key).expect("canonical writes cannot fail");
    out.write_all(b":").expect("canonical writes cannot fail");
}

/// The canonical bytes the checksum is computed over, for tests and other tools.
pub fn canonical_body(text: &str) -> Result<Vec<u8>, PlanFileError> {
    let value = parse_json(text)?;
    let mut bytes = Vec::new();
    match &value {
        Json::Object(map) => write_canonical_object(map, Some("checksum"), &mut bytes),
        other => write_canonical(other, &mut bytes),
    }
    Ok(bytes)
}
