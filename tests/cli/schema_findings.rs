//! Issue 20's second round of findings, through the binary against an emulator that
//! enforces indexes from its schema (`--require-indexes`), with a management token: the
//! managed `Users` type converges, production apply checks what the record changes write,
//! an interrupted schema-only apply, partial imports in journal and receipt, and hints that
//! carry the user's `--config` and `--environment`.

use crate::schema_plan::{fresh, ok, raw_schema, run, TOKEN};

/// `config` with a `Users` entry declaring one indexed field, and its one record.
fn with_users(env: &crate::common::Env) {
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
