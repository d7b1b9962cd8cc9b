//! Local data: the desired records, loaded from the files each configured type names.
//! Every problem is collected (nothing stops at the first), each naming its file, place,
//! record and field; cross-record checks (duplicate names, dangling references) run once
//! everything is loaded.

pub mod asset;
pub mod asset_file;
pub(crate) mod convert;
mod fast;
mod formats;
mod ledger;
mod strict;
mod values;

pub use crate::config::{Origin, Place, Problem, Severity};
pub use formats::{read_records, read_records_into, Format, Item, RecordSink};
pub use strict::{Flaw, FlawKind};
pub use values::decode as decode_value;

use crate::config::{type_order, Config, TypeConfig, TypeOrder};
use crate::record::identifier::escaped;
use crate::record::{encoded_length, FieldType, Record, RecordName, RecordType};
use convert::Converter;
use std::collections::hash_map::Entry;
use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::Path;

/// The records of one type, where each came from, and what was wrong.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct LoadedType {
    /// Valid records, in file order, duplicates removed (the first one wins).
    pub records: Vec<Record>,
    /// `origins[i]` is where `records[i]` was read.
    pub origins: Vec<Origin>,
    pub problems: Vec<Problem>,
}

/// Every configured type's records, plus the config's own field problems.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct LocalData {
    pub types: BTreeMap<RecordType, LoadedType>,
    /// Problems in the config file's field declarations.
    pub problems: Vec<Problem>,
}

impl LocalData {
    /// Every problem: the config's first, then each type's in file order.
    pub fn problems(&self) -> impl Iterator<Item = &Problem> {
        self.problems.iter().chain(
            self.types
                .values()
                .flat_map(|loaded| loaded.problems.iter()),
        )
    }

    pub fn error_count(&self) -> usize {
        self.problems().filter(|p| p.is_error()).count()
    }

    pub fn warning_count(&self) -> usize {
        self.problems().filter(|p| !p.is_error()).count()
    }

    pub fn has_errors(&self) -> bool {
        self.problems().any(Problem::is_error)
    }

    /// The records of `record_type` (empty when it is not configured).
    pub fn records(&self, record_type: &RecordType) -> &[Record] {
        self.types
            .get(record_type)
            .map_or(&[], |loaded| loaded.records.as_slice())
    }

    /// Moves the records of `record_type` out (for `diff::compare_type`).
    pub fn take_records(&mut self, record_type: &RecordType) -> Vec<Record> {
        self.types
            .get_mut(record_type)
            .map(|loaded| std::mem::take(&mut loaded.records))
            .unwrap_or_default()
    }

    /// The apply order of the configured types (see `config::type_order`).
    pub fn type_order(&self, config: &Config) -> TypeOrder {
        type_order(config, self.types.values().flat_map(|l| l.records.iter()))
    }
}

/// Loads every file of one type and checks that record names are unique across them.
pub fn load_type(record_type: &RecordType, type_config: &TypeConfig) -> LoadedType {
    let mut loader = TypeLoader {
        record_type,
        converter: Converter::new(record_type, type_config),
        loaded: LoadedType::default(),
        first_seen: HashMap::new(),
        field_types: FieldTypes::default(),
        file: Path::new("").into(),
    };
    for file in &type_config.files {
        let problems_before = loader.loaded.problems.len();
        loader.file = file.as_path().into();
        read_file(file, &mut loader);
        // An empty file reads as no records (NDJSON, YAML), which is also what "delete every
        // record of this type" looks like to `--delete-orphans`: say so, naming the file.
        let refused = loader.loaded.problems[problems_before..]
            .iter()
            .any(Problem::is_error);
        if !refused && std::fs::metadata(file).is_ok_and(|m| m.len() == 0) {
            let message = format!(
                "empty file (0 bytes): no `{record_type}` records; a plan with --delete-orphans would delete every `{record_type}` record in CloudKit"
            );
            loader
                .loaded
                .problems
                .push(Problem::warning(file, record_type, message));
        }
    }
    loader.loaded
}

/// The state of loading one type's files: records kept so far and their names.
struct TypeLoader<'a> {
    record_type: &'a RecordType,
    converter: Converter<'a>,
    loaded: LoadedType,
    first_seen: HashMap<RecordName, usize>,
    field_types: FieldTypes,
    /// The file being read.
    file: std::sync::Arc<Path>,
}

impl TypeLoader<'_> {
    fn origin(&self, place: Place) -> Origin {
        Origin {
            file: self.file.clone(),
            place,
        }
    }

    /// Keeps `record` unless it is too large or its name was taken by an earlier one.
    fn accept(&mut self, record: Record, origin: Origin) {
        let (file, record_type) = (&*self.file, self.record_type);
        let place = origin.place;
        let loaded = &mut self.loaded;
        if let Some(problem) = oversized(&record, file, record_type, place) {
            loaded.problems.push(problem);
            return;
        }
        // One lookup: the name is hashed once per record.
        let first_seen = match self.first_seen.entry(record.record_name.clone()) {
            Entry::Occupied(first) => {
                let message = format!(
                    "duplicate recordName `{}`: first defined at {}",
                    record.record_name,
                    loaded.origins[*first.get()]
                );
                let problem = Problem::error(file, record_type, message)
                    .at(Some(place))
                    .record(Some(&record.record_name));
                loaded.problems.push(problem);
                return;
            }
            Entry::Vacant(vacant) => vacant,
        };
        self.field_types
            .check(record_type, &record, &origin, &mut loaded.problems);
        first_seen.insert(loaded.records.len());
        loaded.records.push(record);
        loaded.origins.push(origin);
    }
}

impl RecordSink for TypeLoader<'_> {
    fn record_text(&mut self, text: &str, place: Place) -> bool {
        let Some(record) = self.converter.convert_text(text) else {
            return false;
        };
        self.accept(record, self.origin(place));
        true
    }

    fn item(&mut self, item: Item) {
        match item {
            Item::Record(json, place) => {
                let origin = self.origin(place);
                let problems = &mut self.loaded.problems;
                if let Some(record) = self.converter.convert(json, &origin, problems) {
                    self.accept(record, origin);
                }
            }
            Item::Flawed(json, place, flaws) => {
                let origin = self.origin(place);
                let problems = &mut self.loaded.problems;
                self.converter.refuse(&json, &flaws, &origin, problems);
            }
            Item::Error(place, message) => {
                let problem = Problem::error(&*self.file, self.record_type, message).at(place);
                self.loaded.problems.push(problem);
            }
        }
    }
}

/// The type each field was first given in one record type's data. CloudKit's schema holds
/// one type per field of a record type ("the server associates that type with the key for
/// all records of the same type", Apple, `CKRecord`), so a second type can never be saved:
/// apply would fail with `BAD_REQUEST` on every run. Said here, before anything is planned.
#[derive(Default)]
struct FieldTypes {
    /// A type has a handful of fields, looked up for every record: a few comparisons of
    /// short names cost less than hashing them.
    first: BTreeMap<String, (FieldType, RecordName, Origin)>,
}

impl FieldTypes {
    /// Notes the field types of `record`, read at `origin`, and adds one error per field
    /// whose type differs from the type an earlier record of the type gave it.
    fn check(
        &mut self,
        record_type: &RecordType,
        record: &Record,
        origin: &Origin,
        problems: &mut Vec<Problem>,
    ) {
        for (name, value) in &record.fields {
            let field_type = value.field_type();
            let Some((first, first_record, first_origin)) = self.first.get(name.as_str()) else {
                let first = (field_type, record.record_name.clone(), origin.clone());
                self.first.insert(name.to_string(), first);
                continue;
            };
            if *first == field_type {
                continue;
            }
            let message = format!(
                "field `{name}` is {field_type} here but {first} in record `{first_record}` \
                 ({first_origin}): CloudKit keeps one type per field of a record type, so \
                 give every record the same type or use another field name"
            );
            problems.push(
                Problem::error(&*origin.file, record_type, message)
                    .at(Some(origin.place))
                    .record(Some(&record.record_name))
                    .field(name),
            );
        }
    }
}

/// CloudKit's largest record, assets excluded: "1 MB" (Apple, *CloudKit Web Services
/// Reference*, "Data Size Limits"), read as 1,000,000 bytes, the stricter reading, and
/// counted as field names plus values in wire JSON, as the client counts it
/// (`cloudkit::client::MAX_RECORD_BYTES`).
pub const MAX_RECORD_BYTES: usize = 1_000_000;

/// An error for a record CloudKit would refuse for its size: better said before anything
/// is sent than as a per-record failure halfway through an apply.
fn oversized(
    record: &Record,
    file: &Path,
    record_type: &RecordType,
    place: Place,
) -> Option<Problem> {
    let bytes: usize = record
        .fields
        .iter()
        .map(|(name, value)| name.len() + encoded_length(value).unwrap_or(0))
        .sum();
    (bytes > MAX_RECORD_BYTES).then(|| {
        let message = format!(
            "record is {bytes} bytes, over CloudKit's 1 MB record size limit ({MAX_RECORD_BYTES} bytes)"
        );
        Problem::error(file, record_type, message)
            .at(Some(place))
            .record(Some(&record.record_name))
    })
}

fn read_file(path: &Path, sink: &mut dyn RecordSink) {
    let Some(format) = Format::of(path) else {
        let message =
            "unsupported data file extension (expected .json, .ndjson, .jsonl, .yaml or .yml)";
        return sink.item(Item::Error(None, message.to_owned()));
    };
    match std::fs::File::open(path) {
        // Opening a directory succeeds on Unix; reading it would be called malformed data.
        Ok(_) if path.is_dir() => sink.item(Item::Error(
            None,
            format!("failed to read `{}`: it is a directory", path.display()),
        )),
        Ok(file) => read_records_into(file, format, sink),
        Err(error) => sink.item(Item::Error(
            None,
            format!("failed to read `{}`: {error}", path.display()),
        )),
    }
}

/// Loads every configured type, then checks references between records.
pub fn load_all(config: &Config) -> LocalData {
    let mut data = LocalData {
        problems: config.problems().to_vec(),
        types: config
            .types
            .iter()
            .map(|(record_type, type_config)| {
                (record_type.clone(), load_type(record_type, type_config))
            })
            .collect(),
    };
    asset::resolve_all(&asset_file::Project::of(config), &mut data);
    let dangling = dangling_references(config, &data);
    for (record_type, problems) in dangling.into_iter().chain(shared_names(&data)) {
        if let Some(loaded) = data.types.get_mut(&record_type) {
            loaded.problems.extend(problems);
        }
    }
    // Problems in the order of the configured files, then by place.
    for (record_type, loaded) in &mut data.types {
        let files = &config.types[record_type].files;
        let file_index = |problem: &Problem| files.iter().position(|f| *f == problem.file);
        loaded
            .problems
            .sort_by_key(|p| (file_index(p), place_key(p.place)));
    }
    data
}

/// Errors for a recordName that records of two types share: record names are unique in a
/// zone across types, so CloudKit would refuse all but the first create (issue 20). Each
/// later use is reported, naming the first one's type and place.
fn shared_names(data: &LocalData) -> BTreeMap<RecordType, Vec<Problem>> {
    let records = data.types.values().map(|loaded| loaded.records.len()).sum();
    let mut first: HashMap<&str, (&RecordType, &Origin)> = HashMap::with_capacity(records);
    let mut problems: BTreeMap<RecordType, Vec<Problem>> = BTreeMap::new();
    for (record_type, loaded) in &data.types {
        for (record, origin) in loaded.records.iter().zip(&loaded.origins) {
            let name = record.record_name.as_str();
            match first.entry(name) {
                Entry::Occupied(entry) => {
                    let (other_type, other_origin) = entry.get();
                    let message = format!(
                        "recordName `{}` is also used by a `{}` record at {}: record names are \
                         unique in a zone across types",
                        escaped(name),
                        escaped(other_type.as_str()),
                        other_origin
                    );
                    let problem = Problem::error(origin.file.to_path_buf(), record_type, message)
                        .at(Some(origin.place))
                        .record(Some(&record.record_name));
                    problems
                        .entry(record_type.clone())
                        .or_default()
                        .push(problem);
                }
                Entry::Vacant(entry) => {
                    entry.insert((record_type, origin));
                }
            }
        }
    }
    problems
}

fn place_key(place: Option<Place>) -> (usize, usize) {
    match place {
        None => (0, 0),
        Some(Place::Line(line)) => (line, 0),
        Some(Place::LineColumn(line, column)) => (line, column),
        Some(Place::Index(index)) => (index, 0),
    }
}

/// Warnings for references to recordNames no local file defines (they may exist only in
/// CloudKit), one per type, field and missing name, at its first occurrence.
fn dangling_references(config: &Config, data: &LocalData) -> BTreeMap<RecordType, Vec<Problem>> {
    // By type in a tree: a handful of types, looked up for every reference.
    let names_by_type: BTreeMap<&RecordType, HashSet<&str>> = data
        .types
        .iter()
        .map(|(t, loaded)| {
            (
                t,
                loaded
                    .records
                    .iter()
                    .map(|r| r.record_name.as_str())
                    .collect(),
            )
        })
        .collect();
    let defined = |target: Option<&RecordType>, name: &str| match target {
        Some(target) => names_by_type.get(target).map(|names| names.contains(name)),
        None => Some(names_by_type.values().any(|names| names.contains(name))),
    };
    // Records left out because of their errors are defined, only invalid.
    let invalid_by_type: BTreeMap<&RecordType, HashSet<&str>> = data
        .types
        .iter()
        .map(|(t, loaded)| {
            let names = loaded
                .problems
                .iter()
                .filter(|p| p.severity == Severity::Error);
            (
                t,
                names
                    .filter_map(|p| Some(p.record_name.as_ref()?.as_str()))
                    .collect(),
            )
        })
        .collect();
    let invalid = |target: Option<&RecordType>, name: &str| match target {
        Some(target) => invalid_by_type
            .get(target)
            .is_some_and(|n| n.contains(name)),
        None => invalid_by_type.values().any(|names| names.contains(name)),
    };
    let mut found: BTreeMap<(RecordType, String, String), (Problem, usize)> = BTreeMap::new();
    for (record_type, loaded) in &data.types {
        let Some(type_config) = config.types.get(record_type) else {
            continue;
        };
        for (record, origin) in loaded.records.iter().zip(&loaded.origins) {
            for (field, value) in &record.fields {
                let target = type_config
                    .fields
                    .get(field.as_str())
                    .and_then(|f| f.target.as_ref());
                for name in crate::config::referenced_names(value) {
                    // `None`: the declared target is not configured, reported by the config.
                    if defined(target, name) != Some(false) {
                        continue;
                    }
                    let key = (record_type.clone(), field.to_string(), name.to_owned());
                    let entry = found.entry(key).or_insert_with(|| {
                        let problem = Problem::warning(&*origin.file, record_type, String::new())
                            .at(Some(origin.place))
                            .record(Some(&record.record_name))
                            .field(field);
                        (problem, 0)
                    });
                    entry.1 += 1;
                }
            }
        }
    }
    let mut by_type: BTreeMap<RecordType, Vec<Problem>> = BTreeMap::new();
    for ((record_type, field, name), (mut problem, count)) in found {
        let target = config.types[&record_type]
            .fields
            .get(&field)
            .and_then(|f| f.target.as_ref());
        let invalid = invalid(target, &name);
        problem.message = dangling_message(target, &name, count, invalid);
        if !invalid {
            problem.dangling_target = Some(RecordName::new(name.as_str()));
        }
        by_type.entry(record_type).or_default().push(problem);
    }
    by_type
}

/// The words of a dangling-reference warning that a plan deleting the record replaces.
pub const ONLY_IN_CLOUDKIT: &str = "(it may exist only in CloudKit)";

fn dangling_message(
    target: Option<&RecordType>,
    name: &str,
    count: usize,
    invalid: bool,
) -> String {
    let mut message = if invalid {
        let whose = target.map_or("local record".to_owned(), |t| format!("local `{t}` record"));
        format!("references `{name}`, whose {whose} has errors (reported on its own)")
    } else {
        let whose = target.map_or("no local record".to_owned(), |t| {
            format!("no local `{t}` record")
        });
        format!("references `{name}`, which {whose} defines {ONLY_IN_CLOUDKIT}")
    };
    if count > 1 {
        message.push_str(&format!("; {count} references to it in this field"));
    }
    message
}

#[cfg(test)]
mod tests;
