//! Issue 20's safety findings, through the binary: credentials never follow a redirect to
//! another host, a tampered plan's schema part cannot inject schema text, the managed
//! `Users` type gets indexes but no grants, and a plan applies its schema to the team it was made for.

use crate::common::{Env, CONTAINER};
use crate::schema_plan::{endpoints, fresh, ok, raw_schema, run, TEAM, TOKEN};
use serde_json::Value as Json;
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::{Arc, Mutex};

/// Everything a listener on 127.0.0.1 received, one request head per connection.
type Heads = Arc<Mutex<Vec<String>>>;

/// The head of one request (up to the blank line), lossily as text.
fn read_head(stream: &mut TcpStream) -> String {
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") && stream.read(&mut byte).is_ok_and(|n| n == 1) {
        head.push(byte[0]);
    }
    String::from_utf8_lossy(&head).into_owned()
}

/// A listener on 127.0.0.1 answering every request with `reply(port)`, where `port` is its
/// own; the request heads it received.
fn listen(reply: impl Fn(u16) -> String + Send + 'static) -> (u16, Heads) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let heads: Heads = Arc::default();
    let seen = heads.clone();
    std::thread::spawn(move || {
        for mut stream in listener.incoming().flatten() {
            let head = read_head(&mut stream);
            seen.lock().unwrap().push(head);
            let _ = stream.write_all(reply(port).as_bytes());
            let _ = stream.shutdown(std::net::Shutdown::Both);
        }
    });
    (port, heads)
}

/// A first server that redirects every request, with its path, to a second one on another
/// port, which would answer 200 with a valid empty schema.
fn redirecting() -> (String, Heads, Heads) {
    let (second, second_heads) = listen(|_| {
        let body = "DEFINE SCHEMA\n";
        format!(
            "HTTP/1.1 200 OK\r\ncontent-type: application/octet-stream\r\ncontent-length: {}\r\n\
             connection: close\r\n\r\n{body}",
            body.len()
        )
    });
    let (first, first_heads) = listen(move |_| {
        format!(
            "HTTP/1.1 302 Found\r\nlocation: http://127.0.0.1:{second}/elsewhere\r\n\
             content-length: 0\r\nconnection: close\r\n\r\n"
        )
    });
    (
        format!("http://127.0.0.1:{first}"),
        first_heads,
        second_heads,
    )
}

/// The project's config with `endpoint:` replaced by `url` and `team_id:` added.
fn point_at(env: &Env, url: &str) {
    let config = env.read("ckplan.yaml").replace(env.url(), url);
    env.write("ckplan.yaml", &format!("team_id: {TEAM}\n{config}"));
}

#[test]
fn issue_20_the_management_token_never_follows_a_redirect() {
    let env = Env::new();
    env.set_config(CONTAINER, "development");
    let (url, first, second) = redirecting();
    point_at(&env, &url);
    let diff = run(&env, Some(TOKEN), &["schema", "diff"]);
    assert_eq!(diff.code, 1, "{}", diff.stderr);
    assert!(
        diff.stderr.contains("with a redirect (HTTP 302)"),
        "{}",
        diff.stderr
    );
    assert!(!diff.stderr.contains(TOKEN), "{}", diff.stderr);
    let first = first.lock().unwrap().join("");
    assert!(
        first
            .to_ascii_lowercase()
            .contains(&format!("x-apple-cloudkit-management-token: {TOKEN}")),
        "{first}"
    );
    let second = second.lock().unwrap();
    assert!(second.is_empty(), "{second:?}");
}

#[test]
fn issue_20_a_signed_records_request_never_follows_a_redirect() {
    let env = Env::new();
    env.set_config(CONTAINER, "development");
    let (url, first, second) = redirecting();
    point_at(&env, &url);
    let diff = run(&env, None, &["diff"]);
    assert_eq!(diff.code, 1, "{}", diff.stderr);
    assert!(
        diff.stderr.contains("redirect (http 302)"),
        "{}",
        diff.stderr
    );
    let first = first.lock().unwrap().join("").to_ascii_lowercase();
    assert!(
        first.contains("x-apple-cloudkit-request-signaturev1:"),
        "{first}"
    );
    let second = second.lock().unwrap();
    assert!(second.is_empty(), "{second:?}");
}

/// `text` with the first `from` in its schema additions replaced by `to`, and its checksum
/// recomputed, as anyone who edits a plan can (`plan::file::canonical_body` is what the
/// checksum hashes).
pub(crate) fn tamper(text: &str, from: &str, to: &str) -> String {
    let start = text.find("\"additions\": [").expect("a schema part");
    let (head, tail) = text.split_at(start);
    assert!(tail.contains(from), "{from} not in the schema part");
    let edited = format!("{head}{}", tail.replacen(from, to, 1));
    let json: Json = serde_json::from_str(&edited).unwrap();
    let old = json["checksum"].as_str().unwrap().to_owned();
    let body = ckplan::plan::file::canonical_body(&edited).unwrap();
    let new = format!("blake3:{}", blake3::hash(&body).to_hex());
    edited.replacen(&old, &new, 1)
}

#[test]
fn issue_20_a_tampered_schema_part_cannot_inject_schema_text() {
    let env = fresh("development");
    ok(&env, &["plan", "-o", "out.plan"]);
    let text = env.read("out.plan");
    let injected = serde_json::to_string("_icloud\" ); RECORD TYPE Evil ( x STRING").unwrap();
    let tampered = tamper(
        &text,
        "\"role\": \"_icloud\"",
        &format!("\"role\": {injected}"),
    );
    env.write("out.plan", &tampered);
    let show = run(&env, None, &["show", "out.plan"]);
    assert_eq!(show.code, 1, "{}", show.stdout);
    assert!(
        show.stderr.contains("refusing plan `out.plan`"),
        "{}",
        show.stderr
    );
    assert!(show.stderr.contains(".role`"), "{}", show.stderr);
    assert!(
        show.stderr
            .contains("cannot be written inside a quoted schema name"),
        "{}",
        show.stderr
    );
    let apply = run(&env, Some(TOKEN), &["apply", "out.plan"]);
    assert_eq!(apply.code, 1, "{}", apply.stderr);
    assert!(
        apply.stderr.contains("schema.additions["),
        "{}",
        apply.stderr
    );
    let log = endpoints(&env);
    assert!(!log.iter().any(|e| e == "schema/import"), "{log:?}");
    assert!(!log.iter().any(|e| e == "records/modify"), "{log:?}");
    let (_, schema) = raw_schema(&env, "DEVELOPMENT", None);
    assert!(!schema.contains("Evil"), "{schema}");

    // A type name with schema syntax in it is refused the same way.
    let tampered = tamper(
        &text,
        "\"record_type\": \"Stadium\"",
        "\"record_type\": \"Stadium (x STRING); RECORD TYPE Evil\"",
    );
    env.write("out.plan", &tampered);
    let show = run(&env, None, &["show", "out.plan"]);
    assert_eq!(show.code, 1, "{}", show.stdout);
    assert!(show.stderr.contains(".record_type`"), "{}", show.stderr);
    assert!(
        show.stderr
            .contains("schema names are ASCII letters, digits and `_`"),
        "{}",
        show.stderr
    );
}

/// The lines of `RECORD TYPE Users ( … );` in schema text.
fn users_block(text: &str) -> String {
    let start = text.find("RECORD TYPE Users (").expect(text);
    let end = text[start..]
        .find(");")
        .map_or(text.len(), |n| start + n + 2);
    text[start..end].to_owned()
}

#[test]
fn issue_20_the_managed_users_type_gets_indexes_but_no_grants() {
    let env = fresh("development");
    let config = env.read("ckplan.yaml");
    env.write(
        "ckplan.yaml",
        &format!(
            "{config}  Users:\n    file: data/users.json\n    record_name: \"user-{{id}}\"\n    \
             fields: {{nickname: {{type: STRING, indexes: [QUERYABLE]}}}}\n"
        ),
    );
    env.write("data/users.json", "[]");
    let show = ok(&env, &["schema", "show"]);
    assert_eq!(
        users_block(&show.stdout),
        "RECORD TYPE Users (\n        \"___createTime\" TIMESTAMP QUERYABLE SORTABLE,\n        \
         \"___recordID\"   REFERENCE QUERYABLE,\n        nickname        STRING QUERYABLE\n    );",
        "{}",
        show.stdout
    );
    let diff = run(&env, Some(TOKEN), &["schema", "diff"]);
    let users: Vec<&str> = diff
        .stdout
        .lines()
        .filter(|line| line.contains("Users"))
        .collect();
    assert_eq!(
        users,
        [
            "+ index QUERYABLE on `Users.___createTime`",
            "+ index SORTABLE on `Users.___createTime`",
            "+ index QUERYABLE on `Users.___recordID`",
            "+ field `Users.nickname` STRING",
            "+ index QUERYABLE on `Users.nickname`"
        ],
        "{}",
        diff.stdout
    );
    let (_, before) = raw_schema(&env, "DEVELOPMENT", None);
    ok(&env, &["schema", "apply"]);
    let (_, after) = raw_schema(&env, "DEVELOPMENT", None);
    let grants = |text: &str| -> Vec<String> {
        users_block(text)
            .lines()
            .filter(|line| line.contains("GRANT"))
            .map(|line| line.trim().trim_end_matches(',').to_owned())
            .collect()
    };
    assert_eq!(grants(&after), grants(&before), "{before}\n{after}");
    assert!(users_block(&after).contains("nickname"), "{after}");
    // Issue 20: ckplan cannot query `Users` without `___recordID` QUERYABLE.
    let record_id = users_block(&after)
        .lines()
        .find(|line| line.contains("\"___recordID\""))
        .map(str::to_owned);
    assert!(
        record_id.is_some_and(|line| line.contains("QUERYABLE")),
        "{after}"
    );
}

/// The paths of the schema API requests the emulator logged.
fn schema_paths(env: &Env) -> Vec<String> {
    let url = format!("{}/_emulator/requests?since=0", env.url());
    let client = reqwest::Client::builder().no_proxy().build().unwrap();
    let reply: Json = env
        .runtime
        .block_on(async { client.get(url).send().await.unwrap().json().await.unwrap() });
    reply["requests"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|r| r["path"].as_str())
        .filter(|path| path.starts_with("/v1/database/"))
        .map(str::to_owned)
        .collect()
}

#[test]
fn issue_20_a_plan_applies_its_schema_to_the_team_it_was_made_for() {
    let env = fresh("development");
    ok(&env, &["plan", "-o", "out.plan"]);
    let plan: Json = serde_json::from_str(&env.read("out.plan")).unwrap();
    assert_eq!(plan["schema"]["team_id"], TEAM, "{plan:#}");

    // Another team in the config: refused before anything is sent.
    let config = env.read("ckplan.yaml");
    env.write(
        "ckplan.yaml",
        &config.replace(&format!("team_id: {TEAM}"), "team_id: OTHER98765"),
    );
    let before = endpoints(&env).len();
    let apply = run(&env, Some(TOKEN), &["apply", "out.plan"]);
    assert_eq!(apply.code, 1, "{}", apply.stderr);
    assert!(
        apply.stderr.contains(&format!(
            "its schema was read for team `{TEAM}` but the configuration's `team_id:` names team `OTHER98765`"
        )),
        "{}",
        apply.stderr
    );
    assert!(
        apply
            .stderr
            .contains(&format!("set `team_id: {TEAM}` in it")),
        "{}",
        apply.stderr
    );
    assert_eq!(endpoints(&env).len(), before, "{:?}", endpoints(&env));

    // The team from CKPLAN_TEAM_ID: the message and the fix name the variable.
    env.write("ckplan.yaml", &config);
    let output = env
        .ckplan()
        .env("CKPLAN_MANAGEMENT_TOKEN", TOKEN)
        .env("CKPLAN_TEAM_ID", "OTHER98765")
        .args(["apply", "out.plan"])
        .output()
        .unwrap();
    let stderr = String::from_utf8(output.stderr).unwrap();
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains(&format!(
            "its schema was read for team `{TEAM}` but `CKPLAN_TEAM_ID` names team `OTHER98765`"
        )),
        "{stderr}"
    );
    assert!(
        stderr.contains(&format!(
            "hint: unset CKPLAN_TEAM_ID, or set it to `{TEAM}`, the team the plan was made for"
        )),
        "{stderr}"
    );
    assert!(!stderr.contains("pass the --config"), "{stderr}");
    assert_eq!(endpoints(&env).len(), before, "{:?}", endpoints(&env));

    // From the plan alone, in a directory without a config: the plan's team.
    let deploy = tempfile::tempdir().unwrap();
    std::fs::copy(env.path("out.plan"), deploy.path().join("out.plan")).unwrap();
    let output = env
        .ckplan()
        .current_dir(deploy.path())
        .env("CKPLAN_KEY_ID", crate::common::KEY_ID)
        .env("CKPLAN_PRIVATE_KEY_FILE", env.path("keys/test.pem"))
        .env("CKPLAN_MANAGEMENT_TOKEN", TOKEN)
        .args(["apply", "out.plan"])
        .output()
        .unwrap();
    let stderr = String::from_utf8(output.stderr).unwrap();
    assert_eq!(output.status.code(), Some(0), "{stderr}");
    assert!(
        stderr.contains("Schema: 25 addition(s) imported into development; an export after it holds them all and lost nothing ckplan had seen."),
        "{stderr}"
    );
    let paths = schema_paths(&env);
    assert!(!paths.is_empty());
    let prefix = format!("/v1/database/teams/{TEAM}/containers/{CONTAINER}/");
    assert!(paths.iter().all(|p| p.starts_with(&prefix)), "{paths:?}");
    assert_eq!(env.records("Team").len(), 2);
}

#[test]
fn issue_20_a_tampered_plan_with_contradictory_schema_additions_imports_nothing() {
    let env = fresh("development");
    ok(&env, &["plan", "-o", "out.plan"]);
    let text = env.read("out.plan");
    assert!(
        text.contains("\"field\": \"city\""),
        "the plan adds `Stadium.city`: {text}"
    );
    let add = |first: &str| {
        tamper(
            &text,
            "\"additions\": [",
            &format!("\"additions\": [{first},"),
        )
    };
    let cases = [
        // The same field again with another type.
        (
            r#"{"add": "field", "record_type": "Stadium", "field": "city", "data_type": "INT64"}"#,
            "a field has one type",
        ),
        // A system field added as a field, known or invented.
        (
            r#"{"add": "field", "record_type": "Stadium", "field": "___createTime", "data_type": "INT64"}"#,
            "never added as a field",
        ),
        (
            r#"{"add": "field", "record_type": "Stadium", "field": "___foo", "data_type": "STRING"}"#,
            "never added as a field",
        ),
        // An index the field's type does not allow, as the config loader refuses it.
        (
            r#"{"add": "field", "record_type": "Stadium", "field": "seats", "data_type": "INT64"},
               {"add": "index", "record_type": "Stadium", "field": "seats", "index": "SEARCHABLE"}"#,
            "INT64 cannot be SEARCHABLE",
        ),
        // An index on a field of a type the plan adds that no addition defines.
        (
            r#"{"add": "record_type", "record_type": "Ghost"},
               {"add": "index", "record_type": "Ghost", "field": "name", "index": "QUERYABLE"}"#,
            "no addition defines",
        ),
    ];
    for (first, words) in cases {
        env.write("out.plan", &add(first));
        let show = run(&env, None, &["show", "out.plan"]);
        assert_eq!(show.code, 1, "{first}: {}", show.stdout);
        assert!(show.stderr.contains("schema.additions["), "{}", show.stderr);
        assert!(show.stderr.contains(words), "{words}: {}", show.stderr);
        let apply = run(&env, Some(TOKEN), &["apply", "out.plan"]);
        assert_eq!(apply.code, 1, "{}", apply.stderr);
        assert!(apply.stderr.contains(words), "{words}: {}", apply.stderr);
    }
    let log = endpoints(&env);
    assert!(!log.iter().any(|e| e == "schema/import"), "{log:?}");
    assert!(!log.iter().any(|e| e == "records/modify"), "{log:?}");
    let (_, schema) = raw_schema(&env, "DEVELOPMENT", None);
    assert!(!schema.contains("city"), "{schema}");
}
