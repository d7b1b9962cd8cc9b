//! Views: turning plans, diffs and counts into text for people or JSON for programs.
//! Pure: every function returns a string and prints nothing (`cli` decides where it goes).
//!
//! Each command picks its output with one [`Format`] (text, JSON, markdown) and hands it to
//! its view (one module per view: [`plan`], [`diff`], [`apply`], [`doctor`], [`validate`],
//! [`markdown`], [`menu`]); a view returns text for stdout or [`Line`]s for stderr, each
//! with its level, so that `-q` is decided by the printer alone ([`talk`]). Plans and
//! diffs render through a [`Backend`]: [`Text`] (coloured on request) and [`Json`]. Text from data files, plan files and CloudKit is
//! untrusted: every view escapes it with [`escape`] (one function, in [`escape`]'s module).
//! Counts are worded with [`plural`] and per-type lines with [`summary`].

pub mod apply;
pub mod diff;
pub mod doctor;
pub mod escape;
pub mod json;
pub mod markdown;
pub mod menu;
pub mod plan;
pub mod schema_part;
pub mod summary;
pub mod talk;
pub mod validate;

pub use diff::Listing;
pub use escape::{escape, escape_lines};
pub use talk::Line;

use crate::diff::TypeDiff;
use crate::plan::Plan;

/// One way of rendering every view.
pub trait Backend {
    /// A verified plan for review.
    fn plan(&self, plan: &Plan) -> String;
    /// What a plan would change, per type.
    fn diff(&self, diffs: &[TypeDiff]) -> String;
}

/// Text for a terminal or a pipe.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Text {
    /// Colour escape codes (only ever around escaped text).
    pub colour: bool,
    /// Plans: list the fields an update leaves as they are.
    pub unchanged_fields: bool,
    /// Diffs: which records to list under the counts.
    pub listing: Listing,
}

/// JSON documents: the plan file's own document, the diff report, with invisible
/// characters in strings escaped ([`json`]).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Json;

impl Backend for Text {
    fn plan(&self, plan: &Plan) -> String {
        plan::review(plan, self.unchanged_fields, self.colour)
    }
    fn diff(&self, diffs: &[TypeDiff]) -> String {
        diff::text(diffs, *self)
    }
}

impl Backend for Json {
    fn plan(&self, plan: &Plan) -> String {
        let mut out = Vec::new();
        // Writing into a Vec cannot fail; serde_json writes only UTF-8.
        crate::plan::file::write_formatted(plan, &mut out, json::VisibleFormatter::pretty())
            .expect("plans write to memory");
        String::from_utf8(out).expect("plan text is UTF-8")
    }
    fn diff(&self, diffs: &[TypeDiff]) -> String {
        diff::json(diffs, *self)
    }
}

/// The one output-format choice of every view: a command maps its flags (`--json`,
/// `--format`) to one of these and hands it to the view, which says what goes to stdout
/// and what to stderr ([`Output`]).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Format {
    /// For people: the terminal review, coloured on request.
    #[default]
    Text,
    /// For programs: one JSON document on stdout.
    Json,
    /// For a pull-request comment (plans; other views render it as text).
    Markdown,
}

impl Format {
    /// `--json` given or not.
    pub fn json_if(json: bool) -> Self {
        if json {
            Format::Json
        } else {
            Format::Text
        }
    }
}

/// What a view puts on stdout (pipeable data, possibly empty) and what it says on stderr
/// after it.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Output {
    pub data: String,
    pub talk: Vec<Line>,
}

impl Output {
    /// Data only.
    pub fn data(data: String) -> Self {
        Self {
            data,
            talk: Vec::new(),
        }
    }
}

/// How `show` reviews a plan, whatever the format.
pub type ReviewOptions = markdown::MarkdownOptions;

/// A verified plan for review: `Json` the plan file's document, `Markdown` a pull-request
/// comment, `Text` the review (or only the counts with `summary_only`, only `types`'
/// changes when given). `colour` is for text.
pub fn plan_review(plan: &Plan, format: Format, options: &ReviewOptions, colour: bool) -> String {
    let text = Text {
        colour,
        unchanged_fields: options.unchanged_fields,
        ..Text::default()
    };
    match format {
        Format::Json => Json.plan(plan),
        Format::Markdown => markdown::plan(plan, options),
        Format::Text if options.summary_only => summary::plan_counts(plan),
        Format::Text if options.types.is_empty() => text.plan(plan),
        Format::Text => {
            let wanted =
                |t: &crate::record::RecordType| options.types.iter().any(|n| n == t.as_str());
            let mut filtered = plan.clone();
            filtered.changes.retain(|c| wanted(&c.record_type));
            filtered.summary.retain(|s| wanted(&s.record_type));
            text.plan(&filtered)
        }
    }
}

/// What a plan would change, per type: JSON, or text listing `listing`'s records.
pub fn diff_report(diffs: &[TypeDiff], format: Format, listing: Listing) -> String {
    match format {
        Format::Json => Json.diff(diffs),
        Format::Text | Format::Markdown => Text {
            listing,
            ..Text::default()
        }
        .diff(diffs),
    }
}

/// `1 record`, `2 records`, `0 records`: a count with its noun (phrase) in agreement.
pub fn plural(count: usize, noun: &str) -> String {
    if count == 1 {
        format!("1 {noun}")
    } else {
        format!("{count} {noun}s")
    }
}

/// How many characters of a value a terminal message shows before [`clipped`] cuts it.
pub const MESSAGE_VALUE_CHARS: usize = 200;

/// `text` for a terminal message: whole when it has at most [`MESSAGE_VALUE_CHARS`]
/// characters, else those first characters and `… (N more bytes)` (N counts UTF-8 bytes
/// left out), so one huge value cannot flood stderr.
pub fn clipped(text: &str) -> String {
    match text.char_indices().nth(MESSAGE_VALUE_CHARS) {
        None => text.to_owned(),
        Some((cut, _)) => format!("{}… ({} more bytes)", &text[..cut], text.len() - cut),
    }
}

/// `word` as one POSIX shell word: as it is when it holds only characters no shell treats
/// specially, else in single quotes (a `'` inside written `'\''`).
pub fn shell_word(word: &str) -> std::borrow::Cow<'_, str> {
    let plain = |c: char| c.is_ascii_alphanumeric() || "_-./:=@%+,".contains(c);
    if !word.is_empty() && word.chars().all(plain) {
        return std::borrow::Cow::Borrowed(word);
    }
    std::borrow::Cow::Owned(format!("'{}'", word.replace('\'', "'\\''")))
}

/// `ckplan ARGS…` as a command line to paste into a shell, each argument a [`shell_word`].
pub fn shell_command(args: &[&str]) -> String {
    let mut line = "ckplan".to_owned();
    for arg in args {
        line.push(' ');
        line.push_str(&shell_word(arg));
    }
    line
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shell_words_are_quoted_only_when_a_shell_would_read_them_otherwise() {
        assert_eq!(shell_word("out/2026.plan"), "out/2026.plan");
        assert_eq!(shell_word("my plan"), "'my plan'");
        assert_eq!(shell_word("it's"), "'it'\\''s'");
        assert_eq!(shell_word("$HOME;rm"), "'$HOME;rm'");
        assert_eq!(shell_word(""), "''");
        assert_eq!(shell_command(&["apply", "a b"]), "ckplan apply 'a b'");
    }

    #[test]
    fn issue_12_long_message_values_are_clipped_on_a_character_boundary() {
        assert_eq!(clipped("short"), "short");
        let long = "é".repeat(250);
        let shown = clipped(&long);
        assert!(shown.starts_with(&"é".repeat(200)));
        assert!(shown.ends_with("… (100 more bytes)"), "{shown}");
    }

    #[test]
    fn issue_12_counts_agree_with_their_nouns() {
        assert_eq!(plural(1, "orphan record"), "1 orphan record");
        assert_eq!(plural(0, "conflict"), "0 conflicts");
        assert_eq!(plural(2, "error"), "2 errors");
    }
}
