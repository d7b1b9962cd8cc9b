//! The bad-input corpus: every case runs the `ckplan` binary on a workspace that is the
//! valid one under `tests/bad_input/base/` with some files replaced, against an emulator of
//! its own, and asserts a clear error naming the file and the place (the expected
//! substrings of stderr), the exit code, no panic, and zero writes at the emulator.
//!
//! Cases on disk: `tests/bad_input/cases/NAME/` holds `case.yaml` (`about`, `args`
//! [default `apply --auto-approve`, which writes unless something refuses], `exit`
//! [default 1], `stderr` substrings, `remove` paths) and the files it overlays. Cases whose
//! input is awkward to keep in git (invalid UTF-8, megabytes, deep nesting, tampered
//! plans) are built in `generated_cases` below. `{{ENDPOINT}}` in `ckplan.yaml` becomes the
//! emulator's URL.

#[path = "bad_input/generated.rs"]
mod generated;

use ckplan::cloudkit::auth;
use ckplan::emulator::{self, EmulatorConfig, RegisteredKey};
use std::path::{Path, PathBuf};
use std::process::Command;

const KEY_ID: &str = "bad-input-key";

/// One bad input and what must come of it.
pub struct Case {
    pub name: String,
    /// Files written over the base workspace, by relative path.
    pub files: Vec<(String, Vec<u8>)>,
    /// Base files removed.
    pub remove: Vec<String>,
    /// Before the run: make `good.plan` with `ckplan plan` and turn it into `bad.plan`.
    pub plan: Option<fn(&str) -> Vec<u8>>,
    pub args: Vec<String>,
    pub exit: i32,
    pub stderr: Vec<String>,
}

#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct CaseFile {
    #[allow(dead_code)]
    about: String,
    #[serde(default)]
    args: Option<Vec<String>>,
    #[serde(default)]
    exit: Option<i32>,
    stderr: Vec<String>,
    #[serde(default)]
    remove: Vec<String>,
}

pub fn default_args() -> Vec<String> {
    vec!["apply".into(), "--auto-approve".into()]
}

fn corpus() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/bad_input")
}

fn disk_cases() -> Vec<Case> {
    let mut cases = Vec::new();
    let mut directories: Vec<_> = std::fs::read_dir(corpus().join("cases"))
        .expect("tests/bad_input/cases")
        .map(|entry| entry.expect("entry").path())
        .collect();
    directories.sort();
    for directory in directories {
        let name = directory
            .file_name()
            .unwrap()
            .to_string_lossy()
            .into_owned();
        let text = std::fs::read_to_string(directory.join("case.yaml"))
            .unwrap_or_else(|e| panic!("{name}/case.yaml: {e}"));
        let file: CaseFile =
            serde_yaml::from_str(&text).unwrap_or_else(|e| panic!("{name}/case.yaml: {e}"));
        let mut files = Vec::new();
        collect_files(&directory, &directory, &mut files);
        files.retain(|(path, _)| path != "case.yaml");
        cases.push(Case {
            name,
            files,
            remove: file.remove,
            plan: None,
            args: file.args.unwrap_or_else(default_args),
            exit: file.exit.unwrap_or(1),
            stderr: file.stderr,
        });
    }
    cases
}

fn collect_files(root: &Path, directory: &Path, files: &mut Vec<(String, Vec<u8>)>) {
    for entry in std::fs::read_dir(directory).expect("read corpus dir") {
        let path = entry.expect("entry").path();
        if path.is_dir() {
            collect_files(root, &path, files);
        } else {
            let relative = path.strip_prefix(root).unwrap().to_string_lossy();
            files.push((relative.into_owned(), std::fs::read(&path).expect("read")));
        }
    }
}

fn copy_tree(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).expect("mkdir");
    for entry in std::fs::read_dir(from).expect("read base") {
        let path = entry.expect("entry").path();
        let target = to.join(path.file_name().unwrap());
        if path.is_dir() {
            copy_tree(&path, &target);
        } else {
            std::fs::copy(&path, &target).expect("copy");
        }
    }
}

/// What a run left behind.
struct Ran {
    code: i32,
    stderr: String,
    stdout: String,
    modify_requests: u64,
}

fn ckplan(directory: &Path, args: &[String]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_ckplan"))
        .current_dir(directory)
        .env_remove("CKPLAN_CONFIG")
        .env_remove("CKPLAN_KEY_ID")
        .env_remove("CKPLAN_PRIVATE_KEY_FILE")
        .env("NO_COLOR", "1")
        .args(args)
        .stdin(std::process::Stdio::null())
        .output()
        .expect("ckplan runs")
}

async fn run_case(case: &Case) -> Ran {
    let (private_pem, public_pem) = auth::generate_key_pair();
    let running = emulator::start(EmulatorConfig {
        keys: vec![RegisteredKey {
            key_id: Some(KEY_ID.into()),
            key: auth::parse_public_pem(&public_pem).expect("public key"),
        }],
        ..EmulatorConfig::default()
    })
    .await
    .expect("emulator");
    let directory = tempfile::tempdir().expect("temp dir");
    let root = directory.path();
    copy_tree(&corpus().join("base"), root);
    std::fs::create_dir_all(root.join("keys")).expect("keys dir");
    write_private(&root.join("keys/key.pem"), private_pem.as_bytes());
    let config = root.join("ckplan.yaml");
    fill_endpoint(&config, &running.url());
    if let Some(tamper) = case.plan {
        let made = ckplan(root, &["plan".into(), "-o".into(), "good.plan".into()]);
        assert_eq!(
            made.status.code(),
            Some(0),
            "{}: planning failed: {}",
            case.name,
            String::from_utf8_lossy(&made.stderr)
        );
        let good = std::fs::read_to_string(root.join("good.plan")).expect("good plan");
        std::fs::write(root.join("bad.plan"), tamper(&good)).expect("bad plan");
    }
    for path in &case.remove {
        let path = root.join(path);
        let _ = std::fs::remove_file(&path).or_else(|_| std::fs::remove_dir_all(&path));
    }
    for (path, bytes) in &case.files {
        let target = root.join(path);
        std::fs::create_dir_all(target.parent().unwrap()).expect("mkdir");
        if path.ends_with(".pem") {
            write_private(&target, bytes);
        } else {
            std::fs::write(&target, bytes).expect("overlay");
        }
    }
    fill_endpoint(&config, &running.url());
    let output = ckplan(root, &case.args);
    let stats = running.stats();
    running.shutdown().await;
    Ran {
        code: output.status.code().unwrap_or(-1),
        stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
        stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
        modify_requests: stats.requests.get("records/modify").copied().unwrap_or(0),
    }
}

/// `{{ENDPOINT}}` in the config becomes the emulator's URL (a case's own config may carry it).
fn fill_endpoint(config: &Path, url: &str) {
    if let Ok(text) = std::fs::read_to_string(config) {
        std::fs::write(config, text.replace("{{ENDPOINT}}", url)).expect("config");
    }
}

fn write_private(path: &Path, bytes: &[u8]) {
    std::fs::write(path, bytes).expect("write key");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600)).expect("chmod");
    }
}

/// What is wrong with a run, if anything.
fn judge(case: &Case, ran: &Ran) -> Vec<String> {
    let mut wrong = Vec::new();
    if ran.code != case.exit {
        wrong.push(format!("exit code {} (want {})", ran.code, case.exit));
    }
    if ran.stderr.contains("panicked") || ran.code == 101 {
        wrong.push("panicked".into());
    }
    if !ran.stderr.contains("error") {
        wrong.push("no `error` on stderr".into());
    }
    for expected in &case.stderr {
        if !ran.stderr.contains(expected.as_str()) {
            wrong.push(format!("stderr lacks `{expected}`"));
        }
    }
    if ran.modify_requests > 0 {
        wrong.push(format!(
            "{} writes reached the emulator",
            ran.modify_requests
        ));
    }
    wrong
}

/// Output with every line cut to 300 characters (a case may echo a megabyte).
fn shorten(text: &str) -> String {
    text.lines()
        .map(|line| format!("{}\n", line.chars().take(300).collect::<String>()))
        .collect()
}

fn all_cases() -> Vec<Case> {
    let mut cases = disk_cases();
    cases.extend(generated::cases());
    cases
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_bad_input_fails_clearly_without_writing() {
    let cases = all_cases();
    assert!(cases.len() >= 60, "the corpus has {} cases", cases.len());
    let mut failures = Vec::new();
    for case in &cases {
        let ran = run_case(case).await;
        let wrong = judge(case, &ran);
        if std::env::var_os("CKPLAN_SHOW_BAD_INPUT").is_some() {
            eprintln!(
                "== {} (exit {})\n{}",
                case.name,
                ran.code,
                shorten(&ran.stderr)
            );
        }
        if !wrong.is_empty() {
            failures.push(format!(
                "{}: {}\n--- stderr:\n{}--- stdout:\n{}",
                case.name,
                wrong.join("; "),
                shorten(&ran.stderr),
                shorten(&ran.stdout)
            ));
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} cases failed:\n\n{}",
        failures.len(),
        cases.len(),
        failures.join("\n")
    );
}

/// The base workspace itself is valid: it plans and applies (so each case fails because of
/// its own input, and a case's zero writes mean something).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_base_workspace_applies() {
    let case = Case {
        name: "base".into(),
        files: Vec::new(),
        remove: Vec::new(),
        plan: None,
        args: default_args(),
        exit: 0,
        stderr: Vec::new(),
    };
    let ran = run_case(&case).await;
    assert_eq!(ran.code, 0, "{}", ran.stderr);
    assert!(ran.modify_requests > 0);
    assert!(ran.stderr.contains("6 created"), "{}", ran.stderr);
}
