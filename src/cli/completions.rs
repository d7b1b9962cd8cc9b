//! `ckplan completions <shell>`: shell completion scripts.

use super::{Cli, ExitStatus};
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

pub fn run(args: Args) -> anyhow::Result<ExitStatus> {
    let mut command = Cli::command();
    clap_complete::generate(args.shell, &mut command, "ckplan", &mut std::io::stdout());
    Ok(ExitStatus::Success)
}
