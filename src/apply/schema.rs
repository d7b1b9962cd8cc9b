//! The schema part of a plan, applied before its records. Development: the environment's
//! schema is exported fresh; if it already holds every addition (an earlier run imported
//! them) nothing is sent; else it must still be the schema the plan read (its digest), and
//! the additions are merged into it (nothing there is lost: the managed `Users` type, other
//! apps' fields, system-field indexes), validated, imported, and confirmed by exporting
//! again. Production is never written (CloudKit refuses import there): apply refuses while
//! the fresh export lacks any addition, which must be deployed from CloudKit Console.

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

/// What applying the schema part did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SchemaApplied {
    /// The environment already held every addition (production: deployed).
    AlreadyThere,
    /// This many additions were imported (development) and confirmed by an export.
    Imported(usize),
}

async fn export(api: &SchemaApi) -> Result<Schema, SchemaApplyError> {
    let text = api.export().await?;
    schema::parse(&text).map_err(SchemaApplyError::Unreadable)
}

fn listed(additions: &[Addition]) -> Vec<String> {
    additions.iter().map(ToString::to_string).collect()
}

/// Applies `part` to the environment `api` speaks to (see the module).
pub async fn apply(
    api: &SchemaApi,
    part: &PlanSchema,
    environment: Environment,
) -> Result<SchemaApplied, SchemaApplyError> {
    let actual = export(api).await?;
    let lacking = schema::lacking(&actual, &part.additions);
    if lacking.is_empty() {
        return Ok(SchemaApplied::AlreadyThere);
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
    let text = schema::print(&schema::with_additions(&actual, &part.additions));
    if let Some(reason) = api.validate(&text).await? {
        return Err(SchemaApplyError::Invalid { reason });
    }
    api.import(&text).await?;
    let after = export(api).await?;
    let still = schema::lacking(&after, &part.additions);
    if !still.is_empty() {
        return Err(SchemaApplyError::NotConfirmed {
            list: listed(&still),
        });
    }
    Ok(SchemaApplied::Imported(lacking.len()))
}
