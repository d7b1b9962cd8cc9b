//! What every command prints, through the binary: a closed stdout or stderr never panics,
//! untrusted names are escaped in every view, orphans count as a difference, and counts
//! agree with their nouns.

mod common;

use common::{stadium, Env};
use std::process::{Command, Stdio};

/// Which standard stream the reader closes before `ckplan` writes a byte.
#[derive(Clone, Copy, Debug)]
enum Closed {
    Stdout,
    Stderr,
}

/// Runs `ckplan ARGS` in `env` with one stream a pipe whose reading end is already closed
/// (as after `| head -1` has read its line); the exit code and whatever reached the other
/// stream.
fn run_closed(env: &Env, args: &[&str], closed: Closed) -> (Option<i32>, String) {
    let (reader, writer) = std::io::pipe().expect("a pipe");
    drop(reader);
    let mut command = Command::new(assert_cmd::cargo::cargo_bin("ckplan"));
    command
        .current_dir(env.dir.path())
        .args(args)
        .env("NO_COLOR", "1")
        .env_remove("CKPLAN_CONFIG")
        .env_remove("CKPLAN_KEY_ID")
        .env_remove("CKPLAN_PRIVATE_KEY_FILE")
        .env_remove("CKPLAN_LOG")
        .stdin(Stdio::null());
    match closed {
        Closed::Stdout => command.stdout(writer).stderr(Stdio::piped()),
        Closed::Stderr => command.stdout(Stdio::piped()).stderr(writer),
    };
    let output = command.output().expect("ckplan runs");
    let other = match closed {
        Closed::Stdout => output.stderr,
        Closed::Stderr => output.stdout,
    };
    (
        output.status.code(),
        String::from_utf8_lossy(&other).into_owned(),
    )
}

fn seeded() -> Env {
    let env = Env::new();
    env.seed(&[
        stadium(1),
        ckplan::record::Record::new("Stadium", "stadium-9"),
    ]);
    env
}

#[test]
fn issue_12_a_closed_stdout_ends_the_command_quietly() {
    let env = seeded();
    assert_eq!(env.run(&["plan", "-o", "out.plan"]).code, 0);
    for args in [
        &["diff", "-v"][..],
        &["diff", "--json"],
        &["completions", "fish"],
        &["completions", "bash"],
        &["plan"],
        &["show", "out.plan"],
        &["show", "out.plan", "--json"],
        &["validate", "--json"],
        &["keygen", "-o", "fresh.pem"],
        &["apply", "--dry-run"],
    ] {
        let (code, stderr) = run_closed(&env, args, Closed::Stdout);
        assert!(!stderr.contains("panicked"), "{args:?}: {stderr}");
        assert_eq!(code, Some(0), "{args:?}: {stderr}");
        assert!(!stderr.contains("error:"), "{args:?}: {stderr}");
    }
}

#[test]
fn issue_12_a_closed_stderr_never_panics() {
    let env = seeded();
    for args in [
        &["diff", "-v"][..],
        &["plan", "-o", "out.plan"],
        &["validate"],
    ] {
        let (code, stdout) = run_closed(&env, args, Closed::Stderr);
        assert_eq!(code, Some(0), "{args:?}: {stdout}");
    }
    // An error that cannot be told still decides the exit status.
    let (code, _) = run_closed(&env, &["show", "missing.plan"], Closed::Stderr);
    assert_eq!(code, Some(1));
}
