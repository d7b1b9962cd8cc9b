//! `ckplan export`: the records CloudKit holds for some types, as local data files in
//! CloudKit-native form (`{"recordName", "fields": {name: {"value", "type"}}}`) plus a
//! `ckplan.yaml` that names them, so a team whose data already lives in CloudKit starts
//! from it and `ckplan plan` right after shows no changes. Pure: records in, file texts
//! out; the command reads CloudKit and writes the files. An asset becomes a file under
//! `data/assets/` (`ops::export_assets` names and downloads it), which its field names.

use super::export_assets::{self, AssetFile};
use crate::cloudkit::wire::WireField;
use crate::record::{FieldType, FieldValue, Record, RecordType, ScalarType, Target, Value};
use serde_json::{Map, Value as Json};
use std::collections::{BTreeMap, HashMap};

/// The data file format `--format` chooses.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ExportFormat {
    /// One JSON array, pretty-printed.
    Json,
    /// One compact JSON record per line.
    Ndjson,
    /// One YAML sequence.
    Yaml,
}

impl ExportFormat {
    pub fn extension(self) -> &'static str {
        match self {
            ExportFormat::Json => "json",
            ExportFormat::Ndjson => "ndjson",
            ExportFormat::Yaml => "yaml",
        }
    }
}

/// One exported type: its data file (relative to the export directory) and contents, the
/// CloudKit type of each field, the record count and the asset files its data names.
#[derive(Debug)]
pub struct ExportedType {
    pub record_type: RecordType,
    pub file: String,
    pub text: String,
    pub fields: BTreeMap<String, FieldType>,
    pub records: usize,
    pub assets: Vec<AssetFile>,
}

/// Why nothing was exported.
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum ExportError {
    #[error(
        "record type `{record_type}`, record `{record_name}`, field `{field}`: CloudKit type `{field_type}` cannot be exported (ckplan cannot publish it, so a plan would remove it); nothing was written"
    )]
    Unrepresentable {
        record_type: String,
        record_name: String,
        field: String,
        field_type: String,
    },
    /// CloudKit holds something the plan's reader of local data would refuse (another
    /// app's write: a LOCATION with a member CloudKit does not document, BYTES that are not
    /// base64, a record or field name ckplan cannot use).
    #[error(
        "record type `{record_type}`, record `{record_name}`{}: {problem}; a plan could not read it back, so it cannot be exported; nothing was written",
        field.as_ref().map_or_else(String::new, |field| format!(", field `{field}`"))
    )]
    Unreadable {
        record_type: String,
        record_name: String,
        field: Option<String>,
        problem: String,
    },
    #[error(
        "record type `{record_type}`, field `{field}`: `{first_type}` in record `{first}` but `{second_type}` in record `{second}`; ckplan needs one type per field; nothing was written"
    )]
    MixedTypes {
        record_type: String,
        field: String,
        first: String,
        first_type: String,
        second: String,
        second_type: String,
    },
    #[error(
        "record type `{record_type}`, record `{record_name}`, field `{field}`: the asset has no {missing}, so it cannot be downloaded; nothing was written"
    )]
    AssetIncomplete {
        record_type: String,
        record_name: String,
        field: String,
        missing: &'static str,
    },
}

/// Renders every type's records, ordered by record name, in `format`. Fails on the first
/// field whose type ckplan cannot represent (named, never dropped: a dropped field would
/// be planned for removal) or whose type differs between two records.
pub fn export(
    read: Vec<(RecordType, Vec<Record>)>,
    format: ExportFormat,
) -> Result<Vec<ExportedType>, Box<ExportError>> {
    read.into_iter()
        .map(|(record_type, mut records)| {
            records.sort_by(|a, b| a.record_name.cmp(&b.record_name));
            let fields = field_types(&record_type, &records)?;
            let assets = export_assets::asset_files(&record_type, &records)?;
            // In element order: `asset_files` lists a list's elements in order.
            let mut paths: HashMap<(&str, &str), Vec<&str>> = HashMap::new();
            for asset in &assets {
                let key = (asset.record_name.as_str(), asset.field.as_str());
                paths.entry(key).or_default().push(asset.written.as_str());
            }
            let natives: Vec<Json> = records.iter().map(|r| native(r, &paths)).collect();
            for (record, json) in records.iter().zip(&natives) {
                readable(&record_type, record, json, &fields)?;
            }
            Ok(ExportedType {
                file: format!("data/{record_type}.{}", format.extension()),
                text: render(&natives, format),
                fields,
                records: records.len(),
                record_type,
                assets,
            })
        })
        .collect()
}

/// The type of each field over all records of a type, checked to be one per field and one
/// ckplan can publish.
fn field_types(
    record_type: &RecordType,
    records: &[Record],
) -> Result<BTreeMap<String, FieldType>, Box<ExportError>> {
    let mut types: BTreeMap<String, (FieldType, &str)> = BTreeMap::new();
    for record in records {
        for (field, value) in &record.fields {
            let field_type = value.field_type();
            if !representable(&field_type) {
                return Err(Box::new(ExportError::Unrepresentable {
                    record_type: record_type.to_string(),
                    record_name: record.record_name.to_string(),
                    field: field.to_string(),
                    field_type: field_type.to_string(),
                }));
            }
            match types.get(field.as_str()) {
                Some((first_type, first)) if *first_type != field_type => {
                    return Err(Box::new(ExportError::MixedTypes {
                        record_type: record_type.to_string(),
                        field: field.to_string(),
                        first: (*first).to_owned(),
                        first_type: first_type.to_string(),
                        second: record.record_name.to_string(),
                        second_type: field_type.to_string(),
                    }))
                }
                Some(_) => {}
                None => {
                    types.insert(field.to_string(), (field_type, record.record_name.as_str()));
                }
            }
        }
    }
    Ok(types.into_iter().map(|(f, (t, _))| (f, t)).collect())
}

/// Checks one exported record with the rules and the value decoder `plan` reads local data
/// with (`fields` is what the exported config declares), so that what export writes is
/// what the next plan reads: an error names the record and the field.
fn readable(
    record_type: &RecordType,
    record: &Record,
    json: &Json,
    fields: &BTreeMap<String, FieldType>,
) -> Result<(), Box<ExportError>> {
    use crate::record::identifier::{field_name_problem, record_name_problem};
    let refuse = |field: Option<&str>, problem: String| {
        Box::new(ExportError::Unreadable {
            record_type: record_type.to_string(),
            record_name: record.record_name.to_string(),
            field: field.map(str::to_owned),
            problem,
        })
    };
    if let Some(problem) = record_name_problem(record.record_name.as_str()) {
        return Err(refuse(None, problem));
    }
    let empty = Map::new();
    let written = json["fields"].as_object().unwrap_or(&empty);
    for (field, wire) in written {
        if let Some(problem) = field_name_problem(field) {
            return Err(refuse(Some(field), problem));
        }
        let field_type = &fields[field];
        crate::local::decode_value(field_type, &wire["value"])
            .map_err(|problem| refuse(Some(field), problem))?;
    }
    Ok(())
}

/// An asset becomes a downloaded file (each element of a list of them, one file); a type
/// CloudKit named but ckplan does not know has no local form.
fn representable(field_type: &FieldType) -> bool {
    !matches!(field_type, FieldType::Unknown(_))
}

/// A record in CloudKit-native local form: the name and each field in wire form; an
/// asset as the path of its downloaded file, relative to the data file.
fn native(record: &Record, assets: &HashMap<(&str, &str), Vec<&str>>) -> Json {
    let fields: Map<String, Json> = record
        .fields
        .iter()
        .map(|(name, value)| {
            let key = (record.record_name.as_str(), name.as_str());
            let json = match (value, assets.get(&key)) {
                (FieldValue::Scalar(Value::Asset(_)), Some(paths)) if paths.len() == 1 => {
                    serde_json::json!({"value": paths[0], "type": "ASSETID"})
                }
                (FieldValue::List(ScalarType::AssetId, _), Some(paths)) => {
                    serde_json::json!({"value": paths, "type": "ASSETID_LIST"})
                }
                _ => serde_json::to_value(WireField::from_value(value))
                    .expect("a wire field is JSON"),
            };
            (name.to_string(), json)
        })
        .collect();
    let mut object = Map::new();
    object.insert(
        "recordName".into(),
        Json::String(record.record_name.to_string()),
    );
    object.insert("fields".into(), Json::Object(fields));
    Json::Object(object)
}

fn render(records: &[Json], format: ExportFormat) -> String {
    match format {
        ExportFormat::Json => {
            let mut text = serde_json::to_string_pretty(records).expect("JSON");
            text.push('\n');
            text
        }
        // One empty line: a file that holds no records on purpose. Only a 0-byte file, as a
        // truncated one would be, is warned about when loaded.
        ExportFormat::Ndjson if records.is_empty() => "\n".to_owned(),
        ExportFormat::Ndjson => records.iter().map(|record| format!("{record}\n")).collect(),
        ExportFormat::Yaml => super::export_yaml::render(records),
    }
}

/// Where the exported config sends requests and which key it names.
pub struct ConfigSource<'a> {
    pub target: &'a Target,
    /// As `endpoint:` must say it from the export directory.
    pub endpoint: &'a str,
    pub key_id: Option<&'a str>,
    /// As `private_key_file:` must say it from the export directory.
    pub private_key_file: Option<&'a str>,
}

/// The `ckplan.yaml` for the exported types: the same target, endpoint and key, each type
/// with its data file and field types. Deterministic.
pub fn config_text(source: &ConfigSource<'_>, types: &[ExportedType]) -> String {
    use serde_yaml::{Mapping, Value as Yaml};
    let text = |s: &str| Yaml::String(s.to_owned());
    let mut root = Mapping::new();
    root.insert(text("container"), text(&source.target.container));
    root.insert(
        text("environment"),
        text(source.target.environment.as_str()),
    );
    root.insert(text("database"), text(source.target.database.as_str()));
    root.insert(text("zone"), text(&source.target.zone));
    root.insert(text("endpoint"), text(source.endpoint));
    let mut auth = Mapping::new();
    if let Some(key_id) = source.key_id {
        auth.insert(text("key_id"), text(key_id));
    }
    if let Some(file) = source.private_key_file {
        auth.insert(text("private_key_file"), text(file));
    }
    if !auth.is_empty() {
        root.insert(text("auth"), Yaml::Mapping(auth));
    }
    let mut configured = Mapping::new();
    for exported in types {
        let mut entry = Mapping::new();
        entry.insert(text("file"), text(&exported.file));
        let fields: Mapping = exported
            .fields
            .iter()
            .map(|(name, field_type)| (text(name), text(&config_type(field_type))))
            .collect();
        if !fields.is_empty() {
            entry.insert(text("fields"), Yaml::Mapping(fields));
        }
        configured.insert(text(exported.record_type.as_str()), Yaml::Mapping(entry));
    }
    root.insert(text("types"), Yaml::Mapping(configured));
    let body = serde_yaml::to_string(&Yaml::Mapping(root)).expect("YAML");
    format!(
        "# Written by `ckplan export` from what CloudKit held for {}.\n{body}",
        source.target
    )
}

/// A field type as `fields:` says it: an asset is a file, `ASSET`.
fn config_type(field_type: &FieldType) -> String {
    match field_type {
        FieldType::Scalar(ScalarType::AssetId) => "ASSET".to_owned(),
        FieldType::List(ScalarType::AssetId) => "ASSET_LIST".to_owned(),
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record::FieldValue;

    fn team(name: &str, founded: FieldValue) -> Record {
        Record::new("Team", name)
            .with_field("name", FieldValue::string(format!("Team {name}")))
            .with_field("founded", founded)
    }

    #[test]
    fn records_are_ordered_by_name_with_one_type_per_field() {
        let read = vec![(
            RecordType::new("Team"),
            vec![
                team("team-2", FieldValue::int64(1901)),
                team("team-1", FieldValue::int64(1954)),
            ],
        )];
        let exported = export(read, ExportFormat::Ndjson).unwrap();
        let lines: Vec<&str> = exported[0].text.lines().collect();
        assert!(lines[0].contains("\"team-1\""), "{lines:?}");
        assert!(lines[1].contains("\"team-2\""), "{lines:?}");
        assert_eq!(exported[0].file, "data/Team.ndjson");
        assert_eq!(exported[0].fields["founded"].to_string(), "INT64");
        assert_eq!(exported[0].records, 2);
    }

    #[test]
    fn a_field_with_two_types_is_named_with_both_records() {
        let read = vec![(
            RecordType::new("Team"),
            vec![
                team("team-1", FieldValue::int64(1954)),
                team("team-2", FieldValue::string("1901")),
            ],
        )];
        let error = export(read, ExportFormat::Json).unwrap_err();
        assert_eq!(
            error.to_string(),
            "record type `Team`, field `founded`: `INT64` in record `team-1` but `STRING` in record `team-2`; ckplan needs one type per field; nothing was written"
        );
    }

    #[test]
    fn a_list_of_assets_is_one_file_per_element_and_configured_as_asset_list() {
        let asset = |checksum: &str| {
            crate::record::Value::Asset(Box::new(serde_json::json!(
                {"fileChecksum": checksum, "size": 1, "downloadURL": "http://h/${f}"}
            )))
        };
        let list = FieldValue::List(ScalarType::AssetId, vec![asset("AQ"), asset("Ag")]);
        let read = vec![(RecordType::new("Team"), vec![team("team-1", list)])];
        let exported = export(read, ExportFormat::Ndjson).unwrap();
        assert!(
            exported[0].text.contains(
                r#""founded":{"type":"ASSETID_LIST","value":["assets/Team/team-1/founded/0","assets/Team/team-1/founded/1"]}"#
            ),
            "{}",
            exported[0].text
        );
        let files: Vec<&str> = exported[0].assets.iter().map(|a| a.file.as_str()).collect();
        assert_eq!(
            files,
            [
                "data/assets/Team/team-1/founded/0",
                "data/assets/Team/team-1/founded/1"
            ]
        );
        assert_eq!(config_type(&exported[0].fields["founded"]), "ASSET_LIST");
    }

    #[test]
    fn an_unknown_type_is_named_not_dropped() {
        let unknown = FieldValue::Unknown {
            type_name: "ENCRYPTED_BYTES".to_owned(),
            value: Box::new(serde_json::json!("AA")),
        };
        let read = vec![(RecordType::new("Team"), vec![team("team-1", unknown)])];
        let error = export(read, ExportFormat::Yaml).unwrap_err();
        assert!(matches!(
            &*error,
            ExportError::Unrepresentable { field, field_type, .. }
                if field == "founded" && field_type == "ENCRYPTED_BYTES"
        ));
    }

    #[test]
    fn an_asset_is_written_as_the_path_of_its_file_and_configured_as_asset() {
        let asset = FieldValue::Scalar(crate::record::Value::Asset(Box::new(
            serde_json::json!({"fileChecksum": "AQ", "size": 1, "downloadURL": "http://h/${f}"}),
        )));
        let read = vec![(RecordType::new("Team"), vec![team("team-1", asset)])];
        let exported = export(read, ExportFormat::Ndjson).unwrap();
        assert!(
            exported[0]
                .text
                .contains(r#""founded":{"type":"ASSETID","value":"assets/Team/team-1/founded"}"#),
            "{}",
            exported[0].text
        );
        assert_eq!(
            exported[0].assets[0].file,
            "data/assets/Team/team-1/founded"
        );
        let target = Target {
            container: "iCloud.x".into(),
            environment: crate::record::Environment::Development,
            database: crate::record::Database::Public,
            zone: "_defaultZone".into(),
        };
        let source = ConfigSource {
            target: &target,
            endpoint: "http://127.0.0.1:1",
            key_id: None,
            private_key_file: None,
        };
        let config = config_text(&source, &exported);
        assert!(config.contains("founded: ASSET\n"), "{config}");
    }

    #[test]
    fn issue_19_a_value_the_plan_would_refuse_is_named_not_written() {
        use crate::record::Location;
        let mut location = Location::new(40.0, -75.0);
        location.extra.insert("foo".into(), serde_json::json!(1));
        let odd_location = FieldValue::Scalar(Value::Location(Box::new(location)));
        let read = vec![(RecordType::new("Team"), vec![team("team-1", odd_location)])];
        let error = export(read, ExportFormat::Json).unwrap_err().to_string();
        assert!(
            error.starts_with("record type `Team`, record `team-1`, field `founded`: unknown LOCATION member `foo`"),
            "{error}"
        );
        assert!(error.ends_with("nothing was written"), "{error}");
        let bytes = FieldValue::Scalar(Value::Bytes("not base64!".into()));
        let read = vec![(RecordType::new("Team"), vec![team("team-1", bytes)])];
        let error = export(read, ExportFormat::Ndjson).unwrap_err().to_string();
        assert!(
            error.contains("field `founded`: BYTES value is not base64"),
            "{error}"
        );
        // Documented location members and real base64 pass.
        let mut location = Location::new(40.0, -75.0);
        location
            .extra
            .insert("altitude".into(), serde_json::json!(12.5));
        let fine = team(
            "team-1",
            FieldValue::Scalar(Value::Location(Box::new(location))),
        )
        .with_field("blob", FieldValue::Scalar(Value::Bytes("AAE=".into())));
        assert!(export(
            vec![(RecordType::new("Team"), vec![fine])],
            ExportFormat::Yaml
        )
        .is_ok());
    }

    #[test]
    fn an_empty_type_exports_an_empty_file_in_every_format() {
        for format in [ExportFormat::Json, ExportFormat::Ndjson, ExportFormat::Yaml] {
            let exported = export(vec![(RecordType::new("Team"), vec![])], format).unwrap();
            assert_eq!(exported[0].records, 0);
            assert!(exported[0].fields.is_empty());
            let expected = match format {
                ExportFormat::Json | ExportFormat::Yaml => "[]\n",
                ExportFormat::Ndjson => "\n",
            };
            assert_eq!(exported[0].text, expected, "{format:?}");
        }
    }
}
