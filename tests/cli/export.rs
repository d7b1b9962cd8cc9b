//! Issue 19, `ckplan export`: local data files and a config from what CloudKit holds, such
//! that `ckplan plan` right after shows no changes, for every field type ckplan supports.

use crate::common::Env;
use ckplan::record::{FieldValue, Location, Record, Reference, ScalarType, Value};

/// A record holding every field type ckplan publishes, scalars and lists.
fn every_type(name: &str) -> Record {
    let reference = |target: &str, action: &str| {
        Value::Reference(Box::new(Reference {
            record_name: target.into(),
            action: Some(action.into()),
            zone_id: None,
        }))
    };
    let location = |lat: f64, lon: f64| Value::Location(Box::new(Location::new(lat, lon)));
    Record::new("Team", name)
        .with_field("text", FieldValue::string("naïve \"quoted\"\nline two"))
        .with_field("count", FieldValue::int64(i64::MIN))
        .with_field("ratio", FieldValue::double(0.1 + 0.2))
        .with_field("at", FieldValue::timestamp(-86_400_001))
        .with_field("blob", FieldValue::Scalar(Value::Bytes("AAEC/w==".into())))
        .with_field("place", FieldValue::location(-33.8688, 151.2093))
        .with_field(
            "home",
            FieldValue::Scalar(reference("stadium-1", "DELETE_SELF")),
        )
        .with_field(
            "tags",
            FieldValue::List(
                ScalarType::String,
                vec![Value::String("a".into()), Value::String("".into())],
            ),
        )
        .with_field(
            "numbers",
            FieldValue::List(ScalarType::Int64, vec![Value::Int64(1), Value::Int64(-2)]),
        )
        .with_field(
            "weights",
            FieldValue::List(
                ScalarType::Double,
                vec![Value::Double(1e-300), Value::Double(2.5)],
            ),
        )
        .with_field(
            "dates",
            FieldValue::List(
                ScalarType::Timestamp,
                vec![Value::Timestamp(0), Value::Timestamp(1)],
            ),
        )
        .with_field(
            "stops",
            FieldValue::List(
                ScalarType::Location,
                vec![location(1.0, 2.0), location(-1.5, 0.25)],
            ),
        )
        .with_field(
            "rivals",
            FieldValue::List(
                ScalarType::Reference,
                vec![reference("team-x", "NONE"), reference("team-y", "NONE")],
            ),
        )
        .with_field("empty", FieldValue::List(ScalarType::String, vec![]))
}

fn export_then_plan(env: &Env, format: &str) {
    let run = env.run(&[
        "export", "--type", "Stadium", "--type", "Team", "-o", "adopted", "--format", format,
    ]);
    assert_eq!(run.code, 0, "{format}: {}", run.stderr);
    let run = env.run(&[
        "--config",
        "adopted/ckplan.yaml",
        "plan",
        "--detailed-exitcode",
        "-o",
        "check.plan",
    ]);
    assert_eq!(
        run.code, 0,
        "{format}: a plan right after export has changes:\n{}",
        run.stderr
    );
}

#[test]
fn issue_19_a_plan_right_after_export_is_empty_for_every_field_type_and_format() {
    let env = Env::new();
    env.publish();
    env.seed(&[every_type("team-every"), Record::new("Team", "team-bare")]);
    for format in ["json", "ndjson", "yaml"] {
        std::fs::remove_dir_all(env.path("adopted")).ok();
        export_then_plan(&env, format);
    }
    // Deterministic: the same CloudKit state exports the same bytes.
    let first = env.read("adopted/data/Team.yaml");
    let run = env.run(&[
        "export", "--type", "Team", "-o", "again", "--format", "yaml",
    ]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_eq!(env.read("again/data/Team.yaml"), first);
    let config = env.read("adopted/ckplan.yaml");
    assert!(config.contains("home: REFERENCE"), "{config}");
    assert!(config.contains("stops: LOCATION_LIST"), "{config}");
}

#[test]
fn issue_19_export_refuses_to_overwrite_without_force() {
    let env = Env::new();
    env.publish();
    let run = env.run(&["export", "--type", "Stadium", "-o", "adopted"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let before = env.read("adopted/data/Stadium.json");
    let run = env.run(&["export", "--type", "Stadium", "-o", "adopted"]);
    assert_eq!(run.code, 1, "{}", run.stderr);
    assert!(
        run.stderr.contains("refusing to overwrite"),
        "{}",
        run.stderr
    );
    assert!(run.stderr.contains("--force"), "{}", run.stderr);
    assert_eq!(env.read("adopted/data/Stadium.json"), before);
    let run = env.run(&["export", "--type", "Stadium", "-o", "adopted", "--force"]);
    assert_eq!(run.code, 0, "{}", run.stderr);

    // Asset files of an earlier export are not overwritten either.
    std::fs::create_dir_all(env.path("other/data/assets/Stadium")).unwrap();
    let run = env.run(&["export", "--type", "Stadium", "-o", "other"]);
    assert_eq!(run.code, 1, "{}", run.stderr);
    assert!(run.stderr.contains("data/assets/Stadium"), "{}", run.stderr);
    // A field type ckplan cannot represent is named, never dropped: the emulator stores
    // none, so `ops::export`'s unit tests show it.
}

/// Issue 19, guards: over `--max-deletes` or `--max-changes`, `plan` writes no plan and
/// `apply` sends nothing (zero requests at the emulator), naming the counts; exit 1.
#[test]
fn issue_19_guards_refuse_a_plan_over_its_limits_and_send_nothing() {
    let env = Env::new();
    env.publish();
    env.set_stadiums(&serde_json::json!([]));
    let run = env.run(&[
        "plan",
        "--delete-orphans",
        "--delete-referenced-orphans",
        "--max-deletes",
        "2",
        "-o",
        "big.plan",
    ]);
    assert_eq!(run.code, 1, "{}", run.stderr);
    assert!(
        run.stderr.contains("refusing the plan: the plan deletes 3 records, over --max-deletes 2; no plan was written"),
        "{}",
        run.stderr
    );
    assert!(!env.path("big.plan").exists());
    let run = env.run(&[
        "plan",
        "--delete-orphans",
        "--delete-referenced-orphans",
        "-o",
        "big.plan",
    ]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let before = env.stats();
    let run = env.run(&["apply", "big.plan", "--max-changes", "2"]);
    assert_eq!(run.code, 1, "{}", run.stderr);
    assert!(
        run.stderr.contains("the plan changes 3 records (0 to create, 0 to update, 3 to delete), over --max-changes 2; nothing was sent"),
        "{}",
        run.stderr
    );
    assert_eq!(crate::common::all_requests(&before, &env.stats()), 0);
    assert_eq!(
        env.stored_fields()
            .keys()
            .filter(|k| k.starts_with("stadium-"))
            .count(),
        3
    );
    let run = env.run(&["apply", "big.plan", "--max-deletes", "3"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
}

/// Issue 19, environments: `--environment production` (or `CKPLAN_ENVIRONMENT`) plans
/// against production for one command; the plan records it, a plain apply (the config says
/// development) refuses it, and apply to production still needs the guard.
#[test]
fn issue_19_environment_flag_plans_production_and_apply_keeps_the_guard() {
    let env = Env::new();
    env.publish();
    let run = env.run(&["--environment", "production", "plan", "-o", "prod.plan"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let plan: serde_json::Value = serde_json::from_str(&env.read("prod.plan")).unwrap();
    assert_eq!(plan["target"]["environment"], "production", "{plan:#}");
    // The suggested apply carries the environment it was planned for.
    assert!(
        run.stderr
            .contains("`ckplan --environment production apply prod.plan --allow-production`"),
        "{}",
        run.stderr
    );
    // Nothing is in production yet: every record is new there.
    assert!(
        run.stderr.contains("Stadium: 0 unchanged, 3 new"),
        "{}",
        run.stderr
    );
    let before = env.stats();
    let run = env.run(&["apply", "prod.plan"]);
    assert_eq!(run.code, 1, "{}", run.stderr);
    assert!(
        run.stderr.contains("the configuration targets"),
        "{}",
        run.stderr
    );
    let run = env
        .ckplan()
        .env("CKPLAN_ENVIRONMENT", "production")
        .args(["apply", "prod.plan"])
        .output()
        .unwrap();
    let stderr = String::from_utf8(run.stderr).unwrap();
    assert_eq!(run.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("without --allow-production"), "{stderr}");
    assert_eq!(crate::common::all_requests(&before, &env.stats()), 0);
    let run = env.run(&[
        "--environment",
        "production",
        "apply",
        "prod.plan",
        "--allow-production",
    ]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let run = env.run(&[
        "--environment",
        "production",
        "plan",
        "--detailed-exitcode",
        "-o",
        "again.plan",
    ]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let run = env.run(&["--environment", "staging", "plan"]);
    assert_eq!(run.code, 1, "{}", run.stderr);
    // An empty CKPLAN_ENVIRONMENT (a CI variable set to nothing) is no choice.
    let output = env
        .ckplan()
        .env("CKPLAN_ENVIRONMENT", "")
        .args(["plan", "--detailed-exitcode", "-o", "dev.plan"])
        .output()
        .unwrap();
    assert_eq!(
        output.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
}

/// Issue 19: `delete-all` warns when other configured types reference the type it empties.
#[test]
fn issue_19_delete_all_warns_about_types_that_reference_it() {
    let env = Env::new();
    env.publish();
    let config = env
        .read("ckplan.yaml")
        .replace("stadium: REFERENCE", "stadium: REFERENCE(Stadium)");
    env.write("ckplan.yaml", &config);
    let run = env.run(&["delete-all", "--type", "Stadium", "--yes"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(
        run.stderr
            .contains("warning: other configured types reference `Stadium`: Team.stadium;"),
        "{}",
        run.stderr
    );
    let run = env.run(&["delete-all", "--type", "Team", "--yes"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(!run.stderr.contains("reference `Team`"), "{}", run.stderr);
}

/// A container name is part of every request's path: one holding `/` or `?` could route a
/// write to another environment than the config says (past the production guard). Refused
/// where the config is read, naming the line, and nothing is sent.
#[test]
fn issue_19_a_container_that_would_leave_its_path_is_refused() {
    let env = Env::new();
    let config = env.read("ckplan.yaml");
    let container = config.lines().next().unwrap().to_owned();
    let hostile = "container: \"iCloud.com.example.Env/production/public/records/modify?x=\"";
    env.write("ckplan.yaml", &config.replacen(&container, hostile, 1));
    let before = env.stats();
    for command in [
        vec!["import"],
        vec!["plan", "-o", "p.plan"],
        vec!["validate"],
    ] {
        let run = env.run(&command);
        assert_eq!(run.code, 1, "{command:?}: {}", run.stderr);
        assert!(
            run.stderr.contains("ckplan.yaml`:1: container"),
            "{}",
            run.stderr
        );
        assert!(run.stderr.contains("holds `/`"), "{}", run.stderr);
    }
    assert_eq!(crate::common::all_requests(&before, &env.stats()), 0);
}

/// Issue 19 leftovers: YAML that YAML 1.1 tools read as ckplan does (`yes`, `off`, `~`,
/// numbers as strings quoted), and an empty type in NDJSON that the next plan does not
/// warn about (one empty line, not a 0-byte file).
#[test]
fn issue_19_yaml_quotes_ambiguous_strings_and_an_empty_ndjson_export_plans_quietly() {
    let env = Env::new();
    env.set_teams(&serde_json::json!([]));
    env.publish();
    // No Team in CloudKit.
    let run = env.run(&[
        "export", "--type", "Team", "-o", "empty", "--format", "ndjson",
    ]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_eq!(env.read("empty/data/Team.ndjson"), "\n");
    let plan = env.run(&[
        "--config",
        "empty/ckplan.yaml",
        "plan",
        "--detailed-exitcode",
        "-o",
        "e.plan",
    ]);
    assert_eq!(plan.code, 0, "{}", plan.stderr);
    assert!(!plan.stderr.contains("empty file"), "{}", plan.stderr);

    let words = ["yes", "off", "~", "1901", "null", "1_000"];
    let records: Vec<Record> = words
        .iter()
        .enumerate()
        .map(|(index, word)| {
            Record::new("Team", format!("team-{index}").as_str())
                .with_field("name", FieldValue::string(*word))
        })
        .collect();
    env.seed(&records);
    let run = env.run(&[
        "export", "--type", "Team", "-o", "words", "--format", "yaml",
    ]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let yaml = env.read("words/data/Team.yaml");
    for word in words {
        assert!(
            yaml.contains(&format!("value: \"{word}\"\n")),
            "{word}:\n{yaml}"
        );
    }
    let plan = env.run(&[
        "--config",
        "words/ckplan.yaml",
        "plan",
        "--detailed-exitcode",
        "-o",
        "w.plan",
    ]);
    assert_eq!(plan.code, 0, "{}", plan.stderr);
}

/// Issue 19: another app's writes that the plan's reader of local data would refuse — a
/// LOCATION with a member CloudKit does not document, BYTES that are not base64 — are named
/// (type, record, field) and nothing is written, instead of an export whose next plan fails.
#[test]
fn issue_19_export_refuses_values_the_next_plan_could_not_read() {
    let env = Env::new();
    env.publish();
    let mut odd = Location::new(40.0, -75.0);
    odd.extra.insert("foo".into(), serde_json::json!(1));
    let cases = [
        (
            Record::new("Team", "team-odd-place")
                .with_field("place", FieldValue::Scalar(Value::Location(Box::new(odd)))),
            "record type `Team`, record `team-odd-place`, field `place`: unknown LOCATION member `foo`",
        ),
        (
            Record::new("Team", "team-odd-blob")
                .with_field("blob", FieldValue::Scalar(Value::Bytes("not base64!".into()))),
            "record type `Team`, record `team-odd-blob`, field `blob`: BYTES value is not base64",
        ),
    ];
    for (record, named) in cases {
        env.seed(std::slice::from_ref(&record));
        let run = env.run(&["export", "--type", "Team", "-o", "adopted"]);
        assert_eq!(run.code, 1, "{}", run.stderr);
        assert!(run.stderr.contains(named), "{}", run.stderr);
        assert!(run.stderr.contains("nothing was written"), "{}", run.stderr);
        assert!(!env.path("adopted").exists(), "something was written");
        env.force_delete(record.record_name.as_str());
    }
    // Without them the export plans clean.
    let run = env.run(&["export", "--type", "Team", "-o", "adopted"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
}
