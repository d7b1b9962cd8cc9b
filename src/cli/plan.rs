//! `ckplan plan`: read CloudKit, compare, and write a reviewable plan file.

use super::{output, workspace, CommandResult, ExitStatus, Globals};
use crate::config::Config;
use crate::plan::{file, Plan, PlanOptions};
use crate::render;
use crate::sync::{self, Survey};
use anyhow::Context;
use std::io::Write;
use std::path::{Path, PathBuf};

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
    /// Exit 0 when CloudKit matches the local data, 2 when it does not (changes to apply, or
    /// orphans this plan keeps)
    #[arg(long)]
    pub detailed_exitcode: bool,
}

/// Everything up to an in-memory plan: shared with smart sync.
pub async fn make_plan(
    config: &Config,
    globals: &Globals,
    types: &[String],
    delete_orphans: bool,
) -> anyhow::Result<Plan> {
    let selected = workspace::selected_types(config, types)?;
    // Local data first: it names every unreadable file with its problem.
    let local = workspace::load_local(config, &globals.printer)?;
    let inputs = sync::input_digests(config).context("failed to read an input file")?;
    let connection = workspace::connect(config).await?;
    let bar = workspace::ReadBar::new(globals.printer.shows_progress());
    let survey = sync::survey(config, local, &connection.client, &selected, &bar).await;
    bar.finish();
    connection.close().await;
    let Survey {
        diffs,
        type_order,
        notes,
    } = survey?;
    for note in &notes {
        globals.printer.warn(note);
    }
    if let Some(cycle) = &type_order.cycle {
        let names: Vec<_> = cycle.iter().map(|t| t.as_str()).collect();
        globals.printer.warn(format_args!(
            "record types reference each other in a cycle ({}); they are applied by name",
            names.join(", ")
        ));
    }
    let options = PlanOptions {
        delete_orphans,
        types: (!types.is_empty()).then_some(selected.clone()),
    };
    let rules = config
        .types
        .iter()
        .map(|(t, c)| (t.clone(), c.compare_rules()))
        .collect();
    Ok(Plan::build(
        config.target(),
        options,
        inputs,
        type_order.types,
        diffs,
        crate::apply::now(),
    )
    .with_rules(rules))
}

pub async fn run(args: Args, globals: &Globals) -> CommandResult {
    let printer = &globals.printer;
    let config = workspace::load_config(globals)?;
    let plan = make_plan(&config, globals, &args.types, args.delete_orphans).await?;
    printer.status(render::summary::plan_summary(&plan).trim_end());
    match &args.out {
        Some(path) => {
            write_atomically_with(path, |out| file::write_to(&plan, out).map(drop))
                .with_context(|| format!("failed to write plan `{}`", path.display()))?;
            let path = path.display();
            printer.status(format_args!(
                "Saved the plan to `{path}`. Review it with `ckplan show {path}`, then `ckplan apply {path}`."
            ));
        }
        None if output::stdout_is_terminal() => {
            printer.data(&render::plan::review(&plan, false, printer.colour_stdout()))?;
            printer.hint(
                "this plan was not saved; run `ckplan plan -o out.plan` (or `ckplan plan > out.plan`) to keep it for `ckplan apply`",
            );
        }
        None => printer.data_with(|out| file::write_to(&plan, out).map(drop))?,
    }
    // Orphans the plan keeps are still a difference between CloudKit and the local data.
    let differs = plan.has_changes() || plan.orphans_kept() > 0;
    Ok(if args.detailed_exitcode && differs {
        ExitStatus::ChangesPresent
    } else {
        ExitStatus::Success
    })
}

/// Writes to a temporary file beside `path`, syncs it, then renames it over `path`: a
/// reader never sees half a file, and a failure leaves nothing behind.
pub fn write_atomically(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    write_atomically_with(path, |out| out.write_all(bytes))
}

/// As [`write_atomically`], the contents streamed by `write` into a buffered writer.
pub fn write_atomically_with(
    path: &Path,
    write: impl FnOnce(&mut dyn Write) -> std::io::Result<()>,
) -> std::io::Result<()> {
    let directory = match path.parent() {
        Some(parent) if !parent.as_os_str().is_empty() => parent,
        _ => Path::new("."),
    };
    let mut temporary = tempfile::NamedTempFile::new_in(directory)?;
    {
        let mut out = std::io::BufWriter::with_capacity(1 << 16, temporary.as_file_mut());
        write(&mut out)?;
        out.flush()?;
    }
    temporary.as_file().sync_all()?;
    temporary.persist(path).map_err(|e| e.error)?;
    Ok(())
}
