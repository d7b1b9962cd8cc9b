//! Messages and exit codes that misled (issue 17, "Misleads"; issue 19's key and exit-code
//! items), through the binary: keys as OpenSSL writes them, a lock that cannot be made, a
//! declined prompt, a huge text in `show`, a receipt path that cannot be written, hints that
//! carry `--config`, argument errors. Request counts come from the emulator's stats.

use crate::common;

use ckplan::apply::session::{Paths, Session, SessionError};
use ckplan::apply::{ApplyOptions, Observer, OnConflict, Outcome, RecordKey, StopFlag};
use ckplan::lock::Holder;
use ckplan::plan::file;
use ckplan::record::FieldValue;
use common::{modify_requests, stadium, Env};
use std::path::Path;
use std::process::Command;

/// Runs `openssl ARGS` in `dir`; panics (with the way out) when openssl is missing.
fn openssl(dir: &Path, args: &[&str]) {
    let output = Command::new("openssl")
        .current_dir(dir)
        .args(args)
        .output()
        .expect("openssl is installed (the key tests use the files it writes)");
    assert!(
        output.status.success(),
        "openssl {args:?}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
}

/// The project's config with `endpoint: embedded`: the in-process emulator trusts whatever
/// key the config names, so a plan succeeds exactly when the key loads.
fn embedded(env: &Env) {
    let config = env.read("ckplan.yaml");
    let endpoint = config.lines().find(|l| l.starts_with("endpoint:")).unwrap();
    env.write(
        "ckplan.yaml",
        &config.replace(endpoint, "endpoint: embedded"),
    );
}

#[test]
fn issue_17_keys_as_openssl_writes_them_load_or_say_what_they_are() {
    let env = Env::new();
    embedded(&env);
    let keys = env.path("keys");
    // Without `-noout`: an `EC PARAMETERS` block before the key.
    openssl(
        &keys,
        &[
            "ecparam",
            "-name",
            "prime256v1",
            "-genkey",
            "-out",
            "params.pem",
        ],
    );
    assert!(env
        .read("keys/params.pem")
        .starts_with("-----BEGIN EC PARAMETERS-----"));
    let plan = |key: &str, passphrase: Option<&str>| {
        let mut command = env.ckplan();
        command
            .env("CKPLAN_PRIVATE_KEY_FILE", format!("keys/{key}"))
            .args(["plan", "-o", "p.plan"]);
        if let Some(passphrase) = passphrase {
            command.env("CKPLAN_KEY_PASSPHRASE", passphrase);
        }
        let output = command.output().unwrap();
        let stderr = env.filter(&String::from_utf8_lossy(&output.stderr));
        (output.status.code().unwrap(), stderr)
    };
    let (code, stderr) = plan("params.pem", None);
    assert_eq!(code, 0, "{stderr}");

    openssl(
        &keys,
        &[
            "ecparam",
            "-name",
            "secp384r1",
            "-genkey",
            "-noout",
            "-out",
            "p384.pem",
        ],
    );
    openssl(
        &keys,
        &[
            "ec",
            "-in",
            "params.pem",
            "-aes256",
            "-passout",
            "pass:sesame",
            "-out",
            "sec1.enc.pem",
        ],
    );
    openssl(
        &keys,
        &[
            "pkcs8",
            "-topk8",
            "-in",
            "params.pem",
            "-passout",
            "pass:sesame",
            "-out",
            "p8.enc.pem",
        ],
    );
    for (key, says, hint) in [
        (
            "p384.pem",
            "key file `keys/p384.pem` holds a key on curve P-384 (secp384r1), but CloudKit server-to-server keys are P-256 (prime256v1)",
            "openssl ecparam -name prime256v1 -genkey -noout",
        ),
        (
            "sec1.enc.pem",
            "key file `keys/sec1.enc.pem` holds an encrypted SEC1 key",
            "openssl pkcs8 -topk8",
        ),
        (
            "p8.enc.pem",
            "key file `keys/p8.enc.pem` holds an encrypted PKCS#8 key (`ENCRYPTED PRIVATE KEY`) and CKPLAN_KEY_PASSPHRASE is not set",
            "set CKPLAN_KEY_PASSPHRASE",
        ),
    ] {
        let (code, stderr) = plan(key, None);
        assert_eq!(code, 1, "{stderr}");
        assert!(stderr.contains(says), "{key}: {stderr}");
        assert!(stderr.contains(hint), "{key}: {stderr}");
        assert!(!stderr.contains("crypto error"), "{stderr}");
    }
    let (code, stderr) = plan("p8.enc.pem", Some("wrong"));
    assert_eq!(code, 1, "{stderr}");
    assert!(stderr.contains("does not decrypt"), "{stderr}");
    let (code, stderr) = plan("p8.enc.pem", Some("sesame"));
    assert_eq!(code, 0, "{stderr}");
}

#[test]
fn issue_19_argument_errors_exit_1_and_help_and_version_exit_0() {
    let env = Env::new();
    for args in [
        &["--bogus"][..],
        &["plan", "--detailed-exitcode", "--nope"],
        &["apply", "--parallelism", "0"],
        &[],
    ] {
        let run = env.run(args);
        assert_eq!(run.code, 1, "{args:?}: {}", run.stderr);
        assert!(
            run.stderr.starts_with("error:") || run.stderr.contains("Usage:"),
            "{args:?}: {}",
            run.stderr
        );
    }
    for args in [&["--help"][..], &["--version"], &["plan", "--help"]] {
        let run = env.run(args);
        assert_eq!(run.code, 0, "{args:?}: {}", run.stderr);
        assert!(run.stdout.contains("ckplan"), "{args:?}: {}", run.stdout);
    }
}

#[test]
fn issue_17_a_declined_prompt_exits_1_and_sends_nothing() {
    let env = Env::new();
    let before = env.stats();
    // Menu item 12 with the input ending at smart sync's question.
    let run = env.run_with_stdin(&["menu"], "12\n");
    assert_eq!(run.code, 1, "{}", run.stderr);
    assert!(run.stderr.contains("Apply cancelled."), "{}", run.stderr);
    // On a terminal: an answer that is not `yes`, and Ctrl-D.
    for input in ["no\n", "\u{4}"] {
        let (code, shown) =
            common::on_terminal(env.dir.path(), "apply", input, &[("NO_COLOR", "1")]);
        assert_eq!(code, 1, "{input:?}: {shown}");
        assert!(shown.contains("Apply cancelled."), "{input:?}: {shown}");
    }
    assert_eq!(modify_requests(&before, &env.stats()), 0);
    // A quit after a declined item stays a quit (issue 12).
    let run = env.run_with_stdin(&["menu"], "12\nno\n0\n");
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(run.stderr.contains("Apply cancelled."), "{}", run.stderr);
    // Input that ends after a declined item, without a quit, ends as that item did.
    let run = env.run_with_stdin(&["menu"], "12\nno\n");
    assert_eq!(run.code, 1, "{}", run.stderr);
    let run = env.run_with_stdin(&["menu"], "2\n");
    assert_eq!(run.code, 0, "{}", run.stderr);
}

#[test]
fn issue_17_a_lock_that_cannot_be_made_is_not_a_running_apply() {
    let env = Env::new();
    let run = env.run(&["plan", "-o", "p.plan"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    // The lock file's place is taken by a directory: the OS refuses to open it, as it
    // refuses in a read-only directory (which root, running these tests, may still write).
    std::fs::create_dir(env.path("p.plan.journal.lock")).unwrap();
    let before = env.stats();
    let run = env.run(&["apply", "p.plan"]);
    assert_eq!(run.code, 1, "{}", run.stderr);
    assert!(
        run.stderr.contains("failed to lock `p.plan.journal.lock`")
            && run.stderr.contains("Is a directory"),
        "{}",
        run.stderr
    );
    assert!(!run.stderr.contains("another apply"), "{}", run.stderr);
    assert!(!run.stderr.contains("wait for"), "{}", run.stderr);
    assert_eq!(modify_requests(&before, &env.stats()), 0);
}

#[test]
fn issue_17_a_receipt_path_that_cannot_be_written_is_refused_before_any_write() {
    let env = Env::new();
    let run = env.run(&["plan", "-o", "p.plan"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let before = env.stats();
    let run = env.run(&["apply", "p.plan", "--receipt", "audit/2026-12/receipt.json"]);
    assert_eq!(run.code, 1, "{}", run.stderr);
    assert!(
        run.stderr
            .contains("cannot write the receipt `audit/2026-12/receipt.json`")
            && run
                .stderr
                .contains("directory `audit/2026-12` does not exist")
            && run.stderr.contains("nothing was sent"),
        "{}",
        run.stderr
    );
    assert_eq!(modify_requests(&before, &env.stats()), 0);
    std::fs::create_dir_all(env.path("audit/2026-12")).unwrap();
    let run = env.run(&["apply", "p.plan", "--receipt", "audit/2026-12/receipt.json"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(env.path("audit/2026-12/receipt.json").exists());
}

/// Removes a directory when the apply starts sending: the receipt's directory vanishes
/// between the check before the first write and the receipt at the end.
struct RemoveWhenStarted(std::path::PathBuf);

impl Observer for RemoveWhenStarted {
    fn started(&self, _changes: usize) {
        std::fs::remove_dir_all(&self.0).unwrap();
    }
    fn changes_finished(&self, _finals: &[(RecordKey, Outcome)]) {}
}

#[test]
fn issue_17_a_receipt_that_fails_at_the_end_says_the_apply_finished_and_how_to_write_it() {
    let env = Env::new();
    let run = env.run(&["plan", "-o", "p.plan"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    std::fs::create_dir(env.path("audit")).unwrap();
    let bytes = std::fs::read(env.path("p.plan")).unwrap();
    let verified = file::read_bytes(&bytes).unwrap();
    let paths = Paths::beside(&env.path("p.plan"), Some(env.path("audit/receipt.json")));
    let holder = Holder::this_process("test", "T");
    let session = Session::open(&verified.plan, &verified.checksum, paths, &holder).unwrap();
    let options = ApplyOptions {
        on_conflict: OnConflict::Replan,
        parallelism: 2,
        max_rounds: 5,
        clock: ckplan::context::Clock::System,
    };
    let client = env.writer();
    let observer = RemoveWhenStarted(env.path("audit"));
    let error = env
        .runtime
        .block_on(session.run(&client, &options, &observer, &StopFlag::new()))
        .expect_err("the receipt cannot be written");
    assert!(
        matches!(error, SessionError::WriteReceipt { .. }),
        "{error}"
    );
    let message = env.filter(&error.to_string());
    assert!(
        message.starts_with(
            "the apply finished and every outcome is in journal `[DIR]/p.plan.journal`, \
             but writing receipt `[DIR]/audit/receipt.json` failed"
        ),
        "{message}"
    );
    assert_eq!(env.records("Stadium").len(), 3, "the apply did finish");
    // As the hint says: the same plan again with a writable receipt sends nothing.
    let before = env.stats();
    let run = env.run(&["apply", "p.plan", "--receipt", "receipt.json"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_eq!(modify_requests(&before, &env.stats()), 0, "{}", run.stderr);
    let receipt = env.read("receipt.json");
    assert!(receipt.contains("stadium-3"), "{receipt}");
}

#[test]
fn issue_17_show_prints_huge_changed_texts_whole_instead_of_diffing_them() {
    let env = Env::new();
    let lines = |from: usize| (from..from + 20_000).map(|i| format!("line {i}\n"));
    let old: String = lines(0).collect();
    let new: String = lines(1_000_000).collect();
    env.seed(&[stadium(1).with_field("name", FieldValue::string(&old))]);
    let mut stadiums = common::stadiums();
    stadiums[0]["name"] = serde_json::Value::String(new);
    env.set_stadiums(&stadiums);
    let run = env.run(&["plan", "-o", "p.plan"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let show = env.run(&["show", "p.plan"]);
    assert_eq!(show.code, 0, "{}", show.stderr);
    assert!(
        show.stdout.contains(
            "    ~ name: (20000 lines → 20000 lines; too long to compare line by line, shown whole)\n"
        ),
        "{}",
        &show.stdout[..show.stdout.len().min(2_000)]
    );
    // Before whole, then after whole.
    let before = show.stdout.find("        - line 0\n").unwrap();
    let last_before = show.stdout.find("        - line 19999\n").unwrap();
    let after = show.stdout.find("        + line 1000000\n").unwrap();
    assert!(before < last_before && last_before < after);
    assert!(show.stdout.contains("        + line 1019999\n"));
}

#[test]
fn issue_17_hints_that_suggest_a_command_carry_the_config_shell_quoted() {
    let env = Env::new();
    std::fs::copy(env.path("ckplan.yaml"), env.path("my config.yaml")).unwrap();
    let run = env.run(&["--config", "my config.yaml", "plan", "-o", "it's.plan"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(
        run.stderr.contains(
            "Review it with `ckplan --config 'my config.yaml' show 'it'\\''s.plan'`, then \
             `ckplan --config 'my config.yaml' apply 'it'\\''s.plan'`."
        ),
        "{}",
        run.stderr
    );
    // A hint attached to an error: a tampered plan suggests a new one.
    std::fs::write(env.path("bad.plan"), "not a plan").unwrap();
    let run = env.run(&["--config", "my config.yaml", "apply", "bad.plan"]);
    assert_eq!(run.code, 1, "{}", run.stderr);
    assert!(
        run.stderr
            .contains("hint: make a new plan with `ckplan --config 'my config.yaml' plan`"),
        "{}",
        run.stderr
    );
}

#[test]
fn issue_17_an_empty_data_file_is_warned_about_and_emptying_a_type_is_said_loudly() {
    let env = Env::new();
    env.publish();
    // NDJSON (as YAML) reads an empty file as no records at all.
    let config = env.read("ckplan.yaml");
    env.write(
        "ckplan.yaml",
        &config.replace("data/stadiums.json", "data/stadiums.ndjson"),
    );
    env.write("data/stadiums.ndjson", "");
    let validate = env.run(&["validate"]);
    assert_eq!(validate.code, 0, "{}", validate.stderr);
    assert!(
        validate.stderr.contains("data/stadiums.ndjson")
            && validate
                .stderr
                .contains("empty file (0 bytes): no `Stadium` records"),
        "{}",
        validate.stderr
    );
    // Teams reference the stadiums: keep them out of this plan, and delete the stadiums
    // they reference anyway (without the flag those are kept; see tests/cli/references.rs).
    let plan = env.run(&[
        "plan",
        "--delete-orphans",
        "--delete-referenced-orphans",
        "--type",
        "Stadium",
        "-o",
        "p.plan",
    ]);
    assert_eq!(plan.code, 0, "{}", plan.stderr);
    assert!(
        plan.stderr.contains(
            "warning: this plan deletes ALL 3 `Stadium` records in CloudKit: the local data \
             (`data/stadiums.ndjson`) holds no `Stadium` record"
        ),
        "{}",
        plan.stderr
    );
}

#[test]
fn issue_17_applying_a_plan_whose_data_files_changed_says_which() {
    let env = Env::new();
    let run = env.run(&["plan", "-o", "p.plan"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let mut teams = common::teams();
    teams[0]["name"] = serde_json::Value::from("Baltimore Blue Crabs");
    env.set_teams(&teams);
    let run = env.run(&["apply", "p.plan"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(
        run.stderr.contains(
            "warning: `data/teams.json` changed since this plan was made; apply writes what \
             the plan says"
        ),
        "{}",
        run.stderr
    );
    // An unchanged input says nothing.
    let run = env.run(&["plan", "-o", "q.plan"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let run = env.run(&["apply", "q.plan"]);
    assert!(!run.stderr.contains("changed since"), "{}", run.stderr);
}

/// A journal that cannot grow (the process may write files of at most `limit` bytes, as on
/// a full disk) stops the apply with the line that says how to resume; the run after it
/// finishes the plan.
#[cfg(target_os = "linux")]
#[test]
fn issue_17_a_journal_that_cannot_be_written_still_says_how_to_resume() {
    use std::os::unix::process::CommandExt;
    let env = Env::new();
    let run = env.run(&["plan", "-o", "p.plan"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let journal_limit: u64 = 600;
    let mut command = std::process::Command::new(assert_cmd::cargo::cargo_bin("ckplan"));
    command
        .current_dir(env.dir.path())
        .env("NO_COLOR", "1")
        .env_remove("CKPLAN_CONFIG")
        .env_remove("CKPLAN_PRIVATE_KEY_FILE")
        .env_remove("CKPLAN_PRIVATE_KEY")
        .args(["apply", "p.plan", "--parallelism", "1"]);
    // SAFETY: only async-signal-safe calls (setrlimit, signal) between fork and exec.
    unsafe {
        command.pre_exec(move || {
            // A write past the limit fails with EFBIG instead of killing the process.
            libc::signal(libc::SIGXFSZ, libc::SIG_IGN);
            let limit = libc::rlimit {
                rlim_cur: journal_limit,
                rlim_max: journal_limit,
            };
            if libc::setrlimit(libc::RLIMIT_FSIZE, &limit) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    let output = command.output().unwrap();
    let stderr = env.filter(&String::from_utf8_lossy(&output.stderr));
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("failed to write journal `p.plan.journal`")
            || stderr.contains("failed to write journal `[DIR]/p.plan.journal`"),
        "{stderr}"
    );
    assert!(
        stderr.contains("run `ckplan apply p.plan` again to resume"),
        "{stderr}"
    );
    let run = env.run(&["apply", "p.plan"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_eq!(env.records("Stadium").len(), 3);
    assert_eq!(env.records("Team").len(), 2);
}
