//! What `ckplan validate` says: every problem of the local data (errors and warnings, each
//! with its place), the cycle between types, a record count per type in dependency order,
//! and the verdict; or all of it as one JSON document.

use super::talk::Line;
use super::{escape, plural, Format, Output};
use crate::config::TypeOrder;
use crate::local::{LocalData, Problem, Severity};
use std::path::Path;

/// The cycle warning, naming the config file.
pub fn cycle_warning(config: &Path, order: &TypeOrder) -> Option<String> {
    order.cycle.as_ref().map(|types| {
        let names: Vec<String> = types.iter().map(|t| format!("`{t}`")).collect();
        format!(
            "{}: record types reference each other in a cycle ({}); they are applied in name order",
            config.display(),
            names.join(", ")
        )
    })
}

/// Errors and warnings in all, the cycle warning counted.
fn counts(data: &LocalData, cycle_warning: Option<&String>) -> (usize, usize) {
    let warnings = data.warning_count() + usize::from(cycle_warning.is_some());
    (data.error_count(), warnings)
}

/// Every problem, the cycle warning, then a count per type in `order`.
pub fn text(data: &LocalData, order: &TypeOrder, cycle_warning: Option<&String>) -> Vec<Line> {
    let mut lines: Vec<Line> = data
        .problems()
        .map(|problem| match problem.severity {
            Severity::Error => Line::Error(problem.to_string()),
            Severity::Warning => Line::Warning(problem.to_string()),
        })
        .collect();
    if let Some(warning) = cycle_warning {
        lines.push(Line::Warning(warning.clone()));
    }
    for record_type in &order.types {
        let count = data.records(record_type).len();
        lines.push(Line::Status(format!(
            "{}: {}",
            escape(record_type.as_str()),
            plural(count, "record")
        )));
    }
    lines
}

/// `validate: N errors, N warnings`: shown even with `-q` when there is an error.
pub fn verdict(data: &LocalData, cycle_warning: Option<&String>) -> Line {
    let (errors, warnings) = counts(data, cycle_warning);
    let text = format!(
        "validate: {}, {}",
        plural(errors, "error"),
        plural(warnings, "warning")
    );
    super::talk::verdict(text, errors > 0)
}

/// In `format`: the JSON document on stdout, or the text lines on stderr; the verdict
/// after either.
pub fn view(
    data: &LocalData,
    order: &TypeOrder,
    cycle_warning: Option<&String>,
    format: Format,
) -> serde_json::Result<Output> {
    let mut output = match format {
        Format::Json => Output::data(json(data, cycle_warning)?),
        Format::Text | Format::Markdown => Output {
            data: String::new(),
            talk: text(data, order, cycle_warning),
        },
    };
    output.talk.push(verdict(data, cycle_warning));
    Ok(output)
}

/// `{"problems": [...], "cycle_warning": …, "types": {...}, "errors": N, "warnings": N}`,
/// ending in a line end.
pub fn json(data: &LocalData, cycle_warning: Option<&String>) -> serde_json::Result<String> {
    let problems: Vec<&Problem> = data.problems().collect();
    let types: serde_json::Map<String, serde_json::Value> = data
        .types
        .iter()
        .map(|(t, loaded)| {
            (
                t.to_string(),
                serde_json::json!({"records": loaded.records.len()}),
            )
        })
        .collect();
    let (errors, warnings) = counts(data, cycle_warning);
    let report = serde_json::json!({
        "problems": problems,
        "cycle_warning": cycle_warning,
        "types": types,
        "errors": errors,
        "warnings": warnings,
    });
    Ok(format!("{}\n", super::json::to_string_pretty(&report)?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_verdict_is_loud_only_with_an_error() {
        let empty = LocalData::default();
        assert_eq!(
            verdict(&empty, None),
            Line::Status("validate: 0 errors, 0 warnings".to_owned())
        );
        let cycle = "ckplan.yaml: record types reference each other".to_owned();
        assert_eq!(
            verdict(&empty, Some(&cycle)),
            Line::Status("validate: 0 errors, 1 warning".to_owned())
        );
        let order = TypeOrder {
            types: Vec::new(),
            cycle: None,
        };
        let lines = text(&empty, &order, Some(&cycle));
        assert_eq!(lines, [Line::Warning(cycle.clone())]);
        let json = json(&empty, Some(&cycle)).expect("encodes");
        assert!(json.contains("\"warnings\": 1"), "{json}");
    }
}
