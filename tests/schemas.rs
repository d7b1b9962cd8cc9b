//! The JSON Schemas under `schemas/` are generated from the Rust types; this test fails when
//! a committed schema is stale. `CKPLAN_UPDATE_SCHEMAS=1 cargo test --test schemas` rewrites
//! them.

use std::path::Path;

/// Every generated schema: its path under the crate root and how to make it.
fn schemas() -> Vec<(&'static str, serde_json::Value)> {
    vec![
        (
            "schemas/plan.schema.json",
            to_json(ckplan::plan::file::plan_schema()),
        ),
        (
            "schemas/config.schema.json",
            to_json(ckplan::config::config_schema()),
        ),
    ]
}

fn to_json(schema: impl serde::Serialize) -> serde_json::Value {
    serde_json::to_value(schema).expect("schemas serialize")
}

#[test]
fn committed_schemas_are_current() {
    let update = std::env::var_os("CKPLAN_UPDATE_SCHEMAS").is_some_and(|v| v == "1");
    let mut stale = Vec::new();
    for (path, schema) in schemas() {
        let full = Path::new(env!("CARGO_MANIFEST_DIR")).join(path);
        let expected = serde_json::to_string_pretty(&schema).expect("schemas serialize") + "\n";
        if update {
            std::fs::write(&full, &expected).expect("failed to write the schema");
            continue;
        }
        let committed = std::fs::read_to_string(&full).unwrap_or_default();
        if committed != expected {
            stale.push(path);
        }
    }
    assert!(
        stale.is_empty(),
        "stale schema files: {stale:?}\n\
         regenerate them with: CKPLAN_UPDATE_SCHEMAS=1 cargo test --test schemas"
    );
}
