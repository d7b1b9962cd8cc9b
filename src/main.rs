use clap::Parser;
use std::process::ExitCode;

fn main() -> ExitCode {
    let cli = ckplan::cli::Cli::parse();
    match ckplan::cli::run(cli) {
        Ok(status) => status.into(),
        Err(error) => {
            ckplan::cli::output::print_error(&error);
            ckplan::cli::ExitStatus::Error.into()
        }
    }
}
