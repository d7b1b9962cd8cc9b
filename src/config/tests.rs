use super::*;
use crate::record::{FieldValue, Record};

fn parse(text: &str) -> Result<Config, ConfigError> {
    Config::parse(Path::new("project/ckplan.yaml"), text)
}

const MINIMAL: &str = "container: iCloud.com.example.App\nenvironment: development\n";

#[test]
fn defaults_apply() {
    let config = parse(MINIMAL).unwrap();
    assert_eq!(config.database, Database::Public);
    assert_eq!(config.zone, "_defaultZone");
    assert_eq!(config.endpoint, Endpoint::Url(DEFAULT_ENDPOINT.into()));
    assert_eq!(config.auth, Auth::default());
    assert_eq!(
        crate::cloudkit::client::subpath(&config.target(), crate::cloudkit::wire::Endpoint::Query),
        "/database/1/iCloud.com.example.App/development/public/records/query"
    );
}

#[test]
fn paths_resolve_against_the_config_directory() {
    let config = parse(&format!(
        "{MINIMAL}endpoint: embedded\nauth:\n  key_id: abc\n  private_key_file: keys/dev.pem\n\
         types:\n  Team:\n    file: data/teams.yaml\n    record_name: \"team-{{id}}\"\n    \
         fields:\n      name: STRING\n      stadium: REFERENCE(Stadium)\n      \
         colors: STRING_LIST\n    ignore_fields: [followers]\n    location_tolerance: 0.5\n  \
         Stadium:\n    file: [a.json, b.ndjson]\n"
    ))
    .unwrap();
    assert_eq!(
        config.endpoint,
        Endpoint::Embedded {
            dir: PathBuf::from("project/.ckplan/emulator")
        }
    );
    assert_eq!(
        config.auth.private_key_file,
        Some(PathBuf::from("project/keys/dev.pem"))
    );
    let team = &config.types[&RecordType::from("Team")];
    assert_eq!(team.files, [PathBuf::from("project/data/teams.yaml")]);
    assert_eq!(
        team.record_name.as_ref().map(|t| t.as_str()),
        Some("team-{id}")
    );
    assert_eq!(
        team.fields["stadium"].target,
        Some(RecordType::from("Stadium"))
    );
    assert_eq!(team.fields["colors"].field_type.to_string(), "STRING_LIST");
    assert!(team.ignore_fields.contains("followers"));
    assert_eq!(team.location_tolerance, 0.5);
    let stadium = &config.types[&RecordType::from("Stadium")];
    assert_eq!(stadium.files.len(), 2);
    assert_eq!(stadium.location_tolerance, DEFAULT_LOCATION_TOLERANCE);
    assert!(config.problems().is_empty());
}

#[test]
fn unknown_key_fails_with_line_and_column() {
    let error = parse(&format!(
        "{MINIMAL}types:\n  Team:\n    file: t.json\n    feilds: {{}}\n"
    ))
    .unwrap_err();
    let message = error.to_string();
    assert!(
        message.starts_with("invalid config `project/ckplan.yaml`:6:5: "),
        "{message}"
    );
    assert!(message.contains("unknown field `feilds`"), "{message}");
}

#[test]
fn endpoints_parse() {
    let directory = Path::new("p");
    assert_eq!(
        parse_endpoint(Some("http://127.0.0.1:8080/"), directory),
        Ok(Endpoint::Url("http://127.0.0.1:8080".into()))
    );
    assert_eq!(
        parse_endpoint(Some("embedded:state"), directory),
        Ok(Endpoint::Embedded {
            dir: PathBuf::from("p/state")
        })
    );
    assert!(parse_endpoint(Some("ftp://x"), directory).is_err());
    assert!(parse_endpoint(Some("https://"), directory).is_err());
}

#[test]
fn issue_10_an_endpoint_with_a_path_is_refused_as_the_client_refuses_it() {
    let error = parse_endpoint(Some("http://127.0.0.1:8080/database/1"), Path::new("p"));
    assert!(
        error
            .as_ref()
            .unwrap_err()
            .contains("scheme, host and port only"),
        "{error:?}"
    );
    assert!(parse(&format!("{MINIMAL}endpoint: embeded\n")).is_err());
}

#[test]
fn field_problems_name_type_field_and_line() {
    let config = parse(&format!(
        "{MINIMAL}types:\n  Game:\n    file: g.json\n    fields:\n      home: REFERENCE(Team)\n      \
         score: INTEGER\n      name: STRING(Team)\n"
    ))
    .unwrap();
    let problems: Vec<String> = config.problems().iter().map(|p| p.to_string()).collect();
    assert_eq!(problems.len(), 3, "{problems:?}");
    assert!(problems[0].starts_with(
        "project/ckplan.yaml:7:7: Game field `home`: references type `Team`, which is not configured"
    ));
    assert!(problems[1].starts_with(
        "project/ckplan.yaml:9:7: Game field `name`: unknown field type `STRING(Team)`"
    ));
    assert!(problems[2]
        .starts_with("project/ckplan.yaml:8:7: Game field `score`: unknown field type `INTEGER`"));
}

/// Regression (issue 13): a bad field type in flow style (`fields: {a: X, b: Y}`) was
/// reported without a line.
#[test]
fn issue_13_field_problems_in_flow_style_name_line_and_column() {
    let config = parse(&format!(
        "{MINIMAL}types:\n  Game:\n    file: g.json\n    fields: {{name: STRING, score: INT46}}\n  \
         Team:\n    file: t.json\n    fields: {{score: INT46}}\n"
    ))
    .unwrap();
    let problems: Vec<String> = config.problems().iter().map(|p| p.to_string()).collect();
    assert_eq!(problems.len(), 2, "{problems:?}");
    assert!(
        problems[0].starts_with("project/ckplan.yaml:6:28: Game field `score`: unknown field"),
        "{problems:?}"
    );
    assert!(
        problems[1].starts_with("project/ckplan.yaml:9:14: Team field `score`: unknown field"),
        "{problems:?}"
    );
}

#[test]
fn bad_template_and_tolerance_fail() {
    assert!(parse(&format!(
        "{MINIMAL}types:\n  T:\n    file: t.json\n    record_name: \"x-{{id\"\n"
    ))
    .is_err());
    assert!(parse(&format!(
        "{MINIMAL}types:\n  T:\n    file: t.json\n    location_tolerance: -1\n"
    ))
    .is_err());
}

#[test]
fn auth_override_replaces_given_values_only() {
    let mut auth = Auth {
        key_id: Some("file".into()),
        private_key_file: Some("a.pem".into()),
        ..Auth::default()
    };
    auth.override_with(Some("env".into()), None);
    assert_eq!(auth.key_id.as_deref(), Some("env"));
    assert_eq!(auth.private_key_file, Some(PathBuf::from("a.pem")));
}

#[cfg(feature = "schema")]
#[test]
fn schema_names_the_keys() {
    let schema = serde_json::to_string(&config_schema()).unwrap();
    for key in [
        "container",
        "location_tolerance",
        "ignore_fields",
        "private_key_file",
    ] {
        assert!(schema.contains(key), "{key}");
    }
}

fn order_config(fields: &str) -> Config {
    parse(&format!(
        "{MINIMAL}types:\n  Game:\n    file: g.json\n{fields}  Stadium:\n    file: s.json\n  \
         Team:\n    file: t.json\n"
    ))
    .unwrap()
}

#[test]
fn declared_targets_order_types() {
    let config =
        order_config("    fields:\n      home: REFERENCE(Team)\n      venue: REFERENCE(Stadium)\n");
    let order = type_order(&config, []);
    let names: Vec<&str> = order.types.iter().map(|t| t.as_str()).collect();
    assert_eq!(names, ["Stadium", "Team", "Game"]);
    assert_eq!(order.cycle, None);
}

#[test]
fn undeclared_targets_are_found_in_local_data() {
    let config = order_config("");
    let records = [
        Record::new("Stadium", "fenway").with_field("team", FieldValue::reference("team-1")),
        Record::new("Team", "team-1"),
        Record::new("Game", "g1").with_field("home", FieldValue::reference("team-1")),
        Record::new("Game", "g2").with_field("previous", FieldValue::reference("g1")),
    ];
    let order = type_order(&config, &records);
    let names: Vec<&str> = order.types.iter().map(|t| t.as_str()).collect();
    assert_eq!(names, ["Team", "Game", "Stadium"]);
}

#[test]
fn cycles_fall_back_to_name_order_with_a_warning() {
    let config = parse(&format!(
        "{MINIMAL}types:\n  A:\n    file: a.json\n    fields:\n      b: REFERENCE(B)\n  \
         B:\n    file: b.json\n    fields:\n      a: REFERENCE(A)\n  C:\n    file: c.json\n    \
         fields:\n      a: REFERENCE(A)\n  D:\n    file: d.json\n"
    ))
    .unwrap();
    let order = type_order(&config, []);
    let names: Vec<&str> = order.types.iter().map(|t| t.as_str()).collect();
    assert_eq!(names, ["D", "A", "B", "C"]);
    let cycle: Vec<&str> = order.cycle.iter().flatten().map(|t| t.as_str()).collect();
    assert_eq!(cycle, ["A", "B", "C"]);
}

/// Regression (bad-input case `generated_config_invalid_utf8`): a config with a byte that
/// is not UTF-8 failed as "stream did not contain valid UTF-8", with no line.
#[test]
fn invalid_utf8_fails_with_line_and_column() {
    let directory = tempfile::tempdir().unwrap();
    let path = directory.path().join("ckplan.yaml");
    std::fs::write(&path, b"container: c\n# caf\xC3\x28\n").unwrap();
    let error = Config::load(&path).unwrap_err();
    assert!(
        matches!(
            error,
            ConfigError::Parse {
                line: Some(2),
                column: Some(6),
                ..
            }
        ),
        "{error:?}"
    );
    assert!(
        error.to_string().ends_with(":2:6: invalid UTF-8"),
        "{error}"
    );
}

/// Regression (security test: `ckplan --config key.pem`): the YAML error quoted the whole
/// file, printing the private key.
#[test]
fn a_private_key_given_as_config_is_not_echoed() {
    let (private, _) = crate::cloudkit::auth::generate_key_pair();
    let body_line = private.lines().nth(2).unwrap().to_owned();
    let error = parse(&private).unwrap_err().to_string();
    assert!(!error.contains(&body_line), "{error}");
    assert!(error.contains("\"-----BEGIN PRIVA…\""), "{error}");
    let short = parse("container: [\"x\"]\n").unwrap_err().to_string();
    assert!(short.contains("container"), "{short}");
}

#[test]
fn only_long_quoted_values_are_shortened() {
    assert_eq!(shorten_quoted("a \"short\" b"), "a \"short\" b");
    let long = format!("found \"{}\", expected \"x\"", "k".repeat(50));
    assert_eq!(
        shorten_quoted(&long),
        format!("found \"{}…\", expected \"x\"", "k".repeat(16))
    );
}

#[test]
fn issue_12_a_config_with_a_bom_loads() {
    let config = parse(&format!("\u{feff}{MINIMAL}")).unwrap();
    assert_eq!(config.container, "iCloud.com.example.App");
}

#[test]
fn issue_12_forbidden_type_and_field_names_are_config_problems() {
    let config = parse(&format!(
        "{MINIMAL}types:\n  Team:\n    file: t.yaml\n    fields:\n      name: STRING\n      \
         home-town: STRING\n      recordName: STRING\n  \"2Stadium\":\n    file: s.yaml\n"
    ))
    .unwrap();
    let problems: Vec<String> = config.problems().iter().map(|p| p.to_string()).collect();
    assert_eq!(problems.len(), 3, "{problems:#?}");
    assert!(
        problems[0].starts_with("project/ckplan.yaml:10: 2Stadium: record type `2Stadium`"),
        "{problems:#?}"
    );
    assert!(problems[1].starts_with("project/ckplan.yaml:8:7: Team field `home-town`: field name"));
    assert!(problems[2].starts_with(
        "project/ckplan.yaml:9:7: Team field `recordName`: field name `recordName` is reserved"
    ));
}

#[test]
fn issue_12_duplicate_keys_in_a_nested_config_mapping_are_refused() {
    let error = parse(&format!(
        "{MINIMAL}types:\n  Team:\n    file: t.yaml\n    fields: {{name: STRING, name: INT64}}\n"
    ))
    .unwrap_err()
    .to_string();
    assert!(
        error.contains("duplicate entry with key \"name\""),
        "{error}"
    );
    assert!(error.contains("ckplan.yaml`:6:"), "{error}");
}

#[test]
fn resolve_applies_the_overrides_over_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("ckplan.yaml");
    std::fs::write(
        &path,
        format!("{MINIMAL}auth:\n  key_id: file\n  private_key_file: keys/dev.pem\n"),
    )
    .unwrap();
    let overrides = Overrides {
        key_id: Some("env".into()),
        private_key_file: None,
        ..Overrides::default()
    };
    let config = Config::resolve(&path, &overrides).unwrap();
    assert_eq!(config.auth.key_id.as_deref(), Some("env"));
    assert_eq!(
        config.auth.private_key_file,
        Some(dir.path().join("keys/dev.pem"))
    );
    assert_eq!(
        Config::resolve(&path, &Overrides::default())
            .unwrap()
            .auth
            .key_id
            .as_deref(),
        Some("file")
    );
}

/// Every key `ckplan.yaml` knows, each set to something other than its default.
const EVERY_KEY: &str = r#"
container: iCloud.com.example.App
environment: production
database: private
zone: Teams
endpoint: "http://127.0.0.1:8080"
auth:
  key_id: abc123
  private_key_file: keys/eckey.pem
types:
  Team:
    file: data/teams.yaml
    record_name: "team-{id}"
    fields:
      founded: INT64
      stadium: REFERENCE(Stadium)
    ignore_fields: [lastSeen]
    location_tolerance: 0.5
  Stadium:
    file: [data/stadiums.json, "data/more stadiums.ndjson"]
"#;

#[test]
fn issue_10_the_config_file_is_written_back_as_read() {
    let file = ConfigFile::from_yaml(EVERY_KEY).unwrap();
    let written = file.to_yaml().unwrap();
    assert_eq!(ConfigFile::from_yaml(&written).unwrap(), file);
    // What is written is a config ckplan loads, to the same resolved values.
    let path = Path::new("project/ckplan.yaml");
    assert_eq!(
        Config::parse(path, &written).unwrap(),
        Config::parse(path, EVERY_KEY).unwrap()
    );
    // Absent options and empty lists are left out rather than written as null or [].
    let minimal = ConfigFile::from_yaml(MINIMAL).unwrap().to_yaml().unwrap();
    assert!(
        !minimal.contains("null") && !minimal.contains("[]"),
        "{minimal}"
    );
}

#[test]
fn issue_10_the_example_config_is_written_back_as_read() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/sportstime/ckplan.yaml");
    let file = ConfigFile::from_yaml(&std::fs::read_to_string(path).unwrap()).unwrap();
    assert_eq!(
        ConfigFile::from_yaml(&file.to_yaml().unwrap()).unwrap(),
        file
    );
}

fn arb_text() -> impl proptest::strategy::Strategy<Value = String> {
    "\\PC{0,12}"
}

fn arb_field_entry() -> impl proptest::strategy::Strategy<Value = FieldEntry> {
    use proptest::prelude::*;
    prop_oneof![
        arb_text().prop_map(FieldEntry::Type),
        (arb_text(), prop::collection::vec(arb_text(), 0..3)).prop_map(|(field_type, indexes)| {
            FieldEntry::Detailed(FieldDetail {
                field_type,
                indexes,
            })
        }),
    ]
}

fn arb_type_file() -> impl proptest::strategy::Strategy<Value = TypeFile> {
    use proptest::prelude::*;
    let files = prop_oneof![
        arb_text().prop_map(|p| FileList::One(p.into())),
        prop::collection::vec(arb_text(), 0..3)
            .prop_map(|ps| FileList::Many(ps.into_iter().map(PathBuf::from).collect())),
    ];
    (
        files,
        prop::option::of(arb_text()),
        prop::collection::btree_map(arb_text(), arb_field_entry(), 0..3),
        prop::collection::vec(arb_text(), 0..3),
        prop::option::of(-1e6f64..1e6),
    )
        .prop_map(
            |(file, record_name, fields, ignore_fields, location_tolerance)| TypeFile {
                file,
                record_name,
                fields,
                ignore_fields,
                location_tolerance,
            },
        )
}

fn arb_config_file() -> impl proptest::strategy::Strategy<Value = ConfigFile> {
    use proptest::prelude::*;
    let target = (
        arb_text(),
        prop_oneof![
            Just(Environment::Development),
            Just(Environment::Production)
        ],
        prop_oneof![
            Just(Database::Public),
            Just(Database::Private),
            Just(Database::Shared)
        ],
        arb_text(),
    );
    let auth = prop::option::of(
        (
            prop::option::of(arb_text()),
            prop::option::of(arb_text()),
            prop::option::of(arb_text()),
            prop::option::of((prop::option::of(arb_text()), prop::option::of(arb_text()))),
        )
            .prop_map(|(key_id, file, token_file, production)| AuthFile {
                key_id,
                private_key_file: file.map(PathBuf::from),
                management_token_file: token_file.map(PathBuf::from),
                development: None,
                production: production.map(|(key_id, file)| crate::config::EnvironmentKeyFile {
                    key_id,
                    private_key_file: file.map(PathBuf::from),
                }),
            }),
    );
    (
        target,
        prop::option::of(arb_text()),
        auth,
        prop::collection::btree_map(arb_text(), arb_type_file(), 0..3),
        prop::option::of(arb_text()),
    )
        .prop_map(
            |((container, environment, database, zone), endpoint, auth, types, team_id)| {
                ConfigFile {
                    container,
                    team_id,
                    environment,
                    database,
                    zone,
                    endpoint,
                    auth,
                    types,
                }
            },
        )
}

proptest::proptest! {
    #[test]
    fn issue_10_read_of_written_config_file_is_identity(file in arb_config_file()) {
        let written = file.to_yaml().unwrap();
        proptest::prop_assert_eq!(ConfigFile::from_yaml(&written).unwrap(), file, "{}", written);
    }
}

/// Regression (issue 17): an empty container, a bad endpoint, template or tolerance named
/// the file but not the line.
#[test]
fn issue_17_checked_values_name_the_line_of_their_key() {
    let message = |text: &str| parse(text).unwrap_err().to_string();
    assert_eq!(
        message("environment: development\ncontainer: \"\"\n"),
        "invalid config `project/ckplan.yaml`:2: `container` is empty"
    );
    assert_eq!(
        message(&format!("{MINIMAL}endpoint: ftp://x\n")),
        "invalid config `project/ckplan.yaml`:3: endpoint `ftp://x` is not an http(s) URL, \
         `embedded` or `embedded:DIR`"
    );
    let types = "types:\n  Stadium:\n    file: s.json\n  Team:\n    file: t.json\n";
    assert!(
        message(&format!("{MINIMAL}{types}    record_name: \"t-{{\"\n"))
            .starts_with("invalid config `project/ckplan.yaml`:8: type `Team`: record_name")
    );
    assert!(
        message(&format!("{MINIMAL}{types}    location_tolerance: -1\n"))
            .starts_with("invalid config `project/ckplan.yaml`:8: type `Team`: location_tolerance")
    );
}

#[test]
fn issue_19_secrets_never_show_in_debug() {
    let auth = Auth {
        private_key_pem: Some(Secret::new("-----BEGIN PRIVATE KEY-----\nMIGHAgEAMBMG\n")),
        key_passphrase: Some(Secret::new("sesame")),
        ..Auth::default()
    };
    let shown = format!("{auth:?} {auth:#?}");
    assert!(
        !shown.contains("MIGHAgEAMBMG") && !shown.contains("BEGIN"),
        "{shown}"
    );
    assert!(!shown.contains("sesame"), "{shown}");
    assert!(shown.contains("Secret(..)"), "{shown}");
}

#[test]
fn issue_20_fields_declare_indexes_beside_the_short_form() {
    let config = Config::parse(
        Path::new("ckplan.yaml"),
        "container: iCloud.x\nteam_id: ABCDE12345\nenvironment: development\n\
         auth: {management_token_file: token.txt}\n\
         types:\n  Team:\n    file: t.json\n    fields:\n      founded: INT64\n\
         \x20     name: {type: STRING, indexes: [QUERYABLE, SORTABLE]}\n",
    )
    .unwrap();
    assert_eq!(config.team_id.as_deref(), Some("ABCDE12345"));
    assert_eq!(
        config.auth.management_token_file,
        Some(PathBuf::from("token.txt"))
    );
    let team = &config.types[&RecordType::new("Team")];
    assert_eq!(team.fields["name"], parse_field_spec("STRING"));
    assert_eq!(team.fields["founded"], parse_field_spec("INT64"));
    let name_indexes: Vec<_> = team.indexes["name"].iter().copied().collect();
    assert_eq!(
        name_indexes,
        [
            crate::schema::Index::Queryable,
            crate::schema::Index::Sortable
        ]
    );
    assert!(!team.indexes.contains_key("founded"));
}

#[test]
fn issue_20_an_unknown_or_repeated_index_names_type_and_field() {
    for (indexes, message) in [
        ("[QUERYABEL]", "unknown index `QUERYABEL`"),
        ("[SORTABLE, SORTABLE]", "index `SORTABLE` is listed twice"),
    ] {
        let text = format!(
            "container: c\nenvironment: development\ntypes:\n  Team:\n    file: t.json\n\
             \x20   fields:\n      name: {{type: STRING, indexes: {indexes}}}\n"
        );
        let error = Config::parse(Path::new("ckplan.yaml"), &text).unwrap_err();
        let shown = error.to_string();
        assert!(
            shown.contains("type `Team`, field `name`: ") && shown.contains(message),
            "{shown}"
        );
    }
}

#[test]
fn issue_19_each_environment_takes_its_own_key_and_the_default_for_the_rest() {
    let text = "container: iCloud.x\nenvironment: development\n\
                auth:\n  key_id: dev-key\n  private_key_file: keys/dev.pem\n\
                \x20 production: {key_id: prod-key, private_key_file: keys/prod.pem}\n";
    let mut config = Config::parse(Path::new("p/ckplan.yaml"), text).unwrap();
    assert_eq!(config.auth.key_id.as_deref(), Some("dev-key"));
    assert_eq!(
        config.auth.private_key_file.as_deref(),
        Some(Path::new("p/keys/dev.pem"))
    );
    config.set_environment(Environment::Production);
    assert_eq!(config.environment, Environment::Production);
    assert_eq!(config.auth.key_id.as_deref(), Some("prod-key"));
    assert_eq!(
        config.auth.private_key_file.as_deref(),
        Some(Path::new("p/keys/prod.pem"))
    );
    config.set_environment(Environment::Development);
    assert_eq!(config.auth.key_id.as_deref(), Some("dev-key"));
    // An override from the environment wins over the file's key for that environment.
    let overrides = Overrides {
        environment: Some(Environment::Production),
        key_id: Some("from-ci".into()),
        ..Overrides::default()
    };
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("ckplan.yaml");
    std::fs::write(&path, text).unwrap();
    let resolved = Config::resolve(&path, &overrides).unwrap();
    assert_eq!(resolved.environment, Environment::Production);
    assert_eq!(resolved.auth.key_id.as_deref(), Some("from-ci"));
    assert!(resolved
        .auth
        .private_key_file
        .unwrap()
        .ends_with("keys/prod.pem"));
}
