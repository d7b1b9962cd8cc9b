//! The schema part of a plan, applied before its records. Development: the environment's
//! schema is exported fresh; if it already holds every addition (an earlier run imported
//! them) nothing is sent; else it must still be the schema the plan read (its digest), and
//! the additions are merged into it (nothing there is lost: the managed `Users` type, other
//! apps' fields, system-field indexes), validated, and imported through [`import_over`],
//! which exports once more right before the import and refuses if the schema moved, then
//! confirms by exporting again that nothing the schema held was lost. Production is never
//! written (CloudKit refuses import there): apply refuses while the fresh export lacks any
//! addition, or lacks a record type or field the plan's record changes write (derived from
//! the changes themselves, so a plan whose schema list was emptied is still checked), or
//! holds such a field with another type; those must be deployed from CloudKit Console.
//! Ctrl-C (the run's [`StopFlag`]) starts no new request: a read in flight finishes and
//! nothing more is sent; an import already sent finishes and is confirmed.
//!
//! CloudKit's import has no precondition (no version, no etag), so a writer that imports
//! between the last export and the import is still overwritten; the confirming export then
//! names what it lost, if that writer's import had replaced anything of ours
//! (`docs/protocol.md`, "Schema API").

use super::StopFlag;
use crate::cloudkit::management::{ManagementError, SchemaApi};
use crate::plan::{Change, PlanSchema};
use crate::record::Environment;
use crate::schema::{self, Addition, DataType, FieldDef, Schema, SchemaError, Unprintable};

/// Why the schema part could not be applied; no record was written then.
#[derive(Debug, thiserror::Error)]
pub enum SchemaApplyError {
    #[error(transparent)]
    Api(#[from] ManagementError),
    #[error("the schema exported from CloudKit is unreadable at {0}")]
    Unreadable(#[source] SchemaError),
    #[error(transparent)]
    Unprintable(#[from] Unprintable),
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
        shortened_for(list, None)
    )]
    NotDeployed { list: Vec<String> },
    #[error(
        "the production schema holds {} field(s) the plan writes with another type: {}",
        list.len(),
        shortened(list)
    )]
    Retyped { list: Vec<String> },
    #[error("CloudKit refused the merged schema: {reason}")]
    Invalid { reason: String },
    #[error("after the import CloudKit's schema still lacks {}", list.join("; "))]
    NotConfirmed { list: Vec<String> },
    #[error(
        "the import lost {} item(s) the {environment} schema held before it: {}; another \
         writer may have imported at the same moment (CloudKit's import has no precondition): \
         restore them in CloudKit Console or import them again",
        list.len(),
        shortened(list)
    )]
    Lost {
        environment: &'static str,
        list: Vec<String>,
        /// The digest of the export that showed the loss.
        after: String,
    },
    /// The import was sent but its confirmation failed (`cause`: `NotConfirmed` or
    /// `Lost`); `sent` says what was imported and what the confirming export lacks, for
    /// the journal and the receipt.
    #[error("{cause}")]
    Unconfirmed {
        sent: SentImport,
        cause: Box<SchemaApplyError>,
    },
}

/// An import that was sent and not confirmed: how many additions it carried, the digests
/// of the schema it was merged into and of the export after it, and what that export
/// lacks (additions still missing, or items the schema held before and lost).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SentImport {
    pub count: usize,
    pub before: String,
    pub after: String,
    pub missing: Vec<String>,
}

/// The first few items, and how many more (the review lists them all).
fn shortened(list: &[String]) -> String {
    shortened_for(list, Some("`ckplan show`"))
}

/// The first few items, and how many more, which `lister` lists (for a missing
/// deployment, the command's hint names the `schema diff` that does, with the user's
/// `--config`).
fn shortened_for(list: &[String], lister: Option<&str>) -> String {
    const SHOWN: usize = 5;
    let mut text = list
        .iter()
        .take(SHOWN)
        .cloned()
        .collect::<Vec<_>>()
        .join("; ");
    if list.len() > SHOWN {
        let lister = lister.map(|l| format!(" ({l} lists them)"));
        let more = list.len() - SHOWN;
        text.push_str(&format!("; and {more} more{}", lister.unwrap_or_default()));
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

/// The record types and fields `changes` write (creates and updates), each field with the
/// schema type of its value; fields of a type ckplan does not know are left out.
pub fn written(changes: &[Change]) -> Schema {
    let mut out = Schema::default();
    for change in changes {
        let Some(fields) = &change.after else {
            continue;
        };
        let definition = out
            .types
            .entry(change.record_type.as_str().to_owned())
            .or_default();
        for (field, value) in fields {
            if let Some(data_type) = DataType::of_field_type(&value.field_type()) {
                definition
                    .fields
                    .entry(field.to_string())
                    .or_insert(FieldDef {
                        data_type,
                        indexes: Default::default(),
                    });
            }
        }
    }
    out
}

/// Production is never written: what the plan needs must already be deployed. Refuses,
/// naming each, while `actual` lacks an addition of `part` or a type or field `changes`
/// write, or holds such a field with another type.
fn deployed(
    actual: &Schema,
    part: &PlanSchema,
    changes: &[Change],
) -> Result<SchemaApplied, SchemaApplyError> {
    let writes = schema::missing(&written(changes), actual);
    if !writes.conflicts.is_empty() {
        let list = writes
            .conflicts
            .iter()
            .map(|c| {
                format!(
                    "field `{}.{}` is {} in production but the plan writes {}",
                    c.record_type, c.field, c.found, c.wanted
                )
            })
            .collect();
        return Err(SchemaApplyError::Retyped { list });
    }
    let mut list = listed(&schema::lacking(actual, &part.additions));
    for addition in listed(&writes.additions) {
        if !list.contains(&addition) {
            list.push(addition);
        }
    }
    if !list.is_empty() {
        return Err(SchemaApplyError::NotDeployed { list });
    }
    Ok(SchemaApplied::AlreadyThere {
        digest: schema::digest(actual),
    })
}

/// Applies `part` to the environment `api` speaks to (see the module), for a plan whose
/// record changes are `changes`; once `stop` is raised no new request starts.
pub async fn apply(
    api: &SchemaApi,
    part: &PlanSchema,
    changes: &[Change],
    environment: Environment,
    stop: &StopFlag,
) -> Result<SchemaApplied, SchemaApplyError> {
    if stop.is_stopped() {
        return Ok(SchemaApplied::Stopped { digest: None });
    }
    let actual = export(api).await?;
    if environment == Environment::Production {
        return deployed(&actual, part, changes);
    }
    let lacking = schema::lacking(&actual, &part.additions);
    if lacking.is_empty() {
        return Ok(SchemaApplied::AlreadyThere {
            digest: schema::digest(&actual),
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
    let text = schema::print(&schema::with_additions(&actual, &part.additions))?;
    let unconfirmed = |after: String, missing: Vec<String>, cause| SchemaApplyError::Unconfirmed {
        sent: SentImport {
            count: lacking.len(),
            before: found.clone(),
            after,
            missing,
        },
        cause: Box::new(cause),
    };
    let after = match import_over(api, &actual, &text, stop).await {
        Ok(Some(after)) => after,
        Ok(None) => return Ok(stopped()),
        Err(SchemaApplyError::Lost {
            environment,
            list,
            after,
        }) => {
            let cause = SchemaApplyError::Lost {
                environment,
                list: list.clone(),
                after: after.clone(),
            };
            return Err(unconfirmed(after, list, cause));
        }
        Err(other) => return Err(other),
    };
    let still = schema::lacking(&after, &part.additions);
    if !still.is_empty() {
        let list = listed(&still);
        let cause = SchemaApplyError::NotConfirmed { list: list.clone() };
        return Err(unconfirmed(schema::digest(&after), list, cause));
    }
    Ok(SchemaApplied::Imported {
        count: lacking.len(),
        before: found,
        after: schema::digest(&after),
    })
}

/// Imports `text`, made from `base` (the development schema as exported), as safely as an
/// import without a precondition allows: validated; exported again right before the import
/// and refused (`Moved`) unless that export is still `base`; after the import, exported
/// once more and refused (`Lost`) if that lacks anything `base` held (a type, field, index,
/// grant or role, or a field now of another type). Returns the confirming export, or
/// `None` when `stop` was raised before the import was sent (nothing was written then).
pub async fn import_over(
    api: &SchemaApi,
    base: &Schema,
    text: &str,
    stop: &StopFlag,
) -> Result<Option<Schema>, SchemaApplyError> {
    if let Some(reason) = api.validate(text).await? {
        return Err(SchemaApplyError::Invalid { reason });
    }
    if stop.is_stopped() {
        return Ok(None);
    }
    // Validation takes a round trip: look again as late as the API lets us.
    let planned = schema::digest(base);
    let found = schema::digest(&export(api).await?);
    if found != planned {
        return Err(SchemaApplyError::Moved {
            environment: "development",
            planned,
            found,
        });
    }
    if stop.is_stopped() {
        return Ok(None);
    }
    api.import(text).await?;
    let after = export(api).await?;
    let lost = schema::missing(base, &after);
    if !lost.is_empty() {
        let mut list = listed(&lost.additions);
        list.extend(lost.conflicts.iter().map(ToString::to_string));
        return Err(SchemaApplyError::Lost {
            environment: "development",
            list,
            after: schema::digest(&after),
        });
    }
    Ok(Some(after))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cloudkit::token::ManagementToken;
    use crate::schema::{Addition, DataType, Primitive};
    use std::sync::{Arc, Mutex};
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    /// A schema API on 127.0.0.1 holding one schema text. `at_validate` is another writer's
    /// import that lands while ckplan validates; `after_import`, what an export shows after
    /// ckplan's import (another writer's import right after it). Counts the imports.
    #[derive(Default)]
    struct Fake {
        text: String,
        at_validate: Option<String>,
        after_import: Option<String>,
        imports: usize,
    }

    async fn serve(fake: Arc<Mutex<Fake>>) -> String {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = listener.local_addr().unwrap();
        tokio::spawn(async move {
            while let Ok((mut stream, _)) = listener.accept().await {
                let fake = fake.clone();
                tokio::spawn(async move {
                    let request = read_request(&mut stream).await;
                    let reply = answer(&fake, &request);
                    let _ = stream.write_all(reply.as_bytes()).await;
                    let _ = stream.shutdown().await;
                });
            }
        });
        format!("http://{address}")
    }

    /// The request line and body (by `content-length`).
    async fn read_request(stream: &mut tokio::net::TcpStream) -> (String, String) {
        let mut bytes = Vec::new();
        let mut buffer = [0u8; 4096];
        loop {
            let text = String::from_utf8_lossy(&bytes).into_owned();
            if let Some(end) = text.find("\r\n\r\n") {
                let length = text[..end]
                    .lines()
                    .find_map(|l| {
                        l.to_ascii_lowercase()
                            .strip_prefix("content-length: ")
                            .map(str::to_owned)
                    })
                    .and_then(|n| n.trim().parse::<usize>().ok())
                    .unwrap_or(0);
                if bytes.len() >= end + 4 + length {
                    let line = text.lines().next().unwrap_or_default().to_owned();
                    return (line, text[end + 4..].to_owned());
                }
            }
            match stream.read(&mut buffer).await {
                Ok(0) | Err(_) => return (String::new(), String::new()),
                Ok(n) => bytes.extend_from_slice(&buffer[..n]),
            }
        }
    }

    fn answer(fake: &Mutex<Fake>, (line, body): &(String, String)) -> String {
        let mut fake = fake.lock().unwrap();
        let (status, body) = if line.starts_with("GET ") {
            ("200 OK", fake.text.clone())
        } else if line.starts_with("POST ") {
            if let Some(other) = fake.at_validate.take() {
                fake.text = other;
            }
            ("200 OK", r#"{"isValid": true}"#.to_owned())
        } else {
            // The one part's content, between its headers and the closing boundary.
            let start = body.find("\r\n\r\n").map_or(0, |i| i + 4);
            let end = body.rfind("\r\n--").unwrap_or(body.len());
            fake.text = body[start..end].to_owned();
            if let Some(after) = fake.after_import.take() {
                fake.text = after;
            }
            fake.imports += 1;
            ("202 Accepted", String::new())
        };
        format!(
            "HTTP/1.1 {status}\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
            body.len()
        )
    }

    const BEFORE: &str =
        "DEFINE SCHEMA\n    RECORD TYPE Team (name STRING QUERYABLE, GRANT READ TO \"_world\");\n";

    async fn api(fake: &Arc<Mutex<Fake>>) -> SchemaApi {
        let url = serve(fake.clone()).await;
        let token = ManagementToken::new("fake-token").unwrap();
        SchemaApi::new(&url, "TEAM", "iCloud.x", Environment::Development, token).unwrap()
    }

    fn part() -> PlanSchema {
        PlanSchema {
            digest: schema::digest(&schema::parse(BEFORE).unwrap()),
            team: None,
            additions: vec![
                Addition::RecordType {
                    record_type: "Game".into(),
                },
                Addition::Field {
                    record_type: "Game".into(),
                    field: "at".into(),
                    data_type: DataType::scalar(Primitive::Timestamp),
                },
            ],
        }
    }

    #[tokio::test]
    async fn issue_20_an_import_between_the_digest_check_and_the_put_is_caught() {
        let other = format!("{BEFORE}    RECORD TYPE Other (note STRING);\n");
        let fake = Arc::new(Mutex::new(Fake {
            text: BEFORE.to_owned(),
            at_validate: Some(other.clone()),
            ..Fake::default()
        }));
        let error = apply(
            &api(&fake).await,
            &part(),
            &[],
            Environment::Development,
            &StopFlag::new(),
        )
        .await
        .unwrap_err();
        assert!(matches!(error, SchemaApplyError::Moved { .. }), "{error}");
        let fake = fake.lock().unwrap();
        assert_eq!(fake.imports, 0);
        assert_eq!(fake.text, other, "the other writer's type is kept");
    }

    #[tokio::test]
    async fn issue_20_an_import_that_loses_what_the_schema_held_fails_naming_it() {
        let fake = Arc::new(Mutex::new(Fake {
            text: BEFORE.to_owned(),
            after_import: Some(
                "DEFINE SCHEMA RECORD TYPE Team (name STRING); RECORD TYPE Game (at TIMESTAMP);"
                    .to_owned(),
            ),
            ..Fake::default()
        }));
        let error = apply(
            &api(&fake).await,
            &part(),
            &[],
            Environment::Development,
            &StopFlag::new(),
        )
        .await
        .unwrap_err();
        let SchemaApplyError::Unconfirmed { sent, cause } = &error else {
            panic!("{error}")
        };
        assert_eq!(sent.count, 2);
        let SchemaApplyError::Lost { list, .. } = cause.as_ref() else {
            panic!("{error}")
        };
        assert_eq!(&sent.missing, list);
        assert_eq!(
            list,
            &[
                "index QUERYABLE on `Team.name`".to_owned(),
                "grant READ on `Team` to `_world`".to_owned()
            ]
        );
        assert!(error.to_string().contains("lost 2 item(s)"), "{error}");
        // Without another writer, the same apply imports and confirms.
        let fake = Arc::new(Mutex::new(Fake {
            text: BEFORE.to_owned(),
            ..Fake::default()
        }));
        let applied = apply(
            &api(&fake).await,
            &part(),
            &[],
            Environment::Development,
            &StopFlag::new(),
        )
        .await
        .unwrap();
        assert!(
            matches!(applied, SchemaApplied::Imported { count: 2, .. }),
            "{applied:?}"
        );
        assert_eq!(fake.lock().unwrap().imports, 1);
    }
}
