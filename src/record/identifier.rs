//! The names CloudKit accepts for records, record types and fields, checked before anything
//! is sent so that a forbidden name is a validation error with its file and line, not a
//! per-record failure halfway through an apply.
//!
//! Sources (Apple developer documentation, CloudKit framework):
//! - record names: `CKRecord.ID.init(recordName:)`: "The string must contain only ASCII
//!   characters, must not exceed 255 characters, and must not start with an underscore. If
//!   you specify an empty string for this parameter, the method throws an exception."
//! - record types: `CKRecord.init(recordType:)`: "A record type must consist of one or more
//!   alphanumeric characters and must start with a letter. CloudKit permits the use of
//!   underscores, but not spaces."
//! - field names: `CKRecord.setObject(_:forKey:)`: "A key must consist of one or more
//!   alphanumeric characters and must start with a letter. CloudKit permits the use of
//!   underscores, but not spaces. Avoid using a key that matches the name of any property
//!   of `CKRecord`."
//!
//! Apple documents no length limit for type and field names; ckplan applies the 255
//! characters of record names to them too. "Alphanumeric" is read as ASCII letters and
//! digits, as in every schema CloudKit shows. Control characters (ASCII, so allowed by the
//! letter of the record-name rule) are refused in record names as well: they cannot be
//! typed, print invisibly and have no use in a name.

use std::fmt::Write as _;

/// The longest record, type or field name, in characters.
pub const MAX_NAME_CHARS: usize = 255;

/// Field names that are properties of `CKRecord` (the record's own metadata, which the
/// documentation says a key must avoid), plus `recordName`, the Web Services name of the
/// record's ID in queries and sort descriptors.
pub const RESERVED_FIELD_NAMES: [&str; 11] = [
    "recordName",
    "recordID",
    "recordType",
    "recordChangeTag",
    "creationDate",
    "creatorUserRecordID",
    "modificationDate",
    "lastModifiedUserRecordID",
    "parent",
    "share",
    "encryptedValues",
];

/// Why CloudKit would refuse `name` as a recordName; `None` when it is acceptable.
pub fn record_name_problem(name: &str) -> Option<String> {
    if name.is_empty() {
        return Some("recordName is empty".to_owned());
    }
    if let Some(bad) = name.chars().find(|c| !c.is_ascii()) {
        return Some(format!(
            "recordName {} contains {}: CloudKit record names are ASCII only",
            quoted(name),
            describe_char(bad)
        ));
    }
    if let Some(bad) = name.chars().find(char::is_ascii_control) {
        return Some(format!(
            "recordName {} contains the control character U+{:04X}",
            quoted(name),
            bad as u32
        ));
    }
    if name.starts_with('_') {
        return Some(format!(
            "recordName {} starts with `_`, which CloudKit reserves for its own records",
            quoted(name)
        ));
    }
    too_long("recordName", name)
}

/// Why `name` is not a record type name CloudKit accepts; `None` when it is.
pub fn type_name_problem(name: &str) -> Option<String> {
    identifier_problem("record type", name)
}

/// Why `name` is not a field name CloudKit accepts; `None` when it is.
pub fn field_name_problem(name: &str) -> Option<String> {
    if let Some(problem) = identifier_problem("field name", name) {
        return Some(problem);
    }
    RESERVED_FIELD_NAMES.contains(&name).then(|| {
        format!("field name `{name}` is reserved: it names the record's own metadata in CloudKit")
    })
}

fn identifier_problem(what: &str, name: &str) -> Option<String> {
    let mut chars = name.chars();
    match chars.next() {
        None => return Some(format!("{what} is empty")),
        Some(first) if !first.is_ascii_alphabetic() => {
            return Some(format!(
                "{what} {} must start with an ASCII letter, not {}",
                quoted(name),
                describe_char(first)
            ))
        }
        Some(_) => {}
    }
    if let Some(bad) = chars.find(|c| !(c.is_ascii_alphanumeric() || *c == '_')) {
        return Some(format!(
            "{what} {} contains {}: CloudKit allows ASCII letters, digits and `_`",
            quoted(name),
            describe_char(bad)
        ));
    }
    too_long(what, name)
}

fn too_long(what: &str, name: &str) -> Option<String> {
    let count = name.chars().count();
    (count > MAX_NAME_CHARS).then(|| {
        let head: String = name.chars().take(20).collect();
        format!(
            "{what} {}… is {count} characters, over CloudKit's limit of {MAX_NAME_CHARS}",
            quoted(&head)
        )
    })
}

/// `name` in backticks, every character outside printable ASCII escaped as `\u{…}` so
/// that the message itself cannot carry terminal escapes or bidirectional overrides.
pub fn quoted(name: &str) -> String {
    format!("`{}`", escaped(name))
}

/// `name` with every control, bidirectional or other invisible character written as
/// `\u{…}` (letters of any script are kept), cut to 80 characters with `…`. Equal to
/// `name` when it is safe to print as it is.
pub fn escaped(name: &str) -> String {
    let mut out = String::with_capacity(name.len());
    for c in name.chars().take(80) {
        if c == ' ' || c.is_ascii_graphic() || (c.is_alphanumeric() && !is_invisible(c)) {
            out.push(c);
        } else {
            let _ = write!(out, "\\u{{{:x}}}", c as u32);
        }
    }
    if name.chars().count() > 80 {
        out.push('…');
    }
    out
}

/// `a space`, `the character 'ü' (U+00FC)`, `U+202E`.
fn describe_char(c: char) -> String {
    match c {
        ' ' => "a space".to_owned(),
        c if c.is_ascii_graphic() || (c.is_alphanumeric() && !is_invisible(c)) => {
            format!("the character '{c}' (U+{:04X})", c as u32)
        }
        c => format!("the invisible character U+{:04X}", c as u32),
    }
}

/// Format characters that change how text around them is shown: bidirectional controls,
/// zero-width characters, the byte-order mark.
pub fn is_invisible(c: char) -> bool {
    matches!(c as u32, 0x200B..=0x200F | 0x202A..=0x202E | 0x2060..=0x206F | 0xFEFF)
}

#[cfg(test)]
mod tests;
