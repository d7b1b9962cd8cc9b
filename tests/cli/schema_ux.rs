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
