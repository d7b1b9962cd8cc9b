//! Bad-input cases built in code: bytes that are not UTF-8, megabyte strings, nesting a
//! thousand levels deep, keys that are not P-256, and plan files derived from a real plan
//! (edited, truncated, reordered, another version, another target).

use super::{default_args, Case};
use ckplan::plan::file;
use ckplan::record::Environment;

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
    good.replacen("\"format_version\": 1", "\"format_version\": 7", 1)
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
