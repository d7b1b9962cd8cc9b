//! The schema part of a plan, applied before its records. Development: the environment's
//! schema is exported fresh; if it already holds every addition (an earlier run imported
//! them) nothing is sent; else it must still be the schema the plan read (its digest), and
//! the additions are merged into it (nothing there is lost: the managed `Users` type, other
//! apps' fields, system-field indexes), validated, imported, and confirmed by exporting
//! again. Production is never written (CloudKit refuses import there): apply refuses while
//! the fresh export lacks any addition, which must be deployed from CloudKit Console.
//! Ctrl-C (the run's [`StopFlag`]) starts no new request: a read in flight finishes and
//! nothing more is sent; an import already sent finishes and is confirmed.

use super::StopFlag;
use crate::cloudkit::management::{ManagementError, SchemaApi};
use crate::plan::PlanSchema;
use crate::record::Environment;
use crate::schema::{self, Addition, Schema, SchemaError};

/// Why the schema part could not be applied; no record was written then.
#[derive(Debug, thiserror::Error)]
pub enum SchemaApplyError {
    #[error(transparent)]
    Api(#[from] ManagementError),
    #[error("the schema exported from CloudKit is unreadable at {0}")]
    Unreadable(#[source] SchemaError),
    #[error(
        "the {environment} schema changed since the plan was made (planned against \
         `{planned}`, now `{found}`)"
    )]
    Moved {
        environment: &'static str,
        planned: String,
        found: String,
    },
    #[error(
        "the production schema lacks {} item(s) the plan needs: {}",
        list.len(),
        shortened(list)
    )]
    NotDeployed { list: Vec<String> },
    #[error("CloudKit refused the merged schema: {reason}")]
    Invalid { reason: String },
    #[error("after the import CloudKit's schema still lacks {}", list.join("; "))]
    NotConfirmed { list: Vec<String> },
}

/// The first few items, and how many more (the review lists them all).
fn shortened(list: &[String]) -> String {
    const SHOWN: usize = 5;
    let mut text = list
        .iter()
        .take(SHOWN)
        .cloned()
        .collect::<Vec<_>>()
        .join("; ");
    if list.len() > SHOWN {
        text.push_str(&format!(
            "; and {} more (`ckplan show` lists them)",
            list.len() - SHOWN
        ));
    }
    text
}

/// What applying the schema part did, with the digests of the schemas it read.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SchemaApplied {
    /// The environment already held every addition (production: deployed); `digest`:
    /// the schema found.
    AlreadyThere { digest: String },
    /// This many additions were imported (development) into the schema of digest
    /// `before`, and confirmed by an export of digest `after`.
    Imported {
        count: usize,
        before: String,
        after: String,
    },
    /// Stopped (Ctrl-C) before the import was sent: nothing was written. `digest`: the
    /// schema exported before the stop, if any was.
    Stopped { digest: Option<String> },
}

async fn export(api: &SchemaApi) -> Result<Schema, SchemaApplyError> {
    let text = api.export().await?;
    schema::parse(&text).map_err(SchemaApplyError::Unreadable)
}

fn listed(additions: &[Addition]) -> Vec<String> {
    additions.iter().map(ToString::to_string).collect()
}

/// Applies `part` to the environment `api` speaks to (see the module); once `stop` is
/// raised no new request starts.
pub async fn apply(
    api: &SchemaApi,
    part: &PlanSchema,
    environment: Environment,
    stop: &StopFlag,
) -> Result<SchemaApplied, SchemaApplyError> {
    if stop.is_stopped() {
        return Ok(SchemaApplied::Stopped { digest: None });
    }
    let actual = export(api).await?;
    let lacking = schema::lacking(&actual, &part.additions);
    if lacking.is_empty() {
        return Ok(SchemaApplied::AlreadyThere {
            digest: schema::digest(&actual),
        });
    }
    if environment == Environment::Production {
        return Err(SchemaApplyError::NotDeployed {
            list: listed(&lacking),
        });
    }
    let found = schema::digest(&actual);
    if found != part.digest {
        return Err(SchemaApplyError::Moved {
            environment: "development",
            planned: part.digest.clone(),
            found,
        });
    }
    let stopped = || SchemaApplied::Stopped {
        digest: Some(found.clone()),
    };
    if stop.is_stopped() {
        return Ok(stopped());
    }
    let text = schema::print(&schema::with_additions(&actual, &part.additions));
    if let Some(reason) = api.validate(&text).await? {
        return Err(SchemaApplyError::Invalid { reason });
    }
    if stop.is_stopped() {
        return Ok(stopped());
    }
    api.import(&text).await?;
    let after = export(api).await?;
    let still = schema::lacking(&after, &part.additions);
    if !still.is_empty() {
        return Err(SchemaApplyError::NotConfirmed {
            list: listed(&still),
        });
    }
    Ok(SchemaApplied::Imported {
        count: lacking.len(),
        before: found,
        after: schema::digest(&after),
    })
}
