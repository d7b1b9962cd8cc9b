//! Views: turning plans, diffs and counts into text for people or JSON for programs.
//! Pure: every function returns a string and prints nothing (`cli` decides where it goes).
//!
//! A [`Backend`] renders each view one way: [`Text`] (the terminal review, coloured on
//! request) and [`Json`] exist; a markdown backend for review in pull requests would be a
//! third implementation of the same trait. Text from data files, plan files and CloudKit is
//! untrusted: every view escapes it with [`escape`] (one function, in [`escape`]'s module).
//! Counts are worded with [`plural`] and per-type lines with [`summary`].

pub mod diff;
pub mod escape;
pub mod json;
pub mod plan;
pub mod summary;

pub use diff::Listing;
pub use escape::{escape, escape_lines};

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

/// `1 record`, `2 records`, `0 records`: a count with its noun (phrase) in agreement.
pub fn plural(count: usize, noun: &str) -> String {
    if count == 1 {
        format!("1 {noun}")
    } else {
        format!("{count} {noun}s")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn issue_12_counts_agree_with_their_nouns() {
        assert_eq!(plural(1, "orphan record"), "1 orphan record");
        assert_eq!(plural(0, "conflict"), "0 conflicts");
        assert_eq!(plural(2, "error"), "2 errors");
    }
}
