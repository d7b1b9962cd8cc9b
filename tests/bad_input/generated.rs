//! Bad-input cases built in code: bytes that are not UTF-8, megabyte strings, nesting a
//! thousand levels deep, keys that are not P-256, and plan files derived from a real plan
//! (edited, truncated, reordered, another version, another target).

use super::{default_args, Case, Expected};
use ckplan::plan::file;
use ckplan::record::Environment;

/// File, line, column, record, field, message.
type Stated = (
    &'static str,
    Option<usize>,
    Option<usize>,
    Option<&'static str>,
    Option<&'static str>,
    &'static str,
);

fn case(name: &str, files: Vec<(&str, Vec<u8>)>, stderr: &[&str]) -> Case {
    Case {
        name: name.to_owned(),
        files: files
            .into_iter()
            .map(|(path, bytes)| (path.to_owned(), bytes))
            .collect(),
        remove: Vec::new(),
        plan: None,
        args: default_args(),
        exit: 1,
        error: expected(name),
        stderr: stderr.iter().map(|s| (*s).to_owned()).collect(),
    }
}

fn plan_case(name: &str, tamper: fn(&str) -> Vec<u8>, stderr: &[&str]) -> Case {
    Case {
        plan: Some(tamper),
        args: vec!["apply".into(), "bad.plan".into()],
        ..case(name, Vec::new(), stderr)
    }
}

const GAMES: &str = "data/games.ndjson";
const TEAMS: &str = "data/teams.yaml";
const STADIUMS: &str = "data/stadiums.json";

pub fn cases() -> Vec<Case> {
    let mut cases = data_cases();
    cases.extend(key_cases());
    cases.extend(plan_cases());
    cases
}

fn data_cases() -> Vec<Case> {
    let mut invalid_utf8_game = b"{\"id\": 1, \"home\": \"team-1\", \"away\": \"caf".to_vec();
    invalid_utf8_game.extend_from_slice(&[0xC3, 0x28]);
    invalid_utf8_game.extend_from_slice(b"\", \"start\": 0}\n");
    let mut invalid_utf8_yaml = b"- id: 1\n  name: Com".to_vec();
    invalid_utf8_yaml.extend_from_slice(&[0xFF, 0xFE]);
    invalid_utf8_yaml.extend_from_slice(b"ets\n");
    let mut invalid_utf8_config = std::fs::read(super::corpus().join("base/ckplan.yaml")).unwrap();
    invalid_utf8_config.extend_from_slice(b"# \xE2\x28\xA1\n");
    let huge = "x".repeat(1_100_000);
    let deep_json = format!("{}{}", "[".repeat(5000), "]".repeat(5000));
    let deep_yaml = format!(
        "- id: 1\n  name: {}{}\n",
        "[".repeat(5000),
        "]".repeat(5000)
    );
    vec![
        case(
            "generated_ndjson_invalid_utf8",
            vec![(GAMES, invalid_utf8_game)],
            &["data/games.ndjson:1", "invalid UTF-8"],
        ),
        case(
            "generated_yaml_invalid_utf8",
            vec![(TEAMS, invalid_utf8_yaml)],
            &["data/teams.yaml", "UTF-8"],
        ),
        case(
            "generated_config_invalid_utf8",
            vec![("ckplan.yaml", invalid_utf8_config)],
            &["ckplan.yaml`:31:3", "invalid UTF-8"],
        ),
        case(
            "generated_json_huge_string",
            vec![(
                STADIUMS,
                format!("[{{\"recordName\": \"big\", \"fields\": {{\"name\": {{\"value\": \"{huge}\"}}}}}}]")
                    .into_bytes(),
            )],
            &["data/stadiums.json:1", "big", "1 MB"],
        ),
        case(
            "generated_yaml_huge_string",
            vec![(TEAMS, format!("- id: 1\n  name: {huge}\n").into_bytes())],
            &["data/teams.yaml:1", "team-1", "1 MB"],
        ),
        case(
            "generated_json_deeply_nested",
            vec![(STADIUMS, deep_json.clone().into_bytes())],
            &["data/stadiums.json:1", "recursion limit"],
        ),
        case(
            "generated_ndjson_deeply_nested",
            vec![(GAMES, format!("{deep_json}\n").into_bytes())],
            &["data/games.ndjson:1", "recursion limit"],
        ),
        case(
            "generated_yaml_deeply_nested",
            vec![(TEAMS, deep_yaml.into_bytes())],
            &["data/teams.yaml", "recursion limit"],
        ),
        case(
            "generated_config_deeply_nested",
            vec![(
                "ckplan.yaml",
                format!("container: {}{}\n", "[".repeat(5000), "]".repeat(5000)).into_bytes(),
            )],
            &["ckplan.yaml`:1"],
        ),
    ]
}

fn key_cases() -> Vec<Case> {
    let p384 = include_str!("keys/p384.pem").as_bytes().to_vec();
    let rsa = include_str!("keys/rsa.pem").as_bytes().to_vec();
    let (_, public) = ckplan::cloudkit::auth::generate_key_pair();
    let mut unreadable = case("generated_key_unreadable", Vec::new(), &["keys/key.pem"]);
    // A directory where the key should be: unreadable even for root.
    unreadable.remove = vec!["keys/key.pem".into()];
    unreadable.files = vec![("keys/key.pem/placeholder".into(), Vec::new())];
    vec![
        case(
            "generated_key_p384",
            vec![("keys/key.pem", p384)],
            &["keys/key.pem", "P-256"],
        ),
        case(
            "generated_key_rsa",
            vec![("keys/key.pem", rsa)],
            &["keys/key.pem", "P-256"],
        ),
        case(
            "generated_key_public_instead_of_private",
            vec![("keys/key.pem", public.into_bytes())],
            &["keys/key.pem", "private key"],
        ),
        unreadable,
    ]
}

fn edited_value(good: &str) -> Vec<u8> {
    good.replacen("Comets", "Komets", 1).into_bytes()
}

fn truncated(good: &str) -> Vec<u8> {
    good.as_bytes()[..good.len() / 2].to_vec()
}

fn reordered(good: &str) -> Vec<u8> {
    let mut value: serde_json::Value = serde_json::from_str(good).unwrap();
    let changes = value["changes"].as_array_mut().unwrap();
    changes.reverse();
    serde_json::to_string_pretty(&value).unwrap().into_bytes()
}

fn unknown_version(good: &str) -> Vec<u8> {
    good.replacen("\"format_version\": 2", "\"format_version\": 7", 1)
        .into_bytes()
}

fn checksum_removed(good: &str) -> Vec<u8> {
    let mut value: serde_json::Value = serde_json::from_str(good).unwrap();
    value.as_object_mut().unwrap().remove("checksum");
    serde_json::to_string_pretty(&value).unwrap().into_bytes()
}

/// A genuine plan (valid checksum) whose target was changed before writing.
fn retargeted(good: &str, change: fn(&mut ckplan::record::Target)) -> Vec<u8> {
    let mut plan = file::from_text(good).unwrap();
    change(&mut plan.target);
    file::to_text(&plan).into_bytes()
}

fn other_container(good: &str) -> Vec<u8> {
    retargeted(good, |t| t.container = "iCloud.com.example.Other".into())
}

fn other_environment(good: &str) -> Vec<u8> {
    retargeted(good, |t| t.environment = Environment::Production)
}

fn other_zone(good: &str) -> Vec<u8> {
    retargeted(good, |t| t.zone = "Elsewhere".into())
}

fn not_utf8(good: &str) -> Vec<u8> {
    let mut bytes = good.as_bytes().to_vec();
    let at = bytes.len() / 3;
    bytes[at] = 0xFF;
    bytes
}

fn a_receipt(_: &str) -> Vec<u8> {
    b"{\"format\": \"ckplan-receipt/1\", \"records\": []}\n".to_vec()
}

fn empty(_: &str) -> Vec<u8> {
    Vec::new()
}

fn plan_cases() -> Vec<Case> {
    let mut missing = plan_case("generated_plan_missing_file", empty, &["nope.plan"]);
    missing.args = vec!["apply".into(), "nope.plan".into()];
    vec![
        plan_case(
            "generated_plan_edited",
            edited_value,
            &["bad.plan", "modified"],
        ),
        plan_case(
            "generated_plan_truncated",
            truncated,
            &["bad.plan", "truncated", "line"],
        ),
        plan_case(
            "generated_plan_reordered",
            reordered,
            &["bad.plan", "modified"],
        ),
        plan_case(
            "generated_plan_unknown_version",
            unknown_version,
            &["bad.plan", "format version 7"],
        ),
        plan_case(
            "generated_plan_checksum_removed",
            checksum_removed,
            &["bad.plan", "checksum"],
        ),
        plan_case(
            "generated_plan_other_container",
            other_container,
            &["bad.plan", "iCloud.com.example.Other"],
        ),
        plan_case(
            "generated_plan_other_environment",
            other_environment,
            &["bad.plan", "production"],
        ),
        plan_case(
            "generated_plan_other_zone",
            other_zone,
            &["bad.plan", "Elsewhere"],
        ),
        plan_case(
            "generated_plan_not_utf8",
            not_utf8,
            &["bad.plan", "invalid UTF-8", "line "],
        ),
        plan_case(
            "generated_plan_is_a_receipt",
            a_receipt,
            &["bad.plan", "not a ckplan plan"],
        ),
        plan_case("generated_plan_empty", empty, &["bad.plan", "empty"]),
        missing,
    ]
}

/// The exact error each generated case must produce.
fn expected(name: &str) -> Expected {
    let (file, line, column, record, field, message): Stated = match name {
        "generated_ndjson_invalid_utf8" => (
            "data/games.ndjson",
            Some(1),
            Some(41),
            None,
            None,
            "invalid UTF-8",
        ),
        "generated_yaml_invalid_utf8" => (
            "data/teams.yaml",
            Some(2),
            Some(12),
            None,
            None,
            "invalid UTF-8",
        ),
        "generated_config_invalid_utf8" => (
            "ckplan.yaml",
            Some(31),
            Some(3),
            None,
            None,
            "invalid UTF-8",
        ),
        "generated_json_huge_string" => (
            "data/stadiums.json",
            Some(1),
            None,
            Some("big"),
            None,
            "record is 1100006 bytes, over CloudKit's 1 MB record size limit (1000000 bytes)",
        ),
        "generated_yaml_huge_string" => (
            "data/teams.yaml",
            Some(1),
            None,
            Some("team-1"),
            None,
            "record is 1100006 bytes, over CloudKit's 1 MB record size limit (1000000 bytes)",
        ),
        "generated_json_deeply_nested" => (
            "data/stadiums.json",
            Some(1),
            Some(128),
            None,
            None,
            "malformed JSON: recursion limit exceeded",
        ),
        "generated_ndjson_deeply_nested" => (
            "data/games.ndjson",
            Some(1),
            Some(128),
            None,
            None,
            "malformed JSON: recursion limit exceeded",
        ),
        "generated_yaml_deeply_nested" => (
            "data/teams.yaml",
            Some(2),
            Some(135),
            None,
            None,
            "malformed YAML: recursion limit exceeded",
        ),
        "generated_config_deeply_nested" => (
            "ckplan.yaml",
            Some(1),
            Some(12),
            None,
            Some("container"),
            "invalid type: sequence, expected a string",
        ),
        "generated_key_p384" => (
            "keys/key.pem",
            None,
            None,
            None,
            None,
            "key file `keys/key.pem` holds a key on curve P-384 (secp384r1), but CloudKit server-to-server keys are P-256 (prime256v1)",
        ),
        "generated_key_rsa" => (
            "keys/key.pem",
            None,
            None,
            None,
            None,
            "key file `keys/key.pem` holds an RSA key, but CloudKit server-to-server keys are ECDSA P-256 (prime256v1)",
        ),
        "generated_key_public_instead_of_private" => (
            "keys/key.pem",
            None,
            None,
            None,
            None,
            "key file `keys/key.pem` holds no private key PEM block (`EC PRIVATE KEY`, `PRIVATE KEY` or `ENCRYPTED PRIVATE KEY`); it holds `PUBLIC KEY`",
        ),
        "generated_key_unreadable" => (
            "keys/key.pem",
            None,
            None,
            None,
            None,
            "not a regular file (a device, FIFO or directory is never read)",
        ),
        "generated_plan_edited" => (
            "bad.plan",
            None,
            None,
            None,
            None,
            "plan was modified after it was written: checksum mismatch",
        ),
        "generated_plan_truncated" => (
            "bad.plan",
            None,
            None,
            None,
            None,
            "plan is truncated: it ends at line 129, column 7",
        ),
        "generated_plan_reordered" => (
            "bad.plan",
            None,
            None,
            None,
            None,
            "plan was modified after it was written: checksum mismatch",
        ),
        "generated_plan_unknown_version" => (
            "bad.plan",
            None,
            None,
            None,
            None,
            "plan format version 7 is not supported by ckplan 0.1.0 (supports 1 and 2)",
        ),
        "generated_plan_checksum_removed" => (
            "bad.plan",
            None,
            None,
            None,
            None,
            "plan has no checksum: it was not written by ckplan or was cut short",
        ),
        "generated_plan_other_container" => (
            "bad.plan",
            None,
            None,
            None,
            None,
            "it was made for `iCloud.com.example.Other/development/public/_defaultZone` but the configuration targets `iCloud.com.example.BadInput/development/public/_defaultZone`; nothing was sent",
        ),
        "generated_plan_other_environment" => (
            "bad.plan",
            None,
            None,
            None,
            None,
            "it was made for `iCloud.com.example.BadInput/production/public/_defaultZone` but the configuration targets `iCloud.com.example.BadInput/development/public/_defaultZone`; nothing was sent",
        ),
        "generated_plan_other_zone" => (
            "bad.plan",
            None,
            None,
            None,
            None,
            "it was made for `iCloud.com.example.BadInput/development/public/Elsewhere` but the configuration targets `iCloud.com.example.BadInput/development/public/_defaultZone`; nothing was sent",
        ),
        "generated_plan_not_utf8" => (
            "bad.plan",
            None,
            None,
            None,
            None,
            "plan is not valid JSON at line 87, column 7: invalid UTF-8",
        ),
        "generated_plan_is_a_receipt" => (
            "bad.plan",
            None,
            None,
            None,
            None,
            "not a ckplan plan: `format` is `\"ckplan-receipt/1\"`, expected `ckplan-plan`",
        ),
        "generated_plan_empty" => (
            "bad.plan",
            None,
            None,
            None,
            None,
            "not a ckplan plan: the file is empty",
        ),
        "generated_plan_missing_file" => (
            "nope.plan",
            None,
            None,
            None,
            None,
            "No such file or directory (os error 2)",
        ),
        other => panic!("no expected error stated for `{other}`"),
    };
    Expected {
        file: file.to_owned(),
        line,
        column,
        record: record.map(str::to_owned),
        field: field.map(str::to_owned),
        message: message.to_owned(),
    }
}
