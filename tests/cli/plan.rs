//! `ckplan diff`, `ckplan plan` and `ckplan show` through the binary against the emulator
//! (issue "plan"): exact counts on a seeded store, plans carrying the emulator's current
//! change tags, the plan file written atomically or not at all, and refusal of tampered plans.

use crate::common;

use ckplan::plan::{file, Action, Plan};
use ckplan::record::FieldValue;
use common::{modify_requests, stadium, Env};
use serde_json::{json, Value as Json};

/// CloudKit holds stadium-1 as desired, stadium-2 with an old capacity and a field the local
/// data does not have, and an orphan stadium-9; no teams. Locally: stadiums 1-3, teams 1-2.
fn seeded() -> Env {
    let env = Env::new();
    env.seed(&[
        stadium(1),
        stadium(2)
            .with_field("capacity", FieldValue::int64(40000))
            .with_field("sponsor", FieldValue::string("Acme")),
        stadium(3).with_field("name", FieldValue::string("Old Bay")),
        ckplan::record::Record::new("Stadium", "stadium-9")
            .with_field("name", FieldValue::string("Demolished Dome")),
    ]);
    env
}

fn plan_of(text: &str) -> Plan {
    file::from_text(text).expect("a valid plan")
}

#[test]
fn diff_counts_are_exact_on_a_seeded_store_and_nothing_is_written() {
    let env = seeded();
    let before = env.stats();
    let run = env.run(&["diff"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_eq!(
        run.stdout,
        "Stadium: 1 unchanged, 0 new, 2 updated, 1 deleted\n\
         Team: 0 unchanged, 2 new, 0 updated, 0 deleted\n\
         Would delete 1 orphan records (use --delete-orphans to confirm)\n"
    );
    assert_eq!(run.stderr, "");
    assert_eq!(modify_requests(&before, &env.stats()), 0);
}

#[test]
fn diff_verbose_lists_records_and_changed_fields() {
    let env = seeded();
    let run = env.run(&["diff", "-v"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    insta::assert_snapshot!(run.stdout);
    let changes_only = env.run(&["diff", "--changes-only", "--type", "Stadium"]);
    assert_eq!(changes_only.code, 0, "{}", changes_only.stderr);
    insta::assert_snapshot!(changes_only.stdout);
}

#[test]
fn diff_json_and_type_filter() {
    let env = seeded();
    let run = env.run(&["diff", "--json", "--type", "Stadium"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let report: Json = serde_json::from_str(&run.stdout).unwrap();
    assert_eq!(
        report,
        json!({"types": [{
            "record_type": "Stadium",
            "counts": {"unchanged": 1, "new": 0, "updated": 2, "deleted": 1},
            "new": [],
            "updated": [
                {"record_name": "stadium-2", "fields": ["capacity", "sponsor"]},
                {"record_name": "stadium-3", "fields": ["name"]}
            ],
            "deleted": ["stadium-9"]
        }]})
    );
    let unknown = env.run(&["diff", "--type", "Stadum"]);
    assert_eq!(unknown.code, 1);
    assert_eq!(unknown.stdout, "");
    insta::assert_snapshot!(unknown.stderr);
}

#[test]
fn plan_to_a_pipe_carries_the_emulators_current_change_tags() {
    let env = seeded();
    // Someone writes after the seed, so the tags differ from the seed's replies.
    env.edit(
        "Stadium",
        "stadium-3",
        &[("city", Some(FieldValue::string("Oakland")))],
    );
    let run = env.run(&["plan"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    insta::assert_snapshot!(run.stderr);
    // The plan records the emulator's URL, which the output filter replaced.
    let plan = plan_of(&run.stdout.replace("[URL]", env.url()));
    let updates: Vec<_> = plan
        .changes
        .iter()
        .filter(|c| c.action == Action::Update)
        .collect();
    assert_eq!(updates.len(), 2);
    for change in updates {
        let now = env.lookup(change.record_name.as_str()).unwrap();
        assert_eq!(change.change_tag, now.change_tag, "{}", change.record_name);
    }
    let stadium_2 = plan
        .changes
        .iter()
        .find(|c| c.record_name.as_str() == "stadium-2")
        .unwrap();
    assert_eq!(stadium_2.removed, vec!["sponsor".to_owned()]);
    assert_eq!(
        stadium_2.before.get("capacity"),
        Some(&Some(FieldValue::int64(40000)))
    );
    // Orphans stay unless asked for; the counts are the plan's.
    assert_eq!(plan.counts(), (2, 2, 0));
    assert_eq!(plan.orphans_kept(), 1);
}

#[test]
fn plan_is_deterministic_apart_from_its_creation_time() {
    let env = seeded();
    // With the clock pinned (CKPLAN_TIMESTAMP), two plans are the same bytes.
    let pinned = |at: &str| {
        let output = env
            .ckplan()
            .env("CKPLAN_TIMESTAMP", at)
            .arg("plan")
            .output()
            .unwrap();
        assert!(
            output.status.success(),
            "{}",
            String::from_utf8_lossy(&output.stderr)
        );
        output.stdout
    };
    let first = pinned("2026-01-02T03:04:05Z");
    let second = pinned("2026-01-02T03:04:05Z");
    assert_eq!(first, second);
    // Another time changes exactly the `created_at` line and the checksum that covers it.
    let later = pinned("2026-01-02T03:04:06Z");
    let lines = |bytes: &[u8]| -> Vec<String> {
        String::from_utf8(bytes.to_vec())
            .unwrap()
            .split('\n')
            .map(str::to_owned)
            .collect()
    };
    let (first, later) = (lines(&first), lines(&later));
    assert_eq!(first.len(), later.len());
    let differing: Vec<(&String, &String)> =
        first.iter().zip(&later).filter(|(a, b)| a != b).collect();
    assert_eq!(differing.len(), 2, "{differing:?}");
    assert_eq!(
        differing[0].0,
        "  \"created_at\": \"2026-01-02T03:04:05Z\","
    );
    assert_eq!(
        differing[0].1,
        "  \"created_at\": \"2026-01-02T03:04:06Z\","
    );
    assert!(differing[1].0.starts_with("  \"checksum\": \"blake3:"));
}

#[test]
fn delete_orphans_plans_the_delete_against_its_tag() {
    let env = seeded();
    let run = env.run(&["plan", "--delete-orphans", "-o", "out.plan"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_eq!(run.stdout, "");
    insta::assert_snapshot!(run.stderr);
    let plan = plan_of(&env.read("out.plan"));
    let delete = plan
        .changes
        .iter()
        .find(|c| c.action == Action::Delete)
        .unwrap();
    assert_eq!(delete.record_name.as_str(), "stadium-9");
    assert_eq!(
        delete.change_tag,
        env.lookup("stadium-9").unwrap().change_tag
    );
    assert!(plan.options.delete_orphans);
}

#[test]
fn type_filter_is_recorded_in_the_plan() {
    let env = seeded();
    let run = env.run(&["plan", "--type", "Team", "-o", "team.plan"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_eq!(
        run.stderr.lines().next(),
        Some("Team: 0 unchanged, 2 new, 0 updated, 0 deleted")
    );
    let plan = plan_of(&env.read("team.plan"));
    assert_eq!(plan.options.types, Some(vec!["Team".into()]));
    assert!(plan
        .changes
        .iter()
        .all(|c| c.record_type.as_str() == "Team"));
    assert_eq!(plan.summary.len(), 1);
}

#[test]
fn detailed_exitcode_is_two_with_changes_and_zero_without() {
    let env = seeded();
    let changes = env.run(&["plan", "--detailed-exitcode", "-o", "a.plan"]);
    assert_eq!(changes.code, 2, "{}", changes.stderr);
    let apply = env.run(&["plan", "--delete-orphans", "-o", "b.plan"]);
    assert_eq!(apply.code, 0);
    assert_eq!(env.run(&["apply", "b.plan"]).code, 0);
    let none = env.run(&["plan", "--detailed-exitcode", "-o", "c.plan"]);
    assert_eq!(none.code, 0, "{}", none.stderr);
    assert_eq!(
        none.stderr.lines().take(3).collect::<Vec<_>>(),
        [
            "Stadium: 3 unchanged, 0 new, 0 updated, 0 deleted",
            "Team: 2 unchanged, 0 new, 0 updated, 0 deleted",
            "Plan: 0 to create, 0 to update, 0 to delete."
        ]
    );
    assert!(!plan_of(&env.read("c.plan")).has_changes());
}

#[test]
fn bad_config_names_file_and_place_and_writes_no_plan() {
    let env = Env::new();
    let config = env.read("ckplan.yaml").replace("INT64}", "INT46}");
    env.write("ckplan.yaml", &config);
    let before = env.stats();
    let run = env.run(&["plan", "-o", "out.plan"]);
    assert_eq!(run.code, 1);
    assert_eq!(run.stdout, "");
    insta::assert_snapshot!(run.stderr);
    assert!(!env.path("out.plan").exists());
    assert_eq!(common::all_requests(&before, &env.stats()), 0);
}

#[test]
fn bad_data_names_file_and_line_and_writes_no_plan_even_on_a_pipe() {
    let env = Env::new();
    let mut stadiums = common::stadiums();
    stadiums[1]["capacity"] = json!("forty thousand");
    stadiums[2]["capactiy"] = json!(1);
    env.set_stadiums(&stadiums);
    let before = env.stats();
    let run = env.run(&["plan", "-o", "out.plan"]);
    assert_eq!(run.code, 1);
    insta::assert_snapshot!(run.stderr);
    assert!(!env.path("out.plan").exists());
    let piped = env.run(&["plan"]);
    assert_eq!((piped.code, piped.stdout.as_str()), (1, ""));
    assert_eq!(common::all_requests(&before, &env.stats()), 0);
}

#[test]
fn failed_plan_leaves_an_existing_plan_file_as_it_was() {
    let env = Env::new();
    env.write("out.plan", "previous plan\n");
    env.set_teams(&json!([{"id": 1, "name": "Founded Late", "founded": "1901"}]));
    let run = env.run(&["plan", "-o", "out.plan"]);
    assert_eq!(run.code, 1, "{}", run.stderr);
    assert_eq!(env.read("out.plan"), "previous plan\n");
    let leftovers: Vec<_> = std::fs::read_dir(env.dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|name| name != "out.plan" && name != "ckplan.yaml")
        .filter(|name| name != "data" && name != "keys")
        .collect();
    assert_eq!(leftovers, Vec::<String>::new());
}

#[test]
fn unwritable_output_is_an_error_and_leaves_nothing() {
    let env = Env::new();
    let run = env.run(&["plan", "-o", "missing/dir/out.plan"]);
    assert_eq!(run.code, 1);
    assert!(
        run.stderr
            .contains("failed to write plan `missing/dir/out.plan`"),
        "{}",
        run.stderr
    );
    assert!(!env.path("missing").exists());
}

#[test]
fn tampered_plan_is_refused_by_show() {
    let env = seeded();
    let run = env.run(&["plan", "-o", "out.plan"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let text = env.read("out.plan").replace("Bay Stadium", "Bay Stadion");
    env.write("out.plan", &text);
    let show = env.run(&["show", "out.plan"]);
    assert_eq!((show.code, show.stdout.as_str()), (1, ""));
    insta::assert_snapshot!(show.stderr);
}

/// The README's `ckplan show` example: one create, one update (a changed string, a moved
/// location, a removed field) and one delete.
#[test]
fn show_renders_create_update_and_delete() {
    let env = Env::new();
    env.seed(&[
        stadium(1)
            .with_field("name", FieldValue::string("Harbour Field"))
            .with_field("location", FieldValue::location(39.2901, -76.6122))
            .with_field("sponsor", FieldValue::string("Acme Crab Shack")),
        stadium(2),
        ckplan::record::Record::new("Stadium", "stadium-9")
            .with_field("name", FieldValue::string("Demolished Dome"))
            .with_field("city", FieldValue::string("Nowhere")),
    ]);
    let mut stadiums = common::stadiums();
    stadiums.as_array_mut().unwrap().truncate(3);
    env.set_stadiums(&stadiums);
    let run = env.run(&[
        "plan",
        "--type",
        "Stadium",
        "--delete-orphans",
        "-o",
        "out.plan",
    ]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    insta::assert_snapshot!("show_plan_stderr", run.stderr);
    let show = env.run(&["show", "out.plan"]);
    assert_eq!((show.code, show.stderr.as_str()), (0, ""));
    let created_at = plan_of(&env.read("out.plan")).created_at.to_string();
    insta::assert_snapshot!(show.stdout.replace(&created_at, "[TIME]"));
}

/// README "The plan file": `show` refuses a plan made for another target than the
/// configuration in use (production above all), and still reviews any plan offline when no
/// configuration is in use.
#[test]
fn show_refuses_a_plan_for_another_target_than_the_configuration() {
    let env = seeded();
    let run = env.run(&["plan", "-o", "out.plan"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    env.set_config("iCloud.com.example.Other", "production");
    let show = env.run(&["show", "out.plan"]);
    assert_eq!(
        (show.code, show.stdout.as_str()),
        (1, ""),
        "{}",
        show.stderr
    );
    assert!(
        show.stderr
            .contains("refusing plan `out.plan`: it was made for"),
        "{}",
        show.stderr
    );
    assert!(
        show.stderr.contains("iCloud.com.example.Other/production"),
        "{}",
        show.stderr
    );

    // Without a configuration in use, the plan alone is shown.
    std::fs::remove_file(env.path("ckplan.yaml")).unwrap();
    let show = env.run(&["show", "out.plan"]);
    assert_eq!(show.code, 0, "{}", show.stderr);
    assert!(show.stdout.contains("Plan:"));
}

#[test]
fn issue_12_a_field_type_change_stops_plan_and_diff_with_the_way_out() {
    let env = Env::new();
    let applied = env.run(&["apply", "--auto-approve"]);
    assert_eq!(applied.code, 0, "{}", applied.stderr);
    let config = env.read("ckplan.yaml");
    env.write(
        "ckplan.yaml",
        &config.replace("capacity: INT64", "capacity: DOUBLE"),
    );
    let before = env.stats();
    for command in [&["plan", "-o", "retyped.plan"][..], &["diff"][..]] {
        let run = env.run(command);
        assert_eq!(run.code, 1, "{command:?}: {}", run.stderr);
        assert!(
            run.stderr.contains(
                "error: field `capacity` of type `Stadium` is DOUBLE in the local data but \
                 INT64 in CloudKit (record `stadium-1` and 2 other records): CloudKit cannot \
                 change a field's type"
            ),
            "{command:?}: {}",
            run.stderr
        );
        assert!(run.stderr.contains("rename the field"), "{}", run.stderr);
        assert!(run.stdout.is_empty(), "{command:?}: {}", run.stdout);
    }
    assert!(!env.path("retyped.plan").exists());
    assert_eq!(modify_requests(&before, &env.stats()), 0);
}

#[test]
fn issue_12_a_byte_order_mark_is_accepted_in_every_file_a_user_edits() {
    let env = Env::new();
    let with_bom = |relative: &str| {
        let text = env.read(relative);
        env.write(relative, &format!("\u{feff}{text}"));
    };
    // Teams as NDJSON and stadiums as YAML, so that every data format starts with a mark.
    let teams: Vec<String> = common::teams()
        .as_array()
        .unwrap()
        .iter()
        .map(|team| team.to_string())
        .collect();
    env.write("data/teams.ndjson", &(teams.join("\n") + "\n"));
    env.write(
        "data/stadiums.yaml",
        &serde_yaml::to_string(&common::stadiums()).unwrap(),
    );
    let config = env
        .read("ckplan.yaml")
        .replace("data/teams.json", "data/teams.ndjson")
        .replace("data/stadiums.json", "data/stadiums.yaml");
    env.write("ckplan.yaml", &config);
    for file in [
        "ckplan.yaml",
        "data/teams.ndjson",
        "data/stadiums.yaml",
        "keys/test.pem",
    ] {
        with_bom(file);
    }
    let validated = env.run(&["validate"]);
    assert_eq!(validated.code, 0, "{}", validated.stderr);
    let planned = env.run(&["plan", "-o", "bom.plan"]);
    assert_eq!(planned.code, 0, "{}", planned.stderr);
    with_bom("bom.plan");
    let applied = env.run(&["apply", "bom.plan"]);
    assert_eq!(applied.code, 0, "{}", applied.stderr);
    assert_eq!(env.records("Stadium").len(), 3);
    assert_eq!(env.records("Team").len(), 2);
    // And the mark in a JSON array file.
    env.write(
        "ckplan.yaml",
        &config.replace("data/stadiums.yaml", "data/stadiums.json"),
    );
    with_bom("data/stadiums.json");
    let diff = env.run(&["diff"]);
    assert_eq!(diff.code, 0, "{}", diff.stderr);
    assert!(
        diff.stdout.starts_with("Stadium: 3 unchanged"),
        "{}",
        diff.stdout
    );
}

#[test]
fn issue_11_a_production_plan_reads_the_types_the_emulator_process_deployed() {
    // `common::DEPLOYED_TYPES` reach the `ckplan emulator` process as `--record-type`.
    let env = Env::with_emulator_process(&[]);
    env.set_config(common::CONTAINER, "production");
    let run = env.run(&["plan", "-o", "out.plan"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(
        run.stderr
            .contains("Team: 0 unchanged, 2 new, 0 updated, 0 deleted"),
        "{}",
        run.stderr
    );
    assert!(!run.stderr.contains("does not exist"), "{}", run.stderr);
}

#[test]
fn issue_12_a_record_name_held_by_another_type_stops_plan_and_diff() {
    // Record names are unique in a zone across types: the create could never succeed.
    let env = Env::new();
    env.seed(&[ckplan::record::Record::new("Other", "stadium-3")
        .with_field("name", FieldValue::string("elsewhere"))]);
    for args in [&["plan", "-o", "a.plan"][..], &["diff", "-v"][..]] {
        let run = env.run(args);
        assert_eq!(run.code, 1, "{args:?}: {}", run.stderr);
        assert!(
            run.stderr.contains(
                "record `stadium-3` is a `Stadium` in the local data but CloudKit holds \
                 `stadium-3` as a `Other`"
            ),
            "{args:?}: {}",
            run.stderr
        );
        assert!(
            run.stderr.contains("rename the local record"),
            "{}",
            run.stderr
        );
    }
    assert!(!env.path("a.plan").exists());
}

#[test]
fn issue_13_show_refuses_a_plan_for_another_zone_or_database() {
    let env = seeded();
    let run = env.run(&["plan", "-o", "out.plan"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let config = env.read("ckplan.yaml");
    for (from, to) in [
        ("database: public\n", "database: public\nzone: Elsewhere\n"),
        ("database: public\n", "database: private\n"),
    ] {
        assert!(config.contains(from));
        env.write("ckplan.yaml", &config.replacen(from, to, 1));
        let show = env.run(&["show", "out.plan"]);
        assert_eq!(
            (show.code, show.stdout.as_str()),
            (1, ""),
            "{to}: {}",
            show.stderr
        );
        assert!(
            show.stderr.contains("refusing plan `out.plan`"),
            "{}",
            show.stderr
        );
    }
}

/// Issue 18: a plan leaves read hints (`.ckplan/read-hints.json`), the next plan reads from
/// them with fewer queries, and a hints file edited to anything at all gives the same plan.
#[test]
fn issue_18_read_hints_save_queries_and_never_change_a_plan() {
    let env = seeded();
    let queries = |env: &Env| {
        env.stats()
            .requests
            .get("records/query")
            .copied()
            .unwrap_or(0)
    };
    let before = queries(&env);
    let first = env.run(&["plan", "-o", "first.plan"]);
    assert_eq!(first.code, 0, "{}", first.stderr);
    let cold = queries(&env) - before;
    let hints = env.read(".ckplan/read-hints.json");
    assert!(hints.contains("\"Stadium\""), "{hints}");
    let before = queries(&env);
    let second = env.run(&["plan", "-o", "second.plan"]);
    assert_eq!(second.code, 0, "{}", second.stderr);
    let warm = queries(&env) - before;
    assert!(warm < cold, "{warm} queries from the hints, {cold} without");
    let reference = plan_of(&env.read("first.plan")).changes;
    assert_eq!(plan_of(&env.read("second.plan")).changes, reference);
    let target = hints.split("\":{\"Stadium\"").next().unwrap();
    let edited = [
        "{\"targets\":5}".to_owned(),
        "not json".to_owned(),
        format!("{target}\":{{\"Stadium\":{{\"cuts\":[9223372036854775807],\"newest\":0,\"parallelism\":16}}}}}}}}"),
        format!("{target}\":{{\"Stadium\":{{\"cuts\":[-1,-1,5,-9223372036854775808],\"newest\":-3,\"parallelism\":16}}}}}}}}"),
    ];
    for text in edited {
        env.write(".ckplan/read-hints.json", &text);
        let run = env.run(&["plan", "-o", "edited.plan"]);
        assert_eq!(run.code, 0, "{text}: {}", run.stderr);
        assert_eq!(
            plan_of(&env.read("edited.plan")).changes,
            reference,
            "{text}"
        );
    }
}
