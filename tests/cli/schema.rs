//! Issue 20: `ckplan schema show|diff|apply` through the binary against the emulator's
//! Database API v1 schema endpoints, and those endpoints spoken to with raw HTTP written
//! from `docs/protocol.md` ("Schema API"), not with ckplan's client.

use crate::common::{Env, CONTAINER};
use ckplan::cloudkit::token::ManagementToken;

const TOKEN: &str = "mgmt-token-7f3a9c";
const TEAM: &str = "TEAM123456";

fn schema_env() -> Env {
    let env = Env::with_emulator(|config| {
        config.management_token = Some(ManagementToken::new(TOKEN).unwrap());
    });
    env.set_config(CONTAINER, "development");
    let config = env.read("ckplan.yaml").replace(
        "fields: {name: STRING, stadium: REFERENCE",
        "fields: {name: {type: STRING, indexes: [QUERYABLE, SORTABLE]}, stadium: REFERENCE",
    );
    env.write("ckplan.yaml", &format!("team_id: {TEAM}\n{config}"));
    env
}

fn run_with_token(env: &Env, token: &str, args: &[&str]) -> crate::common::Run {
    let output = env
        .ckplan()
        .env("CKPLAN_MANAGEMENT_TOKEN", token)
        .args(args)
        .output()
        .unwrap();
    crate::common::Run {
        code: output.status.code().unwrap_or(-1),
        stdout: env.filter(&String::from_utf8(output.stdout).unwrap()),
        stderr: env.filter(&String::from_utf8(output.stderr).unwrap()),
    }
}

/// Raw HTTP to the schema API: the path and header exactly as the API documents them.
fn raw(
    env: &Env,
    method: &str,
    environment: &str,
    tail: &str,
    body: Option<&str>,
) -> (u16, String, String) {
    let url = format!(
        "{}/v1/database/teams/{TEAM}/containers/{CONTAINER}/environments/{environment}/schema{tail}",
        env.url()
    );
    let client = reqwest::Client::builder().no_proxy().build().unwrap();
    let mut request = client
        .request(method.parse().unwrap(), url)
        .header("X-Apple-CloudKit-Management-Token", TOKEN)
        .header("X-CK-CLIENT", "raw-http-test");
    if let Some(text) = body {
        request = request
            .header("Content-Type", "multipart/form-data; boundary=XyZ")
            .body(format!(
                "--XyZ\r\nContent-Disposition: form-data; name=\"file\"; filename=\"s.ckdb\"\r\n\
                 Content-Type: application/octet-stream\r\n\r\n{text}\r\n--XyZ--\r\n"
            ));
    }
    env.runtime.block_on(async {
        let reply = request.send().await.unwrap();
        let status = reply.status().as_u16();
        let content_type = reply
            .headers()
            .get("content-type")
            .map(|v| v.to_str().unwrap().to_owned())
            .unwrap_or_default();
        (status, content_type, reply.text().await.unwrap())
    })
}

#[test]
fn issue_20_schema_show_prints_what_the_config_needs() {
    let env = schema_env();
    let run = env.run(&["schema", "show"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let team = run.stdout.split("RECORD TYPE Team (").nth(1).unwrap();
    for line in [
        "\"___createTime\" TIMESTAMP QUERYABLE SORTABLE,",
        "\"___recordID\"   REFERENCE QUERYABLE,",
        "founded         INT64,",
        "name            STRING QUERYABLE SORTABLE,",
        "stadium         REFERENCE,",
        "GRANT CREATE, WRITE TO \"_creator\",",
        "GRANT CREATE, WRITE TO \"_icloud\",",
        "GRANT READ TO \"_world\"",
    ] {
        assert!(team.contains(line), "{line}\n{}", run.stdout);
    }
    assert!(run.stdout.starts_with("DEFINE SCHEMA\n"), "{}", run.stdout);
    assert_eq!(env.run(&["schema", "show"]).stdout, run.stdout);
}

#[test]
fn issue_20_diff_apply_and_an_independent_export() {
    let env = schema_env();
    let diff = run_with_token(&env, TOKEN, &["schema", "diff", "--detailed-exitcode"]);
    assert_eq!(diff.code, 2, "{}", diff.stderr);
    for line in [
        "+ record type `Team`\n",
        "+ field `Team.founded` INT64\n",
        "+ index QUERYABLE on `Team.___recordID`\n",
        "+ index SORTABLE on `Team.name`\n",
        "+ grant CREATE on `Stadium` to `_icloud`\n",
    ] {
        assert!(diff.stdout.contains(line), "{line}\n{}", diff.stdout);
    }
    let apply = run_with_token(&env, TOKEN, &["schema", "apply"]);
    assert_eq!(apply.code, 0, "{}", apply.stderr);
    assert!(
        apply
            .stderr
            .contains("imported into development; an export after it holds them all and lost nothing ckplan had seen"),
        "{}",
        apply.stderr
    );
    let again = run_with_token(&env, TOKEN, &["schema", "diff", "--detailed-exitcode"]);
    assert_eq!(
        (again.code, again.stdout.as_str()),
        (0, ""),
        "{}",
        again.stderr
    );

    // An independent client exports what the emulator holds, as CKTool sends it.
    let (status, content_type, text) = raw(&env, "GET", "DEVELOPMENT", "/export", None);
    assert_eq!(
        (status, content_type.as_str()),
        (200, "application/octet-stream")
    );
    assert!(text.contains("RECORD TYPE Team ("), "{text}");
    assert!(text.contains("RECORD TYPE Users ("), "{text}");
    assert!(
        text.contains("\"___createTime\" TIMESTAMP QUERYABLE SORTABLE"),
        "{text}"
    );
    assert!(
        text.contains("name            STRING QUERYABLE SORTABLE"),
        "{text}"
    );
    // Validate answers `{isValid, errorMessage}` with the place of a syntax error.
    let (status, _, reply) = raw(
        &env,
        "POST",
        "development",
        "/validate",
        Some("DEFINE SCHEMA\nRECORD TYPE A (x INTEGER);"),
    );
    assert_eq!(status, 200);
    let reply: serde_json::Value = serde_json::from_str(&reply).unwrap();
    assert_eq!(reply["isValid"], false);
    assert!(
        reply["errorMessage"]
            .as_str()
            .unwrap()
            .contains("line 2, column 18"),
        "{reply}"
    );
}

#[test]
fn issue_20_production_lists_console_steps_and_is_never_written() {
    let env = schema_env();
    let diff = run_with_token(
        &env,
        TOKEN,
        &[
            "schema",
            "diff",
            "--environment",
            "production",
            "--detailed-exitcode",
        ],
    );
    assert_eq!(diff.code, 2, "{}", diff.stderr);
    assert!(
        diff.stdout
            .starts_with("# production is changed only from CloudKit Console"),
        "{}",
        diff.stdout
    );
    assert!(
        diff.stdout.contains("+ field `Stadium.capacity` INT64\n"),
        "{}",
        diff.stdout
    );
    // Import and validate are refused in production, with CloudKit's message.
    let (status, _, reply) = raw(&env, "PUT", "PRODUCTION", "", Some("DEFINE SCHEMA"));
    assert_eq!(status, 400, "{reply}");
    assert!(
        reply.contains("endpoint not applicable in the environment 'production'"),
        "{reply}"
    );
    // Development applied and deployed: production has everything.
    assert_eq!(run_with_token(&env, TOKEN, &["schema", "apply"]).code, 0);
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
    let diff = run_with_token(
        &env,
        TOKEN,
        &["schema", "diff", "--environment", "production"],
    );
    assert_eq!(
        (diff.code, diff.stdout.as_str()),
        (0, ""),
        "{}",
        diff.stderr
    );
    // A deployed field can no longer be dropped from development.
    let (status, _, reply) = raw(
        &env,
        "PUT",
        "development",
        "",
        Some("DEFINE SCHEMA RECORD TYPE Team (name STRING);"),
    );
    assert_eq!(status, 400, "{reply}");
    assert!(reply.contains("deployed to production"), "{reply}");
}

#[test]
fn issue_20_a_retype_is_an_error_with_the_way_out() {
    let env = schema_env();
    env.publish();
    // Everything else is there: the retypes are all `schema diff` finds.
    let applied = run_with_token(&env, TOKEN, &["schema", "apply"]);
    assert_eq!(applied.code, 0, "{}", applied.stderr);
    let config = env
        .read("ckplan.yaml")
        .replace("founded: INT64", "founded: STRING")
        .replace("capacity: INT64", "capacity: DOUBLE");
    env.write("ckplan.yaml", &config);
    // `doctor` names every retyped field, not the first only.
    let doctor = run_with_token(&env, TOKEN, &["doctor"]);
    assert!(
        doctor.stdout.contains(
            "field `Stadium.capacity` is INT64 in CloudKit but the config needs DOUBLE; \
             field `Team.founded` is INT64 in CloudKit but the config needs STRING"
        ),
        "{}",
        doctor.stdout
    );
    let diff = run_with_token(&env, TOKEN, &["schema", "diff"]);
    assert_eq!(diff.code, 1, "{}", diff.stderr);
    assert!(
        diff.stderr
            .contains("field `Team.founded` is INT64 in CloudKit but the config needs STRING"),
        "{}",
        diff.stderr
    );
    assert!(
        diff.stderr.contains("give the field a new name"),
        "{}",
        diff.stderr
    );
    // One verdict: never "has everything the config needs" beside a retype.
    assert!(!diff.stderr.contains("has everything"), "{}", diff.stderr);
    assert!(
        diff.stderr.contains(
            "(development) holds 2 field(s) with another type than the config's; nothing else \
             is missing"
        ),
        "{}",
        diff.stderr
    );
    let apply = run_with_token(&env, TOKEN, &["schema", "apply"]);
    assert_eq!(apply.code, 1, "{}", apply.stderr);
    assert!(
        apply.stderr.contains("another type than the config needs"),
        "{}",
        apply.stderr
    );
}

#[test]
fn issue_20_a_wrong_or_missing_token_fails_clearly_and_no_token_is_shown() {
    let env = schema_env();
    let wrong = run_with_token(&env, "not-the-token", &["schema", "diff"]);
    assert_eq!(wrong.code, 1);
    assert!(
        wrong
            .stderr
            .contains("refused the management token (HTTP 401)"),
        "{}",
        wrong.stderr
    );
    let missing = env.run(&["schema", "diff"]);
    assert_eq!(missing.code, 1);
    assert!(
        missing.stderr.contains("no management token"),
        "{}",
        missing.stderr
    );
    assert!(
        missing.stderr.contains("CKPLAN_MANAGEMENT_TOKEN"),
        "{}",
        missing.stderr
    );
    // From a token file, with -vv tracing: the token is in no output and no file written.
    env.write("secrets/token", &format!("{TOKEN}\n"));
    let config = env
        .read("ckplan.yaml")
        .replace("auth:\n", "auth:\n  management_token_file: secrets/token\n");
    env.write("ckplan.yaml", &config);
    for args in [&["-vv", "schema", "apply"][..], &["-vv", "schema", "diff"]] {
        let run = env.run(args);
        assert_eq!(run.code, 0, "{}", run.stderr);
        assert!(!run.stdout.contains(TOKEN) && !run.stderr.contains(TOKEN));
    }
    assert!(!run_with_token(&env, "not-the-token", &["schema", "diff"])
        .stderr
        .contains("not-the-token"));
    for entry in walk(env.dir.path()) {
        if entry.ends_with("secrets/token") {
            continue;
        }
        let bytes = std::fs::read(&entry).unwrap();
        assert!(
            !String::from_utf8_lossy(&bytes).contains(TOKEN),
            "{}",
            entry.display()
        );
    }
}

fn walk(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            out.extend(walk(&path));
        } else {
            out.push(path);
        }
    }
    out
}

/// Apple's own client, CKTool JS, against the emulator: not run by default (it needs Node
/// and `npm install @apple/cktool.database@1.3.2 @apple/cktool.target.nodejs` in
/// `CKPLAN_CKTOOL_JS`, a directory). `cargo test --test cli cktool -- --ignored`.
#[test]
#[ignore = "needs Node and CKTool JS installed in CKPLAN_CKTOOL_JS"]
fn issue_20_cktool_js_validates_imports_and_exports() {
    let modules = std::env::var("CKPLAN_CKTOOL_JS")
        .expect("set CKPLAN_CKTOOL_JS to a directory holding node_modules/@apple/cktool.database");
    let env = schema_env();
    let script = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/cktool-js/schema.mjs");
    let output = std::process::Command::new("node")
        .env(
            "NODE_PATH",
            std::path::Path::new(&modules).join("node_modules"),
        )
        .arg(script)
        .args([env.url(), TOKEN, CONTAINER])
        .output()
        .unwrap();
    let stdout = String::from_utf8(output.stdout).unwrap();
    assert!(
        output.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let steps: std::collections::BTreeMap<String, serde_json::Value> = stdout
        .lines()
        .map(|line| {
            let value: serde_json::Value = serde_json::from_str(line).unwrap();
            (value["step"].as_str().unwrap().to_owned(), value)
        })
        .collect();
    assert_eq!(steps["validate"]["isValid"], true, "{stdout}");
    assert_eq!(steps["validate-bad"]["isValid"], false, "{stdout}");
    assert!(steps["validate-bad"]["errorMessage"]
        .as_str()
        .unwrap()
        .contains("line 1, column 32"));
    assert_eq!(steps["import"]["statusCode"], 202, "{stdout}");
    assert_eq!(steps["export"]["statusCode"], 200, "{stdout}");
    let text = steps["export"]["text"].as_str().unwrap();
    assert!(
        text.contains("title         STRING QUERYABLE SORTABLE"),
        "{text}"
    );
    assert!(text.contains("RECORD TYPE Users ("), "{text}");
    let production = &steps["import-production"];
    assert_eq!(production["statusCode"], 400, "{stdout}");
    assert_eq!(
        production["result"]["reason"],
        "endpoint not applicable in the environment 'production'"
    );
    assert_eq!(steps["wrong-token"]["statusCode"], 401, "{stdout}");
    assert_eq!(
        steps["wrong-token"]["result"]["message"],
        "AUTHENTICATION_FAILED"
    );
}
