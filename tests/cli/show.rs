//! `ckplan show` through the binary: rendering, `--json`, and refusal of plans that cannot
//! be trusted. Plans are written with `ckplan::plan::file::to_text`, as `ckplan plan` does.

use assert_cmd::Command;
use ckplan::diff::{Category, FieldChange, RecordDiff, TypeDiff};
use ckplan::plan::{file, InputDigest, Plan, PlanOptions};
use ckplan::record::{ChangeTag, FieldValue, Fields, ScalarType, Value};
use ckplan::record::{Database, Environment, Target};
use std::path::{Path, PathBuf};

pub(crate) fn record(
    record_type: &str,
    name: &str,
    category: Category,
    fields: &[(&str, FieldValue)],
) -> RecordDiff {
    RecordDiff {
        record_type: record_type.into(),
        record_name: name.into(),
        category,
        change_tag: (category != Category::New).then(|| ChangeTag::new(format!("k-{name}"))),
        changes: Vec::new(),
        desired: (category != Category::Orphan).then(|| {
            fields
                .iter()
                .map(|(field, value)| (field.to_string(), value.clone()))
                .collect::<Fields>()
        }),
    }
}

fn change(field: &str, before: Option<FieldValue>, after: Option<FieldValue>) -> FieldChange {
    FieldChange {
        field: field.into(),
        before,
        after,
    }
}

/// A plan with creates, updates (scalar, added, removed, multi-line), kept orphans and a
/// delete, made the way `ckplan plan` makes it.
pub(crate) fn sample_plan(delete_orphans: bool) -> Plan {
    let new_stadium = record(
        "Stadium",
        "stadium-harbor",
        Category::New,
        &[
            ("name", FieldValue::string("Harbor Point Field")),
            ("city", FieldValue::string("Baltimore")),
            ("location", FieldValue::location(39.2839, -76.6217)),
            ("capacity", FieldValue::int64(45971)),
            ("opened", FieldValue::timestamp(702_086_400_000)),
        ],
    );
    let notes_before = "Home of the harbor.\nRoof: open-air.\nGrass: Kentucky bluegrass.";
    let notes_after = "Home of the harbor.\nRoof: retractable.\nGrass: Kentucky bluegrass.";
    let mut updated_stadium = record(
        "Stadium",
        "stadium-fenway",
        Category::Updated,
        &[
            ("name", FieldValue::string("Fenway Park")),
            ("capacity", FieldValue::int64(37755)),
            ("notes", FieldValue::string(notes_after)),
            ("location", FieldValue::location(42.3467, -71.0972)),
        ],
    );
    updated_stadium.changes = vec![
        change(
            "capacity",
            Some(FieldValue::int64(37731)),
            Some(FieldValue::int64(37755)),
        ),
        change(
            "notes",
            Some(FieldValue::string(notes_before)),
            Some(FieldValue::string(notes_after)),
        ),
        change("sponsor", Some(FieldValue::string("Acme")), None),
    ];
    let colors = |names: &[&str]| {
        FieldValue::List(
            ScalarType::String,
            names.iter().map(|n| Value::String(n.to_string())).collect(),
        )
    };
    let mut updated_team = record(
        "Team",
        "team-7",
        Category::Updated,
        &[
            ("name", FieldValue::string("Boston Harbormen")),
            ("stadium", FieldValue::reference("stadium-fenway")),
            ("colors", colors(&["red", "navy"])),
            ("founded", FieldValue::int64(1901)),
        ],
    );
    updated_team.changes = vec![
        change(
            "colors",
            Some(colors(&["red"])),
            Some(colors(&["red", "navy"])),
        ),
        change(
            "stadium",
            None,
            Some(FieldValue::reference("stadium-fenway")),
        ),
    ];
    let diffs = vec![
        TypeDiff {
            record_type: "Team".into(),
            records: vec![
                updated_team,
                record("Team", "team-1", Category::Unchanged, &[]),
                record("Team", "team-9", Category::Orphan, &[]),
            ],
        },
        TypeDiff {
            record_type: "Stadium".into(),
            records: vec![
                updated_stadium,
                new_stadium,
                record("Stadium", "stadium-oak", Category::Unchanged, &[]),
            ],
        },
    ];
    let target = Target {
        container: "iCloud.com.example.SportsTime".into(),
        environment: Environment::Development,
        database: Database::Public,
        zone: "_defaultZone".into(),
    };
    let inputs = ["ckplan.yaml", "data/stadiums.json", "data/teams.yaml"]
        .map(|path| InputDigest {
            path: path.into(),
            blake3: "ab".repeat(32),
        })
        .to_vec();
    let options = PlanOptions {
        delete_orphans,
        delete_referenced: false,
        types: None,
    };
    let order = vec!["Stadium".into(), "Team".into()];
    Plan::build(
        target,
        options,
        inputs,
        order,
        diffs,
        "2025-03-01T12:00:00Z".parse().unwrap(),
    )
}

pub(crate) fn write_plan(dir: &Path, text: &str) -> PathBuf {
    let path = dir.join("out.plan");
    std::fs::write(&path, text).unwrap();
    path
}

/// Runs `ckplan show ARGS...` with colour decided by the environment as for a user whose
/// output is piped; returns (exit code, stdout, stderr) with the temp dir as `[TMP]`.
pub(crate) fn show(dir: &Path, args: &[&str]) -> (i32, String, String) {
    let output = Command::cargo_bin("ckplan")
        .unwrap()
        .arg("show")
        .args(args)
        .current_dir(dir)
        .env_remove("NO_COLOR")
        .env_remove("CLICOLOR_FORCE")
        .env_remove("CKPLAN_CONFIG")
        .output()
        .unwrap();
    let filter = |bytes: Vec<u8>| {
        String::from_utf8(bytes)
            .unwrap()
            .replace(&dir.display().to_string(), "[TMP]")
    };
    (
        output.status.code().unwrap_or(-1),
        filter(output.stdout),
        filter(output.stderr),
    )
}

fn refused(text: &str) -> String {
    let dir = tempfile::tempdir().unwrap();
    let path = write_plan(dir.path(), text);
    let (code, stdout, stderr) = show(dir.path(), &[path.to_str().unwrap()]);
    assert_eq!(code, 1, "{stderr}");
    assert_eq!(stdout, "");
    stderr
}

#[test]
fn renders_a_plan_without_colour_when_piped() {
    let dir = tempfile::tempdir().unwrap();
    let path = write_plan(dir.path(), &file::to_text(&sample_plan(false)));
    let (code, stdout, stderr) = show(dir.path(), &[path.to_str().unwrap()]);
    assert_eq!((code, stderr.as_str()), (0, ""));
    assert!(!stdout.contains('\u{1b}'), "escape codes in piped output");
    insta::assert_snapshot!(stdout);
}

#[test]
fn verbose_lists_unchanged_fields_and_deletes_show_up() {
    let dir = tempfile::tempdir().unwrap();
    let path = write_plan(dir.path(), &file::to_text(&sample_plan(true)));
    let (code, stdout, _) = show(dir.path(), &["-v", path.to_str().unwrap()]);
    assert_eq!(code, 0);
    insta::assert_snapshot!(stdout);
}

#[test]
fn json_prints_the_verified_document() {
    let dir = tempfile::tempdir().unwrap();
    let text = file::to_text(&sample_plan(false));
    let path = write_plan(dir.path(), &text);
    let (code, stdout, stderr) = show(dir.path(), &[path.to_str().unwrap(), "--json"]);
    assert_eq!((code, stderr.as_str()), (0, ""));
    assert_eq!(stdout, text);
    assert_eq!(file::from_text(&stdout), Ok(sample_plan(false)));
}

#[test]
fn edited_plan_is_refused() {
    let text = file::to_text(&sample_plan(false)).replace("37755", "37756");
    insta::assert_snapshot!(refused(&text));
}

#[test]
fn truncated_plan_is_refused() {
    let text = file::to_text(&sample_plan(false));
    let cut = text.find("\"changes\"").unwrap();
    insta::assert_snapshot!(refused(&text[..cut]));
}

#[test]
fn unknown_format_version_is_refused() {
    let text = file::to_text(&sample_plan(false))
        .replace("\"format_version\": 2,", "\"format_version\": 7,");
    insta::assert_snapshot!(refused(&text));
}

#[test]
fn other_files_are_not_plans() {
    insta::assert_snapshot!(refused("container: iCloud.com.example.SportsTime\n"));
    insta::assert_snapshot!(refused("{\"hello\": \"world\"}\n"));
}

#[test]
fn missing_file_is_refused_with_its_path() {
    let dir = tempfile::tempdir().unwrap();
    let (code, stdout, stderr) = show(dir.path(), &["missing.plan"]);
    assert_eq!((code, stdout.as_str()), (1, ""));
    insta::assert_snapshot!(stderr);
}

/// `ckplan show` with colour forced on (`CLICOLOR_FORCE=1`, as on a terminal) and the given
/// extra arguments and environment; returns (stdout, stderr).
fn show_forced_colour(dir: &Path, args: &[&str], env: &[(&str, &str)]) -> (String, String) {
    let output = Command::cargo_bin("ckplan")
        .unwrap()
        .args(args)
        .current_dir(dir)
        .env_remove("NO_COLOR")
        .env_remove("CKPLAN_CONFIG")
        .env("CLICOLOR_FORCE", "1")
        .envs(env.iter().copied())
        .output()
        .unwrap();
    let text = |bytes: Vec<u8>| String::from_utf8(bytes).unwrap();
    (text(output.stdout), text(output.stderr))
}

/// Regression (issue 13): colour was never observed on, so NO_COLOR and --no-color were
/// never observed to turn it off.
#[test]
fn issue_13_colour_forced_on_is_turned_off_by_no_color_and_the_flag() {
    let dir = tempfile::tempdir().unwrap();
    let path = write_plan(dir.path(), &file::to_text(&sample_plan(false)));
    let plan = path.to_str().unwrap();
    let (coloured, _) = show_forced_colour(dir.path(), &["show", plan], &[]);
    assert!(
        coloured.contains("\u{1b}["),
        "no colour when forced:\n{coloured}"
    );
    let (_, error) = show_forced_colour(dir.path(), &["show", "missing.plan"], &[]);
    assert!(
        error.starts_with("\u{1b}["),
        "the error is not coloured:\n{error}"
    );

    let off = [
        show_forced_colour(dir.path(), &["show", plan], &[("NO_COLOR", "1")]),
        show_forced_colour(dir.path(), &["--no-color", "show", plan], &[]),
        show_forced_colour(dir.path(), &["show", "missing.plan"], &[("NO_COLOR", "1")]),
        show_forced_colour(dir.path(), &["--no-color", "show", "missing.plan"], &[]),
    ];
    for (stdout, stderr) in &off {
        assert!(!stdout.contains('\u{1b}'), "{stdout}");
        assert!(!stderr.contains('\u{1b}'), "{stderr}");
    }
    // The same text, only without the escapes.
    let plain = &off[0].0;
    let stripped = console::strip_ansi_codes(&coloured);
    assert_eq!(&stripped, plain);
    assert!(off[2].1.starts_with("error: "), "{}", off[2].1);
}
