//! What loading the config's field declarations or the local data files can find wrong,
//! and where: a severity, a file, a place in it (line, line and column, or array index),
//! and the record and field concerned. It lives here, below `local`, because the config
//! reports its own field problems in the same shape; `local` re-exports it.

use crate::record::{RecordName, RecordType};
use serde::Serialize;
use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// Errors stop `plan` and fail `validate`; warnings are shown and do not.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    Error,
    Warning,
}

/// A position in a file. Lines and columns count from 1, indexes from 0. Serialized as
/// `{"line": 12}`, `{"line": 3, "column": 7}` or `{"index": 4}`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Place {
    Line(usize),
    LineColumn(usize, usize),
    /// The position of a record in a sequence whose lines are not known.
    Index(usize),
}

impl Serialize for Place {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        let mut map = serializer.serialize_map(None)?;
        match self {
            Place::Line(line) => map.serialize_entry("line", line)?,
            Place::LineColumn(line, column) => {
                map.serialize_entry("line", line)?;
                map.serialize_entry("column", column)?;
            }
            Place::Index(index) => map.serialize_entry("index", index)?,
        }
        map.end()
    }
}

impl fmt::Display for Place {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Place::Line(line) => write!(f, ":{line}"),
            Place::LineColumn(line, column) => write!(f, ":{line}:{column}"),
            Place::Index(index) => write!(f, "[{index}]"),
        }
    }
}

/// Where a loaded record came from. The file is shared by every record read from it
/// (one path per file, not one per record).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Origin {
    #[serde(serialize_with = "shared_path")]
    pub file: Arc<Path>,
    pub place: Place,
}

fn shared_path<S: serde::Serializer>(file: &Arc<Path>, serializer: S) -> Result<S::Ok, S::Error> {
    file.serialize(serializer)
}

impl fmt::Display for Origin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}{}", self.file.display(), self.place)
    }
}

/// One finding, e.g. ``data/teams.yaml:12: Team `team-7` field `founded`: expected INT64,
/// found string "abc"``.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Problem {
    pub severity: Severity,
    pub file: PathBuf,
    pub place: Option<Place>,
    pub record_type: RecordType,
    pub record_name: Option<RecordName>,
    pub field: Option<String>,
    pub message: String,
    /// For a warning about a reference to a recordName no local record defines: that
    /// name, so that a plan can say what it does with the record CloudKit holds.
    #[serde(skip)]
    pub dangling_target: Option<RecordName>,
}

impl Problem {
    pub fn error(file: impl Into<PathBuf>, record_type: &RecordType, message: String) -> Self {
        Self {
            severity: Severity::Error,
            file: file.into(),
            place: None,
            record_type: record_type.clone(),
            record_name: None,
            field: None,
            message,
            dangling_target: None,
        }
    }

    pub fn warning(file: impl Into<PathBuf>, record_type: &RecordType, message: String) -> Self {
        Self {
            severity: Severity::Warning,
            ..Self::error(file, record_type, message)
        }
    }

    pub fn at(mut self, place: Option<Place>) -> Self {
        self.place = place;
        self
    }

    pub fn record(mut self, record_name: Option<&RecordName>) -> Self {
        self.record_name = record_name.cloned();
        self
    }

    pub fn field(mut self, field: &str) -> Self {
        self.field = Some(field.to_owned());
        self
    }

    pub fn is_error(&self) -> bool {
        self.severity == Severity::Error
    }
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.file.display())?;
        if let Some(place) = &self.place {
            write!(f, "{place}")?;
        }
        write!(f, ": {}", self.record_type)?;
        if let Some(name) = &self.record_name {
            write!(f, " `{name}`")?;
        }
        if let Some(field) = &self.field {
            write!(f, " field `{field}`")?;
        }
        write!(f, ": {}", self.message)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn display_names_file_line_record_and_field() {
        let problem = Problem::error(
            "data/teams.yaml",
            &RecordType::from("Team"),
            "expected INT64, found string \"abc\"".into(),
        )
        .at(Some(Place::Line(12)))
        .record(Some(&RecordName::from("team-7")))
        .field("founded");
        assert_eq!(
            problem.to_string(),
            "data/teams.yaml:12: Team `team-7` field `founded`: expected INT64, found string \"abc\""
        );
        let indexed = Problem::warning("a.yaml", &RecordType::from("Team"), "m".into())
            .at(Some(Place::Index(3)));
        assert_eq!(indexed.to_string(), "a.yaml[3]: Team: m");
    }
}
