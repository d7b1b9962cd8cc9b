//! The bundled example (`examples/sportstime/`) is consistent: its key pair matches, its
//! data has the advertised 5,852 records, every reference resolves, and its configuration
//! names files that exist. Loading through ckplan's own loaders is covered by their tests.

use ckplan::cloudkit::{auth, wire::WireField};
use serde_json::Value as Json;
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

fn example(path: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("examples/sportstime")
        .join(path)
}

fn read(path: &str) -> String {
    std::fs::read_to_string(example(path)).unwrap()
}

#[test]
fn key_pair_matches() {
    let private = auth::parse_private_pem(&read("keys/emulator-example.pem")).unwrap();
    let public = auth::load_public_pem(&example("keys/emulator-example.pub.pem")).unwrap();
    assert_eq!(*private.verifying_key(), public);
}

#[test]
fn config_names_existing_files() {
    let config: serde_yaml::Value = serde_yaml::from_str(&read("ckplan.yaml")).unwrap();
    assert_eq!(config["endpoint"].as_str(), Some("embedded"));
    assert!(example(config["auth"]["private_key_file"].as_str().unwrap()).is_file());
    let types = config["types"].as_mapping().unwrap();
    assert_eq!(types.len(), 3);
    for (_, record_type) in types {
        assert!(example(record_type["file"].as_str().unwrap()).is_file());
    }
}

#[test]
fn data_has_5852_records_whose_references_resolve() {
    let stadiums: Vec<Json> = serde_json::from_str(&read("data/stadiums.json")).unwrap();
    let mut stadium_names = BTreeSet::new();
    for stadium in &stadiums {
        stadium_names.insert(stadium["recordName"].as_str().unwrap().to_owned());
        for (field, value) in stadium["fields"].as_object().unwrap() {
            let wire: WireField = serde_json::from_value(value.clone()).unwrap();
            assert!(wire.to_value(None).is_ok(), "{field} of {stadium}");
        }
    }
    let teams: Vec<serde_yaml::Value> = serde_yaml::from_str(&read("data/teams.yaml")).unwrap();
    let mut team_names = BTreeSet::new();
    for team in &teams {
        team_names.insert(format!("team-{}", team["id"].as_u64().unwrap()));
        assert!(stadium_names.contains(team["stadium"].as_str().unwrap()));
        assert_eq!(
            team["colors"].as_sequence().map(|c| c.len() >= 2),
            Some(true)
        );
    }
    let games = read("data/games.ndjson");
    let mut game_ids = BTreeSet::new();
    for line in games.lines() {
        let game: Json = serde_json::from_str(line).unwrap();
        game_ids.insert(game["id"].as_u64().unwrap());
        assert!(team_names.contains(game["home"].as_str().unwrap()));
        assert!(team_names.contains(game["away"].as_str().unwrap()));
        assert!(stadium_names.contains(game["stadium"].as_str().unwrap()));
        assert!(chrono::DateTime::parse_from_rfc3339(game["start"].as_str().unwrap()).is_ok());
    }
    let counts = (stadium_names.len(), team_names.len(), game_ids.len());
    assert_eq!(counts, (32, 60, 5760));
    assert_eq!(counts.0 + counts.1 + counts.2, 5852);
}
