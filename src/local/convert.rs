//! Turning one record object from a data file into a `Record`: CloudKit-native records
//! (`{recordName, recordType?, fields: {name: {value, type?}}}`) and plain ones (`{"id": 7,
//! "name": ...}`, typed by the config's `fields:` and named by its `record_name` template).
//! A record with any error yields no `Record`; every problem in it is reported.

use super::fast::{Fallback, PlainShape};
use super::strict::Flaw;
use super::values::{decode, describe};
use crate::config::{FieldSpec, Origin, Problem, TypeConfig};
use crate::record::identifier::{escaped, field_name_problem, quoted, record_name_problem};
use crate::record::{FieldType, FieldValue, Fields, Record, RecordName, RecordType};
use serde_json::{Map, Value as Json};
use std::collections::BTreeSet;

/// Record keys CloudKit itself writes; accepted (and not uploaded) in native records.
const NATIVE_KEYS: [&str; 11] = [
    "recordName",
    "recordType",
    "fields",
    "recordChangeTag",
    "created",
    "modified",
    "deleted",
    "zoneID",
    "pluginFields",
    "parent",
    "share",
];

/// Converts records of one type, remembering which ignored fields it already warned about.
pub struct Converter<'a> {
    record_type: &'a RecordType,
    config: &'a TypeConfig,
    pub(super) warned_ignored: BTreeSet<String>,
    /// The fast path for the type's plain records (see `fast`), while it is worth trying.
    pub(super) fast: Option<PlainShape<'a>>,
}

/// The problems of one record, with its origin and (once known) its name.
struct Report<'a> {
    record_type: &'a RecordType,
    origin: &'a Origin,
    record_name: Option<RecordName>,
    problems: &'a mut Vec<Problem>,
    errors: usize,
}

impl Report<'_> {
    fn error(&mut self, field: Option<&str>, message: String) {
        self.errors += 1;
        let problem = Problem::error(&*self.origin.file, self.record_type, message);
        self.push(problem, field);
    }

    fn warning(&mut self, field: Option<&str>, message: String) {
        let problem = Problem::warning(&*self.origin.file, self.record_type, message);
        self.push(problem, field);
    }

    fn push(&mut self, problem: Problem, field: Option<&str>) {
        let mut problem = problem
            .at(Some(self.origin.place))
            .record(self.record_name.as_ref());
        // A key with invisible or control characters is named escaped.
        problem.field = field.map(escaped);
        self.problems.push(problem);
    }
}

impl<'a> Converter<'a> {
    pub fn new(record_type: &'a RecordType, config: &'a TypeConfig) -> Self {
        Self {
            record_type,
            config,
            warned_ignored: BTreeSet::new(),
            fast: PlainShape::of(config),
        }
    }

    /// The record in `text` (one NDJSON line) when the fast path takes it, with no problem;
    /// `None` when the text must be read and converted by the general path, which then
    /// reports whatever is wrong with it. After a record whose keys the type does not
    /// declare (CloudKit-native records, for one) the fast path is not tried again.
    pub fn convert_text(&mut self, text: &str) -> Option<Record> {
        let fast = self.fast.as_mut()?;
        match fast.read(text, &self.warned_ignored) {
            Ok((record_name, fields)) => Some(Record {
                record_type: self.record_type.clone(),
                record_name,
                change_tag: None,
                fields,
                stamps: None,
            }),
            Err(Fallback::Shape) => {
                self.fast = None;
                None
            }
            Err(Fallback::Other) => None,
        }
    }

    /// Converts `json` read at `origin`, adding its problems to `problems`.
    pub fn convert(
        &mut self,
        json: Json,
        origin: &Origin,
        problems: &mut Vec<Problem>,
    ) -> Option<Record> {
        let mut report = Report {
            record_type: self.record_type,
            origin,
            record_name: None,
            problems,
            errors: 0,
        };
        let Json::Object(object) = json else {
            report.error(
                None,
                format!("expected a record object, found {}", describe(&json)),
            );
            return None;
        };
        let (name, fields) = if is_native(&object) {
            self.native(object, &mut report)
        } else {
            self.plain(object, &mut report)
        };
        let record_name = name?;
        if let Some(problem) = record_name_problem(record_name.as_str()) {
            // Printed raw, such a name could rewrite the terminal: it is named escaped.
            report.record_name = Some(RecordName::new(escaped(record_name.as_str())));
            report.error(None, problem);
        }
        (report.errors == 0).then(|| Record {
            record_type: self.record_type.clone(),
            record_name,
            change_tag: None,
            fields,
            stamps: None,
        })
    }

    /// Refuses a record holding `flaws` (see `strict`), reporting each with the record's name
    /// when it can be worked out and the field concerned.
    pub fn refuse(
        &mut self,
        json: &Json,
        flaws: &[Flaw],
        origin: &Origin,
        problems: &mut Vec<Problem>,
    ) {
        // A record cut short inside `fields` has no `fields` member yet: its flaw's path
        // tells that it is native.
        let native = json.as_object().is_some_and(|object| {
            is_native(object)
                || (object.contains_key("recordName") || object.contains_key("recordType"))
                    && flaws
                        .iter()
                        .any(|flaw| flaw.path.first().is_some_and(|k| k == "fields"))
        });
        let record_name = json.as_object().and_then(|object| {
            let name = if native {
                object
                    .get("recordName")
                    .and_then(Json::as_str)
                    .map(RecordName::from)
            } else {
                self.quiet_name(object)
            };
            name.filter(|name| record_name_problem(name.as_str()).is_none())
        });
        let mut report = Report {
            record_type: self.record_type,
            origin,
            record_name,
            problems,
            errors: 0,
        };
        for flaw in flaws {
            report.error(flaw.field(native), flaw.message(native));
        }
    }

    /// The record's name by the type's rule, or `None` when it cannot be made.
    fn quiet_name(&self, object: &Map<String, Json>) -> Option<RecordName> {
        match (&self.config.record_name, object.get("recordName")) {
            (Some(template), _) => template.render(object).ok().map(RecordName::new),
            (None, Some(Json::String(name))) if !name.is_empty() => {
                Some(RecordName::new(name.as_str()))
            }
            (None, _) => None,
        }
    }

    fn native(
        &mut self,
        mut object: Map<String, Json>,
        report: &mut Report,
    ) -> (Option<RecordName>, Fields) {
        let name = match object.get("recordName") {
            Some(Json::String(name)) if !name.is_empty() => Some(RecordName::new(name.as_str())),
            other => {
                let found = other.map_or("nothing".to_owned(), describe);
                report.error(
                    None,
                    format!("`recordName` must be a non-empty string, found {found}"),
                );
                None
            }
        };
        report.record_name = name.clone();
        match object.get("recordType") {
            None => {}
            Some(Json::String(t)) if t == self.record_type.as_str() => {}
            Some(other) => report.error(
                None,
                format!(
                    "`recordType` is {}, but this file holds `{}` records",
                    describe(other),
                    self.record_type
                ),
            ),
        }
        for key in object.keys().filter(|k| !NATIVE_KEYS.contains(&k.as_str())) {
            report.error(None, format!("unknown key `{key}` in a CloudKit record"));
        }
        let Some(Json::Object(raw_fields)) = object.remove("fields") else {
            return (name, Fields::new());
        };
        let mut fields = Fields::with_capacity(raw_fields.len());
        for (field, wire) in raw_fields {
            if let Some(value) = self.native_field(&field, wire, report) {
                fields.insert(field, value);
            }
        }
        (name, fields)
    }

    fn native_field(&mut self, field: &str, wire: Json, report: &mut Report) -> Option<FieldValue> {
        let spec = self.field_spec(field, report)?;
        if let Some(problem) = spec.is_none().then(|| field_name_problem(field)).flatten() {
            // Declared fields are checked in the config; this one is named only here.
            report.error(Some(field), problem);
            return None;
        }
        let Json::Object(mut wire) = wire else {
            let message = format!(
                "expected a field object {{value, type?}}, found {}",
                describe(&wire)
            );
            report.error(Some(field), message);
            return None;
        };
        // A field object is `{value, type?}` (docs/protocol.md, "Records and
        // fields"); anything else is a typo whose meaning would be dropped silently.
        if let Some(key) = wire
            .keys()
            .find(|key| !["value", "type"].contains(&key.as_str()))
        {
            let message = format!("unknown key `{key}` in a field object (expected value, type)");
            report.error(Some(field), message);
            return None;
        }
        let value = wire.remove("value").unwrap_or(Json::Null);
        if value.is_null() {
            return None;
        }
        let own_type = match wire.get("type") {
            None | Some(Json::Null) => None,
            Some(Json::String(name)) => match FieldType::parse_known(name) {
                Some(t) => Some(t),
                None => {
                    report.error(Some(field), format!("unknown field type `{name}`"));
                    return None;
                }
            },
            Some(other) => {
                report.error(
                    Some(field),
                    format!("`type` must be a string, found {}", describe(other)),
                );
                return None;
            }
        };
        let field_type = match (own_type, spec.map(|s| &s.field_type)) {
            (Some(own), Some(declared)) if own != *declared => {
                let message = format!("has type `{own}`, but the config declares `{declared}`");
                report.error(Some(field), message);
                return None;
            }
            (Some(own), _) => own,
            (None, Some(declared)) => declared.clone(),
            (None, None) => match FieldValue::infer_type(&value) {
                Some(inferred) => inferred,
                None => {
                    let message = format!(
                        "cannot infer the type of {}; give it a `type` or declare it under `fields:`",
                        describe(&value)
                    );
                    report.error(Some(field), message);
                    return None;
                }
            },
        };
        decode(&field_type, &value)
            .map_err(|message| report.error(Some(field), message))
            .ok()
    }

    /// The declared spec of `field` (`Some(None)` when undeclared and allowed), or `None`
    /// when the field is not to be decoded: ignored, of a type the config already reported
    /// as unknown, or undeclared while the config lists fields (a likely typo).
    fn field_spec(&mut self, field: &str, report: &mut Report) -> Option<Option<&'a FieldSpec>> {
        if self.config.ignore_fields.contains(field) {
            self.warn_ignored(field, report);
            return None;
        }
        match self.config.fields.get(field) {
            Some(spec) if matches!(spec.field_type, FieldType::Unknown(_)) => None,
            Some(spec) => Some(Some(spec)),
            None if self.config.fields.is_empty() => Some(None),
            None => {
                report.error(Some(field), unknown_key(field, self.record_type));
                None
            }
        }
    }

    fn warn_ignored(&mut self, field: &str, report: &mut Report) {
        if self.warned_ignored.insert(field.to_owned()) {
            let message = "is listed in `ignore_fields`, so its local values are never sent \
                           (further occurrences in this type are not reported)";
            report.warning(Some(field), message.to_owned());
        }
    }

    fn plain(
        &mut self,
        object: Map<String, Json>,
        report: &mut Report,
    ) -> (Option<RecordName>, Fields) {
        let name = self.plain_name(&object, report);
        report.record_name = name.clone();
        let template_keys: BTreeSet<&str> = match &self.config.record_name {
            Some(template) => template.keys().collect(),
            None => BTreeSet::from(["recordName"]),
        };
        let mut fields = Fields::with_capacity(self.config.fields.len().min(object.len()));
        for (key, value) in object {
            if !self.config.fields.contains_key(&key) {
                if self.config.ignore_fields.contains(&key) {
                    self.warn_ignored(&key, report);
                } else if !template_keys.contains(key.as_str()) {
                    report.error(Some(&key), unknown_key(&key, self.record_type));
                }
                continue;
            }
            let Some(Some(spec)) = self.field_spec(&key, report) else {
                continue;
            };
            if value.is_null() {
                continue;
            }
            match decode(&spec.field_type, &value) {
                Ok(decoded) => {
                    fields.insert(key, decoded);
                }
                Err(message) => report.error(Some(&key), message),
            }
        }
        (name, fields)
    }

    fn plain_name(&self, object: &Map<String, Json>, report: &mut Report) -> Option<RecordName> {
        match (&self.config.record_name, object.get("recordName")) {
            (Some(template), _) => match template.render(object) {
                Ok(name) => Some(RecordName::new(name)),
                Err(error) => {
                    report.error(None, error.to_string());
                    None
                }
            },
            (None, Some(Json::String(name))) if !name.is_empty() => {
                Some(RecordName::new(name.as_str()))
            }
            (None, found) => {
                let found = found.map_or("no `recordName` key".to_owned(), |v| {
                    format!("`recordName` {}", describe(v))
                });
                report.error(
                    None,
                    format!("cannot name the record: the type has no `record_name` template and {found}"),
                );
                None
            }
        }
    }
}

/// A CloudKit-native record: `{recordName or recordType, fields: {...}}`.
fn is_native(object: &Map<String, Json>) -> bool {
    object.get("fields").is_some_and(Json::is_object)
        && (object.contains_key("recordName") || object.contains_key("recordType"))
}

fn unknown_key(key: &str, record_type: &RecordType) -> String {
    format!(
        "unknown key {}: not listed under `fields:` of type `{record_type}` (a typo?)",
        quoted(key)
    )
}

#[cfg(test)]
mod tests;
