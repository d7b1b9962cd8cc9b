//! Issue 20's input findings, through the binary: what the configuration, the environment
//! and a plan file say is checked where it is read, with the file, line or variable named,
//! and nothing from them is echoed raw or unbounded.

use crate::common::{Env, CONTAINER};

/// The project's config with `line` put first.
fn with_line(env: &Env, line: &str) {
    let config = env.read("ckplan.yaml");
    env.write("ckplan.yaml", &format!("{line}\n{config}"));
}

#[test]
fn issue_20_a_bad_team_id_is_refused_at_config_load_with_file_and_line() {
    let env = Env::new();
    env.set_config(CONTAINER, "development");
    with_line(&env, "team_id: \"../../evil\"");
    let validate = env.run(&["validate"]);
    assert_eq!(validate.code, 1, "{}", validate.stderr);
    assert!(
        validate
            .stderr
            .contains("ckplan.yaml`:1: `team_id`: team ID `../../evil`"),
        "{}",
        validate.stderr
    );
    let show = env.run(&["schema", "show"]);
    assert_eq!(show.code, 1, "{}", show.stderr);
    assert!(show.stderr.contains("ckplan.yaml`:1:"), "{}", show.stderr);
}

#[test]
fn issue_20_a_bad_ckplan_team_id_is_refused_naming_the_variable() {
    let env = Env::new();
    env.set_config(CONTAINER, "development");
    let output = env
        .ckplan()
        .env("CKPLAN_TEAM_ID", "a/b\u{1b}[2J")
        .args(["schema", "show"])
        .output()
        .unwrap();
    let stderr = String::from_utf8(output.stderr).unwrap();
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("`CKPLAN_TEAM_ID`"), "{stderr}");
    assert!(!stderr.contains('\u{1b}'), "{stderr}");
}

#[test]
fn issue_20_one_record_name_in_two_types_is_refused_by_validate_and_plan() {
    let env = Env::new();
    env.set_config(CONTAINER, "development");
    // Teams named like the stadiums: `stadium-1` and `stadium-2` in both types.
    let config = env.read("ckplan.yaml").replace("team-{id}", "stadium-{id}");
    env.write("ckplan.yaml", &config);
    let validate = env.run(&["validate"]);
    assert_eq!(validate.code, 1, "{}", validate.stderr);
    for name in ["stadium-1", "stadium-2"] {
        let line =
            format!("Team `{name}`: recordName `{name}` is also used by a `Stadium` record at ");
        assert!(
            validate.stderr.contains(&line),
            "{line}\n{}",
            validate.stderr
        );
    }
    assert!(
        validate.stderr.contains("data/teams.json:"),
        "{}",
        validate.stderr
    );
    assert!(
        validate.stderr.contains("data/stadiums.json:"),
        "{}",
        validate.stderr
    );
    let before = env.stats();
    let plan = env.run(&["plan", "-o", "out.plan"]);
    assert_eq!(plan.code, 1, "{}", plan.stderr);
    assert!(
        plan.stderr.contains("is also used by a `Stadium` record"),
        "{}",
        plan.stderr
    );
    assert!(!env.path("out.plan").exists());
    assert_eq!(crate::common::modify_requests(&before, &env.stats()), 0);
}

/// A secret-looking value: the marker, then a tab (no header or key may hold one).
const MARKED: &str = "MARKER7q\tz";

fn assert_unmarked(what: &str, output: &std::process::Output) {
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_ne!(output.status.code(), Some(0), "{what}: {stderr}");
    assert!(
        !stdout.contains("MARKER7q") && !stderr.contains("MARKER7q"),
        "{what} echoed the secret:\n{stdout}{stderr}"
    );
    assert!(!stderr.trim().is_empty(), "{what}: no error shown");
}

#[test]
fn issue_20_no_secret_flag_or_variable_is_echoed_in_its_error() {
    let env = Env::new();
    env.set_config(CONTAINER, "development");
    let emulator = ["emulator", "--listen", "127.0.0.1:0"];
    let by_variable = env
        .ckplan()
        .env("CKPLAN_EMULATOR_MANAGEMENT_TOKEN", MARKED)
        .args(emulator)
        .output()
        .unwrap();
    assert_unmarked("CKPLAN_EMULATOR_MANAGEMENT_TOKEN", &by_variable);
    let by_flag = env
        .ckplan()
        .args(emulator)
        .args(["--management-token", MARKED])
        .output()
        .unwrap();
    assert_unmarked("--management-token", &by_flag);
    // A key file that is not a key: its text is never quoted.
    env.write(
        "keys/not-a-key.pem",
        &format!("-----BEGIN PUBLIC KEY-----\n{MARKED}\n"),
    );
    let key = env
        .ckplan()
        .args(emulator)
        .args(["--key", "keys/not-a-key.pem"])
        .output()
        .unwrap();
    assert_unmarked("--key", &key);
    // The test key, encrypted, so that the passphrase is read and found wrong.
    let encrypted = std::process::Command::new("openssl")
        .current_dir(env.path("keys"))
        .args([
            "pkcs8",
            "-topk8",
            "-in",
            "test.pem",
            "-passout",
            "pass:sesame",
        ])
        .args(["-out", "encrypted.pem"])
        .status()
        .unwrap();
    assert!(encrypted.success());
    for (variable, args) in [
        ("CKPLAN_PRIVATE_KEY", &["plan", "-o", "out.plan"][..]),
        ("CKPLAN_KEY_PASSPHRASE", &["plan", "-o", "out.plan"][..]),
        ("CKPLAN_MANAGEMENT_TOKEN", &["plan", "-o", "out.plan"][..]),
        ("CKPLAN_MANAGEMENT_TOKEN", &["schema", "diff"][..]),
    ] {
        let mut command = env.ckplan();
        if variable == "CKPLAN_KEY_PASSPHRASE" {
            // The passphrase is only read for an encrypted key.
            command.env("CKPLAN_PRIVATE_KEY_FILE", "keys/encrypted.pem");
        }
        let output = command
            .env(variable, MARKED)
            .env("CKPLAN_TEAM_ID", "TEAM123456")
            .args(args)
            .output()
            .unwrap();
        assert_unmarked(variable, &output);
    }
}

/// `POST /_emulator/schema/deploy?QUERY`: the status and body.
fn deploy(env: &Env, query: &str) -> (u16, String) {
    let client = reqwest::Client::builder().no_proxy().build().unwrap();
    let url = format!("{}/_emulator/schema/deploy?{query}", env.url());
    env.runtime.block_on(async {
        let reply = client.post(url).send().await.unwrap();
        (reply.status().as_u16(), reply.text().await.unwrap())
    })
}

#[test]
fn issue_20_schema_deploy_decodes_its_parameter_and_refuses_an_unknown_container() {
    let env = crate::schema_plan::fresh("development");
    crate::schema_plan::ok(&env, &["schema", "apply"]);
    // Nothing in development for a misspelt container: 404 naming it, nothing deployed.
    let (status, body) = deploy(&env, "container=iCloud.com.example.Nope");
    assert_eq!(status, 404, "{body}");
    assert!(
        body.contains("container `iCloud.com.example.Nope` has no development schema"),
        "{body}"
    );
    // The container percent-encoded, as URL builders write it: the one with the schema.
    let encoded = CONTAINER.replace('.', "%2E");
    let (status, body) = deploy(&env, &format!("other=1&container={encoded}"));
    assert_eq!(status, 200, "{body}");
    let diff = crate::schema_plan::run(
        &env,
        Some(crate::schema_plan::TOKEN),
        &["schema", "diff", "--environment", "production"],
    );
    assert_eq!(
        (diff.code, diff.stdout.as_str()),
        (0, ""),
        "{}",
        diff.stderr
    );
}

/// Every `Users` record a query finds, or the error, as text.
fn query_users(env: &Env) -> Result<usize, String> {
    let client = env.writer();
    let users = ckplan::record::RecordType::new("Users");
    env.runtime
        .block_on(client.query_all(&users, &mut |_| {}))
        .map(|records| records.len())
        .map_err(|error| error.to_string())
}

#[test]
fn issue_20_the_managed_users_type_the_export_lists_can_be_queried() {
    // Without index checks: the type exists, with no records.
    let plain = Env::with_emulator(|config| config.record_types = Vec::new());
    assert_eq!(query_users(&plain), Ok(0));
    // With them: the type exists but needs its index, as in CloudKit; once the schema
    // gives it one, the query answers.
    let env = crate::schema_plan::fresh("development");
    let error = query_users(&env).unwrap_err();
    assert!(!error.contains("Did not find record type"), "{error}");
    assert!(error.contains("not marked queryable"), "{error}");
    let (status, reply) = crate::schema_plan::raw_schema(&env, "development", None);
    assert_eq!(status, 200, "{reply}");
    assert!(reply.contains("RECORD TYPE Users"), "{reply}");
    let text = "DEFINE SCHEMA\nRECORD TYPE Users (\"___recordID\" REFERENCE QUERYABLE);\n";
    let (status, reply) = crate::schema_plan::raw_schema(&env, "development", Some(text));
    assert_eq!(status, 202, "{reply}");
    assert_eq!(query_users(&env), Ok(0));
}

#[test]
fn issue_20_values_of_a_tampered_schema_part_are_shown_escaped() {
    let env = crate::schema_plan::fresh("development");
    crate::schema_plan::ok(&env, &["plan", "-o", "out.plan"]);
    let text = env.read("out.plan");
    let forged = "\\nerror: forged line\\u001b[2J";
    for (from, to, member) in [
        (
            "\"data_type\": \"INT64\"",
            format!("\"data_type\": \"INT64{forged}\""),
            ".data_type`",
        ),
        (
            "\"index\": \"QUERYABLE\"",
            format!("\"index\": \"QUERYABLE{forged}\""),
            "at `schema.additions[",
        ),
        (
            "\"permission\": \"CREATE\"",
            format!("\"permission\": \"CREATE{forged}\""),
            ".permission`",
        ),
    ] {
        let tampered = crate::schema_safety::tamper(&text, from, &to);
        env.write("out.plan", &tampered);
        let show = env.run(&["show", "out.plan"]);
        assert_eq!(show.code, 1, "{to}: {}", show.stdout);
        assert!(show.stderr.contains(member), "{to}: {}", show.stderr);
        assert!(
            !show.stderr.contains("\nerror: forged") && !show.stderr.contains('\u{1b}'),
            "{to}: {}",
            show.stderr
        );
        assert!(
            show.stderr.contains("\\u{a}error: forged"),
            "{to}: {}",
            show.stderr
        );
    }
}

/// A server on 127.0.0.1 answering every request with 200 and `size` bytes of schema-like
/// text, without `Content-Length` (read until the connection closes).
fn oversized_server(size: usize) -> String {
    use std::io::{Read, Write};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        for mut stream in listener.incoming().flatten() {
            let mut head = Vec::new();
            let mut byte = [0u8; 1];
            while !head.ends_with(b"\r\n\r\n") && stream.read(&mut byte).is_ok_and(|n| n == 1) {
                head.push(byte[0]);
            }
            let _ = stream.write_all(
                b"HTTP/1.1 200 OK\r\ncontent-type: application/octet-stream\r\n\
                  connection: close\r\n\r\nDEFINE SCHEMA\n",
            );
            let line = b"RECORD TYPE T (f STRING);\n".repeat(4096);
            let mut sent = 0;
            while sent < size && stream.write_all(&line).is_ok() {
                sent += line.len();
            }
            let _ = stream.shutdown(std::net::Shutdown::Both);
        }
    });
    format!("http://127.0.0.1:{port}")
}

#[test]
fn issue_20_an_oversized_schema_export_is_refused_unread() {
    let env = Env::new();
    env.set_config(CONTAINER, "development");
    let url = oversized_server(12 << 20);
    let config = env.read("ckplan.yaml").replace(env.url(), &url);
    env.write("ckplan.yaml", &format!("team_id: TEAM123456\n{config}"));
    let diff = crate::schema_plan::run(&env, Some("a-token"), &["schema", "diff"]);
    assert_eq!(diff.code, 1, "{}", diff.stderr);
    assert!(
        diff.stderr
            .contains("reply to `export` is over 10 MiB, the most ckplan reads"),
        "{}",
        diff.stderr
    );
}

#[test]
fn issue_20_token_and_key_files_are_regular_files_of_bounded_size() {
    let env = Env::new();
    env.set_config(CONTAINER, "development");
    let config = env.read("ckplan.yaml");
    let with_token_file = |file: &str| {
        let text = config.replace(
            "auth:\n",
            &format!("auth:\n  management_token_file: {file}\n"),
        );
        env.write("ckplan.yaml", &text);
    };
    with_token_file("/dev/zero");
    let diff = env.run(&["schema", "diff"]);
    assert_eq!(diff.code, 1, "{}", diff.stderr);
    assert!(
        diff.stderr.contains("management token file `/dev/zero`"),
        "{}",
        diff.stderr
    );
    assert!(
        diff.stderr.contains("not a regular file"),
        "{}",
        diff.stderr
    );
    env.write("big-token", &"t".repeat(65 << 10));
    with_token_file("big-token");
    let diff = env.run(&["schema", "diff"]);
    assert_eq!(diff.code, 1, "{}", diff.stderr);
    assert!(diff.stderr.contains("over 64 KiB"), "{}", diff.stderr);
    env.write("ckplan.yaml", &config);
    let plan = env
        .ckplan()
        .env("CKPLAN_PRIVATE_KEY_FILE", "/dev/zero")
        .args(["plan", "-o", "out.plan"])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&plan.stderr);
    assert_eq!(plan.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("`/dev/zero`"), "{stderr}");
    assert!(stderr.contains("not a regular file"), "{stderr}");
}

#[test]
fn issue_20_an_index_the_field_type_cannot_have_is_refused_at_config_load() {
    let env = Env::new();
    env.set_config(CONTAINER, "development");
    let config = env.read("ckplan.yaml");
    let line = config
        .lines()
        .position(|l| l.contains("founded: INT64"))
        .unwrap()
        + 1;
    for (declared, says) in [
        (
            "{type: INT64, indexes: [SEARCHABLE]}",
            "INT64 cannot be SEARCHABLE: CloudKit allows QUERYABLE and SORTABLE on a INT64 field",
        ),
        (
            "{type: BYTES, indexes: [QUERYABLE]}",
            "BYTES cannot be QUERYABLE: CloudKit allows no index on a BYTES field",
        ),
        (
            "{type: STRING_LIST, indexes: [SORTABLE]}",
            "LIST<STRING> cannot be SORTABLE",
        ),
    ] {
        env.write(
            "ckplan.yaml",
            &config.replace("founded: INT64", &format!("founded: {declared}")),
        );
        for args in [
            &["validate"][..],
            &["schema", "show"][..],
            &["plan", "-o", "out.plan"][..],
        ] {
            let out = env.run(args);
            assert_eq!(out.code, 1, "{args:?} {declared}: {}", out.stderr);
            let expected = format!("ckplan.yaml`:{line}: type `Team`, field `founded`: {says}");
            assert!(
                out.stderr.contains(&expected),
                "{args:?}\n{expected}\n{}",
                out.stderr
            );
        }
    }
}

#[test]
fn issue_20_the_emulator_refuses_an_index_the_field_type_cannot_have() {
    let env = crate::schema_plan::fresh("development");
    let text = "DEFINE SCHEMA\nRECORD TYPE Photo (\n    image ASSET QUERYABLE\n);\n";
    let (status, reply) = crate::schema_plan::raw_schema(&env, "development", Some(text));
    assert_eq!(status, 400, "{reply}");
    assert!(
        reply.contains("schema error at line 3, column 17: ASSET cannot be QUERYABLE"),
        "{reply}"
    );
    let (_, schema) = crate::schema_plan::raw_schema(&env, "development", None);
    assert!(!schema.contains("Photo"), "{schema}");
    let fine = "DEFINE SCHEMA\nRECORD TYPE Photo (\n    title STRING SEARCHABLE SORTABLE\n);\n";
    let (status, reply) = crate::schema_plan::raw_schema(&env, "development", Some(fine));
    assert_eq!(status, 202, "{reply}");
}

#[cfg(unix)]
#[test]
fn issue_20_a_token_file_readable_by_others_is_warned_about_as_a_key_file_is() {
    use std::os::unix::fs::PermissionsExt;
    let env = crate::schema_plan::fresh("development");
    env.write("secrets/token", &format!("{}\n", crate::schema_plan::TOKEN));
    let config = env
        .read("ckplan.yaml")
        .replace("auth:\n", "auth:\n  management_token_file: secrets/token\n");
    env.write("ckplan.yaml", &config);
    let warning = "management token `";
    let chmod = "is readable by group or others; run `chmod 600";
    for (mode, warned) in [(0o600, false), (0o640, true), (0o604, true), (0o400, false)] {
        let permissions = std::fs::Permissions::from_mode(mode);
        std::fs::set_permissions(env.path("secrets/token"), permissions).unwrap();
        let run = crate::schema_plan::run(&env, None, &["schema", "diff"]);
        assert_eq!(run.code, 0, "{}", run.stderr);
        let found = run.stderr.contains(warning) && run.stderr.contains(chmod);
        assert_eq!(found, warned, "mode {mode:o}: {}", run.stderr);
        assert!(
            !run.stderr.contains(crate::schema_plan::TOKEN),
            "{}",
            run.stderr
        );
    }
}

#[test]
fn issue_20_an_index_error_names_the_line_of_its_field_in_flow_and_block_form() {
    let env = Env::new();
    env.set_config(CONTAINER, "development");
    let config = env.read("ckplan.yaml");
    let fields = "    fields: {name: STRING, stadium: REFERENCE, founded: INT64}\n";
    assert!(config.contains(fields), "{config}");
    let line = config.lines().position(|l| l == fields.trim_end()).unwrap() + 2;
    let flow = |founded: &str| {
        format!("    fields: {{name: STRING, stadium: REFERENCE,\n      founded: {founded}}}\n")
    };
    let block = |indexes: &str| {
        format!(
            "    fields:\n      founded:\n        type: INT64\n        indexes: {indexes}\n\
             \x20     name: STRING\n"
        )
    };
    for (declared, says) in [
        (
            flow("{type: INT64, indexes: [QUERYABEL]}"),
            "unknown index `QUERYABEL`",
        ),
        (
            flow("{type: INT64, indexes: [SORTABLE, SORTABLE]}"),
            "index `SORTABLE` is listed twice",
        ),
        (block("[QUERYABEL]"), "unknown index `QUERYABEL`"),
        (
            block("\n          - QUERYABLE\n          - QUERYABLE"),
            "index `QUERYABLE` is listed twice",
        ),
        (block("[SEARCHABLE]"), "INT64 cannot be SEARCHABLE"),
    ] {
        env.write("ckplan.yaml", &config.replace(fields, &declared));
        let out = env.run(&["validate"]);
        assert_eq!(out.code, 1, "{declared}: {}", out.stderr);
        let expected = format!("ckplan.yaml`:{line}: type `Team`, field `founded`: {says}");
        assert!(
            out.stderr.contains(&expected),
            "{declared}\n{expected}\n{}",
            out.stderr
        );
    }
}
