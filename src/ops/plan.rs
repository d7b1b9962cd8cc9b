//! The plan from what was read: the survey of CloudKit against the local data, turned into
//! a plan with its options, inputs, comparison rules, endpoint and reference guard, and the
//! warnings a person must see with it (a cycle between types, dangling references with what
//! the plan does to their targets, a type the local data empties). Pure: returns data, the
//! command prints.

use crate::config::Config;
use crate::local::Problem;
use crate::plan::{FoundReference, InputDigest, Plan, PlanOptions};
use crate::record::{RecordType, Timestamp};
use crate::sync::Survey;
use std::path::PathBuf;

/// What the plan is asked to do.
pub struct PlanRequest {
    /// The types read (every configured type, or `--type`'s).
    pub selected: Vec<RecordType>,
    /// Whether `--type` limited them (the plan records the filter).
    pub filtered: bool,
    pub delete_orphans: bool,
    pub delete_referenced: bool,
    pub inputs: Vec<InputDigest>,
    pub created_at: Timestamp,
}

/// A plan and the warnings to show with it, in order.
pub struct Planned {
    pub plan: Plan,
    pub warnings: Vec<String>,
}

/// The plan from `survey` (its name clashes and type conflicts already refused), with the
/// references to orphans found in types outside `--type` (`untouched`) and the local data's
/// dangling-reference problems (`dangling`), worded with the plan's fate for each target.
pub fn build(
    config: &Config,
    survey: Survey,
    untouched: Vec<FoundReference>,
    dangling: Vec<Problem>,
    request: PlanRequest,
) -> Planned {
    // The read's own notes are the command's to show, before it refuses a survey.
    let mut warnings = Vec::new();
    let Survey {
        diffs,
        type_order,
        mut references,
        ..
    } = survey;
    references.extend(untouched);
    if let Some(cycle) = &type_order.cycle {
        let names: Vec<_> = cycle.iter().map(|t| t.as_str()).collect();
        warnings.push(format!(
            "record types reference each other in a cycle ({}); they are applied by name",
            names.join(", ")
        ));
    }
    let options = PlanOptions {
        delete_orphans: request.delete_orphans,
        delete_referenced: request.delete_orphans && request.delete_referenced,
        types: request.filtered.then_some(request.selected),
    };
    let rules = config
        .types
        .iter()
        .map(|(t, c)| (t.clone(), c.compare_rules()))
        .collect();
    let plan = Plan::build(
        config.target(),
        options,
        request.inputs,
        type_order.types,
        diffs,
        request.created_at,
    )
    .with_rules(rules)
    .with_endpoint(config.endpoint_text())
    .guard_references(references);
    // Dangling-reference warnings say whether the plan deletes or keeps the record.
    for problem in crate::sync::references::with_plan_fate(dangling, &plan) {
        warnings.push(problem.to_string());
    }
    // Said loudly: an empty or truncated data file reads as "delete them all".
    for summary in plan.emptied_types() {
        let files = config.types.get(&summary.record_type).map(|t| {
            let shown = |f: &PathBuf| f.strip_prefix(config.directory()).unwrap_or(f).to_owned();
            t.files.iter().map(shown).collect::<Vec<_>>()
        });
        let files = files.unwrap_or_default();
        warnings.push(crate::render::summary::emptied_type(summary, &files));
    }
    Planned { plan, warnings }
}
