//! `ckplan`: parse the arguments, build the printer, run the command, print its error
//! through the printer, exit with the command's status.

use clap::Parser;
use std::process::ExitCode;

fn main() -> ExitCode {
    let cli = match ckplan::cli::Cli::try_parse() {
        Ok(cli) => cli,
        Err(error) => return ckplan::cli::argument_error(&error).into(),
    };
    let printer = cli.printer();
    match ckplan::cli::run(cli, printer) {
        Ok(status) => status.into(),
        Err(error) => {
            printer.command_error(&error);
            error.exit_status().into()
        }
    }
}
