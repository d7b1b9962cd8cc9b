//! `ckplan apply` (saved plans and smart sync), `import`, `delete-all` and `menu` through
//! the binary against the emulator (issue "apply"). Conflicts are produced by a second
//! client writing between `plan` and `apply`; request counts come from the emulator's stats.

use crate::common;

use ckplan::cloudkit::wire::{OperationType, WireRecord};
use ckplan::plan::file;
use ckplan::record::{FieldValue, Record};
use common::{all_requests, modify_requests, operation, stadium, Env};
use serde_json::{json, Value as Json};

/// A project whose local data is already published.
fn published() -> Env {
    let env = Env::new();
    env.publish();
    env
}

/// Regression (issue 17): the tests judge the store through the emulator's dump. The old
/// `Env::lookup` asked ckplan's client and read a failed lookup as "absent", so every
/// "deleted" check passed while CloudKit could not be read at all.
#[test]
fn issue_17_the_store_oracle_never_reads_a_failed_lookup_as_absent() {
    let env = Env::new();
    env.seed(&[stadium(1)]);
    env.set_faults(r#"{"lookupErrorRate": 1.0, "retryAfterSecs": 0}"#);
    let stored = env
        .lookup("stadium-1")
        .expect("a stored record reads as present");
    assert_eq!(stored.fields, stadium(1).fields);
    assert!(env.lookup("stadium-2").is_none());
    assert_eq!(env.records("Stadium").len(), 1);
}

/// Edits the local stadiums with `edit` and writes `out.plan`.
fn plan_with(env: &Env, edit: impl FnOnce(&mut Vec<Json>)) {
    let mut stadiums = common::stadiums().as_array().unwrap().clone();
    edit(&mut stadiums);
    env.set_stadiums(&Json::Array(stadiums));
    let run = env.run(&["plan", "-o", "out.plan"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
}

fn receipt(env: &Env) -> Json {
    serde_json::from_str(&env.read("out.plan.receipt.json")).unwrap()
}

fn last_line(text: &str) -> &str {
    text.lines().last().unwrap_or("")
}

fn string_field(record: &Record, field: &str) -> String {
    match record.fields.get(field) {
        Some(FieldValue::Scalar(ckplan::record::Value::String(text))) => text.clone(),
        other => panic!("`{field}` is {other:?}"),
    }
}

fn assert_no_changes(env: &Env) {
    let run = env.run(&["plan", "--detailed-exitcode", "-o", "check.plan"]);
    assert_eq!(
        run.code, 0,
        "a fresh plan still has changes:\n{}",
        run.stderr
    );
}

#[test]
fn apply_then_replan_has_no_changes_even_for_a_removed_field() {
    let env = published();
    env.seed(&[stadium(2).with_field("sponsor", FieldValue::string("Acme"))]);
    plan_with(&env, |stadiums| {
        stadiums[0]["name"] = json!("Harbor Field II");
        stadiums[1].as_object_mut().unwrap().remove("capacity");
    });
    let run = env.run(&["apply", "out.plan"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_eq!(
        last_line(&run.stderr),
        "Apply complete: 0 created, 2 updated, 0 deleted, 3 unchanged skipped."
    );
    let stadium_2 = env.lookup("stadium-2").unwrap();
    assert!(!stadium_2.fields.contains_key("capacity"), "{stadium_2:?}");
    assert!(!stadium_2.fields.contains_key("sponsor"), "{stadium_2:?}");
    assert_no_changes(&env);
}

#[test]
fn receipt_records_checksum_key_id_outcomes_and_totals() {
    let env = Env::new();
    env.seed(&[
        stadium(1).with_field("name", FieldValue::string("Old Name")),
        Record::new("Stadium", "stadium-9").with_field("name", FieldValue::string("Gone")),
    ]);
    let run = env.run(&["plan", "--delete-orphans", "-o", "out.plan"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let run = env.run(&["apply", "out.plan"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_eq!(
        last_line(&run.stderr),
        "Apply complete: 4 created, 1 updated, 1 deleted, 0 unchanged skipped."
    );
    let text = env.read("out.plan.receipt.json");
    assert!(!text.contains("PRIVATE KEY"));
    let receipt: Json = serde_json::from_str(&text).unwrap();
    let plan = file::from_text(&env.read("out.plan")).unwrap();
    assert_eq!(receipt["plan_checksum"], json!(file::checksum(&plan)));
    assert_eq!(receipt["key_id"], json!(common::KEY_ID));
    assert_eq!(receipt["complete"], json!(true));
    assert_eq!(
        receipt["totals"],
        json!({"created": 4, "updated": 1, "deleted": 1, "already_applied": 0,
               "conflicts": 0, "overwritten": 0, "failed": 0, "unchanged_skipped": 0})
    );
    let records = receipt["records"].as_array().unwrap();
    assert_eq!(records.len(), 6);
    for entry in records {
        let name = entry["record_name"].as_str().unwrap();
        match entry["outcome"].as_str().unwrap() {
            "deleted" => assert!(env.lookup(name).is_none()),
            outcome => {
                let now = env.lookup(name).unwrap().change_tag.unwrap();
                assert_eq!(entry["change_tag"], json!(now.0), "{name} {outcome}");
            }
        }
    }
    let update = records
        .iter()
        .find(|r| r["record_name"] == "stadium-1")
        .unwrap();
    assert_eq!(update["action"], "update");
    assert_eq!(update["outcome"], "updated");
    assert_eq!(
        update["planned_change_tag"],
        json!(
            plan.changes
                .iter()
                .find(|c| c.record_name.as_str() == "stadium-1")
                .unwrap()
                .change_tag
                .as_ref()
                .unwrap()
                .0
        )
    );
}

#[test]
fn replan_reapplies_over_an_edit_of_a_field_the_plan_leaves_alone() {
    let env = published();
    plan_with(&env, |stadiums| {
        stadiums[0]["name"] = json!("Harbor Field II")
    });
    env.edit(
        "Stadium",
        "stadium-1",
        &[("city", Some(FieldValue::string("Annapolis")))],
    );
    let run = env.run(&["apply", "out.plan"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    // Sent twice, counted once.
    let progress: Vec<_> = run
        .stderr
        .lines()
        .filter(|line| line.ends_with("planned changes have an outcome"))
        .collect();
    assert_eq!(progress, ["1/1 planned changes have an outcome"]);
    let now = env.lookup("stadium-1").unwrap();
    assert_eq!(string_field(&now, "name"), "Harbor Field II");
    assert_eq!(string_field(&now, "city"), "Annapolis");
    let entry = &receipt(&env)["records"][0];
    assert_eq!(entry["outcome"], "updated");
    assert_eq!(entry["change_tag"], json!(now.change_tag.unwrap().0));
    assert_eq!(env.stats().outcomes.get("CONFLICT"), Some(&1));
}

#[test]
fn replan_reports_an_edit_of_a_field_the_plan_also_changes() {
    let env = published();
    plan_with(&env, |stadiums| {
        stadiums[0]["name"] = json!("Harbor Field II")
    });
    env.edit(
        "Stadium",
        "stadium-1",
        &[("name", Some(FieldValue::string("Crab Bowl")))],
    );
    let run = env.run(&["apply", "out.plan"]);
    assert_eq!(run.code, 3, "{}", run.stderr);
    insta::assert_snapshot!(run.stderr);
    assert_eq!(
        string_field(&env.lookup("stadium-1").unwrap(), "name"),
        "Crab Bowl"
    );
    let receipt = receipt(&env);
    assert_eq!(receipt["totals"]["conflicts"], 1);
    let entry = &receipt["records"][0];
    assert_eq!(entry["outcome"], "conflict");
    assert_eq!(
        entry["fields"],
        json!([{"field": "name",
                "planned_before": {"value": "Harbor Field", "type": "STRING"},
                "now": {"value": "Crab Bowl", "type": "STRING"},
                "wanted": {"value": "Harbor Field II", "type": "STRING"}}])
    );
}

#[test]
fn replan_skips_a_record_someone_already_made_as_planned() {
    let env = published();
    plan_with(&env, |stadiums| {
        stadiums[0]["name"] = json!("Harbor Field II")
    });
    env.edit(
        "Stadium",
        "stadium-1",
        &[("name", Some(FieldValue::string("Harbor Field II")))],
    );
    let run = env.run(&["apply", "out.plan"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_eq!(
        last_line(&run.stderr),
        "Apply complete: 0 created, 0 updated, 0 deleted, 4 unchanged skipped. (1 already applied)"
    );
    assert_eq!(receipt(&env)["records"][0]["outcome"], "already_applied");
}

#[test]
fn replan_reports_a_record_deleted_meanwhile_and_does_not_recreate_it() {
    let env = published();
    plan_with(&env, |stadiums| {
        stadiums[0]["name"] = json!("Harbor Field II")
    });
    env.force_delete("stadium-1");
    let run = env.run(&["apply", "out.plan"]);
    assert_eq!(run.code, 3, "{}", run.stderr);
    assert!(
        run.stderr
            .contains("conflict: Stadium `stadium-1`: deleted meanwhile; not re-created"),
        "{}",
        run.stderr
    );
    assert!(env.lookup("stadium-1").is_none());
}

/// The local data with a new stadium-4 (and `edit`), planned; then someone else creates
/// stadium-4 with only a name.
fn create_planned_then_created_by_someone(
    env: &Env,
    name: &str,
    edit: impl FnOnce(&mut Vec<Json>),
) {
    plan_with(env, |stadiums| {
        stadiums.push(json!({"id": 4, "name": "New Park", "city": "Denver",
            "location": {"latitude": 39.7559, "longitude": -104.9942}, "capacity": 50144}));
        edit(stadiums);
    });
    let record = Record::new("Stadium", "stadium-4").with_field("name", FieldValue::string(name));
    env.modify(vec![operation(
        OperationType::Create,
        WireRecord::from_record(&record),
    )]);
}

#[test]
fn replan_reports_a_create_that_finds_the_record_existing() {
    let env = published();
    create_planned_then_created_by_someone(&env, "Someone's Park", |_| {});
    let run = env.run(&["apply", "out.plan"]);
    assert_eq!(run.code, 3, "{}", run.stderr);
    insta::assert_snapshot!(run.stderr);
    assert_eq!(
        string_field(&env.lookup("stadium-4").unwrap(), "name"),
        "Someone's Park"
    );
}

#[test]
fn overwrite_lets_the_last_writer_win() {
    let env = published();
    create_planned_then_created_by_someone(&env, "Someone's Park", |stadiums| {
        stadiums[0]["name"] = json!("Harbor Field II")
    });
    env.edit(
        "Stadium",
        "stadium-1",
        &[("name", Some(FieldValue::string("Crab Bowl")))],
    );
    let run = env.run(&["apply", "out.plan", "--on-conflict", "overwrite"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_eq!(
        string_field(&env.lookup("stadium-1").unwrap(), "name"),
        "Harbor Field II"
    );
    assert_eq!(
        string_field(&env.lookup("stadium-4").unwrap(), "name"),
        "New Park"
    );
    assert_no_changes(&env);
}

#[test]
fn abort_stops_before_the_next_batch() {
    let env = Env::new();
    // 250 stadiums and 2 teams: batch 1 holds 200 stadiums (stadium-2 among them), batch 2
    // the other 50 and the teams.
    let many: Vec<Json> = (1..=250)
        .map(|id| json!({"id": id, "name": format!("Stadium {id}"), "city": "Somewhere",
                          "location": {"latitude": 40.0, "longitude": -75.0}, "capacity": 1000 + id}))
        .collect();
    env.set_stadiums(&Json::Array(many));
    let run = env.run(&["plan", "-o", "out.plan"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let theirs =
        Record::new("Stadium", "stadium-2").with_field("name", FieldValue::string("Theirs"));
    env.modify(vec![operation(
        OperationType::Create,
        WireRecord::from_record(&theirs),
    )]);
    let before = env.stats();
    let run = env.run(&[
        "apply",
        "out.plan",
        "--on-conflict",
        "abort",
        "--parallelism",
        "1",
    ]);
    assert_eq!(run.code, 3, "{}", run.stderr);
    insta::assert_snapshot!(run.stderr);
    let after = env.stats();
    assert_eq!(modify_requests(&before, &after), 1, "{after:?}");
    assert!(env.records("Team").is_empty());
    assert_eq!(
        string_field(&env.lookup("stadium-2").unwrap(), "name"),
        "Theirs"
    );
}

#[test]
fn reapplying_a_fully_applied_plan_sends_nothing() {
    let env = Env::new();
    assert_eq!(env.run(&["plan", "-o", "out.plan"]).code, 0);
    assert_eq!(env.run(&["apply", "out.plan"]).code, 0);
    let before = env.stats();
    let run = env.run(&["apply", "out.plan"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    insta::assert_snapshot!(run.stderr);
    assert_eq!(all_requests(&before, &env.stats()), 0);
}

#[test]
fn reapplying_without_the_journal_finds_everything_already_applied() {
    let env = Env::new();
    assert_eq!(env.run(&["plan", "-o", "out.plan"]).code, 0);
    assert_eq!(env.run(&["apply", "out.plan"]).code, 0);
    std::fs::remove_file(env.path("out.plan.journal")).unwrap();
    let before = env.stats();
    let run = env.run(&["apply", "out.plan"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_eq!(receipt(&env)["totals"]["already_applied"], 5);
    let after = env.stats();
    assert_eq!(
        after.operations.get("create"),
        before.operations.get("create").map(|n| n + 5).as_ref()
    );
    assert_eq!(after.records, 5);
}

fn refused_with_zero_requests(env: &Env, expected: &str) {
    let before = env.stats();
    let run = env.run(&["apply", "out.plan"]);
    assert_eq!(run.code, 1, "{}", run.stderr);
    assert!(run.stderr.contains(expected), "{}", run.stderr);
    assert_eq!(all_requests(&before, &env.stats()), 0);
    assert!(!env.path("out.plan.receipt.json").exists());
}

#[test]
fn tampered_plan_is_refused_with_zero_requests() {
    let env = Env::new();
    assert_eq!(env.run(&["plan", "-o", "out.plan"]).code, 0);
    env.write(
        "out.plan",
        &env.read("out.plan").replace("Bay Stadium", "Bay Stadion"),
    );
    refused_with_zero_requests(&env, "checksum mismatch");
}

#[test]
fn plan_of_another_format_version_is_refused_with_zero_requests() {
    let env = Env::new();
    assert_eq!(env.run(&["plan", "-o", "out.plan"]).code, 0);
    let text = env
        .read("out.plan")
        .replace("\"format_version\": 2,", "\"format_version\": 3,");
    env.write("out.plan", &text);
    refused_with_zero_requests(&env, "plan format version 3 is not supported");
}

#[test]
fn plan_for_another_container_or_environment_is_refused_with_zero_requests() {
    let env = Env::new();
    assert_eq!(env.run(&["plan", "-o", "out.plan"]).code, 0);
    env.set_config("iCloud.com.example.Other", "development");
    refused_with_zero_requests(&env, "it was made for `iCloud.com.example.CliTest");
    env.set_config(common::CONTAINER, "production");
    refused_with_zero_requests(&env, "but the configuration targets");
}

#[test]
fn production_needs_allow_production() {
    let env = Env::new();
    env.set_config(common::CONTAINER, "production");
    assert_eq!(env.run(&["plan", "-o", "out.plan"]).code, 0);
    refused_with_zero_requests(&env, "without --allow-production");
    let smart = env.run(&["apply", "--auto-approve"]);
    assert_eq!(smart.code, 1, "{}", smart.stderr);
    assert!(
        smart.stderr.contains("without --allow-production"),
        "{}",
        smart.stderr
    );
    assert_eq!(env.stats().requests.get("records/modify"), None);
    let run = env.run(&["apply", "out.plan", "--allow-production"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_no_changes(&env);
}

#[test]
fn smart_sync_dry_run_lists_and_writes_nothing() {
    let env = published();
    let mut stadiums = common::stadiums();
    stadiums[2]["capacity"] = json!(47000);
    stadiums
        .as_array_mut()
        .unwrap()
        .push(json!({"id": 4, "name": "New Park"}));
    env.set_stadiums(&stadiums);
    let before = env.stats();
    let run = env.run(&["apply", "--dry-run"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    insta::assert_snapshot!(format!("stdout:\n{}\nstderr:\n{}", run.stdout, run.stderr));
    assert_eq!(modify_requests(&before, &env.stats()), 0);
}

#[test]
fn smart_sync_refuses_to_prompt_without_a_terminal_and_applies_with_auto_approve() {
    let env = Env::new();
    let before = env.stats();
    let run = env.run_with_stdin(&["apply"], "yes\n");
    assert_eq!(run.code, 1, "{}", run.stderr);
    assert!(
        run.stderr.contains("refusing to ask for confirmation"),
        "{}",
        run.stderr
    );
    assert_eq!(modify_requests(&before, &env.stats()), 0);
    let run = env.run(&["apply", "--auto-approve"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_eq!(
        last_line(&run.stderr),
        "Apply complete: 5 created, 0 updated, 0 deleted, 0 unchanged skipped."
    );
    assert_no_changes(&env);
    let again = env.run(&["apply", "--auto-approve"]);
    assert_eq!(again.code, 0, "{}", again.stderr);
    assert_eq!(
        last_line(&again.stderr),
        "No changes: CloudKit already matches the local data."
    );
}

#[test]
fn import_force_replaces_every_record() {
    let env = published();
    env.edit(
        "Stadium",
        "stadium-1",
        &[("name", Some(FieldValue::string("Crab Bowl")))],
    );
    let before = env.stats();
    let run = env.run(&["import"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_eq!(
        last_line(&run.stderr),
        "Import complete: 5 records force-replaced, 0 failed."
    );
    let after = env.stats();
    let force =
        |s: &ckplan::emulator::Stats| s.operations.get("forceReplace").copied().unwrap_or(0);
    assert_eq!(force(&after) - force(&before), 5);
    assert_eq!(
        string_field(&env.lookup("stadium-1").unwrap(), "name"),
        "Harbor Field"
    );
    assert_no_changes(&env);
}

#[test]
fn delete_all_empties_one_type_after_confirmation() {
    let env = published();
    let refused = env.run(&["delete-all", "--type", "Team"]);
    assert_eq!(refused.code, 1, "{}", refused.stderr);
    assert_eq!(env.records("Team").len(), 2);
    let run = env.run(&["delete-all", "--type", "Team", "--yes"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_eq!(
        last_line(&run.stderr),
        "Deleted 2 `Team` records, 0 failed."
    );
    assert!(env.records("Team").is_empty());
    assert_eq!(env.records("Stadium").len(), 3);
}

#[test]
fn menu_runs_a_diff_then_a_smart_sync_answered_on_piped_stdin() {
    let env = Env::new();
    let run = env.run_with_stdin(&["menu"], "2\n12\nyes\n0\n");
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(
        run.stdout
            .contains("Stadium: 0 unchanged, 3 new, 0 updated, 0 deleted"),
        "{}",
        run.stdout
    );
    assert!(
        run.stderr
            .contains("Do you want to perform these actions? Only 'yes' will be accepted."),
        "{}",
        run.stderr
    );
    assert!(
        run.stderr
            .contains("Apply complete: 5 created, 0 updated, 0 deleted, 0 unchanged skipped."),
        "{}",
        run.stderr
    );
    assert_no_changes(&env);
}

/// `count` stadiums: enough records for several batches of 200.
fn many_stadiums(count: i64) -> Json {
    let stadiums: Vec<Json> = (1..=count)
        .map(|id| {
            json!({"id": id, "name": format!("Stadium {id}"), "city": "Springfield",
                   "location": {"latitude": 40.0 + id as f64 / 1000.0, "longitude": -75.0},
                   "capacity": 30000 + id})
        })
        .collect();
    Json::Array(stadiums)
}

fn count(map: &std::collections::BTreeMap<String, u64>, key: &str) -> u64 {
    map.get(key).copied().unwrap_or(0)
}

#[test]
fn killed_apply_resumes_to_completion_without_creating_anything_twice() {
    let env = Env::with_emulator_process(&[]);
    env.set_stadiums(&many_stadiums(1000));
    // The second of six batches is held on its way to the emulator: the kill lands after
    // the first write and before the last, whatever the machine's load (issue 17).
    let proxy = env.hold_modify(2);
    assert_eq!(env.run(&["plan", "-o", "out.plan"]).code, 0);
    let mut child = env.spawn_apply(std::process::Stdio::null());
    proxy.wait_held();
    assert!(
        child.try_wait().unwrap().is_none(),
        "the apply ended by itself"
    );
    child.kill().unwrap();
    child.wait().unwrap();
    proxy.discard();
    let stored = env.stats().records;
    assert_eq!(stored, 200, "the first batch written, the held one never");
    let checksum = ckplan::plan::file::read_text(&env.read("out.plan"))
        .unwrap()
        .checksum;
    let journal = ckplan::apply::journal::Journal::replay(
        &ckplan::apply::journal::path_for(&env.path("out.plan")),
        &checksum,
    )
    .unwrap();
    assert!(!journal.complete, "the journal says the run finished");

    let run = env.run(&["apply", "out.plan", "--parallelism", "1"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(run.stderr.starts_with("Resuming: "), "{}", run.stderr);
    let stats = env.stats();
    assert_eq!(stats.records, 1002);
    assert_eq!(count(&stats.operations, "create"), 1002, "{stats:?}");
    assert_eq!(count(&stats.outcomes, "EXISTS"), 0, "{stats:?}");
    let receipt = receipt(&env);
    assert_eq!(receipt["complete"], true);
    assert_eq!(receipt["totals"]["conflicts"], 0);
    assert_eq!(
        receipt["totals"]["created"].as_u64().unwrap()
            + receipt["totals"]["already_applied"].as_u64().unwrap(),
        1002
    );
    assert_no_changes(&env);
}

#[test]
fn dropped_replies_are_resolved_by_lookup_to_completion() {
    let env = Env::with_faults(ckplan::emulator::Faults {
        drop_rate: 0.3,
        seed: 11,
        ..Default::default()
    });
    env.set_stadiums(&many_stadiums(1000));
    assert_eq!(env.run(&["plan", "-o", "out.plan"]).code, 0);
    let run = env.run(&["apply", "out.plan"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let stats = env.stats();
    assert!(stats.faults.dropped > 0, "no reply was dropped: {stats:?}");
    assert_eq!(stats.records, 1002);
    assert_eq!(count(&stats.outcomes, "EXISTS"), 0, "{stats:?}");
    let totals = &receipt(&env)["totals"];
    assert_eq!(totals["conflicts"], 0);
    // A write whose reply was lost is counted as what it did (issue 11), never as
    // "already applied".
    assert_eq!(totals["created"], 1002, "{totals}");
    assert_eq!(totals["already_applied"], 0, "{totals}");
    assert!(
        last_line(&run.stderr).starts_with("Apply complete: "),
        "{}",
        run.stderr
    );
    assert_no_changes(&env);
}

#[test]
fn rerunning_a_plan_that_ended_in_conflicts_says_so() {
    let env = published();
    plan_with(&env, |stadiums| {
        stadiums[0]["name"] = json!("Harbor Field II")
    });
    env.edit(
        "Stadium",
        "stadium-1",
        &[("name", Some(FieldValue::string("Crab Bowl")))],
    );
    assert_eq!(env.run(&["apply", "out.plan"]).code, 3);
    let before = env.stats();
    let run = env.run(&["apply", "out.plan"]);
    assert_eq!(run.code, 3, "{}", run.stderr);
    insta::assert_snapshot!(run.stderr);
    assert_eq!(all_requests(&before, &env.stats()), 0);
}

#[test]
fn rerunning_a_plan_with_failed_records_tries_them_again() {
    let env = Env::new();
    assert_eq!(env.run(&["plan", "-o", "out.plan"]).code, 0);
    // After planning, another writer fixes `capacity` as a STRING (a type mismatch known
    // when planning stops the plan, issue 12): the planned INT64 creates are refused per
    // record.
    env.seed(&[ckplan::record::Record::new("Stadium", "stadium-9")
        .with_field("capacity", FieldValue::string("big"))]);
    let run = env.run(&["apply", "out.plan"]);
    assert_eq!(run.code, 1, "{}", run.stderr);
    let before = env.stats();
    let run = env.run(&["apply", "out.plan"]);
    assert_eq!(run.code, 1, "{}", run.stderr);
    assert_eq!(modify_requests(&before, &env.stats()), 1);
}

#[test]
fn a_new_plan_saved_under_the_same_name_applies() {
    let env = Env::new();
    assert_eq!(env.run(&["plan", "-o", "out.plan"]).code, 0);
    assert_eq!(env.run(&["apply", "out.plan"]).code, 0);
    plan_with(&env, |stadiums| {
        stadiums[0]["name"] = json!("Harbor Field II")
    });
    let run = env.run(&["apply", "out.plan"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let start = run.stderr.find("out.plan.journal.").unwrap() + "out.plan.journal.".len();
    let tag = &run.stderr[start..start + 12];
    insta::assert_snapshot!(run.stderr.replace(tag, "[TAG]"));
    let kept: Vec<String> = std::fs::read_dir(env.dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|name| name.starts_with("out.plan.") && !name.ends_with(".lock"))
        .collect();
    assert_eq!(kept.len(), 4, "{kept:?}");
    assert_eq!(receipt(&env)["totals"]["updated"], 1);
}

#[test]
fn replan_reports_an_orphan_changed_before_its_delete_and_skips_one_already_gone() {
    let env = Env::new();
    env.seed(&[
        Record::new("Stadium", "stadium-8").with_field("name", FieldValue::string("Old")),
        Record::new("Stadium", "stadium-9").with_field("name", FieldValue::string("Old")),
    ]);
    assert_eq!(
        env.run(&["plan", "--delete-orphans", "-o", "out.plan"])
            .code,
        0
    );
    env.edit(
        "Stadium",
        "stadium-8",
        &[("name", Some(FieldValue::string("Revived")))],
    );
    env.force_delete("stadium-9");
    let run = env.run(&["apply", "out.plan"]);
    assert_eq!(run.code, 3, "{}", run.stderr);
    assert!(
        run.stderr
            .contains("conflict: Stadium `stadium-8`: changed meanwhile; not deleted"),
        "{}",
        run.stderr
    );
    assert!(env.lookup("stadium-8").is_some());
    let records = receipt(&env)["records"].clone();
    let outcome = |name: &str| {
        records
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["record_name"] == name)
            .unwrap()["outcome"]
            .clone()
    };
    assert_eq!(outcome("stadium-9"), "already_applied");
    assert_eq!(outcome("stadium-8"), "conflict");
}

#[test]
fn replan_skips_a_create_someone_made_with_the_same_values() {
    let env = Env::new();
    assert_eq!(
        env.run(&["plan", "--type", "Stadium", "-o", "out.plan"])
            .code,
        0
    );
    env.seed(&[stadium(3)]);
    let run = env.run(&["apply", "out.plan"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_eq!(
        last_line(&run.stderr),
        "Apply complete: 2 created, 0 updated, 0 deleted, 0 unchanged skipped. (1 already applied)"
    );
}

#[test]
fn ignored_fields_are_neither_removed_nor_compared() {
    let env = Env::new();
    let config = env.read("ckplan.yaml").replace(
        "    fields: {name: STRING, stadium: REFERENCE, founded: INT64}\n",
        "    fields: {name: STRING, stadium: REFERENCE, founded: INT64}\n    ignore_fields: [followers]\n",
    );
    env.write("ckplan.yaml", &config);
    env.publish();
    env.edit(
        "Team",
        "team-1",
        &[("followers", Some(FieldValue::int64(1200)))],
    );
    assert_no_changes(&env);
    let mut teams = common::teams();
    teams[0]["name"] = json!("Baltimore Blue Crabs");
    env.set_teams(&teams);
    assert_eq!(env.run(&["plan", "-o", "out.plan"]).code, 0);
    env.edit(
        "Team",
        "team-1",
        &[("followers", Some(FieldValue::int64(1300)))],
    );
    let run = env.run(&["apply", "out.plan"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let team = env.lookup("team-1").unwrap();
    assert_eq!(team.fields.get("followers"), Some(&FieldValue::int64(1300)));
    assert_eq!(string_field(&team, "name"), "Baltimore Blue Crabs");
    assert_no_changes(&env);
}

#[test]
fn menu_plans_shows_and_applies_a_plan_file_and_deletes_a_type() {
    let env = Env::new();
    let run = env.run_with_stdin(&["menu"], "4\n\n5\n\n6\n\n8\nTeam\nTeam\n0\n");
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(
        run.stdout.contains("+ create Stadium stadium-1"),
        "{}",
        run.stdout
    );
    assert!(
        run.stderr
            .contains("Apply complete: 5 created, 0 updated, 0 deleted, 0 unchanged skipped."),
        "{}",
        run.stderr
    );
    assert!(
        run.stderr.contains("Deleted 2 `Team` records, 0 failed."),
        "{}",
        run.stderr
    );
    assert!(env.records("Team").is_empty());
    assert_eq!(env.records("Stadium").len(), 3);
}

#[test]
fn dropped_replies_to_updates_and_deletes_are_resolved_by_lookup() {
    let env = Env::with_faults(ckplan::emulator::Faults {
        drop_rate: 0.3,
        seed: 5,
        ..Default::default()
    });
    env.set_stadiums(&many_stadiums(600));
    env.publish();
    let dropped = env.stats().faults.dropped;
    let mut stadiums = many_stadiums(300);
    for stadium in stadiums.as_array_mut().unwrap() {
        stadium["city"] = json!("Shelbyville");
    }
    env.set_stadiums(&stadiums);
    let plan = env.run(&[
        "plan",
        "--delete-orphans",
        "-o",
        "out.plan",
        "--receipt",
        "r.json",
    ]);
    // An argument error exits 1 (2 is `--detailed-exitcode`'s "changes present").
    assert_eq!(
        plan.code, 1,
        "`--receipt` belongs to apply: {}",
        plan.stderr
    );
    assert_eq!(
        env.run(&["plan", "--delete-orphans", "-o", "out.plan"])
            .code,
        0
    );
    let run = env.run(&["apply", "out.plan", "--receipt", "r.json", "-q"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    // -q: only errors; the summary and receipt lines are left out.
    assert!(!run.stderr.contains("Apply complete"), "{}", run.stderr);
    let stats = env.stats();
    assert!(
        stats.faults.dropped > dropped,
        "no reply was dropped: {stats:?}"
    );
    let receipt: Json = serde_json::from_str(&env.read("r.json")).unwrap();
    let totals = &receipt["totals"];
    assert_eq!(
        totals["updated"].as_u64().unwrap()
            + totals["deleted"].as_u64().unwrap()
            + totals["already_applied"].as_u64().unwrap(),
        600,
        "{totals}"
    );
    assert_eq!(totals["already_applied"], 0, "{totals}");
    assert!(!env.path("out.plan.receipt.json").exists());
    assert_no_changes(&env);
}

#[test]
fn a_refused_key_stops_the_apply_with_a_resumable_error() {
    let env = Env::new();
    assert_eq!(env.run(&["plan", "-o", "out.plan"]).code, 0);
    let (other, _) = ckplan::cloudkit::auth::generate_key_pair();
    env.write("keys/other.pem", &other);
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::Permissions::from_mode(0o600);
        std::fs::set_permissions(env.path("keys/other.pem"), mode).unwrap();
    }
    let output = env
        .ckplan()
        .args(["apply", "out.plan"])
        .env("CKPLAN_PRIVATE_KEY_FILE", env.path("keys/other.pem"))
        .output()
        .unwrap();
    let stderr = env.filter(&String::from_utf8(output.stderr).unwrap());
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    insta::assert_snapshot!(stderr);
    assert_eq!(env.stats().records, 0);
    let run = env.run(&["apply", "out.plan"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_no_changes(&env);
}
