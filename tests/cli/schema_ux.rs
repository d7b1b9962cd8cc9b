//! Issue 20, the schema part as a user meets it: the summaries and "no changes" verdicts
//! count the schema additions, a type CloudKit cannot query yet gets the one piece of
//! advice that works (from `plan`, `doctor` and the README alike), an interrupt during
//! the schema step ends like one during the records, and the receipt records the import.
//! Against an emulator that requires indexes from its schema, from a fresh container.

#[cfg(unix)]
use super::lifecycle::{StderrLines, STOPPING};
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

/// `ckplan apply out.plan` with the management token, stderr piped, not waited for.
#[cfg(unix)]
fn spawn_apply(env: &Env) -> std::process::Child {
    std::process::Command::new(assert_cmd::cargo::cargo_bin("ckplan"))
        .args(["apply", "out.plan"])
        .current_dir(env.path(""))
        .env("NO_COLOR", "1")
        .env("CKPLAN_MANAGEMENT_TOKEN", TOKEN)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap()
}

#[cfg(unix)]
fn sigterm(child: &std::process::Child) {
    assert_eq!(unsafe { libc::kill(child.id() as i32, libc::SIGTERM) }, 0);
}

fn json(env: &Env, file: &str) -> serde_json::Value {
    serde_json::from_str(&env.read(file)).unwrap()
}

/// The journal's `event` names, in order.
fn events(env: &Env) -> Vec<String> {
    env.read("out.plan.journal")
        .lines()
        .map(|line| {
            let entry: serde_json::Value = serde_json::from_str(line).unwrap();
            entry["event"].as_str().unwrap().to_owned()
        })
        .collect()
}

#[cfg(unix)]
#[test]
fn issue_20_sigterm_during_the_schema_import_finishes_it_and_stops_before_the_records() {
    let env = fresh("development");
    // Apply's schema import is held until apply has taken the signal, then let through:
    // the request in flight finishes, no record is sent, and the run resumes.
    let proxy = env.hold_request(crate::common::hold::SCHEMA_IMPORT, 1);
    ok(&env, &["plan", "-o", "out.plan"]);
    let planned = json(&env, "out.plan")["schema"]["digest"].clone();
    let mut child = spawn_apply(&env);
    let mut stderr = StderrLines::of(&mut child);
    proxy.wait_held();
    sigterm(&child);
    stderr.wait_for(STOPPING);
    proxy.release();
    let status = child.wait().unwrap();
    let stderr = stderr.all();
    assert_eq!(status.code(), Some(130), "{stderr}");
    for line in [
        "Schema: 25 addition(s) imported into development; an export after it holds them all and lost nothing ckplan had seen.\n",
        "Apply interrupted: 0 created, 0 updated, 0 deleted, 0 unchanged skipped; 5 planned \
         changes not started.\n",
        "error: apply interrupted; the journal holds every outcome so far; run `ckplan apply \
         out.plan` again to resume\n",
    ] {
        assert!(stderr.contains(line), "{line}\n{stderr}");
    }
    assert!(env.records("Stadium").is_empty());
    assert_eq!(events(&env), ["start", "schema", "finished"]);
    let receipt = json(&env, "out.plan.receipt.json");
    assert_eq!(receipt["complete"], false, "{receipt}");
    let schema = &receipt["schema"];
    assert_eq!(schema["outcome"], "imported", "{receipt}");
    assert_eq!(schema["imported"], 25);
    assert_eq!(schema["additions"][0], "record type `Stadium`");
    assert_eq!(schema["additions"].as_array().unwrap().len(), 25);
    assert_eq!(schema["digest_before"], planned);
    let after = schema["digest_after"].as_str().unwrap();
    assert!(
        after.starts_with("blake3:") && planned != after,
        "{receipt}"
    );
    assert!(schema["at"].is_string(), "{receipt}");

    // The next run finds the schema there and writes the records.
    let again = ok(&env, &["apply", "out.plan"]);
    assert!(!again.stderr.contains("Schema:"), "{}", again.stderr);
    assert_eq!(env.records("Stadium").len(), 3);
    let receipt = json(&env, "out.plan.receipt.json");
    assert_eq!(receipt["complete"], true, "{receipt}");
    // Issue 20: the resumed run's receipt carries the import as the journal recorded it
    // (the first run's), not "already there" with the post-import digest as `digest_before`.
    assert_eq!(receipt["schema"]["outcome"], "imported", "{receipt}");
    assert_eq!(receipt["schema"]["imported"], 25, "{receipt}");
    assert_eq!(receipt["schema"]["digest_before"], planned, "{receipt}");
    assert_eq!(receipt["schema"]["digest_after"], after, "{receipt}");
    // The journal keeps this run's own step too.
    let journal = env.read("out.plan.journal");
    let steps: Vec<serde_json::Value> = journal
        .lines()
        .map(|line| serde_json::from_str::<serde_json::Value>(line).unwrap())
        .filter(|entry| entry["event"] == "schema")
        .collect();
    assert_eq!(steps.len(), 2, "{journal}");
    assert_eq!(steps[1]["outcome"], "already_there", "{journal}");
}

#[cfg(unix)]
#[test]
fn issue_20_sigterm_before_the_schema_import_sends_nothing_more_even_without_record_changes() {
    let env = one_index_to_add();
    // Apply's export (the plan's is the first) is held while the signal arrives: the read
    // finishes, then nothing more is sent, and a plan that changes no record is still
    // not done.
    let proxy = env.hold_request(b"/schema/export HTTP/1.1", 2);
    ok(&env, &["plan", "-o", "out.plan"]);
    let before = super::schema_plan::endpoints(&env).len();
    let mut child = spawn_apply(&env);
    let mut stderr = StderrLines::of(&mut child);
    proxy.wait_held();
    sigterm(&child);
    stderr.wait_for(STOPPING);
    proxy.release();
    let status = child.wait().unwrap();
    let stderr = stderr.all();
    assert_eq!(status.code(), Some(130), "{stderr}");
    assert!(
        stderr.contains(
            "Schema: interrupted before the import; neither the schema nor any record was \
             written.\n"
        ),
        "{stderr}"
    );
    assert!(
        stderr.contains("run `ckplan apply out.plan` again to resume"),
        "{stderr}"
    );
    let sent = super::schema_plan::endpoints(&env)[before..].to_vec();
    assert_eq!(sent, ["schema/export"], "{sent:?}");
    assert_eq!(events(&env), ["start", "schema", "finished"]);
    let receipt = json(&env, "out.plan.receipt.json");
    assert_eq!(receipt["complete"], false, "{receipt}");
    assert_eq!(receipt["schema"]["outcome"], "stopped", "{receipt}");
    assert_eq!(receipt["schema"]["imported"], 0);
    assert!(receipt["schema"]["digest_after"].is_null(), "{receipt}");

    // Resumed: the index is imported; then the plan is done.
    let again = ok(&env, &["apply", "out.plan"]);
    assert!(
        again
            .stderr
            .contains("Schema: 1 addition(s) imported into development; an export after it holds them all and lost nothing ckplan had seen."),
        "{}",
        again.stderr
    );
    let third = ok(&env, &["apply", "out.plan"]);
    assert!(third.stderr.contains("already applied"), "{}", third.stderr);
}

#[test]
fn issue_20_a_refused_token_gets_the_same_hint_from_plan_schema_diff_and_schema_apply() {
    let env = fresh("development");
    let hint = "hint: create one in CloudKit Console (Settings > Tokens & Keys) and set \
                CKPLAN_MANAGEMENT_TOKEN or `auth: management_token_file:`\n";
    for args in [
        &["plan", "-o", "out.plan"][..],
        &["schema", "diff"],
        &["schema", "apply"],
    ] {
        let refused = run(&env, Some("expired-token-value"), args);
        assert_eq!(refused.code, 1, "{args:?}\n{}", refused.stderr);
        assert!(
            refused
                .stderr
                .contains("refused the management token (HTTP 401)"),
            "{args:?}\n{}",
            refused.stderr
        );
        assert!(
            refused.stderr.ends_with(hint),
            "{args:?}\n{}",
            refused.stderr
        );
        assert!(
            !refused.stderr.contains("a field's type"),
            "{}",
            refused.stderr
        );
        assert!(!refused.stderr.contains("expired-token-value"));
    }
}

/// `ckplan emulator` started with `how` naming its management token, and the export its
/// schema API answers to that token: status, and whether the token is in the process's
/// command line (what `ps` shows).
#[cfg(target_os = "linux")]
fn emulator_export(how: impl FnOnce(&mut std::process::Command)) -> (u16, bool) {
    use std::io::BufRead;
    let mut command = std::process::Command::new(assert_cmd::cargo::cargo_bin("ckplan"));
    command
        .args(["emulator", "--listen", "127.0.0.1:0", "-q"])
        .env_remove("CKPLAN_EMULATOR_MANAGEMENT_TOKEN")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null());
    how(&mut command);
    let mut child = command.spawn().unwrap();
    let mut url = String::new();
    std::io::BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut url)
        .unwrap();
    let cmdline = std::fs::read(format!("/proc/{}/cmdline", child.id())).unwrap();
    let shown = String::from_utf8_lossy(&cmdline).contains(TOKEN);
    let export = format!(
        "{}/v1/database/teams/T/containers/iCloud.x/environments/DEVELOPMENT/schema/export",
        url.trim()
    );
    let client = reqwest::Client::builder().no_proxy().build().unwrap();
    let request = client
        .get(export)
        .header("X-Apple-CloudKit-Management-Token", TOKEN);
    let status = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
        .block_on(request.send())
        .unwrap()
        .status()
        .as_u16();
    child.kill().unwrap();
    child.wait().unwrap();
    (status, shown)
}

#[cfg(target_os = "linux")]
#[test]
fn issue_20_the_emulators_management_token_can_stay_out_of_its_command_line() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("token");
    std::fs::write(&file, format!("{TOKEN}\n")).unwrap();
    let from_env = emulator_export(|c| {
        c.env("CKPLAN_EMULATOR_MANAGEMENT_TOKEN", TOKEN);
    });
    assert_eq!(from_env, (200, false));
    let from_file = emulator_export(|c| {
        c.arg("--management-token-file").arg(&file);
    });
    assert_eq!(from_file, (200, false));
    // As before: on the command line (shown by `ps`), and refused without any.
    assert_eq!(
        emulator_export(|c| {
            c.args(["--management-token", TOKEN]);
        }),
        (200, true)
    );
    assert_eq!(emulator_export(|_| {}).0, 401);
    // `--help` does not print the variable's value.
    let help = std::process::Command::new(assert_cmd::cargo::cargo_bin("ckplan"))
        .args(["emulator", "--help"])
        .env("CKPLAN_EMULATOR_MANAGEMENT_TOKEN", TOKEN)
        .output()
        .unwrap();
    let help = String::from_utf8(help.stdout).unwrap();
    assert!(help.contains("CKPLAN_EMULATOR_MANAGEMENT_TOKEN"), "{help}");
    assert!(!help.contains(TOKEN), "{help}");
}

/// Issue 20: the verdict after Ctrl-C is the plan's, on the schema path as on the record
/// path. A signal while the last request the plan needs is in flight (here the import of a
/// plan that changes no record) lets it finish: the plan is done, apply says `Apply
/// complete` and exits 0, as when the signal arrives during the last batch of records.
#[cfg(unix)]
#[test]
fn issue_20_sigterm_during_the_import_of_a_schema_only_plan_completes_it_as_the_last_batch() {
    let env = one_index_to_add();
    let proxy = env.hold_request(crate::common::hold::SCHEMA_IMPORT, 1);
    ok(&env, &["plan", "-o", "out.plan"]);
    let mut child = spawn_apply(&env);
    let mut stderr = StderrLines::of(&mut child);
    proxy.wait_held();
    sigterm(&child);
    stderr.wait_for(STOPPING);
    proxy.release();
    let status = child.wait().unwrap();
    let stderr = stderr.all();
    assert_eq!(status.code(), Some(0), "{stderr}");
    assert!(stderr.contains("Apply complete"), "{stderr}");
    let receipt = json(&env, "out.plan.receipt.json");
    assert_eq!(receipt["complete"], true, "{receipt}");
    assert_eq!(receipt["schema"]["outcome"], "imported", "{receipt}");

    // The record path: a signal during the plan's last (here only) batch.
    let env = Env::new();
    env.set_teams(&serde_json::json!([]));
    let proxy = env.hold_modify(1);
    assert_eq!(env.run(&["plan", "-o", "out.plan"]).code, 0);
    let mut child = env.spawn_apply(std::process::Stdio::piped());
    let mut stderr = StderrLines::of(&mut child);
    proxy.wait_held();
    sigterm(&child);
    stderr.wait_for(STOPPING);
    proxy.release();
    let status = child.wait().unwrap();
    let stderr = stderr.all();
    assert_eq!(status.code(), Some(0), "{stderr}");
    assert!(stderr.contains("Apply complete"), "{stderr}");
}

/// Issue 20: an import that was sent but whose confirmation failed is recorded, with what
/// the confirming export lacks, in the journal and the receipt; no record is written.
#[cfg(unix)]
#[test]
fn issue_20_an_import_sent_but_not_confirmed_is_journaled_and_in_the_receipt() {
    let env = fresh("development");
    // Exports: the plan's, then apply's first, its re-check before the import, and the
    // confirming one (the fourth), held while another writer drops one of our indexes.
    let proxy = env.hold_request(b"/schema/export HTTP/1.1", 4);
    ok(&env, &["plan", "-o", "out.plan"]);
    let mut child = spawn_apply(&env);
    let stderr = StderrLines::of(&mut child);
    proxy.wait_held();
    let (_, text) = super::schema_plan::raw_schema(&env, "DEVELOPMENT", None);
    let mut schema = ckplan::schema::parse(&text).unwrap();
    let created = schema
        .types
        .get_mut("Stadium")
        .and_then(|t| t.fields.get_mut("___createTime"))
        .expect(&text);
    assert!(created.indexes.remove(&ckplan::schema::Index::Sortable));
    let other = ckplan::schema::print(&schema).unwrap();
    let (status, reply) = super::schema_plan::raw_schema(&env, "DEVELOPMENT", Some(&other));
    assert!(status < 300, "{status} {reply}");
    proxy.release();
    let status = child.wait().unwrap();
    let stderr = stderr.all();
    assert_eq!(status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("the plan's schema was imported but not confirmed; no record was written"),
        "{stderr}"
    );
    let missing = "index SORTABLE on `Stadium.___createTime`";
    assert!(stderr.contains(missing), "{stderr}");
    assert!(env.records("Stadium").is_empty());
    assert_eq!(events(&env), ["start", "schema", "finished"]);
    let journal = env.read("out.plan.journal");
    let entry: serde_json::Value = serde_json::from_str(journal.lines().nth(1).unwrap()).unwrap();
    assert_eq!(entry["outcome"], "imported_unconfirmed", "{journal}");
    assert_eq!(entry["missing"], serde_json::json!([missing]), "{journal}");
    let receipt = json(&env, "out.plan.receipt.json");
    assert_eq!(receipt["complete"], false, "{receipt}");
    let step = &receipt["schema"];
    assert_eq!(step["outcome"], "imported_unconfirmed", "{receipt}");
    assert_eq!(step["imported"], 25, "{receipt}");
    assert_eq!(step["missing"], serde_json::json!([missing]), "{receipt}");
    assert!(step["digest_after"].is_string(), "{receipt}");
}
