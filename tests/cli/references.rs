//! References through the binary (issue 17): a REFERENCE's action and zone are desired
//! state where the local data states them (planned, shown, applied), and
//! `plan --delete-orphans` keeps orphans that kept records still reference. CloudKit's
//! state is judged from the emulator's dump, never through ckplan's client.

use crate::common;

use common::Env;
use serde_json::{json, Value as Json};

/// The default project with Team carrying a `rivals: REFERENCE_LIST` field.
fn project() -> Env {
    let env = Env::new();
    let config = env.read("ckplan.yaml").replace(
        "stadium: REFERENCE, founded",
        "stadium: REFERENCE, rivals: REFERENCE_LIST, founded",
    );
    env.write("ckplan.yaml", &config);
    env
}

fn teams(stadium: Json, rivals: Json) -> Json {
    json!([
        {"id": 1, "name": "Baltimore Crabs", "stadium": stadium, "rivals": rivals, "founded": 1954},
        {"id": 2, "name": "Chicago Gulls", "stadium": "stadium-2", "rivals": [], "founded": 1901}
    ])
}

/// The stored action of reference field `field` of `record` (element `index` of a list).
fn stored_action(env: &Env, record: &str, field: &str, index: Option<usize>) -> String {
    let fields = &env.stored_fields()[record];
    let value = &fields[field]["value"];
    let value = index.map_or(value, |i| &value[i]);
    value["action"].as_str().expect("an action").to_owned()
}

fn plan_exit(env: &Env) -> i32 {
    let run = env.run(&["plan", "--detailed-exitcode", "-o", "check.plan"]);
    assert!(run.code == 0 || run.code == 2, "{}", run.stderr);
    run.code
}

#[test]
fn issue_17_a_stated_reference_action_is_planned_shown_and_applied() {
    let env = project();
    env.set_teams(&teams(json!("stadium-1"), json!(["team-2"])));
    env.publish();
    assert_eq!(stored_action(&env, "team-1", "stadium", None), "NONE");
    assert_eq!(plan_exit(&env), 0, "a bare name matches whatever action");

    // Plain data stating an action, on a scalar and in a list.
    env.set_teams(&teams(
        json!({"recordName": "stadium-1", "action": "DELETE_SELF"}),
        json!([{"recordName": "team-2", "action": "VALIDATE"}]),
    ));
    assert_eq!(plan_exit(&env), 2, "a changed action is a difference");
    let plan = env.run(&["plan", "-o", "refs.plan"]);
    assert_eq!(plan.code, 0, "{}", plan.stderr);
    assert!(
        plan.stderr
            .contains("Team: 1 unchanged, 0 new, 1 updated, 0 deleted"),
        "{}",
        plan.stderr
    );
    let show = env.run(&["show", "refs.plan"]);
    assert_eq!(show.code, 0, "{}", show.stderr);
    assert!(
        show.stdout
            .contains("~ rivals: [→ team-2 (NONE)] → [→ team-2 (VALIDATE)]"),
        "{}",
        show.stdout
    );
    assert!(
        show.stdout
            .contains("~ stadium: → stadium-1 (NONE) → → stadium-1 (DELETE_SELF)"),
        "{}",
        show.stdout
    );
    let shown: Json = serde_json::from_str(&env.run(&["show", "--json", "refs.plan"]).stdout)
        .expect("show --json prints JSON");
    let change = &shown["changes"][0];
    assert_eq!(change["before"]["stadium"]["value"]["action"], "NONE");
    assert_eq!(change["after"]["stadium"]["value"]["action"], "DELETE_SELF");
    let apply = env.run(&["apply", "refs.plan"]);
    assert_eq!(apply.code, 0, "{}", apply.stderr);
    assert_eq!(
        stored_action(&env, "team-1", "stadium", None),
        "DELETE_SELF"
    );
    assert_eq!(stored_action(&env, "team-1", "rivals", Some(0)), "VALIDATE");
    assert_eq!(plan_exit(&env), 0, "applied: nothing left to change");

    // Back to bare names: the action is not compared, so nothing changes it back.
    env.set_teams(&teams(json!("stadium-1"), json!(["team-2"])));
    assert_eq!(plan_exit(&env), 0);
}

#[test]
fn issue_17_a_native_record_states_its_reference_action_and_a_replace_keeps_unstated_ones() {
    let env = project();
    env.publish();
    // Team as CloudKit-native records.
    let config = env.read("ckplan.yaml").replace(
        "    record_name: \"team-{id}\"\n    fields: {name: STRING, stadium: REFERENCE, rivals: REFERENCE_LIST, founded: INT64}\n",
        "",
    );
    env.write("ckplan.yaml", &config);
    let native = |action: Option<&str>| {
        let mut stadium = json!({"recordName": "stadium-1"});
        if let Some(action) = action {
            stadium["action"] = json!(action);
        }
        json!([
            {"recordName": "team-1", "fields": {
                "name": {"value": "Baltimore Crabs", "type": "STRING"},
                "stadium": {"value": stadium, "type": "REFERENCE"},
                "founded": {"value": 1954, "type": "INT64"}}},
            {"recordName": "team-2", "fields": {
                "name": {"value": "Chicago Gulls", "type": "STRING"},
                "stadium": {"value": {"recordName": "stadium-2"}, "type": "REFERENCE"},
                "founded": {"value": 1901, "type": "INT64"}}}
        ])
    };
    env.set_teams(&native(Some("DELETE_SELF")));
    assert_eq!(plan_exit(&env), 2);
    env.publish();
    assert_eq!(
        stored_action(&env, "team-1", "stadium", None),
        "DELETE_SELF"
    );
    // Without the action, and with a field removed (`founded`: a whole-record write), the
    // stored action is kept: the data no longer states it.
    let mut without = native(None);
    without[0]["fields"]
        .as_object_mut()
        .unwrap()
        .remove("founded");
    env.set_teams(&without);
    env.publish();
    let stored = &env.stored_fields()["team-1"];
    assert!(stored.get("founded").is_none(), "{stored}");
    assert_eq!(
        stored_action(&env, "team-1", "stadium", None),
        "DELETE_SELF"
    );
}

fn stadiums_without_3() -> Json {
    let mut stadiums = common::stadiums();
    stadiums.as_array_mut().unwrap().truncate(2);
    stadiums
}

#[test]
fn issue_17_delete_orphans_keeps_a_record_the_local_data_references_and_says_so() {
    let env = project();
    env.set_teams(&teams(
        json!({"recordName": "stadium-3", "action": "DELETE_SELF"}),
        json!([]),
    ));
    env.publish();
    // stadium-3 leaves the local data; team-1 still references it.
    env.set_stadiums(&stadiums_without_3());
    let plan = env.run(&["plan", "--delete-orphans", "-o", "keep.plan"]);
    assert_eq!(plan.code, 0, "{}", plan.stderr);
    assert!(
        plan.stderr.contains(
            "Stadium `stadium-3` is only in CloudKit; this plan keeps it because records \
             reference it:\n  referenced by Team `team-1` field `stadium` (action DELETE_SELF, \
             local data)\n  deleting it (plan with --delete-referenced-orphans) would make \
             CloudKit delete, by DELETE_SELF: Team `team-1`\n"
        ),
        "{}",
        plan.stderr
    );
    assert!(
        plan.stderr.contains(
            "references `stadium-3`, which no local record defines (it is only in CloudKit; \
             this plan keeps it because records reference it)"
        ),
        "{}",
        plan.stderr
    );
    assert!(
        !plan.stderr.contains("may exist only in CloudKit"),
        "{}",
        plan.stderr
    );
    assert!(plan
        .stderr
        .contains("Plan: 0 to create, 0 to update, 0 to delete."));
    let show = env.run(&["show", "keep.plan"]);
    assert!(
        show.stdout
            .contains("Stadium `stadium-3` is only in CloudKit; this plan keeps it"),
        "{}",
        show.stdout
    );
    // `--summary` is the counts only (issue 19); markdown lists the kept orphans too.
    let summary = env.run(&["show", "keep.plan", "--summary"]);
    assert!(!summary.stdout.contains("stadium-3"), "{}", summary.stdout);
    assert!(
        summary.stdout.contains("Plan: 0 to create"),
        "{}",
        summary.stdout
    );
    let markdown = env.run(&["show", "keep.plan", "--format", "markdown"]);
    assert!(markdown.stdout.contains("stadium-3"), "{}", markdown.stdout);
    let shown: Json = serde_json::from_str(&env.run(&["show", "--json", "keep.plan"]).stdout)
        .expect("show --json prints JSON");
    assert_eq!(shown["referenced_orphans"][0]["record_name"], "stadium-3");
    assert_eq!(shown["referenced_orphans"][0]["deleted"], false);
    assert_eq!(
        shown["referenced_orphans"][0]["referenced_by"][0]["record_name"],
        "team-1"
    );
    let exit = env.run(&[
        "plan",
        "--delete-orphans",
        "--detailed-exitcode",
        "-o",
        "x.plan",
    ]);
    assert_eq!(
        exit.code, 2,
        "a kept orphan is a difference: {}",
        exit.stderr
    );
    let apply = env.run(&["apply", "keep.plan"]);
    assert_eq!(apply.code, 0, "{}", apply.stderr);
    let stored = env.stored_fields();
    assert!(stored.contains_key("stadium-3") && stored.contains_key("team-1"));

    // Asked for explicitly: deleted, the cascade named, and CloudKit (the emulator) runs it.
    let plan = env.run(&[
        "plan",
        "--delete-orphans",
        "--delete-referenced-orphans",
        "-o",
        "cascade.plan",
    ]);
    assert_eq!(plan.code, 0, "{}", plan.stderr);
    assert!(
        plan.stderr.contains(
            "Stadium `stadium-3` is only in CloudKit; this plan deletes it although records \
             reference it (--delete-referenced-orphans):\n  referenced by Team `team-1` field \
             `stadium` (action DELETE_SELF, local data)\n  then CloudKit deletes, by \
             DELETE_SELF: Team `team-1`\n"
        ),
        "{}",
        plan.stderr
    );
    assert!(
        plan.stderr
            .contains("(it is only in CloudKit, and this plan deletes it)"),
        "{}",
        plan.stderr
    );
    assert!(plan
        .stderr
        .contains("Plan: 0 to create, 0 to update, 1 to delete."));
    let apply = env.run(&["apply", "cascade.plan"]);
    assert_eq!(apply.code, 0, "{}", apply.stderr);
    let stored = env.stored_fields();
    assert!(!stored.contains_key("stadium-3"));
    assert!(
        !stored.contains_key("team-1"),
        "the DELETE_SELF cascade ran"
    );
    assert!(stored.contains_key("team-2"));
}

#[test]
fn issue_17_with_type_an_orphan_another_type_references_in_cloudkit_is_kept() {
    let env = project();
    env.set_teams(&teams(json!("stadium-3"), json!([])));
    env.publish();
    // Locally team-1 moves to stadium-1 and stadium-3 goes; only Stadium is planned, so
    // team-1 keeps referencing stadium-3 in CloudKit.
    env.set_teams(&teams(json!("stadium-1"), json!([])));
    env.set_stadiums(&stadiums_without_3());
    let plan = env.run(&[
        "plan",
        "--type",
        "Stadium",
        "--delete-orphans",
        "-o",
        "stadiums.plan",
    ]);
    assert_eq!(plan.code, 0, "{}", plan.stderr);
    assert!(
        plan.stderr
            .contains("  referenced by Team `team-1` field `stadium` (action NONE, in CloudKit)\n"),
        "{}",
        plan.stderr
    );
    let apply = env.run(&["apply", "stadiums.plan"]);
    assert_eq!(apply.code, 0, "{}", apply.stderr);
    assert!(env.stored_fields().contains_key("stadium-3"));
    // With every type planned, team-1 moves away first and stadium-3 can go.
    let plan = env.run(&["plan", "--delete-orphans", "-o", "all.plan"]);
    assert!(
        plan.stderr.contains("1 to update, 1 to delete"),
        "{}",
        plan.stderr
    );
    let apply = env.run(&["apply", "all.plan"]);
    assert_eq!(apply.code, 0, "{}", apply.stderr);
    let stored = env.stored_fields();
    assert!(!stored.contains_key("stadium-3") && stored.contains_key("team-1"));
}

/// Issue 19: `--max-deletes` and `--max-changes` count the records the plan says CloudKit
/// deletes by cascade. One stadium that ten teams reference with `DELETE_SELF`: a plan that
/// deletes it makes eleven records vanish, and `--max-deletes 1` must refuse it.
#[test]
fn issue_19_guards_count_the_deletes_cloudkit_cascades() {
    let env = Env::new();
    let teams: Vec<Json> = (1..=10)
        .map(|id| {
            json!({"id": id, "name": format!("Team {id}"), "founded": 1900 + id,
                   "stadium": {"recordName": "stadium-1", "action": "DELETE_SELF"}})
        })
        .collect();
    env.set_teams(&Json::Array(teams));
    env.publish();
    // The stadium leaves the local data; the teams still point at it.
    let stadiums: Vec<Json> = common::stadiums().as_array().unwrap()[1..].to_vec();
    env.set_stadiums(&Json::Array(stadiums));
    let delete = ["plan", "--delete-orphans", "--delete-referenced-orphans"];
    let before = env.stats();
    let run = env.run(&[&delete[..], &["--max-deletes", "1", "-o", "guarded.plan"]].concat());
    assert_eq!(run.code, 1, "{}", run.stderr);
    assert!(
        run.stderr.contains(
            "refusing the plan: the plan deletes 1 record, and CloudKit then deletes 10 more by DELETE_SELF (Team `team-1`, Team `team-10`, Team `team-2`, Team `team-3`, Team `team-4`, and 5 more): 11 records in all, over --max-deletes 1; no plan was written"
        ),
        "{}",
        run.stderr
    );
    assert!(!env.path("guarded.plan").exists());
    let run = env.run(&[&delete[..], &["--max-changes", "10", "-o", "guarded.plan"]].concat());
    assert_eq!(run.code, 1, "{}", run.stderr);
    assert!(
        run.stderr
            .contains("the plan changes 11 records (0 to create, 0 to update, 1 to delete, and CloudKit then deletes 10 more by DELETE_SELF"),
        "{}",
        run.stderr
    );
    assert_eq!(common::modify_requests(&before, &env.stats()), 0);

    // A saved plan is refused by apply's guards the same way, with nothing sent.
    let run = env.run(&[&delete[..], &["-o", "big.plan"]].concat());
    assert_eq!(run.code, 0, "{}", run.stderr);
    let before = env.stats();
    for guard in [["--max-deletes", "10"], ["--max-changes", "10"]] {
        let run = env.run(&[&["apply", "big.plan"][..], &guard].concat());
        assert_eq!(run.code, 1, "{}", run.stderr);
        assert!(
            run.stderr
                .contains("and CloudKit then deletes 10 more by DELETE_SELF"),
            "{}",
            run.stderr
        );
        assert!(run.stderr.contains("nothing was sent"), "{}", run.stderr);
    }
    assert_eq!(common::all_requests(&before, &env.stats()), 0);
    let run = env.run(&[
        "apply",
        "big.plan",
        "--max-deletes",
        "11",
        "--max-changes",
        "11",
    ]);
    assert_eq!(run.code, 0, "{}", run.stderr);
}

/// Issue 19: `delete-all` warns about references in the local data itself — native records
/// hold `{"type": "REFERENCE", "value": {"recordName": …}}` whatever `fields:` declares — to
/// the records it is about to delete, and says which CloudKit then deletes by DELETE_SELF.
#[test]
fn issue_19_delete_all_warns_about_native_records_referencing_the_type() {
    let env = Env::new();
    let config = env.read("ckplan.yaml");
    env.write(
        "ckplan.yaml",
        &format!("{config}  Seat:\n    file: data/seats.json\n"),
    );
    let seat = |name: &str, target: &str, action: &str| {
        json!({"recordName": name, "recordType": "Seat", "fields": {
            "section": {"type": "STRING", "value": "A"},
            "venue": {"type": "REFERENCE", "value": {"recordName": target, "action": action}}}})
    };
    env.write(
        "data/seats.json",
        &json!([
            seat("seat-1", "stadium-1", "DELETE_SELF"),
            seat("seat-2", "stadium-1", "DELETE_SELF"),
            seat("seat-3", "stadium-2", "NONE"),
            seat("seat-4", "team-1", "DELETE_SELF"),
        ])
        .to_string(),
    );
    env.publish();
    let run = env.run(&["delete-all", "--type", "Stadium", "--yes"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(
        run.stderr.contains(
            "warning: the local data references `Stadium` records about to be deleted (5 references): \
             Seat `seat-1` field `venue` → `stadium-1` (DELETE_SELF), \
             Seat `seat-2` field `venue` → `stadium-1` (DELETE_SELF), \
             Seat `seat-3` field `venue` → `stadium-2` (NONE), \
             Team `team-1` field `stadium` → `stadium-1` (NONE), \
             Team `team-2` field `stadium` → `stadium-2` (NONE); \
             CloudKit deletes the 2 records whose reference has action DELETE_SELF"
        ),
        "{}",
        run.stderr
    );
    // The warning comes before anything is deleted.
    let warned = run.stderr.find("about to be deleted").unwrap();
    assert!(
        warned < run.stderr.find("Deleted 3").unwrap(),
        "{}",
        run.stderr
    );
}
