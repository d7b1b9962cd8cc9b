//! `ckplan schema`: the schema the configuration needs (`needed`), its difference from
//! what an environment holds (`compare`), and bringing development up to it (`apply`:
//! merged into the exported schema so nothing there is lost, validated, imported,
//! confirmed by a fresh export). Production is never written: its difference is the list
//! of CloudKit Console steps.

use crate::apply::schema::{import_over, SchemaApplyError};
use crate::cloudkit::management::{ManagementError, SchemaApi, DEFAULT_MANAGEMENT_ENDPOINT};
use crate::cloudkit::token::ManagementToken;
use crate::config::{Config, Endpoint, DEFAULT_ENDPOINT};
use crate::plan::PlanSchema;
use crate::record::{Database, Environment, RecordType};
use crate::schema::{
    self, DataType, FieldDef, Index, Permission, Primitive, RecordTypeDef, Schema, SchemaDiff,
    SchemaError, CREATE_TIME, RECORD_ID,
};
use crate::sync::doctor::{Check, Status};
use std::collections::BTreeSet;

/// Why the schema could not be compared or applied.
#[derive(Debug, thiserror::Error)]
pub enum SchemaOpError {
    #[error(transparent)]
    Api(#[from] ManagementError),
    #[error("the schema exported from CloudKit is unreadable at {0}")]
    Unreadable(#[source] SchemaError),
    #[error("{count} field(s) exist in CloudKit with another type than the config needs: {}", list.join("; "))]
    Conflicts { count: usize, list: Vec<String> },
    /// The import itself: refused by validation, the schema moved before it, or something
    /// lost by it.
    #[error(transparent)]
    Import(#[from] SchemaApplyError),
    #[error("after the import CloudKit's schema still lacks {}", list.join("; "))]
    NotConfirmed { list: Vec<String> },
    #[error("no team: the schema API of `{container}` names the team that owns it")]
    NoTeam { container: String },
    #[error("{0}")]
    BadTeam(String),
    #[error(
        "the plan's schema was read for team `{planned}` but {setting} names team \
         `{configured}`; nothing was sent"
    )]
    TeamMismatch {
        planned: String,
        configured: String,
        setting: &'static str,
    },
    #[error("the embedded emulator, which serves the schema API of `endpoint: embedded`, is not running")]
    NotRunning,
}

/// The schema the configuration needs: every configured type with its configured fields
/// (CloudKit types; `ASSETID` is `ASSET`), the indexes each field declares, the
/// system-field indexes ckplan's own reads need (`___recordID` QUERYABLE for unfiltered
/// queries, `___createTime` QUERYABLE and SORTABLE for partitioned reads) and, in the
/// public database, the grants server-to-server writes need (CREATE and WRITE to
/// `_creator` and `_icloud`) and the app's readers (READ to `_world`). Fields of an
/// unknown type (reported by `validate`) are left out. CloudKit's managed `Users` type
/// gets the same fields and indexes (CloudKit Console adds indexes to its system fields
/// too, and ckplan cannot read it without `___recordID` QUERYABLE) but never a grant: its
/// roles' permissions are CloudKit's, never ckplan's to change.
pub fn needed(config: &Config) -> Schema {
    let mut schema = Schema::default();
    for (record_type, type_config) in &config.types {
        let managed = record_type.as_str() == schema::USERS;
        let mut definition = RecordTypeDef::default();
        let system = [
            (RECORD_ID, Primitive::Reference, vec![Index::Queryable]),
            (
                CREATE_TIME,
                Primitive::Timestamp,
                vec![Index::Queryable, Index::Sortable],
            ),
        ];
        for (name, primitive, indexes) in system {
            definition.fields.insert(
                name.to_owned(),
                FieldDef {
                    data_type: DataType::scalar(primitive),
                    indexes: indexes.into_iter().collect(),
                },
            );
        }
        for (field, spec) in &type_config.fields {
            let Some(data_type) = DataType::of_field_type(&spec.field_type) else {
                continue;
            };
            let indexes = type_config.indexes.get(field).cloned().unwrap_or_default();
            definition
                .fields
                .insert(field.clone(), FieldDef { data_type, indexes });
        }
        if config.database == Database::Public && !managed {
            let writes: BTreeSet<_> = [Permission::Create, Permission::Write].into();
            definition.grants.insert("_creator".into(), writes.clone());
            definition.grants.insert("_icloud".into(), writes);
            definition
                .grants
                .insert("_world".into(), [Permission::Read].into());
        }
        schema
            .types
            .insert(record_type.as_str().to_owned(), definition);
    }
    schema
}

/// The environment's schema, exported and read.
pub async fn export(api: &SchemaApi) -> Result<Schema, SchemaOpError> {
    let text = api.export().await?;
    schema::parse(&text).map_err(SchemaOpError::Unreadable)
}

/// What `needed` lacks in the environment, and what cannot be made so.
pub async fn compare(api: &SchemaApi, needed: &Schema) -> Result<SchemaDiff, SchemaOpError> {
    let actual = export(api).await?;
    Ok(schema::missing(needed, &actual))
}

/// What `needed` lacks in `actual`, refused when CloudKit holds a field with another type
/// (no import can change a field's type).
fn addable(needed: &Schema, actual: &Schema) -> Result<SchemaDiff, SchemaOpError> {
    let diff = schema::missing(needed, actual);
    if !diff.conflicts.is_empty() {
        return Err(SchemaOpError::Conflicts {
            count: diff.conflicts.len(),
            list: diff.conflicts.iter().map(ToString::to_string).collect(),
        });
    }
    Ok(diff)
}

/// Brings a development environment up to `needed`; returns what was added (empty when
/// nothing was missing). A retype is refused before anything is sent.
pub async fn apply(api: &SchemaApi, needed: &Schema) -> Result<SchemaDiff, SchemaOpError> {
    let actual = export(api).await?;
    let diff = addable(needed, &actual)?;
    if diff.additions.is_empty() {
        return Ok(diff);
    }
    let text = schema::print(&schema::merged(&actual, needed)).map_err(SchemaApplyError::from)?;
    // `schema apply` installs no Ctrl-C handling: its import is never stopped.
    let after = import_over(api, &actual, &text, &crate::apply::StopFlag::new())
        .await?
        .unwrap_or_default();
    let after = schema::missing(needed, &after);
    if !after.additions.is_empty() {
        return Err(SchemaOpError::NotConfirmed {
            list: after.additions.iter().map(ToString::to_string).collect(),
        });
    }
    Ok(diff)
}

/// The schema API of `environment` for `config`: CloudKit's own host when the records go to
/// CloudKit, else the configured endpoint's server (an emulator serves the schema API beside
/// the records API); `emulator_url` is the embedded emulator's address when one runs. The
/// embedded emulator has no team; any other endpoint needs `team_id`.
pub fn api(
    config: &Config,
    environment: Environment,
    emulator_url: Option<&str>,
    token: ManagementToken,
) -> Result<SchemaApi, SchemaOpError> {
    api_for_team(
        config,
        config.team_id.as_deref(),
        environment,
        emulator_url,
        token,
    )
}

/// The team a plan's schema part is applied for: the plan's (the team whose schema it
/// read), which the configuration must not contradict; the configuration's for plans that
/// record none (made before the team was recorded).
pub fn plan_team<'a>(
    config: &'a Config,
    part: &'a PlanSchema,
) -> Result<Option<&'a str>, SchemaOpError> {
    match (part.team.as_deref(), config.team_id.as_deref()) {
        (Some(planned), Some(configured)) if planned != configured => {
            Err(SchemaOpError::TeamMismatch {
                planned: planned.to_owned(),
                configured: configured.to_owned(),
                setting: config.team_setting(),
            })
        }
        (Some(planned), _) => Ok(Some(planned)),
        (None, configured) => Ok(configured),
    }
}

/// As [`api`], for `team` rather than the configuration's.
pub fn api_for_team(
    config: &Config,
    team: Option<&str>,
    environment: Environment,
    emulator_url: Option<&str>,
    token: ManagementToken,
) -> Result<SchemaApi, SchemaOpError> {
    let url = match (&config.endpoint, emulator_url) {
        (_, Some(url)) => url.to_owned(),
        (Endpoint::Url(url), None) if url == DEFAULT_ENDPOINT => {
            DEFAULT_MANAGEMENT_ENDPOINT.to_owned()
        }
        (Endpoint::Url(url), None) => url.clone(),
        (Endpoint::Embedded { .. }, None) => return Err(SchemaOpError::NotRunning),
    };
    if let Some(problem) = team.and_then(schema::team_problem) {
        return Err(SchemaOpError::BadTeam(problem));
    }
    let team = match (team, &config.endpoint) {
        (Some(team), _) => team.to_owned(),
        (None, Endpoint::Embedded { .. }) => "EMBEDDED".to_owned(),
        (None, _) => {
            return Err(SchemaOpError::NoTeam {
                container: config.container.clone(),
            })
        }
    };
    Ok(SchemaApi::new(
        &url,
        &team,
        &config.container,
        environment,
        token,
    )?)
}

/// What the plan's record types need of the schema: [`needed`] for `types` only.
pub fn needed_for(config: &Config, types: &[RecordType]) -> Schema {
    let mut schema = needed(config);
    schema
        .types
        .retain(|name, _| types.iter().any(|t| t.as_str() == name));
    schema
}

/// The plan's schema part: the environment's schema exported, its digest, and what
/// `needed` lacks in it. A field CloudKit holds with another type is an error: no apply
/// could make it so.
pub async fn plan_part(api: &SchemaApi, needed: &Schema) -> Result<PlanSchema, SchemaOpError> {
    let actual = export(api).await?;
    let diff = addable(needed, &actual)?;
    Ok(PlanSchema {
        digest: schema::digest(&actual),
        team: None,
        additions: diff.additions,
    })
}

/// A plan's schema part read over `connection` (`None` without a management token): what
/// the `selected` types need that the environment's schema lacks, as [`plan_part`].
pub async fn read_plan_part(
    config: &Config,
    connection: &crate::sync::Connection,
    selected: &[RecordType],
    token: Option<ManagementToken>,
) -> Result<Option<PlanSchema>, SchemaOpError> {
    let Some(token) = token else {
        return Ok(None);
    };
    let url = connection.emulator.as_ref().map(|e| e.url());
    let api = api(config, config.environment, url.as_deref(), token)?;
    let mut part = plan_part(&api, &needed_for(config, selected)).await?;
    part.team = config.team_id.clone();
    Ok(Some(part))
}

/// The record types a production plan's schema part lists as missing: production does not
/// know them yet, so the plan reads them as no records. None in development (which
/// reads an unknown type as empty anyway) or without a schema part.
pub fn undeployed_types(environment: Environment, part: Option<&PlanSchema>) -> Vec<RecordType> {
    let Some(part) = part.filter(|_| environment == Environment::Production) else {
        return Vec::new();
    };
    part.additions
        .iter()
        .filter_map(|addition| match addition {
            schema::Addition::RecordType { record_type } => {
                Some(RecordType::new(record_type.as_str()))
            }
            _ => None,
        })
        .collect()
}

/// The command lines a schema hint suggests, as the user must type them: with the
/// `--config` and `--environment` the failed command ran with (`Globals::command_line`).
#[derive(Clone, Debug)]
pub struct FixCommands {
    /// `ckplan schema apply` against the run's environment.
    pub schema_apply: String,
    /// `ckplan schema apply` against development (production is changed from there).
    pub schema_apply_in_development: String,
    /// `ckplan plan` against the run's environment.
    pub plan: String,
}

/// The one way out when CloudKit refuses to query `record_type` because `field` has no
/// QUERYABLE index (a type that exists without `___recordID` QUERYABLE: created by a
/// record write, CloudKit's just-in-time schema, rather than by ckplan). `plan`, `diff` and
/// `doctor` all give it. No plan can carry that index with the records: a plan that
/// cannot read the type's records cannot know which of them exist (counting them as none
/// would plan creates of records CloudKit holds), so the index goes in first, on its own.
/// `management_token`: whether one is configured, for `ckplan schema apply`; `commands`:
/// the command lines to suggest.
pub fn unqueryable_fix(
    record_type: &str,
    field: &str,
    environment: Environment,
    management_token: bool,
    commands: &FixCommands,
) -> String {
    let FixCommands {
        schema_apply,
        schema_apply_in_development,
        plan,
    } = commands;
    let index = match field {
        "recordName" => format!(
            "a QUERYABLE index on `recordName` (`{RECORD_ID}` in the schema) of `{record_type}`"
        ),
        _ => format!("a QUERYABLE index on `{field}` of `{record_type}`"),
    };
    let again = format!(
        "then `{plan}` again (no plan can read `{record_type}` before, so none can add \
         the index with the records)"
    );
    match (environment, management_token) {
        (Environment::Development, true) => format!(
            "run `{schema_apply}`: it adds {index} to development's schema, with \
             whatever else the config needs; {again}"
        ),
        (Environment::Development, false) => format!(
            "add {index}: with a management token (set CKPLAN_MANAGEMENT_TOKEN or \
             `auth: management_token_file:`) run `{schema_apply}`, or in CloudKit \
             Console open Schema > Indexes and save it there; {again}"
        ),
        (Environment::Production, _) => format!(
            "add {index} in development (`{schema_apply_in_development}` with a management \
             token, or CloudKit Console > Schema > Indexes), deploy it to production from \
             CloudKit Console (Deploy Schema Changes), then `{plan}` again"
        ),
    }
}

/// The record types that exist in the environment (no record type to add for them) but
/// lack `___recordID` QUERYABLE: no plan can read them until it is added.
fn unqueryable_types(additions: &[schema::Addition]) -> Vec<&str> {
    let added = |name: &str| {
        additions.iter().any(
            |a| matches!(a, schema::Addition::RecordType { record_type } if record_type == name),
        )
    };
    additions
        .iter()
        .filter_map(|addition| match addition {
            schema::Addition::Index {
                record_type,
                field,
                index: Index::Queryable,
            } if field == RECORD_ID && !added(record_type) => Some(record_type.as_str()),
            _ => None,
        })
        .collect()
}

/// `ckplan doctor`'s `schema` check: whether the environment's schema has what the config
/// needs. Development lacking something is a warning (the next apply adds it); production
/// lacking something, a retype, or a schema API that refuses is a failure.
pub async fn doctor_check(api: &SchemaApi, needed: &Schema, environment: Environment) -> Check {
    let check = |status, detail: String, fix: Option<&str>| Check {
        name: "schema".to_owned(),
        status,
        detail,
        fix: fix.map(str::to_owned),
    };
    let diff = match compare(api, needed).await {
        Ok(diff) => diff,
        Err(error) => {
            let fix = match &error {
                SchemaOpError::Api(ManagementError::Unauthorized { .. }) => {
                    "create a management token in CloudKit Console (Settings > Tokens & Keys) and set CKPLAN_MANAGEMENT_TOKEN or `auth: management_token_file:`"
                }
                _ => "check `team_id` and the token's container (`ckplan schema diff` shows the error)",
            };
            return check(Status::Fail, error.to_string(), Some(fix));
        }
    };
    let count = diff.additions.len();
    let first: Vec<String> = diff
        .additions
        .iter()
        .take(3)
        .map(ToString::to_string)
        .collect();
    let more = if count > 3 { ", …" } else { "" };
    let retyped: Vec<String> = diff.conflicts.iter().map(ToString::to_string).collect();
    match (retyped.is_empty(), count, environment) {
        (false, _, _) => check(
            Status::Fail,
            retyped.join("; "),
            Some("a field's type never changes in CloudKit: give the field a new name in the config and the data"),
        ),
        (true, 0, _) => check(
            Status::Pass,
            "has every type, field, index and grant the config needs".to_owned(),
            None,
        ),
        (true, _, Environment::Development) => {
            let unqueryable = unqueryable_types(&diff.additions);
            let fix = match unqueryable.first() {
                // No plan can read such a type: the schema goes first, on its own.
                Some(record_type) => format!(
                    "`ckplan schema apply` adds them now (no plan can read `{record_type}` \
                     until `{RECORD_ID}` is QUERYABLE), then `ckplan plan` and `ckplan apply` \
                     (`ckplan schema diff` lists them)"
                ),
                None => "`ckplan plan` then `ckplan apply` adds them before the records \
                         (`ckplan schema diff` lists them)"
                    .to_owned(),
            };
            let mut found = check(
                Status::Warn,
                format!("lacks {count} item(s): {}{more}", first.join(", ")),
                None,
            );
            found.fix = Some(fix);
            found
        }
        (true, _, Environment::Production) => check(
            Status::Fail,
            format!("lacks {count} item(s): {}{more}", first.join(", ")),
            Some("add them in development, then Deploy Schema Changes in CloudKit Console (`ckplan schema diff --environment production` lists them)"),
        ),
    }
}
