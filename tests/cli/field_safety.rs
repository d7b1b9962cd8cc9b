//! Issue 17, class 1: a write resolved after a conflict is rebuilt from the record as
//! CloudKit holds it now, so fields ckplan does not own survive every resolution path, and
//! what the terminal and the receipt say is true of the record in CloudKit afterwards.
//! CloudKit's state is judged through the emulator's `/_emulator/dump` over raw HTTP, never
//! through ckplan's own client.

use crate::common::{self, Env};
use ckplan::record::FieldValue;
use serde_json::{json, Value as Json};

/// The fields of `name` as the emulator stores them (wire JSON), `None` when absent.
fn stored(env: &Env, name: &str) -> Option<Json> {
    env.stored_fields().remove(name)
}

fn value(fields: &Json, field: &str) -> Json {
    fields[field]["value"].clone()
}

/// Stadium 1 published with every field; the local data then drops `city`, so the plan
/// removes it with a tag-checked `replace`.
fn removal_planned() -> Env {
    let env = Env::new();
    env.publish();
    let mut stadiums = common::stadiums();
    stadiums[0].as_object_mut().unwrap().remove("city");
    env.set_stadiums(&stadiums);
    let run = env.run(&["plan", "-o", "out.plan"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    env
}

fn receipt_entry(env: &Env, name: &str) -> Json {
    let receipt: Json = serde_json::from_str(&env.read("out.plan.receipt.json")).unwrap();
    receipt["records"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["record_name"] == name)
        .cloned()
        .unwrap_or_else(|| panic!("`{name}` not in the receipt"))
}

fn conflict_entry(env: &Env, name: &str) -> Json {
    let receipt: Json = serde_json::from_str(&env.read("out.plan.receipt.json")).unwrap();
    receipt["conflicts"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["record_name"] == name)
        .cloned()
        .unwrap_or_else(|| panic!("`{name}` has no conflict in the receipt: {receipt:#}"))
}

#[test]
fn issue_17_a_stale_replace_keeps_a_field_another_writer_added_under_every_policy() {
    for policy in ["replan", "overwrite"] {
        let env = removal_planned();
        env.edit(
            "Stadium",
            "stadium-1",
            &[("likes", Some(FieldValue::int64(42)))],
        );
        let run = env.run(&["apply", "out.plan", "--on-conflict", policy]);
        assert_eq!(run.code, 0, "{policy}: {}", run.stderr);
        let fields = stored(&env, "stadium-1").expect("stadium-1 kept");
        assert_eq!(value(&fields, "likes"), json!(42), "{policy}: {fields:#}");
        assert_eq!(
            fields.get("city"),
            None,
            "{policy}: the planned removal happened"
        );
        assert_eq!(value(&fields, "name"), json!("Harbor Field"), "{policy}");
        assert_eq!(value(&fields, "capacity"), json!(45971), "{policy}");
        // The terminal and the receipt say the other writer's value was kept, and it was.
        assert!(
            run.stderr.contains("re-applied, their values kept"),
            "{policy}: {}",
            run.stderr
        );
        let conflict = conflict_entry(&env, "stadium-1");
        assert_eq!(
            conflict["resolution"], "reapplied",
            "{policy}: {conflict:#}"
        );
        assert_eq!(receipt_entry(&env, "stadium-1")["outcome"], "updated");
    }
}

#[test]
fn issue_17_a_stale_replace_keeps_another_writers_change_and_removal_of_fields_it_leaves_alone() {
    let env = removal_planned();
    // The app changes one field the plan keeps and removes another.
    env.edit(
        "Stadium",
        "stadium-1",
        &[
            ("capacity", Some(FieldValue::int64(50000))),
            ("location", None),
        ],
    );
    let run = env.run(&["apply", "out.plan"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let fields = stored(&env, "stadium-1").expect("stadium-1 kept");
    assert_eq!(value(&fields, "capacity"), json!(50000), "{fields:#}");
    assert_eq!(fields.get("location"), None, "{fields:#}");
    assert_eq!(fields.get("city"), None, "{fields:#}");
    // Every value the receipt says was kept is the one CloudKit holds.
    let conflict = conflict_entry(&env, "stadium-1");
    assert_eq!(conflict["resolution"], "reapplied", "{conflict:#}");
    for field in conflict["fields"].as_array().unwrap() {
        let name = field["field"].as_str().unwrap();
        let kept = &field["now"]["value"];
        let now = &fields[name]["value"];
        assert_eq!(
            now, kept,
            "receipt says `{name}` kept as {kept}, CloudKit has {now}"
        );
    }
}

#[test]
fn issue_17_overwrite_of_a_removed_field_someone_changed_says_so_and_keeps_their_other_fields() {
    let env = removal_planned();
    env.edit(
        "Stadium",
        "stadium-1",
        &[
            ("city", Some(FieldValue::string("Annapolis"))),
            ("likes", Some(FieldValue::int64(7))),
        ],
    );
    let run = env.run(&["apply", "out.plan", "--on-conflict", "overwrite"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let fields = stored(&env, "stadium-1").expect("stadium-1 kept");
    assert_eq!(
        fields.get("city"),
        None,
        "the plan's removal wins: {fields:#}"
    );
    assert_eq!(value(&fields, "likes"), json!(7), "{fields:#}");
    let conflict = conflict_entry(&env, "stadium-1");
    assert_eq!(conflict["resolution"], "overwritten", "{conflict:#}");
    let overwritten: Vec<_> = conflict["fields"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["field"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(overwritten, ["city"], "only city was written over");
}

#[test]
fn issue_17_replan_reports_a_removed_field_someone_changed_and_writes_nothing() {
    let env = removal_planned();
    env.edit(
        "Stadium",
        "stadium-1",
        &[("city", Some(FieldValue::string("Annapolis")))],
    );
    let before = stored(&env, "stadium-1").unwrap();
    let run = env.run(&["apply", "out.plan"]);
    assert_eq!(run.code, 3, "{}", run.stderr);
    assert_eq!(stored(&env, "stadium-1").unwrap(), before);
}

#[test]
fn issue_17_a_create_that_finds_the_record_keeps_nothing_it_does_not_say() {
    // The plan creates stadium-4; before apply, someone else creates it with other fields.
    let env = Env::new();
    env.publish();
    let mut stadiums = common::stadiums();
    stadiums.as_array_mut().unwrap().push(json!(
        {"id": 4, "name": "Dome", "city": "Denver",
         "location": {"latitude": 39.0, "longitude": -104.0}, "capacity": 100}
    ));
    env.set_stadiums(&stadiums);
    let run = env.run(&["plan", "-o", "out.plan"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    env.seed(&[ckplan::record::Record::new("Stadium", "stadium-4")
        .with_field("name", FieldValue::string("Dome"))
        .with_field("likes", FieldValue::int64(3))]);
    let run = env.run(&["apply", "out.plan", "--on-conflict", "overwrite"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let fields = stored(&env, "stadium-4").unwrap();
    assert_eq!(value(&fields, "city"), json!("Denver"));
    // Overwrite removes the other writer's field, and the receipt names it.
    assert_eq!(fields.get("likes"), None, "{fields:#}");
    let conflict = conflict_entry(&env, "stadium-4");
    assert_eq!(conflict["resolution"], "overwritten", "{conflict:#}");
    let names: Vec<_> = conflict["fields"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["field"].as_str().unwrap().to_owned())
        .collect();
    assert!(names.contains(&"likes".to_owned()), "{conflict:#}");
}

/// Issue 17, class 8: a deploy job carries the plan file and the credentials, not the
/// repository; apply works from them alone, against the target and endpoint in the plan.
#[test]
fn issue_17_apply_needs_only_the_plan_and_credentials() {
    let env = Env::new();
    let run = env.run(&["plan", "-o", "out.plan"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let deploy = tempfile::tempdir().unwrap();
    std::fs::copy(env.path("out.plan"), deploy.path().join("out.plan")).unwrap();
    let key = env.path("keys/test.pem");
    let apply = |args: &[&str]| {
        let output = env
            .ckplan()
            .current_dir(deploy.path())
            .env("CKPLAN_KEY_ID", common::KEY_ID)
            .env("CKPLAN_PRIVATE_KEY_FILE", &key)
            .args(args)
            .output()
            .unwrap();
        (
            output.status.code().unwrap_or(-1),
            String::from_utf8(output.stderr).unwrap(),
        )
    };
    // Without the key ID, the error names the variable to set, and nothing is sent.
    let output = env
        .ckplan()
        .current_dir(deploy.path())
        .args(["apply", "out.plan"])
        .output()
        .unwrap();
    let stderr = String::from_utf8(output.stderr).unwrap();
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("CKPLAN_KEY_ID"), "{stderr}");
    assert!(
        stored(&env, "team-2").is_none(),
        "nothing sent without credentials"
    );
    let (code, stderr) = apply(&["apply", "out.plan"]);
    assert_eq!(code, 0, "{stderr}");
    // The data files are not here, not changed: no drift warning.
    assert!(!stderr.contains("changed since"), "{stderr}");
    assert!(stderr.contains("Apply complete: 5 created"), "{stderr}");
    assert!(stored(&env, "team-2").is_some());
    assert!(deploy.path().join("out.plan.receipt.json").exists());
}

/// Issue 17, class 3 under a concurrent writer: a plan that drops a team's DELETE_SELF
/// reference to a stadium and deletes the stadium must not delete it when the team's update
/// ends in a conflict — CloudKit would cascade the delete to the team, with the other
/// writer's data. The delete is held and reported; both records stay.
#[test]
fn issue_17_a_delete_waits_for_the_update_that_drops_a_reference_to_it() {
    let env = Env::new();
    let teams = json!([
        {"id": 1, "name": "Baltimore Crabs", "founded": 1954,
         "stadium": {"recordName": "stadium-3", "action": "DELETE_SELF"}},
        {"id": 2, "name": "Chicago Gulls", "stadium": "stadium-2", "founded": 1901}
    ]);
    env.set_teams(&teams);
    env.publish();
    let mut stadiums = common::stadiums();
    stadiums.as_array_mut().unwrap().remove(2);
    env.set_stadiums(&stadiums);
    let mut teams = teams;
    teams[0].as_object_mut().unwrap().remove("stadium");
    teams[0]["name"] = json!("Baltimore Crabs II");
    env.set_teams(&teams);
    let run = env.run(&["plan", "--delete-orphans", "-o", "out.plan"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    // The app renames the team (a field the plan also changes: a conflict, not written)
    // and adds its own field.
    env.edit(
        "Team",
        "team-1",
        &[
            ("name", Some(FieldValue::string("Crabs by the app"))),
            ("fanmail", Some(FieldValue::string("precious"))),
        ],
    );
    let run = env.run(&["apply", "out.plan"]);
    assert_eq!(run.code, 3, "{}", run.stderr);
    let team = stored(&env, "team-1").expect("team-1 survives: no cascade");
    assert_eq!(value(&team, "fanmail"), json!("precious"));
    assert!(stored(&env, "stadium-3").is_some(), "stadium-3 kept");
    assert!(
        run.stderr
            .contains("not deleted: Team `team-1` still references it in field `stadium`"),
        "{}",
        run.stderr
    );
    let entry = receipt_entry(&env, "stadium-3");
    assert_eq!(entry["outcome"], "conflict", "{entry:#}");
}

/// A plan made against the embedded emulator, applied from a directory without its store,
/// is refused: never applied to a fresh, empty store that would call the records "deleted
/// meanwhile".
#[test]
fn issue_17_an_embedded_plan_without_its_store_is_refused() {
    let env = Env::new();
    let config = env.read("ckplan.yaml");
    let embedded: String = config
        .lines()
        .map(|line| match line.starts_with("endpoint:") {
            true => "endpoint: embedded".to_owned(),
            false => line.to_owned(),
        })
        .collect::<Vec<_>>()
        .join("\n");
    env.write("ckplan.yaml", &embedded);
    let run = env.run(&["plan", "-o", "out.plan"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let deploy = tempfile::tempdir().unwrap();
    std::fs::copy(env.path("out.plan"), deploy.path().join("out.plan")).unwrap();
    let output = env
        .ckplan()
        .current_dir(deploy.path())
        .env("CKPLAN_KEY_ID", common::KEY_ID)
        .env("CKPLAN_PRIVATE_KEY_FILE", env.path("keys/test.pem"))
        .args(["apply", "out.plan"])
        .output()
        .unwrap();
    let stderr = String::from_utf8(output.stderr).unwrap();
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("was made against the embedded emulator"),
        "{stderr}"
    );
    assert!(
        !deploy.path().join(".ckplan").exists(),
        "no store was started"
    );
}
