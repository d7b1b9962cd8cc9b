//! `ckplan.yaml`: the target (container, environment, database, zone), the endpoint, the
//! server-to-server key and the record types with their files and field types. Loading
//! resolves paths against the config file's directory; syntax errors fail with file, line
//! and column, while per-field mistakes (an unknown type name, a reference to a type that
//! is not configured) are collected as `Problem`s so `validate` can list them all.

mod auth;
mod file;
mod key_line;
mod order;
mod problem;
mod template;

pub use auth::{Auth, EnvironmentKeys, Key, KeySettings, KeyVariables, Overrides, Secret};
pub use file::{
    AuthFile, ConfigFile, EnvironmentKeyFile, FieldDetail, FieldEntry, FileList, TypeFile,
};
pub(crate) use order::referenced_names;
pub use order::{type_order, TypeOrder};
pub use problem::{Origin, Place, Problem, Severity};
pub use template::{NameTemplate, TemplateError};

use crate::diff::CompareRules;
use crate::record::{Database, Environment, Target};
use crate::record::{FieldType, RecordType, ScalarType};
use crate::schema::Index;
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// The CloudKit Web Services host used when `endpoint` is not given.
pub const DEFAULT_ENDPOINT: &str = "https://api.apple-cloudkit.com";
pub use crate::diff::DEFAULT_LOCATION_TOLERANCE;

/// Where requests go.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Endpoint {
    /// An `http://` or `https://` base URL, without a trailing slash.
    Url(String),
    /// The in-process emulator, storing its state in `dir`.
    Embedded { dir: PathBuf },
}

/// The declared type of one field, with the referenced record type when the config names
/// it (`REFERENCE(Stadium)`). An unknown type name is kept as `FieldType::Unknown` and
/// reported by `Config::problems`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FieldSpec {
    pub field_type: FieldType,
    pub target: Option<RecordType>,
}

impl FieldSpec {
    pub fn is_reference(&self) -> bool {
        matches!(
            self.field_type,
            FieldType::Scalar(ScalarType::Reference) | FieldType::List(ScalarType::Reference)
        )
    }
}

/// One record type, resolved.
#[derive(Clone, Debug, PartialEq)]
pub struct TypeConfig {
    /// Data files, resolved against the config file's directory.
    pub files: Vec<PathBuf>,
    pub record_name: Option<NameTemplate>,
    pub fields: BTreeMap<String, FieldSpec>,
    /// Schema indexes declared per field (`{type: …, indexes: […]}`); fields without any
    /// are absent.
    pub indexes: BTreeMap<String, BTreeSet<Index>>,
    pub ignore_fields: BTreeSet<String>,
    pub location_tolerance: f64,
}

impl TypeConfig {
    /// The comparison rules of this type (`ignore_fields`, `location_tolerance`).
    pub fn compare_rules(&self) -> CompareRules {
        CompareRules {
            ignore_fields: self.ignore_fields.clone(),
            location_tolerance: self.location_tolerance,
        }
    }
}

/// `ckplan.yaml`, resolved.
#[derive(Clone, Debug, PartialEq)]
pub struct Config {
    /// The file it was read from, as given.
    pub path: PathBuf,
    pub container: String,
    /// The Apple Developer team, for the schema API.
    pub team_id: Option<String>,
    /// Whether `team_id` is `CKPLAN_TEAM_ID`'s, not the file's `team_id:`.
    pub team_from_variable: bool,
    pub environment: Environment,
    /// The environment the file names (`environment:`), whatever `--environment` chose; a
    /// plan applied without a file: the plan's.
    pub configured_environment: Environment,
    pub database: Database,
    pub zone: String,
    pub endpoint: Endpoint,
    pub auth: Auth,
    pub types: BTreeMap<RecordType, TypeConfig>,
    problems: Vec<Problem>,
}

/// Why a config file could not be loaded at all.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("failed to read config `{}`", path.display())]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("invalid config `{}`{}: {message}", path.display(), place(*line, *column))]
    Parse {
        path: PathBuf,
        line: Option<usize>,
        column: Option<usize>,
        message: String,
    },
    /// A value that parsed but is not allowed; `line` is where its key is written.
    #[error("invalid config `{}`{}: {message}", path.display(), place(*line, None))]
    Invalid {
        path: PathBuf,
        line: Option<usize>,
        message: String,
    },
}

fn place(line: Option<usize>, column: Option<usize>) -> String {
    match (line, column) {
        (Some(line), Some(column)) => format!(":{line}:{column}"),
        (Some(line), None) => format!(":{line}"),
        _ => String::new(),
    }
}

impl Config {
    /// Reads and resolves `path`. Fails on unreadable files, YAML errors, unknown keys,
    /// a bad endpoint, template or tolerance; per-field problems are kept in `problems()`.
    pub fn load(path: &Path) -> Result<Config, ConfigError> {
        let bytes = std::fs::read(path).map_err(|source| ConfigError::Read {
            path: path.to_owned(),
            source,
        })?;
        let text = String::from_utf8(bytes).map_err(|error| {
            let (line, column) = text_position(error.as_bytes(), error.utf8_error().valid_up_to());
            ConfigError::Parse {
                path: path.to_owned(),
                line: Some(line),
                column: Some(column),
                message: "invalid UTF-8".to_owned(),
            }
        })?;
        Self::parse(path, &text)
    }

    /// The configuration in force: `path` loaded and checked, then `overrides` applied. The
    /// command line's one way to a configuration that talks to CloudKit.
    pub fn resolve(path: &Path, overrides: &Overrides) -> Result<Config, ConfigError> {
        let mut config = Self::load(path)?;
        if let Some(environment) = overrides.environment {
            config.set_environment(environment);
        }
        config.auth.apply(overrides);
        if let Some(team_id) = &overrides.team_id {
            config.team_id = Some(checked_team_variable(path, team_id)?);
            config.team_from_variable = true;
        }
        Ok(config)
    }

    /// Resolves `text` as if read from `path`. A leading byte-order mark is skipped (editors
    /// on Windows write one; YAML allows it).
    pub fn parse(path: &Path, text: &str) -> Result<Config, ConfigError> {
        let text = text.strip_prefix('\u{feff}').unwrap_or(text);
        let file = ConfigFile::from_yaml(text).map_err(|error| {
            let location = error.location();
            ConfigError::Parse {
                path: path.to_owned(),
                line: location.as_ref().map(|l| l.line()),
                column: location.as_ref().map(|l| l.column()),
                message: yaml_message(&error),
            }
        })?;
        resolve(path, text, file)
    }

    /// The configuration of a saved plan applied where no config file is (a CI deploy job
    /// that carries the plan, not the repository): the plan's `target` and `endpoint` (as
    /// the plan records it; `embedded:DIR` is taken relative to the plan's directory), the
    /// credentials from `overrides` alone, and no record types (apply takes the compare
    /// rules from the plan). `path` is where the config would be, beside the plan, so
    /// messages can name it. Fails on an endpoint the plan does not record or cannot be
    /// parsed.
    pub fn for_plan(
        path: &Path,
        target: Target,
        endpoint: Option<&str>,
        overrides: &Overrides,
    ) -> Result<Config, ConfigError> {
        let invalid = |message: String| ConfigError::Invalid {
            path: path.to_owned(),
            line: None,
            message,
        };
        let endpoint = endpoint.ok_or_else(|| {
            invalid(
                "the plan records no endpoint, so it can only be applied with its config".into(),
            )
        })?;
        let directory = path.parent().unwrap_or(Path::new(""));
        let endpoint = parse_endpoint(Some(endpoint), directory).map_err(invalid)?;
        let mut auth = Auth::default();
        auth.apply(overrides);
        let planned = target.environment;
        let target = Target {
            environment: overrides.environment.unwrap_or(target.environment),
            ..target
        };
        let team_id = overrides
            .team_id
            .as_deref()
            .map(|team| checked_team_variable(path, team))
            .transpose()?;
        Ok(Config {
            path: path.to_owned(),
            container: target.container,
            team_from_variable: team_id.is_some(),
            team_id,
            environment: target.environment,
            configured_environment: planned,
            database: target.database,
            zone: target.zone,
            endpoint,
            auth,
            types: BTreeMap::new(),
            problems: Vec::new(),
        })
    }

    /// Targets `environment`, with its key from the file (`auth.development` /
    /// `auth.production`, else `auth:`'s own). Environment variables given as overrides
    /// still win over it ([`Config::resolve`] applies them after).
    pub fn set_environment(&mut self, environment: Environment) {
        self.environment = environment;
        let key = self.auth.keys.for_environment(environment);
        self.auth.key_id = key.key_id;
        self.auth.private_key_file = key.private_key_file;
    }

    /// Mistakes in field declarations: unknown type names, reference targets that are not
    /// configured. `local::load_all` reports them with the data problems.
    pub fn problems(&self) -> &[Problem] {
        &self.problems
    }

    /// The directory relative paths are resolved against.
    pub fn directory(&self) -> &Path {
        self.path.parent().unwrap_or(Path::new(""))
    }

    /// Every key and token file the configuration names (in force or not), which no asset
    /// may name (`local::asset_file`).
    pub fn private_files(&self) -> Vec<PathBuf> {
        let keys = &self.auth.keys;
        let key_files = [
            Some(&keys.default),
            keys.development.as_ref(),
            keys.production.as_ref(),
        ]
        .into_iter()
        .flatten()
        .filter_map(|key| key.private_key_file.clone());
        self.auth
            .private_key_file
            .iter()
            .chain(&self.auth.management_token_file)
            .cloned()
            .chain(key_files)
            .collect()
    }

    /// How a plan records where its reads went: the base URL, or `embedded:DIR` with the
    /// embedded store's directory relative to the config's, normalised (`.` and `..`
    /// resolved lexically, so `embedded` and `embedded:./.ckplan/emulator/` agree and
    /// `embedded:other` differs).
    pub fn endpoint_text(&self) -> String {
        match &self.endpoint {
            Endpoint::Url(url) => url.clone(),
            Endpoint::Embedded { dir } => {
                let dir = normalised(dir);
                let base = normalised(self.directory());
                let shown = dir.strip_prefix(&base).unwrap_or(&dir);
                format!("embedded:{}", shown.display())
            }
        }
    }

    pub fn target(&self) -> Target {
        Target {
            container: self.container.clone(),
            environment: self.environment,
            database: self.database,
            zone: self.zone.clone(),
        }
    }
}

/// `CKPLAN_TEAM_ID`'s value, if it is a team ID; else an error naming the variable.
fn checked_team_variable(path: &Path, team: &str) -> Result<String, ConfigError> {
    match crate::schema::team_problem(team) {
        None => Ok(team.to_owned()),
        Some(problem) => Err(ConfigError::Invalid {
            path: path.to_owned(),
            line: None,
            message: format!("environment variable `CKPLAN_TEAM_ID`: {problem}"),
        }),
    }
}

/// 1-based line and column (in characters) of byte `offset`.
fn text_position(bytes: &[u8], offset: usize) -> (usize, usize) {
    let before = String::from_utf8_lossy(&bytes[..offset.min(bytes.len())]);
    let line = before.matches('\n').count() + 1;
    let column = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
    (line, column)
}

/// The JSON Schema of `ckplan.yaml`, as committed in `schemas/config.schema.json` (feature
/// `schema`, on in the tests).
#[cfg(feature = "schema")]
pub fn config_schema() -> schemars::schema::RootSchema {
    schemars::schema_for!(ConfigFile)
}

/// serde_yaml's message without its trailing ` at line L column C` (the error carries it).
/// Quoted values are shortened (see `shorten_quoted`).
fn yaml_message(error: &serde_yaml::Error) -> String {
    let text = error.to_string();
    let text = match error.location() {
        Some(l) => text.replacen(
            &format!(" at line {} column {}", l.line(), l.column()),
            "",
            1,
        ),
        None => text,
    };
    shorten_quoted(&text)
}

/// serde_yaml quotes the offending value whole: given a private key as the config
/// (`--config key.pem`), the error printed the key. Any quoted value longer than
/// `LONGEST_QUOTE` characters is cut to its first `QUOTE_PREFIX`, which for a PEM file is
/// its `-----BEGIN` line.
fn shorten_quoted(text: &str) -> String {
    const LONGEST_QUOTE: usize = 40;
    const QUOTE_PREFIX: usize = 16;
    let mut out = String::with_capacity(text.len().min(256));
    let mut parts = text.split('"');
    if let Some(first) = parts.next() {
        out.push_str(first);
    }
    for (index, part) in parts.enumerate() {
        out.push('"');
        let quoted = index % 2 == 0;
        if quoted && part.chars().count() > LONGEST_QUOTE {
            out.extend(part.chars().take(QUOTE_PREFIX));
            out.push('…');
        } else {
            out.push_str(part);
        }
    }
    out
}

fn resolve(path: &Path, text: &str, file: ConfigFile) -> Result<Config, ConfigError> {
    let directory = path.parent().unwrap_or(Path::new(""));
    let invalid = |line: Option<usize>| {
        move |message: String| ConfigError::Invalid {
            path: path.to_owned(),
            line,
            message,
        }
    };
    if let Some(problem) = crate::record::container_problem(&file.container) {
        let line = key_line::top_level(text, "container");
        return Err(invalid(line)(problem));
    }
    // The team goes into the schema API's path: checked here, where the file and line of
    // the key are known, not when the first schema request is built.
    if let Some(problem) = file
        .team_id
        .as_deref()
        .and_then(crate::schema::team_problem)
    {
        let line = key_line::top_level(text, "team_id");
        return Err(invalid(line)(format!("`team_id`: {problem}")));
    }
    let endpoint = parse_endpoint(file.endpoint.as_deref(), directory)
        .map_err(invalid(key_line::top_level(text, "endpoint")))?;
    let auth = file.auth.unwrap_or_default();
    let mut types = BTreeMap::new();
    for (name, type_file) in file.types {
        // An index is reported at its field's line (block or flow style), not at `fields:`.
        let bad_name = type_file.fields.iter().find_map(|(field, entry)| {
            let problem = parse_indexes(entry.index_names()).err();
            problem.map(|message| (field.clone(), message))
        });
        let resolved = match bad_name {
            Some(problem) => Err(problem),
            None => {
                let type_config =
                    resolve_type(&name, type_file, directory).map_err(|(key, message)| {
                        invalid(key_line::in_type(text, &name, key))(message)
                    })?;
                index_type_problem(&type_config).map_or(Ok(type_config), Err)
            }
        };
        let type_config = resolved.map_err(|(field, message)| {
            let line = key_line::field_place(text, &name, &field).map(|(line, _)| line);
            let shown = crate::record::identifier::escaped(&field);
            invalid(line)(format!("type `{name}`, field `{shown}`: {message}"))
        })?;
        types.insert(RecordType::new(name), type_config);
    }
    let problems = field_problems(path, text, &types);
    let mut config = Config {
        path: path.to_owned(),
        container: file.container,
        team_id: file.team_id,
        team_from_variable: false,
        environment: file.environment,
        configured_environment: file.environment,
        database: file.database,
        zone: file.zone,
        endpoint,
        auth: Auth {
            management_token_file: auth.management_token_file.map(|p| directory.join(p)),
            keys: EnvironmentKeys {
                default: Key {
                    key_id: auth.key_id,
                    private_key_file: auth.private_key_file.map(|p| directory.join(p)),
                },
                development: auth.development.map(|k| key_in(k, directory)),
                production: auth.production.map(|k| key_in(k, directory)),
            },
            ..Auth::default()
        },
        types,
        problems,
    };
    config.set_environment(config.environment);
    Ok(config)
}

fn key_in(key: EnvironmentKeyFile, directory: &Path) -> Key {
    Key {
        key_id: key.key_id,
        private_key_file: key.private_key_file.map(|p| directory.join(p)),
    }
}

/// `path` with `.` dropped and `..` taking back the component before it, without looking at
/// the file system.
fn normalised(path: &Path) -> PathBuf {
    use std::path::Component;
    let mut out = PathBuf::new();
    for component in path.components() {
        match component {
            Component::CurDir => {}
            Component::ParentDir
                if matches!(out.components().next_back(), Some(Component::Normal(_))) =>
            {
                out.pop();
            }
            other => out.push(other),
        }
    }
    out
}

/// `https://...`, `http://...`, `embedded` or `embedded:DIR` (relative to the config file).
pub fn parse_endpoint(text: Option<&str>, directory: &Path) -> Result<Endpoint, String> {
    let text = text.unwrap_or(DEFAULT_ENDPOINT).trim();
    if text == "embedded" {
        return Ok(Endpoint::Embedded {
            dir: directory.join(".ckplan").join("emulator"),
        });
    }
    if let Some(dir) = text.strip_prefix("embedded:") {
        if dir.is_empty() {
            return Err("`endpoint: embedded:` needs a directory after the colon".into());
        }
        return Ok(Endpoint::Embedded {
            dir: directory.join(dir),
        });
    }
    if !(text.starts_with("http://") || text.starts_with("https://")) {
        return Err(format!(
            "endpoint `{text}` is not an http(s) URL, `embedded` or `embedded:DIR`"
        ));
    }
    // The client's own parser: what validates here is what `plan` and `apply` accept.
    crate::cloudkit::client::parse_endpoint(text).map_err(|error| error.to_string())?;
    Ok(Endpoint::Url(text.trim_end_matches('/').to_owned()))
}

/// The type's resolved form, or the key at fault and the message.
fn resolve_type(
    name: &str,
    file: TypeFile,
    directory: &Path,
) -> Result<TypeConfig, (&'static str, String)> {
    let files = match file.file {
        FileList::One(path) => vec![path],
        FileList::Many(paths) => paths,
    };
    if files.is_empty() {
        return Err(("file", format!("type `{name}`: `file` lists no files")));
    }
    let record_name = file
        .record_name
        .as_deref()
        .map(NameTemplate::parse)
        .transpose()
        .map_err(|message| ("record_name", format!("type `{name}`: {message}")))?;
    let location_tolerance = file
        .location_tolerance
        .unwrap_or(DEFAULT_LOCATION_TOLERANCE);
    if !(location_tolerance.is_finite() && location_tolerance >= 0.0) {
        return Err((
            "location_tolerance",
            format!(
                "type `{name}`: location_tolerance `{location_tolerance}` is not a number >= 0"
            ),
        ));
    }
    let mut indexes = BTreeMap::new();
    for (field, entry) in &file.fields {
        let declared = parse_indexes(entry.index_names()).map_err(|message| {
            (
                "fields",
                format!("type `{name}`, field `{field}`: {message}"),
            )
        })?;
        if !declared.is_empty() {
            indexes.insert(field.clone(), declared);
        }
    }
    let fields = file
        .fields
        .iter()
        .map(|(field, entry)| (field.clone(), parse_field_spec(entry.type_name())))
        .collect();
    Ok(TypeConfig {
        files: files.into_iter().map(|f| directory.join(f)).collect(),
        record_name,
        fields,
        indexes,
        ignore_fields: file.ignore_fields.into_iter().collect(),
        location_tolerance,
    })
}

/// The first field whose declared indexes its type cannot have in CloudKit's schema
/// (`schema::index_problem`), with why. A field of an unknown type is reported elsewhere.
fn index_type_problem(type_config: &TypeConfig) -> Option<(String, String)> {
    type_config.indexes.iter().find_map(|(field, indexes)| {
        let spec = type_config.fields.get(field)?;
        let data_type = crate::schema::DataType::of_field_type(&spec.field_type)?;
        indexes.iter().find_map(|index| {
            crate::schema::index_problem(data_type, *index).map(|problem| (field.clone(), problem))
        })
    })
}

/// `QUERYABLE`, `SORTABLE`, `SEARCHABLE`, each at most once.
fn parse_indexes(names: &[String]) -> Result<BTreeSet<Index>, String> {
    let mut indexes = BTreeSet::new();
    for name in names {
        let index = Index::ALL
            .into_iter()
            .find(|index| index.keyword() == name.trim())
            .ok_or_else(|| {
                format!(
                    "unknown index `{}` (expected QUERYABLE, SORTABLE or SEARCHABLE)",
                    crate::record::identifier::escaped(name)
                )
            })?;
        if !indexes.insert(index) {
            return Err(format!("index `{index}` is listed twice"));
        }
    }
    Ok(indexes)
}

/// `INT64`, `STRING_LIST`, `REFERENCE`, `REFERENCE(Stadium)`, `REFERENCE_LIST(Team)`.
/// Anything else becomes `FieldType::Unknown` holding the text as written.
pub fn parse_field_spec(text: &str) -> FieldSpec {
    let trimmed = text.trim();
    let unknown = || FieldSpec {
        field_type: FieldType::Unknown(trimmed.to_owned()),
        target: None,
    };
    let (base, target) = match trimmed.split_once('(') {
        Some((base, rest)) => match rest.strip_suffix(')') {
            Some(target) if !target.trim().is_empty() => {
                (base.trim(), Some(RecordType::new(target.trim())))
            }
            _ => return unknown(),
        },
        None => (trimmed, None),
    };
    // `ASSET` is the schema's name of the field type CloudKit's records call `ASSETID`.
    let base = match base {
        "ASSET" => "ASSETID",
        "ASSET_LIST" => "ASSETID_LIST",
        other => other,
    };
    let Some(field_type) = FieldType::parse_known(base) else {
        return unknown();
    };
    let spec = FieldSpec { field_type, target };
    if spec.target.is_some() && !spec.is_reference() {
        return unknown();
    }
    spec
}

fn field_problems(
    path: &Path,
    text: &str,
    types: &BTreeMap<RecordType, TypeConfig>,
) -> Vec<Problem> {
    use crate::record::identifier::{escaped, field_name_problem, type_name_problem};
    let mut problems = Vec::new();
    for (record_type, type_config) in types {
        if let Some(message) = type_name_problem(record_type.as_str()) {
            let line = find_type_line(text, record_type.as_str());
            let shown = RecordType::new(escaped(record_type.as_str()));
            let problem = Problem::error(path, &shown, message);
            problems.push(problem.at(line.map(Place::Line)));
        }
        for (field, spec) in &type_config.fields {
            let place = key_line::field_place(text, record_type.as_str(), field);
            let problem = |message: String| {
                // A name with invisible characters is shown escaped.
                Problem::error(path, record_type, message)
                    .at(place.map(|(line, column)| Place::LineColumn(line, column)))
                    .field(&escaped(field))
            };
            if let Some(message) = field_name_problem(field) {
                problems.push(problem(message));
            }
            if let FieldType::Unknown(name) = &spec.field_type {
                problems.push(problem(format!(
                    "unknown field type `{name}` (expected STRING, INT64, DOUBLE, TIMESTAMP, \
                     BYTES, REFERENCE, LOCATION, ASSETID, a `_LIST` of one, or REFERENCE(Type))"
                )));
            }
            if let Some(target) = spec.target.as_ref().filter(|t| !types.contains_key(*t)) {
                problems.push(problem(format!(
                    "references type `{target}`, which is not configured under `types:`"
                )));
            }
        }
    }
    problems
}

/// The 1-based line declaring `record_type` under `types:` (plain or quoted key).
fn find_type_line(text: &str, record_type: &str) -> Option<usize> {
    let type_key = format!("{record_type}:");
    let quoted_key = format!("\"{record_type}\":");
    text.lines()
        .position(|line| {
            let line = line.trim_start();
            line.starts_with(&type_key) || line.starts_with(&quoted_key)
        })
        .map(|index| index + 1)
}

#[cfg(test)]
mod tests;
