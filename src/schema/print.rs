//! [`Schema`] → schema text, deterministically: roles, then record types by name; in a
//! type, the system fields first (in `SYSTEM_FIELDS` order), then the others by name, with
//! names aligned; then one grant per role, by role. Names that are not plain words (system
//! fields, roles, keywords) are quoted. A name that cannot be quoted (`"`, `\`, a control
//! character or line break, an invisible format character: `names::quotable_problem`) is
//! refused, never written: it could end the quote and add schema text of its own.
//! `parse(print(s)) == s` for every schema that prints.

use super::names::quotable_problem;
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

/// A name the printer refuses to write (see the module).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("cannot write the schema text: {0}")]
pub struct Unprintable(pub String);

/// The schema as text, ending with a line break.
pub fn print(schema: &Schema) -> Result<String, Unprintable> {
    let mut out = String::from("DEFINE SCHEMA\n");
    for role in &schema.roles {
        let _ = write!(out, "\n    CREATE ROLE {};\n", quoted("role", role)?);
    }
    for (name, definition) in &schema.types {
        out.push('\n');
        print_type(&mut out, name, definition)?;
    }
    Ok(out)
}

fn print_type(out: &mut String, name: &str, definition: &RecordTypeDef) -> Result<(), Unprintable> {
    let _ = write!(out, "    RECORD TYPE {} (", name_text("record type", name)?);
    let mut fields = Vec::new();
    for (field, definition) in ordered_fields(definition) {
        let what = format!("field of `{}`", name_text("record type", name)?);
        fields.push((name_text(&what, field)?, definition));
    }
    let width = fields
        .iter()
        .map(|(shown, _)| shown.chars().count())
        .max()
        .unwrap_or(0);
    let mut items: Vec<String> = fields
        .iter()
        .map(|(shown, field)| {
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
        items.push(format!(
            "GRANT {} TO {}",
            listed.join(", "),
            quoted("role", role)?
        ));
    }
    if items.is_empty() {
        out.push_str(");\n");
        return Ok(());
    }
    out.push('\n');
    let count = items.len();
    for (position, item) in items.into_iter().enumerate() {
        let comma = if position + 1 < count { "," } else { "" };
        let _ = writeln!(out, "        {item}{comma}");
    }
    out.push_str("    );\n");
    Ok(())
}

/// System fields first, in their usual order, then the others by name.
fn ordered_fields(definition: &RecordTypeDef) -> Vec<(&String, &FieldDef)> {
    let system = |name: &str| SYSTEM_FIELDS.iter().position(|(s, _)| *s == name);
    let mut fields: Vec<_> = definition.fields.iter().collect();
    fields.sort_by_key(|(name, _)| (system(name).unwrap_or(usize::MAX), name.as_str()));
    fields
}

/// A name as written: bare when it is a plain word that is not a keyword, else quoted.
pub(super) fn name_text(what: &str, name: &str) -> Result<String, Unprintable> {
    let plain = name.chars().next().is_some_and(|c| c.is_ascii_alphabetic())
        && name.chars().all(is_word_char)
        && !KEYWORDS.iter().any(|k| k.eq_ignore_ascii_case(name));
    if plain {
        Ok(name.to_owned())
    } else {
        quoted(what, name)
    }
}

fn quoted(what: &str, name: &str) -> Result<String, Unprintable> {
    match quotable_problem(what, name) {
        Some(problem) => Err(Unprintable(problem)),
        None => Ok(format!("\"{name}\"")),
    }
}
