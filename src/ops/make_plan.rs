//! Everything up to an in-memory plan, for `plan` and smart sync (and the parts `diff`
//! shares): the selected types, the local data with its problems, the input digests,
//! connecting, reading CloudKit, refusing a survey no apply could converge, and
//! [`super::plan::build`]. Failures are typed ([`PlanError`]); what a person must see on
//! the way (each local problem as it is found, the read's notes, each refused field, the
//! plan's warnings) goes to a [`PlanObserver`], which the command renders.

use super::plan::{build, PlanRequest};
use crate::cloudkit::token::ManagementToken;
use crate::cloudkit::{ClientOptions, CloudKitError};
use crate::config::Config;
use crate::local::{self, LocalData, Problem};
use crate::plan::{FoundReference, Plan, PlanSchema};
use crate::record::{RecordType, Timestamp};
use crate::sync::{self, ReadProgress, Survey};

/// What the person running the command sees while a plan is made, in order.
pub trait PlanObserver: ReadProgress {
    /// A problem in the local data: an error (the plan then stops) or a warning.
    fn local_problem(&self, problem: &Problem);
    /// A warning: a note of the read, or one the plan carries.
    fn warning(&self, warning: &dyn std::fmt::Display);
    /// One field or record name that makes the survey unplannable, before the
    /// [`PlanError`] that counts them.
    fn refusal(&self, refusal: &dyn std::fmt::Display);
    /// The read is over (a spinner can go).
    fn read_finished(&self) {}
}

/// Why no plan was made.
#[derive(Debug, thiserror::Error)]
pub enum PlanError {
    /// `--type` named a type the configuration does not define.
    #[error("{0}")]
    Types(String),
    #[error("local data has {errors} error{}; nothing was sent (run `ckplan validate` for the full report)", if *.errors == 1 { "" } else { "s" })]
    LocalData { errors: usize },
    #[error("failed to read an input file")]
    Inputs(#[source] std::io::Error),
    #[error(transparent)]
    Connect(Box<super::ConnectFailed>),
    /// Reading CloudKit failed: its own message, hints and kind.
    #[error(transparent)]
    Read(CloudKitError),
    #[error("failed to read the other record types for references to orphans")]
    References(#[source] CloudKitError),
    #[error("{count} record name{} taken by a record of another type in CloudKit; nothing was planned", if *.count == 1 { " is" } else { "s are" })]
    NameClashes { count: usize },
    #[error("{count} field{} would change type in CloudKit, which it refuses; nothing was planned", if *.count == 1 { "" } else { "s" })]
    TypeConflicts { count: usize },
    /// Reading the environment's schema for the plan's schema part failed.
    #[error("cannot plan the schema; nothing was planned")]
    Schema(#[source] super::schema::SchemaOpError),
}

/// What a plan is asked to do, beside the configuration.
pub struct PlanArgs<'a> {
    /// `--type` (empty: every configured type).
    pub types: &'a [String],
    pub delete_orphans: bool,
    pub delete_referenced: bool,
    /// How to connect (parallelism, seed).
    pub client: ClientOptions,
    /// With a management token the plan carries a schema part (issue 20).
    pub management_token: Option<ManagementToken>,
    /// Probe every asset of CloudKit's size instead of trusting `.ckplan/assets.json`.
    pub refresh_assets: bool,
    pub created_at: Timestamp,
}

/// The record types named with `--type` (each must be configured), or every configured type.
pub fn selected_types(config: &Config, types: &[String]) -> Result<Vec<RecordType>, PlanError> {
    let only: Vec<RecordType> = types.iter().map(|t| RecordType::new(t.as_str())).collect();
    sync::selected_types(config, &only).map_err(PlanError::Types)
}

/// Loads every data file, shows every problem, and fails if any is an error. With
/// `defer_dangling`, warnings about references to records no local file defines are
/// returned instead, for a plan to say what it does with those records.
pub fn load_local(
    config: &Config,
    observer: &dyn PlanObserver,
    defer_dangling: bool,
) -> Result<(LocalData, Vec<Problem>), PlanError> {
    let local = local::load_all(config);
    let errors = local.error_count();
    let mut deferred = Vec::new();
    for problem in local.problems() {
        if defer_dangling && errors == 0 && problem.dangling_target.is_some() {
            deferred.push(problem.clone());
        } else {
            observer.local_problem(problem);
        }
    }
    if errors > 0 {
        return Err(PlanError::LocalData { errors });
    }
    Ok((local, deferred))
}

/// Stops when a field's local type differs from CloudKit's, or a local record's name is
/// held by a record of another type: each is shown as a refusal, and nothing is planned
/// (no apply could ever make the two sides equal).
pub fn refuse_type_conflicts(
    survey: &Survey,
    observer: &dyn PlanObserver,
) -> Result<(), PlanError> {
    for clash in &survey.name_clashes {
        observer.refusal(clash);
    }
    if !survey.name_clashes.is_empty() {
        let count = survey.name_clashes.len();
        return Err(PlanError::NameClashes { count });
    }
    for conflict in &survey.type_conflicts {
        observer.refusal(conflict);
    }
    if !survey.type_conflicts.is_empty() {
        let count = survey.type_conflicts.len();
        return Err(PlanError::TypeConflicts { count });
    }
    Ok(())
}

/// What to read from CloudKit.
struct Read<'a> {
    selected: &'a [RecordType],
    client: ClientOptions,
    /// The plan may delete orphans (`--delete-orphans`): gather the references that keep
    /// one from deletion, reading the other configured types for theirs too.
    delete_orphans: bool,
    /// Read the schema too, for the plan's schema part.
    management_token: Option<ManagementToken>,
    /// Probe every asset instead of trusting the ledger (`--refresh-assets`).
    refresh_assets: bool,
}

/// What a read found: the survey, references to orphans outside the selected types, and
/// the plan's schema part (with a management token).
struct Found {
    survey: Survey,
    untouched: Vec<FoundReference>,
    schema: Option<PlanSchema>,
}

/// Connects, reads the schema (with a management token) and CloudKit's records and
/// compares them with `local`, and refuses a survey no apply could converge; returns it
/// with the references to orphans found outside the selected types (when asked).
async fn read_cloudkit(
    config: &Config,
    local: LocalData,
    read: Read<'_>,
    observer: &dyn PlanObserver,
) -> Result<Found, PlanError> {
    let selected = read.selected;
    let token = read.management_token;
    let connection = super::connect_with_token(config, read.client, token.clone())
        .await
        .map_err(|error| PlanError::Connect(Box::new(error)))?;
    let schema = match super::schema::read_plan_part(config, &connection, selected, token).await {
        Ok(schema) => schema,
        Err(error) => {
            connection.close().await;
            return Err(PlanError::Schema(error));
        }
    };
    // A type production does not know yet reads as no records (the plan lists it).
    let undeployed = super::schema::undeployed_types(config.environment, schema.as_ref());
    let client = &connection.client;
    let options = sync::SurveyOptions {
        undeployed: &undeployed,
        refresh_assets: read.refresh_assets,
        deletes: read.delete_orphans,
    };
    let survey = sync::survey_with(config, local, client, selected, observer, options).await;
    let untouched = match &survey {
        Ok(survey) if read.delete_orphans => {
            let client = &connection.client;
            sync::references::untouched_references(config, client, selected, &survey.diffs)
                .await
                .map_err(PlanError::References)
        }
        _ => Ok(Vec::new()),
    };
    observer.read_finished();
    connection.close().await;
    let survey = survey.map_err(PlanError::Read)?;
    for note in &survey.notes {
        observer.warning(note);
    }
    refuse_type_conflicts(&survey, observer)?;
    let untouched = untouched?;
    Ok(Found {
        survey,
        untouched,
        schema,
    })
}

/// `diff`: the survey of the selected types (`--type`, or all) against the local data.
pub async fn survey(
    config: &Config,
    types: &[String],
    client: ClientOptions,
    observer: &dyn PlanObserver,
) -> Result<Survey, PlanError> {
    let selected = selected_types(config, types)?;
    let (local, _) = load_local(config, observer, false)?;
    let read = Read {
        selected: &selected,
        client,
        delete_orphans: false,
        management_token: None,
        refresh_assets: false,
    };
    Ok(read_cloudkit(config, local, read, observer).await?.survey)
}

/// Reads the local data and CloudKit and makes the plan: shared by `plan` and smart sync.
pub async fn make_plan(
    config: &Config,
    args: PlanArgs<'_>,
    observer: &dyn PlanObserver,
) -> Result<Plan, PlanError> {
    let selected = selected_types(config, args.types)?;
    // Local data first: it names every unreadable file with its problem.
    let (local, dangling) = load_local(config, observer, true)?;
    let inputs = sync::input_digests(config).map_err(PlanError::Inputs)?;
    let read = Read {
        selected: &selected,
        client: args.client,
        delete_orphans: args.delete_orphans,
        management_token: args.management_token,
        refresh_assets: args.refresh_assets,
    };
    let found = read_cloudkit(config, local, read, observer).await?;
    let (survey, untouched) = (found.survey, found.untouched);
    let request = PlanRequest {
        selected,
        filtered: !args.types.is_empty(),
        delete_orphans: args.delete_orphans,
        delete_referenced: args.delete_referenced,
        inputs,
        created_at: args.created_at,
    };
    let planned = build(config, survey, untouched, dangling, request);
    for warning in &planned.warnings {
        observer.warning(warning);
    }
    let mut plan = planned.plan;
    plan.schema = found.schema;
    Ok(plan)
}
