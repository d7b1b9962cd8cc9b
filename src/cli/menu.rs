//! `ckplan menu`: the old script's numbered menu over the commands, reading choices (and
//! answers to the questions the commands ask) line by line from stdin, so it also works
//! with piped input.

use super::{
    apply, delete_all, diff, import, keygen, plan, show, validate, CommandResult, ExitStatus,
    Globals,
};
use std::io::BufRead;
use std::path::PathBuf;

/// Interactive numbered menu (12 and 13 are the diff-based smart syncs).
#[derive(Debug, clap::Args)]
#[command(after_help = "Example:\n  printf '2\\n0\\n' | ckplan menu      # run a diff, then quit")]
pub struct Args {}

const ITEMS: &[(&str, &str)] = &[
    ("1", "Validate local data"),
    ("2", "Diff (summary per type)"),
    ("3", "Diff, changes only, with record names"),
    ("4", "Plan to a file"),
    ("5", "Show a plan file"),
    ("6", "Apply a plan file"),
    ("7", "Import everything (forceReplace, old behaviour)"),
    ("8", "Delete all records of a type"),
    ("9", "Generate a key pair"),
    ("10", "Smart sync dry run"),
    ("11", "Smart sync dry run + delete orphans"),
    ("12", "Smart sync (diff-based)"),
    ("13", "Smart sync + delete orphans"),
    ("0", "Quit"),
];

fn read_line() -> Option<String> {
    let mut line = String::new();
    match std::io::stdin().lock().read_line(&mut line) {
        Ok(0) | Err(_) => None,
        Ok(_) => Some(line.trim().to_owned()),
    }
}

fn ask(question: &str, default: &str) -> String {
    eprint!("{question} [{default}]: ");
    read_line()
        .filter(|a| !a.is_empty())
        .unwrap_or_else(|| default.to_owned())
}

pub async fn run(_args: Args, globals: &Globals) -> CommandResult {
    let globals = Globals {
        interactive: true,
        ..globals.clone()
    };
    let mut last = ExitStatus::Success;
    loop {
        eprintln!("\nckplan menu");
        for (number, label) in ITEMS {
            eprintln!("  {number:>2}. {label}");
        }
        eprint!("Choose: ");
        let Some(choice) = read_line() else { break };
        let outcome = match choice.as_str() {
            "0" | "q" | "quit" => break,
            _ => Box::pin(dispatch(&choice, &globals)).await,
        };
        last = match outcome {
            Ok(status) => status,
            Err(error) => {
                globals.printer.command_error(&error);
                error.exit_status()
            }
        };
    }
    Ok(last)
}

fn smart(dry_run: bool, delete_orphans: bool) -> apply::Args {
    apply::Args {
        plan: None,
        on_conflict: crate::apply::OnConflict::Replan,
        parallelism: apply::DEFAULT_PARALLELISM,
        receipt: None,
        allow_production: false,
        delete_orphans,
        dry_run,
        auto_approve: false,
        types: Vec::new(),
    }
}

async fn dispatch(choice: &str, globals: &Globals) -> CommandResult {
    match choice {
        "1" => validate::run(validate::Args { json: false }, globals),
        "2" => {
            diff::run(
                diff::Args {
                    types: vec![],
                    changes_only: false,
                    json: false,
                },
                globals,
            )
            .await
        }
        "3" => {
            let verbose = Globals {
                verbose: 1,
                ..globals.clone()
            };
            diff::run(
                diff::Args {
                    types: vec![],
                    changes_only: true,
                    json: false,
                },
                &verbose,
            )
            .await
        }
        "4" => {
            let out = PathBuf::from(ask("Plan file", "out.plan"));
            let args = plan::Args {
                out: Some(out),
                delete_orphans: false,
                types: vec![],
                detailed_exitcode: false,
            };
            plan::run(args, globals).await
        }
        "5" => show::run(
            show::Args {
                plan: PathBuf::from(ask("Plan file", "out.plan")),
                json: false,
            },
            globals,
        ),
        "6" => {
            let mut args = smart(false, false);
            args.plan = Some(PathBuf::from(ask("Plan file", "out.plan")));
            apply::run(args, globals).await
        }
        "7" => import::run(import::Args { types: vec![] }, globals).await,
        "8" => {
            let record_type = ask("Record type", "");
            delete_all::run(
                delete_all::Args {
                    record_type,
                    yes: false,
                },
                globals,
            )
            .await
        }
        "9" => {
            let output = PathBuf::from(ask("Private key file", "ckplan-key.pem"));
            keygen::run(
                keygen::Args {
                    output,
                    force: false,
                },
                globals,
            )
        }
        "10" => apply::run(smart(true, false), globals).await,
        "11" => apply::run(smart(true, true), globals).await,
        "12" => apply::run(smart(false, false), globals).await,
        "13" => apply::run(smart(false, true), globals).await,
        other => {
            eprintln!("No item `{other}`; choose a number from the list.");
            Ok(ExitStatus::Error)
        }
    }
}
