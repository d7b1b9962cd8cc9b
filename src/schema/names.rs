//! Which names may enter schema text. Record type and field names are identifiers in
//! CloudKit's schema language: ASCII letters, digits and `_` (system fields such as
//! `___createTime` included). Roles are quoted strings: any visible text without `"` or
//! `\`. Everything that reaches an import passes here — the plan file's schema part when
//! it is read (its checksum can be recomputed by whoever edits it, so it proves nothing),
//! quoted names when schema text is parsed, and every name the printer writes — so no
//! name can close a quote, a parenthesis or a statement and add text of its own.

use crate::record::identifier::{is_invisible, quoted, MAX_NAME_CHARS};

/// The managed record type CloudKit keeps for user records: ckplan adds fields and indexes
/// to it (system fields' included, as CloudKit Console does) but never a grant
/// (`ops::schema::needed`), and a plan that does is refused.
pub const USERS: &str = "Users";

/// Why `name` is not a record type or field name of the schema language (`what` says
/// which); `None` when it is.
pub fn identifier_problem(what: &str, name: &str) -> Option<String> {
    if name.is_empty() {
        return Some(format!("{what} is empty"));
    }
    if let Some(bad) = name
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || *c == '_'))
    {
        return Some(format!(
            "{what} {} holds {}: schema names are ASCII letters, digits and `_`",
            quoted(name),
            described(bad)
        ));
    }
    too_long(what, name)
}

/// Why `text` cannot be written inside a quoted name (a role, or a type or field name
/// that is not a bare word); `None` when it can. Refused: `"` and `\` (they would end or
/// escape the quote), control characters and line breaks (a quoted name ends at the line),
/// and invisible format characters (they hide what a reviewer reads).
pub fn quotable_problem(what: &str, text: &str) -> Option<String> {
    if text.is_empty() {
        return Some(format!("{what} is empty"));
    }
    let unquotable =
        |c: char| matches!(c, '"' | '\\') || c.is_control() || is_invisible(c) || is_break(c);
    if let Some(bad) = text.chars().find(|c| unquotable(*c)) {
        return Some(format!(
            "{what} {} holds {}, which cannot be written inside a quoted schema name",
            quoted(text),
            described(bad)
        ));
    }
    too_long(what, text)
}

/// Why `team` is not a team ID (Apple's are ten letters and digits; any 1 to 64 ASCII
/// letters and digits are taken); `None` when it is one. It goes into the schema API's path.
pub fn team_problem(team: &str) -> Option<String> {
    let fine = (1..=64).contains(&team.len()) && team.chars().all(|c| c.is_ascii_alphanumeric());
    (!fine).then(|| {
        format!(
            "team ID {} is not 1 to 64 ASCII letters and digits",
            quoted(team)
        )
    })
}

/// Unicode line and paragraph separators: not control characters, but line breaks.
fn is_break(c: char) -> bool {
    matches!(c, '\u{2028}' | '\u{2029}' | '\u{85}')
}

fn described(c: char) -> String {
    match c {
        ' ' => "a space".to_owned(),
        c if c.is_ascii_graphic() => format!("`{c}`"),
        c => format!("U+{:04X}", u32::from(c)),
    }
}

fn too_long(what: &str, name: &str) -> Option<String> {
    let count = name.chars().count();
    (count > MAX_NAME_CHARS).then(|| {
        let head: String = name.chars().take(20).collect();
        format!(
            "{what} {}… is {count} characters, over the limit of {MAX_NAME_CHARS}",
            quoted(&head)
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn issue_20_identifiers_are_words_and_roles_are_visible_text_without_quotes() {
        for good in ["Team", "___createTime", "field_2", "a"] {
            assert_eq!(identifier_problem("field", good), None, "{good}");
        }
        for bad in [
            "",
            "Team (x STRING)",
            "a\"b",
            "a,b",
            "a\nb",
            "a;b",
            "caf\u{e9}",
            &"x".repeat(256),
        ] {
            assert!(identifier_problem("field", bad).is_some(), "{bad:?}");
        }
        for good in ["_icloud", "Editors of the app", "r\u{f4}le"] {
            assert_eq!(quotable_problem("role", good), None, "{good}");
        }
        for bad in [
            "",
            "a\"b",
            "a\\b",
            "a\nb",
            "a\rb",
            "a\u{1b}[2J",
            "a\u{202e}b",
            "a\u{2028}b",
            "x\" ); RECORD TYPE Evil (",
        ] {
            let problem = quotable_problem("role", bad);
            assert!(problem.is_some(), "{bad:?}");
            // The message shows the name escaped, never raw.
            let problem = problem.unwrap();
            assert!(
                !problem.contains('\n') && !problem.contains('\u{1b}'),
                "{problem}"
            );
        }
    }
}
