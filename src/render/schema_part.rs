//! The views of a plan's schema part (issue 20): the note `plan` prints once, the section
//! of the review (`show`, text) and of the markdown comment. In development the additions
//! are what apply imports before the records; in production, the CloudKit Console steps
//! apply waits for. Names come from CloudKit or the config: escaped for terminals, fenced
//! in markdown. (`show --json` prints the plan file's `schema` member.)

use super::escape::escape;
use crate::plan::Plan;
use crate::record::Environment;
use std::fmt::Write as _;

/// How to let a plan read the schema.
pub const ENABLE: &str =
    "set CKPLAN_MANAGEMENT_TOKEN or `auth: management_token_file:` to plan it with the records";

/// The lines `plan` prints about the schema, once: skipped (no token), what apply imports,
/// or what production lacks; nothing when the schema has everything.
pub fn plan_note(plan: &Plan) -> Vec<String> {
    let Some(part) = &plan.schema else {
        return vec![format!(
            "Schema: not checked (no management token); {ENABLE}."
        )];
    };
    let count = part.additions.len();
    match (count, plan.target.environment) {
        (0, _) => Vec::new(),
        (_, Environment::Development) => vec![format!(
            "Schema: {count} addition(s), imported before the records."
        )],
        (_, Environment::Production) => vec![format!(
            "Schema: production lacks {count} item(s) the records need; deploy them from \
             CloudKit Console (`ckplan show` lists them); apply refuses until then."
        )],
    }
}

fn heading(plan: &Plan, count: usize) -> String {
    match plan.target.environment {
        Environment::Development => {
            format!("Schema: {count} addition(s), imported before the records:")
        }
        Environment::Production => format!(
            "Schema: {count} item(s) to deploy from CloudKit Console (Deploy Schema Changes) \
             before apply; apply refuses while any is missing:"
        ),
    }
}

/// The review's schema section (empty without additions), starting with a blank line.
pub fn review(plan: &Plan) -> String {
    let Some(part) = plan.schema.as_ref().filter(|p| !p.additions.is_empty()) else {
        return String::new();
    };
    let mut out = format!("\n{}\n", heading(plan, part.additions.len()));
    for addition in &part.additions {
        let _ = writeln!(out, "  + {}", escape(&addition.to_string()));
    }
    out
}

/// The markdown comment's schema section (empty without additions), starting with a blank
/// line; the additions in a fence, as other untrusted text.
pub fn markdown(plan: &Plan) -> String {
    let Some(part) = plan.schema.as_ref().filter(|p| !p.additions.is_empty()) else {
        return String::new();
    };
    let lines: Vec<String> = part
        .additions
        .iter()
        .map(|addition| format!("+ {addition}"))
        .collect();
    let text = lines.join("\n");
    let fence = "`".repeat(longest_run(&text) + 1).max("```".to_owned());
    format!(
        "\n**{}**\n\n{fence}diff\n{text}\n{fence}\n",
        heading(plan, part.additions.len())
    )
}

fn longest_run(text: &str) -> usize {
    text.split(|c| c != '`').map(str::len).max().unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plan::{PlanOptions, PlanSchema};
    use crate::record::{Database, Target};
    use crate::schema::Addition;

    fn plan(environment: Environment, schema: Option<PlanSchema>) -> Plan {
        let target = Target {
            container: "iCloud.x".into(),
            environment,
            database: Database::Public,
            zone: "_defaultZone".into(),
        };
        let created = "2025-01-02T03:04:05Z".parse().unwrap();
        let mut plan = Plan::build(
            target,
            PlanOptions::default(),
            vec![],
            vec![],
            vec![],
            created,
        );
        plan.schema = schema;
        plan
    }

    fn part() -> PlanSchema {
        PlanSchema {
            digest: "blake3:00".into(),
            additions: vec![Addition::RecordType {
                record_type: "Ga\u{202e}me".into(),
            }],
        }
    }

    #[test]
    fn issue_20_the_schema_part_is_shown_escaped_per_environment() {
        let skipped = plan(Environment::Development, None);
        assert!(plan_note(&skipped)[0].contains("not checked"));
        assert_eq!(review(&skipped), "");
        let development = plan(Environment::Development, Some(part()));
        assert_eq!(
            review(&development),
            "\nSchema: 1 addition(s), imported before the records:\n  + record type `Ga\\u{202e}me`\n"
        );
        let production = plan(Environment::Production, Some(part()));
        assert!(review(&production).contains("CloudKit Console"));
        assert!(plan_note(&production)[0].contains("production lacks 1 item(s)"));
        assert!(markdown(&production).contains("```diff\n+ record type `Ga\u{202e}me`\n```"));
        let nothing = PlanSchema {
            additions: vec![],
            ..part()
        };
        assert!(plan_note(&plan(Environment::Development, Some(nothing))).is_empty());
    }
}
