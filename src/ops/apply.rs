//! `apply`'s operations around the executor: reading and verifying a saved plan, checking
//! it against the configuration in use, finding the input files that changed since it was
//! made, keeping smart sync's plan like a saved one, and opening the apply session (lock,
//! journal, receipt, asset ledger). Failures are typed; the command prompts and renders.

use crate::apply::session::{Paths, Session, SessionError};
use crate::config::Config;
use crate::lock::Holder;
use crate::ops::plan_check::{self, Checks, PlanMismatch};
use crate::plan::file::{self, PlanFileError, VerifiedPlan};
use crate::plan::Plan;
use std::path::{Path, PathBuf};

/// Why a saved plan is not applied.
#[derive(Debug, thiserror::Error)]
pub enum SavedPlanError {
    #[error("failed to read plan `{}`", path.display())]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("refusing plan `{}`", path.display())]
    Verify {
        path: PathBuf,
        #[source]
        source: PlanFileError,
    },
    #[error("refusing plan `{}`: {mismatch}; nothing was sent", path.display())]
    Mismatch {
        path: PathBuf,
        mismatch: PlanMismatch,
    },
}

/// Why smart sync's plan could not be kept.
#[derive(Debug, thiserror::Error)]
pub enum KeepPlanError {
    #[error("failed to create `{}`", directory.display())]
    Directory {
        directory: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("failed to write plan `{}`", path.display())]
    Write {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

/// Reads the plan at `path` and verifies its format version and checksum.
pub fn read_plan(path: &Path) -> Result<VerifiedPlan, Box<SavedPlanError>> {
    let bytes = std::fs::read(path).map_err(|source| SavedPlanError::Read {
        path: path.to_owned(),
        source,
    })?;
    file::read_bytes(&bytes).map_err(|source| {
        Box::new(SavedPlanError::Verify {
            path: path.to_owned(),
            source,
        })
    })
}

/// Refuses a plan made for another target or endpoint than `config`'s.
pub fn check_target(plan: &Plan, config: &Config, path: &Path) -> Result<(), Box<SavedPlanError>> {
    plan_check::check(plan, config, Checks::TargetAndEndpoint).map_err(|mismatch| {
        Box::new(SavedPlanError::Mismatch {
            path: path.to_owned(),
            mismatch,
        })
    })
}

/// The config and data files (as the plan names them) that changed or went since the plan
/// was made: apply writes what the plan says, not the files.
pub fn changed_inputs<'p>(plan: &'p Plan, config: &Config) -> Vec<&'p str> {
    let now = crate::sync::input_digests_lenient(config);
    plan.inputs
        .iter()
        .filter(|planned| {
            now.iter()
                .find(|input| input.path == planned.path)
                .is_none_or(|input| input.blake3 != planned.blake3)
        })
        .map(|input| input.path.as_str())
        .collect()
}

/// Writes smart sync's plan under `.ckplan/plans/` beside the config, so the journal and
/// the receipt have a home; returns its path and checksum.
pub fn keep_plan(config: &Config, plan: &Plan) -> Result<(PathBuf, String), KeepPlanError> {
    let directory = config.directory().join(".ckplan").join("plans");
    std::fs::create_dir_all(&directory).map_err(|source| KeepPlanError::Directory {
        directory: directory.clone(),
        source,
    })?;
    let stamp = plan.created_at.to_string().replace(':', "");
    let path = directory.join(format!("{stamp}.plan"));
    let mut checksum = String::new();
    crate::durable::write_atomically_with(&path, |out| {
        checksum = file::write_to(plan, out)?;
        Ok(())
    })
    .map_err(|source| KeepPlanError::Write {
        path: path.clone(),
        source,
    })?;
    Ok((path, checksum))
}

/// Locks the plan at `path` for this process and opens its journal (and the asset
/// ledger of `config`'s target), ready to run; `receipt` is `--receipt`.
pub fn open_session<'p>(
    config: &Config,
    plan: &'p Plan,
    checksum: &str,
    path: &Path,
    receipt: Option<PathBuf>,
    holder: &Holder,
) -> Result<Session<'p>, SessionError> {
    let session = Session::open(plan, checksum, Paths::beside(path, receipt), holder)?;
    Ok(session.with_assets(crate::apply::upload::AssetFiles::of(config)))
}
