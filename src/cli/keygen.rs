//! `ckplan keygen`: a new P-256 key pair for server-to-server auth.

use super::{CommandResult, ExitStatus, Globals};
use crate::cloudkit::auth;
use anyhow::Context;
use std::io::{IsTerminal, Write};
use std::path::{Path, PathBuf};

/// Make a P-256 private key (PEM, mode 0600) and print its public key to register.
#[derive(Debug, clap::Args)]
#[command(
    after_help = "Example:\n  mkdir -p keys   # the shell opens keys/dev.pub.pem before ckplan runs\n  \
    ckplan keygen -o keys/dev.pem > keys/dev.pub.pem\n  \
    # paste keys/dev.pub.pem into CloudKit Console > API Access > Server-to-Server Keys,\n  \
    # or start the emulator with --key keys/dev.pub.pem"
)]
pub struct Args {
    /// Where to write the private key (a missing parent directory is made, mode 0700)
    #[arg(short, long, value_name = "FILE", default_value = "ckplan-key.pem")]
    pub output: PathBuf,
    /// Replace an existing file
    #[arg(long)]
    pub force: bool,
}

pub fn run(args: Args, globals: &Globals) -> CommandResult {
    let (private, public) = auth::generate_key_pair();
    make_parent(&args.output).with_context(|| {
        format!(
            "failed to create the directory of `{}`",
            args.output.display()
        )
    })?;
    write_private_key(&args.output, private.as_bytes(), args.force).map_err(|error| {
        let hint = if error.kind() == std::io::ErrorKind::AlreadyExists {
            " (it already exists; pass --force to replace it)"
        } else {
            ""
        };
        anyhow::Error::new(error).context(format!(
            "failed to write private key `{}`{hint}",
            args.output.display()
        ))
    })?;
    globals.printer.data(&public)?;
    let shown = if std::io::stdout().is_terminal() {
        "above"
    } else {
        "printed on stdout"
    };
    globals.printer.status(format_args!(
        "Wrote private key to `{}` (mode 0600). Register the public key {shown} in the \
         CloudKit console (API Access > Server-to-Server Keys) or pass it to \
         `ckplan emulator --key`.",
        args.output.display()
    ));
    Ok(ExitStatus::Success)
}

/// Makes the missing directories above `path` (the new ones mode 0700: they hold a key).
fn make_parent(path: &Path) -> std::io::Result<()> {
    let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) else {
        return Ok(());
    };
    let mut builder = std::fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::DirBuilderExt;
        builder.mode(0o700);
    }
    builder.create(parent)
}

fn write_private_key(path: &Path, pem: &[u8], force: bool) -> std::io::Result<()> {
    let mut options = std::fs::OpenOptions::new();
    options.write(true);
    if force {
        options.create(true).truncate(true);
    } else {
        options.create_new(true);
    }
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let mut file = options.open(path)?;
    file.write_all(pem)?;
    file.sync_all()
}
