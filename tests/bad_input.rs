//! The bad-input corpus: every case runs the `ckplan` binary on a workspace that is the
//! valid one under `tests/bad_input/base/` with some files replaced, against an emulator of
//! its own, and asserts a clear error naming the file and the place (the expected
//! substrings of stderr), the exit code, no panic, and zero writes at the emulator.
//!
//! Each case states the error it expects exactly (`error:` in `case.yaml`): the file it
//! names, the line and column (absent where the error has none), the record and the field
//! (absent where it names none) and the message. The runner finds the `error:` line (with
//! its `caused by:` lines) that carries the message, reads file, place, record and field
//! back out of it, and compares all of them.
//!
//! Cases on disk: `tests/bad_input/cases/NAME/` holds `case.yaml` (`about`, `args`
//! [default `apply --auto-approve`, which writes unless something refuses], `exit`
//! [default 1], `error`, extra `stderr` substrings, `remove` paths) and the files it
//! overlays. Cases whose
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
    pub error: Expected,
    /// Further substrings stderr must contain.
    pub stderr: Vec<String>,
}

/// The error a case must produce, every part stated.
#[derive(Clone, Debug, PartialEq, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Expected {
    pub file: String,
    #[serde(default)]
    pub line: Option<usize>,
    #[serde(default)]
    pub column: Option<usize>,
    #[serde(default)]
    pub record: Option<String>,
    #[serde(default)]
    pub field: Option<String>,
    pub message: String,
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
    error: Expected,
    #[serde(default)]
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
            error: file.error,
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

/// Each `error:` line of stderr with the `  caused by:` lines under it.
fn error_blocks(stderr: &str) -> Vec<String> {
    let mut blocks: Vec<String> = Vec::new();
    let mut open = false;
    for line in stderr.lines() {
        if let Some(text) = line.strip_prefix("error: ") {
            blocks.push(text.to_owned());
            open = true;
        } else if let (true, Some(cause)) = (open, line.strip_prefix("  caused by: ")) {
            let block = blocks.last_mut().expect("an open block");
            block.push('\n');
            block.push_str(cause);
        } else {
            open = false;
        }
    }
    blocks
}

/// `:digits` at the start of `text`: the number and the rest.
fn number_after_colon(text: &str) -> Option<(usize, &str)> {
    let digits = text.strip_prefix(':')?;
    let end = digits
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(digits.len());
    Some((digits[..end].parse().ok()?, &digits[end..]))
}

/// `` `name` `` at the start of `text`: the name and the rest.
fn quoted(text: &str) -> Option<(&str, &str)> {
    let inner = text.strip_prefix('`')?;
    let end = inner.find('`')?;
    Some((&inner[..end], &inner[end + 1..]))
}

/// File, place, record and field as an error block states them: the first mention of
/// `file` (bare or in backticks), `:line[:column]` right after it, then either a data
/// problem's `Type[ `record`][ field `field`]:` or a configuration error's `key.path:`.
fn read_error(block: &str, file: &str) -> Option<Expected> {
    let at = block.find(file)?;
    let mut rest = &block[at + file.len()..];
    rest = rest.strip_prefix('`').unwrap_or(rest);
    let (mut line, mut column) = (None, None);
    if let Some((number, after)) = number_after_colon(rest) {
        line = Some(number);
        rest = after;
        if let Some((number, after)) = number_after_colon(rest) {
            column = Some(number);
            rest = after;
        }
    }
    let rest = rest.strip_prefix(": ").unwrap_or(rest);
    let word_end = rest
        .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_' || c == '.'))
        .unwrap_or(rest.len());
    let (word, mut after) = rest.split_at(word_end);
    let (mut record, mut field) = (None, None);
    if word.starts_with(|c: char| c.is_ascii_uppercase()) {
        if let Some((name, more)) = after.strip_prefix(' ').and_then(quoted) {
            record = Some(name.to_owned());
            after = more;
        }
        if let Some((name, _)) = after.strip_prefix(" field ").and_then(quoted) {
            field = Some(name.to_owned());
        }
    } else if !word.is_empty() && after.starts_with(": ") {
        field = Some(word.to_owned());
    }
    Some(Expected {
        file: file.to_owned(),
        line,
        column,
        record,
        field,
        message: String::new(),
    })
}

/// What the error carrying `expected.message` states, or why there is none.
fn stated_error(stderr: &str, expected: &Expected) -> Result<Expected, String> {
    let blocks = error_blocks(stderr);
    let block = blocks
        .iter()
        .find(|block| block.contains(expected.message.as_str()))
        .ok_or_else(|| format!("no error says `{}`", expected.message))?;
    let mut found = read_error(block, &expected.file)
        .ok_or_else(|| format!("the error does not name `{}`: {block}", expected.file))?;
    found.message = expected.message.clone();
    Ok(found)
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
    match stated_error(&ran.stderr, &case.error) {
        Ok(found) if found == case.error => {}
        Ok(found) => wrong.push(format!("the error states {found:?}, want {:?}", case.error)),
        Err(reason) => wrong.push(reason),
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
    assert_eq!(
        cases.len(),
        readme_corpus_size(),
        "the README states another corpus size"
    );
    let mut failures = Vec::new();
    for case in &cases {
        let ran = run_case(case).await;
        let wrong = judge(case, &ran);
        if std::env::var_os("CKPLAN_SHOW_BAD_INPUT").is_some() {
            let blocks = error_blocks(&ran.stderr);
            let read = blocks.first().and_then(|b| read_error(b, &case.error.file));
            eprintln!(
                "== {} (exit {}) {read:?}\n{}",
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

/// The corpus size the README states ("a N-case corpus").
fn readme_corpus_size() -> usize {
    let readme = std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("README.md"))
        .expect("README.md");
    let at = readme
        .find("-case corpus")
        .expect("the README states the corpus size");
    let digits: String = readme[..at]
        .chars()
        .rev()
        .take_while(char::is_ascii_digit)
        .collect();
    digits
        .chars()
        .rev()
        .collect::<String>()
        .parse()
        .expect("a number")
}

/// The runner's reading of errors, on the shapes ckplan prints.
#[test]
fn errors_are_read_back_exactly() {
    let read = |block: &str, file: &str| read_error(block, file).unwrap();
    let data = read(
        "data/stadiums.json:2:7: Stadium `stadium-1` field `capacity`: expected INT64",
        "data/stadiums.json",
    );
    assert_eq!(
        (data.line, data.column, data.record, data.field),
        (
            Some(2),
            Some(7),
            Some("stadium-1".into()),
            Some("capacity".into())
        )
    );
    let config = read(
        "invalid config `ckplan.yaml`:4:11: database: unknown variant `publik`",
        "ckplan.yaml",
    );
    assert_eq!(
        (config.line, config.column, config.record, config.field),
        (Some(4), Some(11), None, Some("database".into()))
    );
    let bare = read(
        "data/games.ndjson:2: Game: expected a record object",
        "data/games.ndjson",
    );
    assert_eq!(
        (bare.line, bare.column, bare.record, bare.field),
        (Some(2), None, None, None)
    );
    let nested = read(
        "failed to connect\nfailed to read key file `keys/none.pem`\nNo such file",
        "keys/none.pem",
    );
    assert_eq!(
        (nested.line, nested.record, nested.field),
        (None, None, None)
    );
    assert_eq!(
        error_blocks("warning: w\nerror: a\n  caused by: b\nhint: h\nerror: c\n"),
        ["a\nb", "c"]
    );
    assert_eq!(read("x.yaml:12 is", "x.yaml").line, Some(12));
    assert_eq!(read("x.yaml:123: T", "x.yaml").line, Some(123));
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
        error: Expected {
            file: String::new(),
            line: None,
            column: None,
            record: None,
            field: None,
            message: String::new(),
        },
        stderr: Vec::new(),
    };
    let ran = run_case(&case).await;
    assert_eq!(ran.code, 0, "{}", ran.stderr);
    assert!(ran.modify_requests > 0);
    assert!(ran.stderr.contains("6 created"), "{}", ran.stderr);
}
