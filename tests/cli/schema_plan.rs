//! Issue 20, "Schema in the plan": `ckplan plan` with a management token reads the target
//! environment's schema and carries what it lacks; `apply` imports that first (development)
//! or refuses while production lacks it. Against an emulator that enforces indexes from its
//! schema (`--require-indexes`) and starts with no type deployed; the schema is checked with
//! raw HTTP written from `docs/protocol.md` ("Schema API"), not with ckplan's client.

use crate::common::{Env, Run, CONTAINER};
use ckplan::cloudkit::token::ManagementToken;
use serde_json::Value as Json;

const TOKEN: &str = "plan-token-3c9e1a";
const TEAM: &str = "TEAM123456";

/// A fresh container (no type deployed) whose emulator requires indexes.
fn fresh(environment: &str) -> Env {
    let env = Env::with_emulator(|config| {
        config.management_token = Some(ManagementToken::new(TOKEN).unwrap());
        config.require_indexes = true;
        config.record_types = Vec::new();
    });
    env.set_config(CONTAINER, environment);
    let config = env.read("ckplan.yaml");
    env.write("ckplan.yaml", &format!("team_id: {TEAM}\n{config}"));
    env
}

fn run(env: &Env, token: Option<&str>, args: &[&str]) -> Run {
    let mut command = env.ckplan();
    if let Some(token) = token {
        command.env("CKPLAN_MANAGEMENT_TOKEN", token);
    }
    let output = command.args(args).output().unwrap();
    Run {
        code: output.status.code().unwrap_or(-1),
        stdout: env.filter(&String::from_utf8(output.stdout).unwrap()),
        stderr: env.filter(&String::from_utf8(output.stderr).unwrap()),
    }
}

fn ok(env: &Env, args: &[&str]) -> Run {
    let out = run(env, Some(TOKEN), args);
    assert_eq!(out.code, 0, "{args:?}\n{}{}", out.stdout, out.stderr);
    out
}

/// Raw HTTP to the documented schema API: `GET …/environments/{ENV}/schema/export` with
/// the token header, or `PUT …/schema` with the multipart part `file`.
fn raw_schema(env: &Env, environment: &str, import: Option<&str>) -> (u16, String) {
    let url = format!(
        "{}/v1/database/teams/{TEAM}/containers/{CONTAINER}/environments/{environment}/schema",
        env.url()
    );
    let client = reqwest::Client::builder().no_proxy().build().unwrap();
    let request = match import {
        None => client.get(format!("{url}/export")),
        Some(text) => client
            .put(url)
            .header("Content-Type", "multipart/form-data; boundary=b0undary")
            .body(format!(
                "--b0undary\r\nContent-Disposition: form-data; name=\"file\"; \
                 filename=\"schema.ckdb\"\r\nContent-Type: application/octet-stream\r\n\r\n\
                 {text}\r\n--b0undary--\r\n"
            )),
    };
    let request = request.header("X-Apple-CloudKit-Management-Token", TOKEN);
    env.runtime.block_on(async {
        let reply = request.send().await.unwrap();
        (reply.status().as_u16(), reply.text().await.unwrap())
    })
}

/// The endpoints of the requests the emulator logged, in order.
fn endpoints(env: &Env) -> Vec<String> {
    let url = format!("{}/_emulator/requests?since=0", env.url());
    let client = reqwest::Client::builder().no_proxy().build().unwrap();
    let reply: Json = env
        .runtime
        .block_on(async { client.get(url).send().await.unwrap().json().await.unwrap() });
    reply["requests"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|r| r["endpoint"].as_str().map(str::to_owned))
        .collect()
}

fn first(list: &[String], endpoint: &str) -> usize {
    list.iter()
        .position(|e| e == endpoint)
        .unwrap_or_else(|| panic!("no {endpoint} in {list:?}"))
}

fn last(list: &[String], endpoint: &str) -> usize {
    list.iter()
        .rposition(|e| e == endpoint)
        .unwrap_or_else(|| panic!("no {endpoint} in {list:?}"))
}

#[test]
fn issue_20_a_fresh_container_is_published_by_plan_and_apply_alone() {
    let env = fresh("development");
    let plan = ok(&env, &["plan", "-o", "out.plan"]);
    assert!(
        plan.stderr
            .contains("Schema: 25 addition(s), imported before the records."),
        "{}",
        plan.stderr
    );
    let show = ok(&env, &["show", "out.plan"]);
    for line in [
        "Schema: 25 addition(s), imported before the records:\n",
        "  + record type `Stadium`\n",
        "  + field `Team.founded` INT64\n",
        "  + index QUERYABLE on `Team.___recordID`\n",
        "  + index SORTABLE on `Team.___createTime`\n",
        "  + grant CREATE on `Team` to `_icloud`\n",
    ] {
        assert!(show.stdout.contains(line), "{line}\n{}", show.stdout);
    }
    let json: Json =
        serde_json::from_str(&ok(&env, &["show", "out.plan", "--json"]).stdout).unwrap();
    assert_eq!(
        json["schema"]["additions"][0]["add"], "record_type",
        "{json}"
    );
    assert!(json["schema"]["digest"]
        .as_str()
        .unwrap()
        .starts_with("blake3:"));
    let markdown = ok(&env, &["show", "out.plan", "--format", "markdown"]).stdout;
    assert!(
        markdown.contains("```diff\n+ record type `Stadium`\n"),
        "{markdown}"
    );

    let apply = ok(&env, &["apply", "out.plan"]);
    assert!(
        apply
            .stderr
            .contains("Schema: 25 addition(s) imported into development and confirmed."),
        "{}",
        apply.stderr
    );
    let log = endpoints(&env);
    assert!(
        last(&log, "schema/import") < first(&log, "records/modify"),
        "{log:?}"
    );
    assert_eq!(env.records("Stadium").len(), 3);
    assert_eq!(env.records("Team").len(), 2);

    // The second plan reads with the indexes the first one created: nothing to do.
    let again = ok(&env, &["plan", "-o", "again.plan", "--detailed-exitcode"]);
    assert!(
        again
            .stderr
            .contains("Plan: 0 to create, 0 to update, 0 to delete."),
        "{}",
        again.stderr
    );
    assert!(!again.stderr.contains("Schema:"), "{}", again.stderr);

    // An independent client exports what the emulator holds.
    let (status, text) = raw_schema(&env, "DEVELOPMENT", None);
    assert_eq!(status, 200, "{text}");
    let team = text.split("RECORD TYPE Team (").nth(1).unwrap();
    for line in [
        "\"___createTime\" TIMESTAMP QUERYABLE SORTABLE,",
        "\"___recordID\"   REFERENCE QUERYABLE,",
        "founded         INT64,",
        "GRANT CREATE, WRITE TO \"_icloud\",",
    ] {
        assert!(team.contains(line), "{line}\n{text}");
    }
    assert!(text.contains("RECORD TYPE Users ("), "{text}");
}

#[test]
fn issue_20_an_added_field_is_one_schema_addition_applied_before_the_updates() {
    let env = fresh("development");
    ok(&env, &["apply", "--auto-approve"]);
    let config = env
        .read("ckplan.yaml")
        .replace("founded: INT64}", "founded: INT64, motto: STRING}");
    env.write("ckplan.yaml", &config);
    let mut teams = crate::common::teams();
    for team in teams.as_array_mut().unwrap() {
        team["motto"] = "Onward".into();
    }
    env.set_teams(&teams);
    let plan = ok(&env, &["plan", "-o", "out.plan"]);
    assert!(
        plan.stderr
            .contains("Schema: 1 addition(s), imported before the records."),
        "{}",
        plan.stderr
    );
    let json: Json =
        serde_json::from_str(&ok(&env, &["show", "out.plan", "--json"]).stdout).unwrap();
    assert_eq!(
        json["schema"]["additions"],
        serde_json::json!([{"add": "field", "record_type": "Team", "field": "motto",
            "data_type": "STRING"}])
    );
    assert_eq!(json["changes"].as_array().unwrap().len(), 2, "{json}");
    let before = endpoints(&env).len();
    ok(&env, &["apply", "out.plan"]);
    let log = endpoints(&env)[before..].to_vec();
    assert!(
        first(&log, "schema/import") < first(&log, "records/modify"),
        "{log:?}"
    );
    let (_, text) = raw_schema(&env, "development", None);
    assert!(text.contains("motto           STRING"), "{text}");
}

#[test]
fn issue_20_removing_a_field_from_the_config_never_removes_it_from_the_schema() {
    let env = fresh("development");
    ok(&env, &["apply", "--auto-approve"]);
    let config = env.read("ckplan.yaml").replace(", founded: INT64}", "}");
    env.write("ckplan.yaml", &config);
    let mut teams = crate::common::teams();
    for team in teams.as_array_mut().unwrap() {
        team.as_object_mut().unwrap().remove("founded");
    }
    env.set_teams(&teams);
    let plan = ok(&env, &["plan", "-o", "out.plan"]);
    assert!(!plan.stderr.contains("Schema:"), "{}", plan.stderr);
    let before = endpoints(&env).len();
    ok(&env, &["apply", "out.plan"]);
    assert!(!endpoints(&env)[before..].contains(&"schema/import".to_owned()));
    let (_, text) = raw_schema(&env, "development", None);
    assert!(text.contains("founded         INT64"), "{text}");
}

#[test]
fn issue_20_another_writers_schema_change_between_plan_and_apply_is_caught() {
    let env = fresh("development");
    ok(&env, &["plan", "-o", "out.plan"]);
    // Another writer imports its own type meanwhile.
    let (status, current) = raw_schema(&env, "development", None);
    assert_eq!(status, 200);
    let changed = format!("{current}\nRECORD TYPE Other (note STRING);\n");
    let (status, reply) = raw_schema(&env, "development", Some(&changed));
    assert_eq!(status, 202, "{reply}");
    let apply = run(&env, Some(TOKEN), &["apply", "out.plan"]);
    assert_eq!(apply.code, 1, "{}", apply.stderr);
    assert!(
        apply
            .stderr
            .contains("the development schema changed since the plan was made"),
        "{}",
        apply.stderr
    );
    assert!(
        apply.stderr.contains("make a new plan with `ckplan plan`"),
        "{}",
        apply.stderr
    );
    assert!(env.records("Stadium").is_empty());
    // A new plan keeps the other writer's type.
    ok(&env, &["plan", "-o", "new.plan"]);
    ok(&env, &["apply", "new.plan"]);
    let (_, text) = raw_schema(&env, "development", None);
    assert!(text.contains("RECORD TYPE Other ("), "{text}");
    assert_eq!(env.records("Team").len(), 2);
}

#[test]
fn issue_20_production_lists_console_steps_and_apply_refuses_until_deployed() {
    let env = fresh("production");
    let plan = ok(&env, &["plan", "-o", "out.plan"]);
    assert!(
        plan.stderr.contains("Schema: production lacks 25 item(s)"),
        "{}",
        plan.stderr
    );
    let show = ok(&env, &["show", "out.plan"]);
    assert!(
        show.stdout
            .contains("Schema: 25 item(s) to deploy from CloudKit Console"),
        "{}",
        show.stdout
    );
    assert!(
        show.stdout.contains("  + field `Stadium.capacity` INT64\n"),
        "{}",
        show.stdout
    );
    let apply = run(
        &env,
        Some(TOKEN),
        &["apply", "out.plan", "--allow-production"],
    );
    assert_eq!(apply.code, 1, "{}", apply.stderr);
    assert!(
        apply
            .stderr
            .contains("the production schema lacks 25 item(s) the plan needs"),
        "{}",
        apply.stderr
    );
    assert!(
        apply.stderr.contains("Deploy Schema Changes"),
        "{}",
        apply.stderr
    );
    let log = endpoints(&env);
    assert!(!log.contains(&"schema/import".to_owned()), "{log:?}");
    assert!(!log.contains(&"records/modify".to_owned()), "{log:?}");

    // Added in development, deployed from the "Console": the same plan applies.
    ok(&env, &["--environment", "development", "schema", "apply"]);
    let client = reqwest::Client::builder().no_proxy().build().unwrap();
    let deploy = format!(
        "{}/_emulator/schema/deploy?container={CONTAINER}",
        env.url()
    );
    let status = env
        .runtime
        .block_on(client.post(deploy).send())
        .unwrap()
        .status();
    assert_eq!(status.as_u16(), 200);
    ok(&env, &["apply", "out.plan", "--allow-production"]);
    let again = ok(&env, &["plan", "-o", "again.plan", "--detailed-exitcode"]);
    assert!(
        again.stderr.contains("Stadium: 3 unchanged, 0 new"),
        "{}",
        again.stderr
    );
}

#[test]
fn issue_20_a_wrong_token_fails_the_plan_clearly() {
    let env = fresh("development");
    let plan = run(&env, Some("wrong-token-value"), &["plan", "-o", "out.plan"]);
    assert_eq!(plan.code, 1, "{}", plan.stderr);
    assert!(
        plan.stderr
            .contains("refused the management token (HTTP 401)"),
        "{}",
        plan.stderr
    );
    assert!(plan.stderr.contains("Tokens & Keys"), "{}", plan.stderr);
    assert!(
        !plan.stderr.contains("wrong-token-value"),
        "{}",
        plan.stderr
    );
    assert!(!env.path("out.plan").exists());
}

#[test]
fn issue_20_without_a_token_the_plan_says_once_that_the_schema_was_not_checked() {
    let env = Env::new();
    env.set_config(CONTAINER, "development");
    let plan = run(&env, None, &["plan", "-o", "out.plan"]);
    assert_eq!(plan.code, 0, "{}", plan.stderr);
    assert_eq!(
        plan.stderr
            .matches("Schema: not checked (no management token)")
            .count(),
        1,
        "{}",
        plan.stderr
    );
    assert!(
        plan.stderr.contains("CKPLAN_MANAGEMENT_TOKEN"),
        "{}",
        plan.stderr
    );
    assert!(!env.read("out.plan").contains("\"schema\""));
    ok(&env, &["apply", "out.plan"]);
    assert_eq!(env.records("Team").len(), 2);
}

#[test]
fn issue_20_doctor_reports_the_schema_with_a_token() {
    let env = fresh("development");
    let before = run(&env, Some(TOKEN), &["doctor"]);
    assert!(
        before
            .stdout
            .contains("  warn  schema        lacks 25 item(s): record type `Stadium`, "),
        "{}",
        before.stdout
    );
    assert!(
        before
            .stdout
            .contains("fix: `ckplan plan` then `ckplan apply`"),
        "{}",
        before.stdout
    );
    ok(&env, &["apply", "--auto-approve"]);
    let after = run(&env, Some(TOKEN), &["doctor"]);
    assert!(
        after
            .stdout
            .lines()
            .any(|line| line.starts_with("  ok    schema ")
                && line.ends_with(" has every type, field, index and grant the config needs")),
        "{}",
        after.stdout
    );
    let wrong = run(&env, Some("wrong-token-value"), &["doctor"]);
    assert_eq!(wrong.code, 1, "{}", wrong.stdout);
    assert!(
        wrong.stdout.contains("refused the management token"),
        "{}",
        wrong.stdout
    );
    // Without a token there is no schema check.
    let without = run(&env, None, &["doctor"]);
    assert!(!without.stdout.contains("schema  "), "{}", without.stdout);
}
