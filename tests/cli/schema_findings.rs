//! Issue 20's second round of findings, through the binary against an emulator that
//! enforces indexes from its schema (`--require-indexes`), with a management token: the
//! managed `Users` type converges, production apply checks what the record changes write,
//! an interrupted schema-only apply, partial imports in journal and receipt, and hints that
//! carry the user's `--config` and `--environment`.

use crate::common::Env;
use crate::schema_plan::{endpoints, fresh, ok, raw_schema, run, TOKEN};
use serde_json::Value as Json;

/// `config` with a `Users` entry declaring one indexed field, and its one record.
fn with_users(env: &Env) {
    let config = env.read("ckplan.yaml");
    env.write(
        "ckplan.yaml",
        &format!(
            "{config}  Users:\n    file: data/users.json\n    record_name: \"user-{{id}}\"\n    \
             fields: {{nickname: {{type: STRING, indexes: [QUERYABLE]}}}}\n"
        ),
    );
    env.write("data/users.json", r#"[{"id": 1, "nickname": "ana"}]"#);
}

#[test]
fn issue_20_a_config_declaring_users_converges() {
    let env = fresh("development");
    with_users(&env);
    let grants = |text: &str| -> Vec<String> {
        let start = text.find("RECORD TYPE Users (").expect(text);
        let users = &text[start..start + text[start..].find(");").unwrap()];
        users
            .lines()
            .filter(|line| line.contains("GRANT"))
            .map(str::to_owned)
            .collect()
    };
    let (_, before) = raw_schema(&env, "DEVELOPMENT", None);
    // The managed `Users` type always exists, so no plan can read it before its
    // `___recordID` index does: the plan says so and names `schema apply`, which works.
    let first = run(&env, Some(TOKEN), &["plan", "-o", "out.plan"]);
    assert_eq!(first.code, 1, "{}{}", first.stdout, first.stderr);
    assert!(
        first.stderr.contains("run `ckplan schema apply`") && first.stderr.contains("of `Users`"),
        "{}",
        first.stderr
    );
    ok(&env, &["schema", "apply"]);
    ok(&env, &["plan", "-o", "out.plan"]);
    ok(&env, &["apply", "out.plan"]);
    let again = run(
        &env,
        Some(TOKEN),
        &["plan", "--detailed-exitcode", "-o", "again.plan"],
    );
    assert_eq!(again.code, 0, "{}{}", again.stdout, again.stderr);
    assert!(
        again
            .stderr
            .contains("Plan: 0 to create, 0 to update, 0 to delete."),
        "{}{}",
        again.stdout,
        again.stderr
    );
    let (_, schema) = raw_schema(&env, "DEVELOPMENT", None);
    let start = schema.find("RECORD TYPE Users (").expect(&schema);
    let users = &schema[start..start + schema[start..].find(");").unwrap()];
    let record_id = users.lines().find(|l| l.contains("\"___recordID\""));
    assert!(
        record_id.is_some_and(|l| l.contains("QUERYABLE")),
        "{schema}"
    );
    assert_eq!(grants(&schema), grants(&before), "{schema}");
}

/// The plan at `path` edited by `edit`, its checksum recomputed, as anyone who edits a plan
/// can (`plan::file::canonical_body` is what the checksum hashes).
fn edit_plan(env: &Env, path: &str, edit: impl FnOnce(&mut Json)) {
    let mut json: Json = serde_json::from_str(&env.read(path)).unwrap();
    edit(&mut json);
    let text = serde_json::to_string_pretty(&json).unwrap();
    let body = ckplan::plan::file::canonical_body(&text).unwrap();
    json["checksum"] = Json::from(format!("blake3:{}", blake3::hash(&body).to_hex()));
    env.write(path, &serde_json::to_string_pretty(&json).unwrap());
}

#[test]
fn issue_20_production_apply_checks_what_the_record_changes_write() {
    let env = fresh("production");
    ok(&env, &["plan", "-o", "out.plan"]);
    edit_plan(&env, "out.plan", |plan| {
        plan["schema"]["additions"] = Json::Array(Vec::new());
    });
    let show = ok(&env, &["show", "out.plan"]);
    assert!(!show.stdout.contains("+ record type"), "{}", show.stdout);
    let apply = run(
        &env,
        Some(TOKEN),
        &[
            "--config",
            "ckplan.yaml",
            "apply",
            "out.plan",
            "--allow-production",
        ],
    );
    assert_eq!(apply.code, 1, "{}", apply.stderr);
    for item in [
        "the production schema lacks 9 item(s) the plan needs: record type `Stadium`",
        "field `Stadium.capacity` INT64",
        "; and 4 more\n",
        // The lister carries the --config the user ran with.
        "`ckplan --config ckplan.yaml --environment production schema diff` lists them all",
    ] {
        assert!(apply.stderr.contains(item), "{item}\n{}", apply.stderr);
    }
    assert!(
        apply.stderr.contains("no record was written"),
        "{}",
        apply.stderr
    );
    let log = endpoints(&env);
    assert!(!log.iter().any(|e| e == "records/modify"), "{log:?}");

    // Without a token the check cannot run, and apply says so, once.
    let apply = run(&env, None, &["apply", "out.plan", "--allow-production"]);
    let skipped = "Schema: production's schema not checked for the records' types and fields \
                   (no management token); set CKPLAN_MANAGEMENT_TOKEN or `auth: \
                   management_token_file:` to check it before any record is written.";
    assert_eq!(apply.stderr.matches(skipped).count(), 1, "{}", apply.stderr);
    // One line, with no run of spaces where a string literal was wrapped.
    assert!(!apply.stderr.contains("   "), "{}", apply.stderr);
    // Production has no just-in-time schema: the emulator refuses each record, as CloudKit.
    assert_ne!(apply.code, 0, "{}", apply.stderr);
    assert!(
        apply
            .stderr
            .contains("Cannot create new type Stadium in production schema"),
        "{}",
        apply.stderr
    );
}

#[test]
fn issue_20_schema_hints_carry_the_config_and_environment_the_user_ran_with() {
    let env = fresh("development");
    // Production holds `Stadium` without `___recordID` QUERYABLE (deployed so).
    let (status, reply) = raw_schema(
        &env,
        "DEVELOPMENT",
        Some("DEFINE SCHEMA RECORD TYPE Stadium (name STRING);"),
    );
    assert!(status < 300, "{status} {reply}");
    let client = reqwest::Client::builder().no_proxy().build().unwrap();
    let deploy = format!(
        "{}/_emulator/schema/deploy?container={}",
        env.url(),
        crate::common::CONTAINER
    );
    let deployed = env.runtime.block_on(client.post(deploy).send()).unwrap();
    assert_eq!(deployed.status().as_u16(), 200);
    env.write("c2.yaml", &env.read("ckplan.yaml"));
    let plan = run(
        &env,
        Some(TOKEN),
        &[
            "--config",
            "c2.yaml",
            "--environment",
            "production",
            "plan",
            "-o",
            "p.plan",
        ],
    );
    assert_eq!(plan.code, 1, "{}", plan.stderr);
    assert!(
        plan.stderr.contains("`recordName` is not marked queryable")
            || plan.stderr.contains("not marked queryable"),
        "{}",
        plan.stderr
    );
    for command in [
        "`ckplan --config c2.yaml --environment development schema apply`",
        "then `ckplan --config c2.yaml --environment production plan` again",
    ] {
        assert!(plan.stderr.contains(command), "{command}\n{}", plan.stderr);
    }
    // Without `--config`, the environment still goes with every command.
    let plan = run(
        &env,
        Some(TOKEN),
        &["--environment", "production", "plan", "-o", "p.plan"],
    );
    assert!(
        plan.stderr
            .contains("then `ckplan --environment production plan` again"),
        "{}",
        plan.stderr
    );
}

#[test]
fn issue_20_the_emulator_refuses_schema_text_cloudkit_would_with_line_and_column() {
    let env = fresh("development");
    let long = "T".repeat(256);
    let cases = [
        (
            "DEFINE SCHEMA\nRECORD TYPE Team (\n    \"___recordID\" STRING QUERYABLE\n);",
            "line 3, column 19",
            "its type cannot change",
        ),
        (
            "DEFINE SCHEMA\nRECORD TYPE Team (\"___createTime\" INT64);",
            "line 2, column 35",
            "its type cannot change",
        ),
        (
            "DEFINE SCHEMA\nRECORD TYPE Team (\"___foo\" STRING);",
            "line 2, column 19",
            "no system field",
        ),
        (
            "DEFINE SCHEMA\nRECORD TYPE Users (\n  GRANT WRITE TO \"_world\"\n);",
            "line 3, column 3",
            "managed record type `Users`",
        ),
        (
            &format!("DEFINE SCHEMA\nRECORD TYPE {long} (x STRING);"),
            "line 2, column 13",
            "over the limit of 255",
        ),
        (
            "DEFINE SCHEMA\nRECORD TYPE Team (x STRING QUERYABLE QUERYABLE);",
            "line 2, column 38",
            "QUERYABLE is repeated",
        ),
        (
            "DEFINE SCHEMA\nRECORD TYPE Team (recordName STRING);",
            "line 2, column 19",
            "is reserved",
        ),
    ];
    for (text, at, words) in cases {
        let (status, reply) = raw_schema(&env, "DEVELOPMENT", Some(text));
        assert_eq!(status, 400, "{text}: {reply}");
        assert!(reply.contains(at), "{at}: {reply}");
        assert!(reply.contains(words), "{words}: {reply}");
    }
    let (_, schema) = raw_schema(&env, "DEVELOPMENT", None);
    assert!(!schema.contains("Team"), "{schema}");
    // The managed type's own grants, and the system fields as CloudKit types them, import.
    let fine = "DEFINE SCHEMA\nRECORD TYPE Users (\"___recordID\" REFERENCE QUERYABLE, \
                roles LIST<INT64>, GRANT WRITE TO \"_creator\", GRANT READ TO \"_world\");";
    let (status, reply) = raw_schema(&env, "DEVELOPMENT", Some(fine));
    assert!(status < 300, "{status} {reply}");
}
