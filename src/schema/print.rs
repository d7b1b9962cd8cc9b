//! [`Schema`] → schema text, deterministically: roles, then record types by name; in a
//! type, the system fields first (in `SYSTEM_FIELDS` order), then the others by name, with
//! names aligned; then one grant per role, by role. Names that are not plain words (system
//! fields, roles, keywords) are quoted. `parse(print(s)) == s` for every schema whose names
//! hold neither `"` nor a line break (CloudKit names never do).

use super::parse::is_word_char;
use super::{FieldDef, RecordTypeDef, Schema, SYSTEM_FIELDS};
use std::fmt::Write as _;

const KEYWORDS: [&str; 26] = [
    "AS",
    "ASSET",
    "BYTES",
    "CREATE",
    "DEFINE",
    "DOUBLE",
    "ENCRYPTED",
    "GRANT",
    "INT64",
    "LIST",
    "LOCATION",
    "NUMBER",
    "PREFERRED",
    "QUERYABLE",
    "READ",
    "RECORD",
    "REFERENCE",
    "ROLE",
    "SCHEMA",
    "SEARCHABLE",
    "SORTABLE",
    "STRING",
    "TIMESTAMP",
    "TO",
    "TYPE",
    "WRITE",
];

/// The schema as text, ending with a line break.
pub fn print(schema: &Schema) -> String {
    let mut out = String::from("DEFINE SCHEMA\n");
    for role in &schema.roles {
        let _ = write!(out, "\n    CREATE ROLE {};\n", quoted(role));
    }
    for (name, definition) in &schema.types {
        out.push('\n');
        print_type(&mut out, name, definition);
    }
    out
}

fn print_type(out: &mut String, name: &str, definition: &RecordTypeDef) {
    let _ = write!(out, "    RECORD TYPE {} (", name_text(name));
    let fields = ordered_fields(definition);
    let width = fields
        .iter()
        .map(|(name, _)| name_text(name).chars().count())
        .max()
        .unwrap_or(0);
    let mut items: Vec<String> = fields
        .iter()
        .map(|(name, field)| {
            let shown = name_text(name);
            let padding = " ".repeat(width - shown.chars().count());
            let mut item = format!("{shown}{padding} {}", field.data_type);
            for index in &field.indexes {
                let _ = write!(item, " {index}");
            }
            item
        })
        .collect();
    for (role, permissions) in &definition.grants {
        if permissions.is_empty() {
            continue;
        }
        let listed: Vec<&str> = permissions.iter().map(|p| p.keyword()).collect();
        items.push(format!("GRANT {} TO {}", listed.join(", "), quoted(role)));
    }
    if items.is_empty() {
        out.push_str(");\n");
        return;
    }
    out.push('\n');
    let count = items.len();
    for (position, item) in items.into_iter().enumerate() {
        let comma = if position + 1 < count { "," } else { "" };
        let _ = writeln!(out, "        {item}{comma}");
    }
    out.push_str("    );\n");
}

/// System fields first, in their usual order, then the others by name.
fn ordered_fields(definition: &RecordTypeDef) -> Vec<(&String, &FieldDef)> {
    let system = |name: &str| SYSTEM_FIELDS.iter().position(|(s, _)| *s == name);
    let mut fields: Vec<_> = definition.fields.iter().collect();
    fields.sort_by_key(|(name, _)| (system(name).unwrap_or(usize::MAX), name.as_str()));
    fields
}

/// A name as written: bare when it is a plain word that is not a keyword, else quoted.
pub(super) fn name_text(name: &str) -> String {
    let plain = name.chars().next().is_some_and(|c| c.is_ascii_alphabetic())
        && name.chars().all(is_word_char)
        && !KEYWORDS.iter().any(|k| k.eq_ignore_ascii_case(name));
    if plain {
        name.to_owned()
    } else {
        quoted(name)
    }
}

fn quoted(name: &str) -> String {
    format!("\"{name}\"")
}
