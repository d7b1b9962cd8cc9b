//! `ckplan menu`: the old script's numbered menu over the commands, reading choices (and
//! answers to the questions the commands ask) line by line from stdin, so it also works
//! with piped input.

use super::{prompt::StdinPrompter, Cli, CommandError, CommandResult, ExitStatus, Globals};
use clap::Parser;
use std::sync::atomic::Ordering;
use std::sync::Arc;

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

/// The command line of a menu item (after `ckplan`), asking for what it needs; `None` for
/// an unknown item.
fn command_line(choice: &str, globals: &Globals) -> Result<Option<Vec<String>>, CommandError> {
    let ask = |question: &str, default: &str| -> Result<String, CommandError> {
        let answer = globals
            .context
            .prompter
            .ask(&format!("{question} [{default}]: "))?;
        Ok(answer
            .filter(|a| !a.is_empty())
            .unwrap_or_else(|| default.to_owned()))
    };
    let words: Vec<String> = match choice {
        "1" => vec!["validate".into()],
        "2" => vec!["diff".into()],
        "3" => vec!["diff".into(), "--changes-only".into(), "-v".into()],
        "4" => vec!["plan".into(), "-o".into(), ask("Plan file", "out.plan")?],
        "5" => vec!["show".into(), ask("Plan file", "out.plan")?],
        "6" => vec!["apply".into(), ask("Plan file", "out.plan")?],
        "7" => vec!["import".into()],
        "8" => vec![
            "delete-all".into(),
            "--type".into(),
            ask("Record type", "")?,
        ],
        "9" => vec![
            "keygen".into(),
            "-o".into(),
            ask("Private key file", "ckplan-key.pem")?,
        ],
        "10" => vec!["apply".into(), "--dry-run".into()],
        "11" => vec![
            "apply".into(),
            "--dry-run".into(),
            "--delete-orphans".into(),
        ],
        "12" => vec!["apply".into()],
        "13" => vec!["apply".into(), "--delete-orphans".into()],
        _ => return Ok(None),
    };
    Ok(Some(words))
}

/// Parses the item's command line exactly as the binary would and runs it with the menu's
/// global options.
async fn dispatch(choice: &str, globals: &Globals) -> CommandResult {
    let Some(words) = command_line(choice, globals)? else {
        globals.printer.say(&crate::render::menu::no_item(choice));
        return Ok(ExitStatus::Error);
    };
    let cli = Cli::try_parse_from(std::iter::once("ckplan".to_owned()).chain(words))
        .map_err(|error| CommandError::user(error.to_string().trim_end()))?;
    let globals = Globals {
        config: cli.config.or_else(|| globals.config.clone()),
        environment: cli.environment.and_then(|c| c.0).or(globals.environment),
        verbose: globals.verbose.max(cli.verbose),
        printer: globals.printer,
        context: globals.context.clone(),
    };
    super::dispatch(cli.command, globals).await
}

/// Runs the items chosen on stdin until `0` (exit 0: each item's failure was reported when
/// it happened, and quitting is not one) or the end of input (exit as the last item did: a
/// declined apply piped in must not read as success). Input that ends inside an
/// item (its question unanswered, as `printf '12\n' | ckplan menu` leaves smart sync's
/// prompt) ends the menu with that item's status: the script did not say what it wanted, and
/// a declined apply must not read as success.
pub async fn run(_args: Args, globals: &Globals) -> CommandResult {
    let mut context = globals.context.clone();
    let prompter = Arc::new(StdinPrompter {
        piped_answers: true,
        ..StdinPrompter::default()
    });
    context.prompter = prompter.clone();
    let globals = Globals {
        context,
        ..globals.clone()
    };
    let mut last = ExitStatus::Success;
    loop {
        globals.printer.say(&crate::render::menu::menu(ITEMS));
        let Some(choice) = globals.context.prompter.ask("Choose: ")? else {
            // Input ended without `0`: the menu ends as its last item did.
            return Ok(last);
        };
        if matches!(choice.as_str(), "0" | "q" | "quit") {
            break;
        }
        let status = match Box::pin(dispatch(&choice, &globals)).await {
            Ok(status) => status,
            Err(error) => {
                globals.printer.command_error(&error);
                error.exit_status()
            }
        };
        if prompter.input_ended.load(Ordering::SeqCst) {
            return Ok(status);
        }
        last = status;
    }
    Ok(ExitStatus::Success)
}
