//! Guards the first build's cost (README "Development"): the crates `cargo run` compiles
//! are read from `cargo tree` over the committed `Cargo.lock` (offline, normal and build
//! dependencies only, so test-only crates do not count), and crates that only tests, a
//! log filter or a second HTTP stack used to pull in must stay out.

use std::collections::BTreeSet;
use std::process::Command;

/// Crates that the binary must not compile, each with why it was dropped.
const KEPT_OUT: &[(&str, &str)] = &[
    ("axum", "the emulator serves with hyper directly"),
    ("async-trait", "came only with axum"),
    (
        "schemars",
        "JSON Schema generation is the `schema` feature, on in tests only",
    ),
    (
        "regex",
        "`CKPLAN_LOG` is parsed by tracing-subscriber's `Targets`",
    ),
    (
        "regex-automata",
        "came only with tracing-subscriber's `env-filter`",
    ),
    (
        "matchers",
        "came only with tracing-subscriber's `env-filter`",
    ),
    ("tracing-attributes", "ckplan uses no `#[instrument]`"),
    ("futures-macro", "only futures-util's combinators are used"),
    (
        "futures-executor",
        "only futures-util's combinators are used",
    ),
    (
        "iana-time-zone",
        "only UTC clocks are read (chrono `now`, not `clock`)",
    ),
    (
        "icu_normalizer",
        "Cargo.lock pins idna_adapter 1.0.0: endpoints are ASCII hosts",
    ),
    (
        "icu_properties",
        "Cargo.lock pins idna_adapter 1.0.0: endpoints are ASCII hosts",
    ),
    ("zerovec", "came only with ICU's IDNA data"),
];

/// `name version` of every package `cargo build --bin ckplan` compiles.
fn build_graph() -> BTreeSet<String> {
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let output = Command::new(cargo)
        .args(["tree", "--locked", "--offline", "--edges", "normal,build"])
        .args(["--prefix", "none", "--format", "{p}", "--manifest-path"])
        .arg(concat!(env!("CARGO_MANIFEST_DIR"), "/Cargo.toml"))
        .output()
        .expect("failed to run `cargo tree`");
    assert!(
        output.status.success(),
        "`cargo tree` failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout)
        .lines()
        .filter_map(|line| {
            let mut words = line.split_whitespace();
            Some(format!("{} {}", words.next()?, words.next()?))
        })
        .collect()
}

#[test]
fn issue_10_first_build_compiles_no_test_only_or_duplicate_crates() {
    let graph = build_graph();
    assert!(
        graph.iter().any(|package| package.starts_with("ckplan ")),
        "`cargo tree` listed no ckplan: {graph:?}"
    );
    let unwanted: Vec<String> = KEPT_OUT
        .iter()
        .filter(|(name, _)| graph.iter().any(|p| p.split(' ').next() == Some(*name)))
        .map(|(name, why)| format!("{name} ({why})"))
        .collect();
    assert!(unwanted.is_empty(), "the binary compiles {unwanted:?}");
    let syn: Vec<&String> = graph.iter().filter(|p| p.starts_with("syn ")).collect();
    assert!(syn.len() <= 1, "two syn versions are compiled: {syn:?}");
}
