//! `ckplan plan`: read CloudKit, compare, and write a reviewable plan file.

use super::{output, show, workspace, ExitStatus, Globals};
use crate::plan::file;
use anyhow::Context;
use std::io::Write;
use std::path::PathBuf;

/// Query CloudKit, diff, and write a plan holding each record's change tag.
#[derive(Debug, clap::Args)]
#[command(
    after_help = "Examples:\n  ckplan plan > out.plan          # plan on stdout, summary on stderr\n  \
    ckplan plan -o out.plan --delete-orphans\n  \
    ckplan plan --type Team --detailed-exitcode -o team.plan; echo $?   # 0 none, 2 changes"
)]
pub struct Args {
    /// Write the plan to FILE (atomically) instead of stdout
    #[arg(short = 'o', long = "out", value_name = "FILE")]
    pub out: Option<PathBuf>,
    /// Put deletions of orphans (records only in CloudKit) in the plan
    #[arg(long)]
    pub delete_orphans: bool,
    /// Only this record type (repeatable; the plan records the filter)
    #[arg(long = "type", value_name = "TYPE")]
    pub types: Vec<String>,
    /// Exit 0 when there are no changes, 2 when there are
    #[arg(long)]
    pub detailed_exitcode: bool,
}

pub async fn run(args: Args, globals: &Globals) -> anyhow::Result<ExitStatus> {
    let config = workspace::load_config(globals)?;
    let plan = workspace::make_plan(&config, globals, &args.types, args.delete_orphans).await?;
    if !globals.quiet {
        eprint!("{}", workspace::summary(&plan));
    }
    match &args.out {
        Some(path) => {
            crate::durable::write_atomically_with(path, |out| file::write_to(&plan, out).map(drop))
                .with_context(|| format!("failed to write plan `{}`", path.display()))?;
            if !globals.quiet {
                eprintln!("Saved the plan to `{}`. Review it with `ckplan show {}`, then `ckplan apply {}`.",
                    path.display(), path.display(), path.display());
            }
        }
        None if output::stdout_is_terminal() => {
            print!("{}", show::render_plan(&plan, false));
            eprintln!(
                "hint: this plan was not saved; run `ckplan plan -o out.plan` (or `ckplan plan > out.plan`) to keep it for `ckplan apply`"
            );
        }
        None => {
            let mut stdout = std::io::BufWriter::with_capacity(1 << 16, std::io::stdout().lock());
            file::write_to(&plan, &mut stdout)?;
            stdout.flush()?;
        }
    }
    Ok(if args.detailed_exitcode && plan.has_changes() {
        ExitStatus::ChangesPresent
    } else {
        ExitStatus::Success
    })
}
