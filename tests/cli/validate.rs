//! `ckplan validate` through the binary, on the fixture projects under
//! `tests/fixtures/local/`: exit codes, every problem with file, place, record and field,
//! the per-type counts, `--json` and `-q`.

use assert_cmd::Command;

const VALID: &str = "tests/fixtures/local/valid/ckplan.yaml";
const BROKEN: &str = "tests/fixtures/local/broken/ckplan.yaml";

fn validate(config: &str, extra: &[&str]) -> (i32, String, String) {
    let output = Command::cargo_bin("ckplan")
        .expect("the ckplan binary is built")
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .env_remove("CKPLAN_CONFIG")
        .env_remove("CKPLAN_LOG")
        .env("NO_COLOR", "1")
        .args(["--config", config, "validate"])
        .args(extra)
        .output()
        .expect("ckplan runs");
    (
        output.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

#[test]
fn valid_project_passes_with_counts_in_dependency_order() {
    let (code, stdout, stderr) = validate(VALID, &[]);
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(stdout, "");
    assert_eq!(
        stderr,
        "Stadium: 3 records\nTeam: 2 records\nGame: 3 records\nvalidate: 0 errors, 0 warnings\n"
    );
}

const BROKEN_STDERR: &str = "\
error: tests/fixtures/local/broken/ckplan.yaml:12:7: Team field `league`: references type `League`, which is not configured under `types:`
error: tests/fixtures/local/broken/ckplan.yaml:13:7: Team field `rating`: unknown field type `FLOAT` (expected STRING, INT64, DOUBLE, TIMESTAMP, BYTES, REFERENCE, LOCATION, ASSETID, a `_LIST` of one, or REFERENCE(Type))
warning: tests/fixtures/local/broken/data/games.ndjson:2: Game `game-2` field `home`: references `team-99`, which no local `Team` record defines (it may exist only in CloudKit)
error: tests/fixtures/local/broken/data/games.ndjson:3: Game `game-3` field `starts`: TIMESTAMP `1743620700000.5` is not a whole number of milliseconds
error: tests/fixtures/local/broken/data/games.ndjson:4:18: Game: malformed JSON: EOF while parsing a value
error: tests/fixtures/local/broken/data/games.ndjson:5:54: Game: invalid UTF-8
error: tests/fixtures/local/broken/data/missing.json: Game: failed to read `tests/fixtures/local/broken/data/missing.json`: <not found>
error: tests/fixtures/local/broken/data/stadiums.json:3:75: Stadium: malformed JSON: trailing comma
error: tests/fixtures/local/broken/data/teams.yaml:4: Team `team-2` field `founded`: expected INT64, found string \"abc\"
error: tests/fixtures/local/broken/data/teams.yaml:7: Team: record_name template `team-{id}` needs key `id`, which this record lacks
error: tests/fixtures/local/broken/data/teams.yaml:9: Team `team-4` field `nmae`: unknown key `nmae`: not listed under `fields:` of type `Team` (a typo?)
error: tests/fixtures/local/broken/data/teams-extra.json:3: Team `team-1`: duplicate recordName `team-1`: first defined at tests/fixtures/local/broken/data/teams.yaml:1
error: tests/fixtures/local/broken/data/broken.yaml:3:5: Team: malformed YAML: did not find expected ',' or ']', while parsing a flow sequence at line 2 column 9
Stadium: 1 record
Team: 2 records
Game: 2 records
validate: 12 errors, 1 warning
";

#[test]
fn broken_project_lists_every_problem_and_fails() {
    let (code, stdout, stderr) = validate(BROKEN, &[]);
    assert_eq!(code, 1);
    assert_eq!(stdout, "");
    let stderr = stderr.replace("No such file or directory (os error 2)", "<not found>");
    assert_eq!(stderr, BROKEN_STDERR);
}

#[test]
fn json_output_carries_every_problem_with_its_place() {
    let (code, stdout, stderr) = validate(BROKEN, &["--json"]);
    assert_eq!(code, 1);
    assert_eq!(stderr, "validate: 12 errors, 1 warning\n");
    let report: serde_json::Value = serde_json::from_str(&stdout).expect("stdout is JSON");
    assert_eq!(report["errors"], 12);
    assert_eq!(report["warnings"], 1);
    assert_eq!(report["types"]["Game"]["records"], 2);
    let problems = report["problems"].as_array().expect("a problem list");
    assert_eq!(problems.len(), 13);
    let founded = problems
        .iter()
        .find(|p| p["field"] == "founded")
        .expect("the INT64 problem");
    assert_eq!(
        founded,
        &serde_json::json!({
            "severity": "error",
            "file": "tests/fixtures/local/broken/data/teams.yaml",
            "place": {"line": 4},
            "record_type": "Team",
            "record_name": "team-2",
            "field": "founded",
            "message": "expected INT64, found string \"abc\"",
        })
    );
    let stadium = problems
        .iter()
        .find(|p| p["record_type"] == "Stadium")
        .expect("the malformed JSON problem");
    assert_eq!(
        stadium["place"],
        serde_json::json!({"line": 3, "column": 75})
    );
}

#[test]
fn quiet_shows_only_errors_and_the_verdict() {
    let (code, _, stderr) = validate(BROKEN, &["-q"]);
    assert_eq!(code, 1);
    assert!(!stderr.contains("warning:"), "{stderr}");
    assert!(!stderr.contains("records\n"), "{stderr}");
    assert_eq!(
        stderr.lines().filter(|l| l.starts_with("error: ")).count(),
        12
    );
    let (code, _, stderr) = validate(VALID, &["-q"]);
    assert_eq!((code, stderr.as_str()), (0, ""));
}

#[test]
fn config_syntax_errors_name_the_line_and_column() {
    let directory = tempfile::tempdir().expect("a temporary directory");
    let config = directory.path().join("ckplan.yaml");
    std::fs::write(
        &config,
        "container: c\nenvironment: development\ntypes:\n  Team:\n    file: t.json\n    feilds: {}\n",
    )
    .expect("the config is written");
    let (code, _, stderr) = validate(&config.to_string_lossy(), &[]);
    assert_eq!(code, 1);
    let expected = format!("error: cannot validate\n  caused by: invalid config `{}`:6:5: types.Team: unknown field `feilds`", config.display());
    assert!(stderr.starts_with(&expected), "{stderr}");
}

#[test]
fn missing_config_fails() {
    let (code, _, stderr) = validate("tests/fixtures/local/nowhere.yaml", &[]);
    assert_eq!(code, 1);
    assert!(
        stderr.contains("failed to read config `tests/fixtures/local/nowhere.yaml`"),
        "{stderr}"
    );
}

#[test]
fn help_has_a_worked_example() {
    let output = Command::cargo_bin("ckplan")
        .expect("the ckplan binary is built")
        .args(["validate", "--help"])
        .output()
        .expect("ckplan runs");
    let help = String::from_utf8_lossy(&output.stdout);
    assert!(help.contains("$ ckplan --config examples/sportstime/ckplan.yaml validate"));
    assert!(help.contains("validate: 1 error, 1 warning"));
}
