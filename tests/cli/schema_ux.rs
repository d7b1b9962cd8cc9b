//! Issue 20, the schema part as a user meets it: the summaries and "no changes" verdicts
//! count the schema additions, a type CloudKit cannot query yet gets the one piece of
//! advice that works (from `plan`, `doctor` and the README alike), an interrupt during
//! the schema step ends like one during the records, and the receipt records the import.
//! Against an emulator that requires indexes from its schema, from a fresh container.

use super::schema_plan::{fresh, ok, run, TOKEN};
use crate::common::Env;

/// `fresh` with every record published (schema first), then one index declared in the
/// config: the next plan adds one index to the schema and changes no record.
fn one_index_to_add() -> Env {
    let env = fresh("development");
    ok(&env, &["apply", "--auto-approve"]);
    let config = env.read("ckplan.yaml").replace(
        "name: STRING, stadium:",
        "name: {type: STRING, indexes: [QUERYABLE]}, stadium:",
    );
    assert!(config.contains("indexes: [QUERYABLE]"), "{config}");
    env.write("ckplan.yaml", &config);
    env
}

#[test]
fn issue_20_show_summary_counts_the_schema_part_in_text_and_markdown() {
    let env = fresh("development");
    ok(&env, &["plan", "-o", "out.plan"]);
    let text = ok(&env, &["show", "out.plan", "--summary"]);
    let markdown = ok(
        &env,
        &["show", "out.plan", "--summary", "--format", "markdown"],
    );
    insta::assert_snapshot!(format!(
        "show --summary:\n{}\nshow --summary --format markdown:\n{}",
        text.stdout, markdown.stdout
    ));
    // The summary counts; only the full review lists.
    assert!(!markdown.stdout.contains("```diff"), "{}", markdown.stdout);
}

#[test]
fn issue_20_a_plan_that_only_adds_to_the_schema_is_not_called_changeless() {
    let env = one_index_to_add();
    let plan = run(
        &env,
        Some(TOKEN),
        &["plan", "-o", "out.plan", "--detailed-exitcode"],
    );
    assert_eq!(plan.code, 2, "{}", plan.stderr);
    let text = ok(&env, &["show", "out.plan"]);
    let summary = ok(&env, &["show", "out.plan", "--summary"]);
    let markdown = ok(&env, &["show", "out.plan", "--format", "markdown"]);
    let dry_run = ok(&env, &["apply", "--dry-run"]);
    let json: serde_json::Value =
        serde_json::from_str(&ok(&env, &["show", "out.plan", "--json"]).stdout).unwrap();
    assert_eq!(json["changes"], serde_json::json!([]));
    assert_eq!(
        json["schema"]["additions"],
        serde_json::json!([{"add": "index", "record_type": "Team", "field": "name",
            "index": "QUERYABLE"}])
    );
    // Everything after the header (which names the temporary inputs' digests).
    let text = &text.stdout[text.stdout.find("\nSchema:").unwrap()..];
    insta::assert_snapshot!(format!(
        "show:{text}\nshow --summary:\n{}\nshow --format markdown:\n{}\napply --dry-run:\n{}",
        summary.stdout, markdown.stdout, dry_run.stdout
    ));
    for shown in [text, &markdown.stdout] {
        assert!(!shown.contains("No changes"), "{shown}");
    }
}

/// What `plan`, `diff` and `doctor` all advise for a type that cannot be queried yet.
fn advice(record_type: &str) -> String {
    format!(
        "run `ckplan schema apply`: it adds a QUERYABLE index on `recordName` (`___recordID` \
         in the schema) of `{record_type}` to development's schema, with whatever else the \
         config needs; then `ckplan plan` again"
    )
}

/// Whether `text` holds the refusal of one of the types (both are read at once: either
/// may be the one that fails) followed by [`advice`] for it.
fn advised(text: &str) -> bool {
    ["Stadium", "Team"].iter().any(|record_type| {
        text.contains(&format!(
            "error: cloudkit cannot query record type `{record_type}`: field `recordName` is \
             not marked queryable\nhint: {}",
            advice(record_type)
        ))
    })
}

#[test]
fn issue_20_a_type_without_the_record_id_index_gets_one_advice_that_converges() {
    let env = fresh("development");
    // Published without a management token: the records' writes created both types
    // (CloudKit's just-in-time schema in development), without any index.
    let first = run(&env, None, &["apply", "--auto-approve"]);
    assert_eq!(first.code, 0, "{}", first.stderr);

    let plan = run(&env, Some(TOKEN), &["plan", "-o", "out.plan"]);
    assert_eq!(plan.code, 1, "{}", plan.stderr);
    assert!(advised(&plan.stderr), "{}", plan.stderr);
    assert!(!plan.stderr.contains("CloudKit Console"), "{}", plan.stderr);
    assert!(!env.path("out.plan").exists());
    let diff = run(&env, Some(TOKEN), &["diff"]);
    assert_eq!(diff.code, 1, "{}", diff.stderr);
    assert!(advised(&diff.stderr), "{}", diff.stderr);

    // Doctor says the same, in the type check and in the schema check.
    let doctor = run(&env, Some(TOKEN), &["doctor"]);
    assert_eq!(doctor.code, 1, "{}", doctor.stdout);
    for record_type in ["Stadium", "Team"] {
        let fix = format!("fix: {}", advice(record_type));
        assert!(doctor.stdout.contains(&fix), "{}", doctor.stdout);
    }
    assert!(
        doctor.stdout.contains(
            "fix: `ckplan schema apply` adds them now (no plan can read `Stadium` until \
             `___recordID` is QUERYABLE), then `ckplan plan` and `ckplan apply`"
        ),
        "{}",
        doctor.stdout
    );
    assert!(
        !doctor
            .stdout
            .contains("`ckplan plan` then `ckplan apply` adds them"),
        "{}",
        doctor.stdout
    );
    // Without a token the advice names both ways to add the index.
    let without = run(&env, None, &["plan", "-o", "out.plan"]);
    assert!(
        without
            .stderr
            .contains("with a management token (set CKPLAN_MANAGEMENT_TOKEN"),
        "{}",
        without.stderr
    );

    // Following the advice converges.
    ok(&env, &["schema", "apply"]);
    let plan = ok(&env, &["plan", "-o", "out.plan"]);
    assert!(
        plan.stderr.contains("Stadium: 3 unchanged, 0 new"),
        "{}",
        plan.stderr
    );
    ok(&env, &["apply", "out.plan"]);
    let again = ok(&env, &["plan", "-o", "again.plan", "--detailed-exitcode"]);
    assert!(
        again
            .stderr
            .contains("Plan: 0 to create, 0 to update, 0 to delete."),
        "{}",
        again.stderr
    );
    let doctor = ok(&env, &["doctor"]);
    assert!(
        doctor.stdout.ends_with("All checks passed.\n"),
        "{}",
        doctor.stdout
    );
    assert_eq!(env.records("Stadium").len(), 3);
}
