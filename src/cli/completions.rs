//! `ckplan completions <shell>`: shell completion scripts.

use super::{Cli, CommandResult, ExitStatus, Printer};
use clap::CommandFactory;

/// Print a shell completion script.
///
/// Example: ckplan completions bash > /etc/bash_completion.d/ckplan
#[derive(Debug, clap::Args)]
#[command(after_help = "Example:\n  ckplan completions zsh > ~/.zfunc/_ckplan")]
pub struct Args {
    /// bash, zsh, fish, elvish or powershell
    pub shell: clap_complete::Shell,
}

pub fn run(args: Args, printer: &Printer) -> CommandResult {
    let mut command = Cli::command();
    // Generated into memory: clap_complete panics when its writer fails (`| head`).
    let mut script = Vec::new();
    clap_complete::generate(args.shell, &mut command, "ckplan", &mut script);
    printer.data_with(|out| out.write_all(&script))?;
    Ok(ExitStatus::Success)
}
