//! What `ckplan doctor` shows: its checks as aligned lines with a `fix:` under each
//! problem and a verdict, or as JSON. Text that came from CloudKit (user names, error
//! reasons) is escaped.

use super::{escape, Format, Output};
use crate::sync::doctor::{Report, Status};
use console::Style;

/// The report as aligned lines, a `fix:` under each problem, and a verdict.
pub fn text(report: &Report, colour: bool) -> String {
    let mut out = format!(
        "ckplan doctor: {} at {}\n",
        escape(&report.target.to_string()),
        escape(&report.endpoint)
    );
    let width = report
        .checks
        .iter()
        .map(|c| c.name.len())
        .max()
        .unwrap_or(0);
    for check in &report.checks {
        let (label, style) = match check.status {
            Status::Pass => ("ok  ", Style::new().green()),
            Status::Warn => ("warn", Style::new().yellow()),
            Status::Fail => ("FAIL", Style::new().red().bold()),
            Status::Skipped => ("skip", Style::new().dim()),
        };
        let status = style.force_styling(colour).apply_to(label);
        out.push_str(&format!(
            "  {status}  {:width$}  {}\n",
            escape(&check.name),
            escape(&check.detail)
        ));
        if let Some(fix) = &check.fix {
            out.push_str(&format!("        {:width$}  fix: {}\n", "", escape(fix)));
        }
    }
    let failed = report
        .checks
        .iter()
        .filter(|c| c.status == Status::Fail)
        .count();
    let warned = report
        .checks
        .iter()
        .filter(|c| c.status == Status::Warn)
        .count();
    out.push_str(&match (failed, warned) {
        (0, 0) => "All checks passed.\n".to_owned(),
        (0, 1) => "No check failed, 1 warning.\n".to_owned(),
        (0, n) => format!("No check failed, {n} warnings.\n"),
        (1, _) => "1 check failed.\n".to_owned(),
        (n, _) => format!("{n} checks failed.\n"),
    });
    out
}

/// The report in `format`: JSON or text (colour on request), on stdout.
pub fn view(report: &Report, format: Format, colour: bool) -> serde_json::Result<Output> {
    Ok(Output::data(match format {
        Format::Json => json(report)?,
        Format::Text | Format::Markdown => text(report, colour),
    }))
}

/// The report as a JSON document (invisible characters in strings escaped), ending in a
/// line end.
pub fn json(report: &Report) -> serde_json::Result<String> {
    let mut json = super::json::to_string_pretty(report)?;
    json.push('\n');
    Ok(json)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record::{Database, Environment, Target};
    use crate::sync::doctor::Check;

    fn report(checks: Vec<Check>) -> Report {
        Report {
            target: Target {
                container: "iCloud.x".into(),
                environment: Environment::Development,
                database: Database::Public,
                zone: "_defaultZone".into(),
            },
            endpoint: "http://127.0.0.1:1".into(),
            checks,
        }
    }

    fn check(name: &str, status: Status, detail: &str, fix: Option<&str>) -> Check {
        Check {
            name: name.into(),
            status,
            detail: detail.into(),
            fix: fix.map(Into::into),
        }
    }

    #[test]
    fn checks_align_with_a_fix_under_each_problem_and_a_verdict() {
        let shown = text(
            &report(vec![
                check("key", Status::Pass, "authenticates", None),
                check(
                    "type Team",
                    Status::Fail,
                    "not\u{1b}[31m found",
                    Some("deploy it"),
                ),
                check("clock", Status::Warn, "3 s off", None),
            ]),
            false,
        );
        let lines: Vec<&str> = shown.lines().collect();
        assert_eq!(lines[1], "  ok    key        authenticates");
        assert_eq!(lines[2], "  FAIL  type Team  not\\u{1b}[31m found");
        assert_eq!(lines[3], "                   fix: deploy it");
        assert_eq!(lines[4], "  warn  clock      3 s off");
        assert_eq!(lines[5], "1 check failed.");
        let passed = text(&report(vec![check("key", Status::Warn, "x", None)]), false);
        assert!(
            passed.ends_with("No check failed, 1 warning.\n"),
            "{passed}"
        );
    }
}
