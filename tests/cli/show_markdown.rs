//! Issue 19, review in pull requests: `ckplan show PLAN --format markdown`. Snapshot of
//! the sample plan; structural validity (one table, balanced `<details>` and fences);
//! inert for hostile names and values from a public database; cut to a comment's size.

use super::show::{record, sample_plan, show, write_plan};
use ckplan::diff::{Category, TypeDiff};
use ckplan::plan::{file, Plan, PlanOptions};
use ckplan::record::{Database, Environment, FieldValue, Target};

/// The markdown outside fenced code blocks, after checking that every fence closes with
/// the fence that opened it and that `<details>` and `</details>` pair up.
fn outside_fences(markdown: &str) -> String {
    let mut outside = String::new();
    let mut open: Option<String> = None;
    let mut depth = 0i32;
    for line in markdown.lines() {
        match &open {
            Some(fence) => {
                if line.trim_end() == fence {
                    open = None;
                }
            }
            None => {
                let ticks: String = line.chars().take_while(|c| *c == '`').collect();
                if ticks.len() >= 3 {
                    open = Some(ticks);
                    continue;
                }
                depth += line.matches("<details>").count() as i32;
                depth -= line.matches("</details>").count() as i32;
                assert!(depth >= 0, "</details> before <details>:\n{markdown}");
                outside.push_str(line);
                outside.push('\n');
            }
        }
    }
    assert!(open.is_none(), "a fence never closes:\n{markdown}");
    assert_eq!(depth, 0, "unbalanced <details>:\n{markdown}");
    // Every table row has the header's five cells.
    for row in outside.lines().filter(|l| l.starts_with('|')) {
        assert_eq!(row.matches('|').count(), 6, "broken table row `{row}`");
    }
    outside
}

#[test]
fn issue_19_markdown_review_of_the_sample_plan() {
    let dir = tempfile::tempdir().unwrap();
    let path = write_plan(dir.path(), &file::to_text(&sample_plan(false)));
    let (code, stdout, stderr) = show(
        dir.path(),
        &[path.to_str().unwrap(), "--format", "markdown"],
    );
    assert_eq!((code, stderr.as_str()), (0, ""));
    outside_fences(&stdout);
    insta::assert_snapshot!(stdout);
    let (code, summary, _) = show(
        dir.path(),
        &[path.to_str().unwrap(), "--format", "markdown", "--summary"],
    );
    assert_eq!(code, 0);
    assert!(
        summary.contains("| `Team` |") && !summary.contains("<details>"),
        "{summary}"
    );
    let (code, team, _) = show(
        dir.path(),
        &[
            path.to_str().unwrap(),
            "--format",
            "markdown",
            "--type",
            "Team",
        ],
    );
    assert_eq!(code, 0);
    assert!(
        team.contains("team-7") && !team.contains("stadium-harbor"),
        "{team}"
    );
    let (code, _, stderr) = show(
        dir.path(),
        &[path.to_str().unwrap(), "--format", "json", "--summary"],
    );
    assert_eq!(code, 1, "{stderr}");
}

fn hostile_plan(count: usize, value: &str) -> Plan {
    let records = (0..count)
        .map(|n| {
            record(
                "Team",
                &format!("team-{n:05}"),
                Category::New,
                &[("name", FieldValue::string(value))],
            )
        })
        .collect();
    Plan::build(
        Target {
            container: "iCloud.com.example.SportsTime".into(),
            environment: Environment::Development,
            database: Database::Public,
            zone: "_defaultZone".into(),
        },
        PlanOptions::default(),
        Vec::new(),
        vec!["Team".into()],
        vec![TypeDiff {
            record_type: "Team".into(),
            records,
        }],
        "2025-03-01T12:00:00Z".parse().unwrap(),
    )
}

#[test]
fn issue_19_hostile_values_stay_inside_their_code_block() {
    let hostile = "@octocat <script>alert(1)</script> [x](https://evil.example) | ```` \n</details>\n````\n# heading";
    let dir = tempfile::tempdir().unwrap();
    let path = write_plan(dir.path(), &file::to_text(&hostile_plan(3, hostile)));
    let (code, stdout, stderr) = show(
        dir.path(),
        &[path.to_str().unwrap(), "--format", "markdown"],
    );
    assert_eq!((code, stderr.as_str()), (0, ""));
    let outside = outside_fences(&stdout);
    for bad in ["@", "<script", "](", "https:", "\n# "] {
        assert!(
            !outside.contains(bad),
            "`{bad}` outside a code block:\n{outside}"
        );
    }
    assert_eq!(
        stdout.matches("alert(1)").count(),
        3,
        "each value shown once:\n{stdout}"
    );
}

/// Issue 19: the names written outside code blocks (the zone in the title, the record type
/// in the table and its section's title) come from a plan file anyone may have written;
/// none of them becomes a mention, a link, HTML or a table cell of its own.
#[test]
fn issue_19_names_outside_code_blocks_are_inert() {
    let hostile_type = "T|<b>x</b>|@octocat";
    let mut plan = hostile_plan(0, "");
    plan = Plan::build(
        Target {
            zone: "<img src=x onerror=alert(1)> [x](https://evil.example) @octocat".into(),
            ..plan.target.clone()
        },
        PlanOptions::default(),
        Vec::new(),
        vec![hostile_type.into()],
        vec![TypeDiff {
            record_type: hostile_type.into(),
            records: vec![record(
                hostile_type,
                "team-1",
                Category::New,
                &[("name", FieldValue::string("Harbor"))],
            )],
        }],
        plan.created_at,
    );
    let dir = tempfile::tempdir().unwrap();
    let path = write_plan(dir.path(), &file::to_text(&plan));
    let (code, stdout, stderr) = show(
        dir.path(),
        &[path.to_str().unwrap(), "--format", "markdown"],
    );
    assert_eq!((code, stderr.as_str()), (0, ""));
    let outside = outside_fences(&stdout);
    for bad in ["@", "<img", "<b>", "](", "https:"] {
        assert!(
            !outside.contains(bad),
            "`{bad}` outside a code block:\n{outside}"
        );
    }
    // Each name is still there, coded.
    assert!(outside.contains("onerror\\u{3d}alert"), "{outside}");
    assert!(outside.contains("T\\u{7c}\\u{3c}b\\u{3e}x"), "{outside}");
}

#[test]
fn issue_19_a_long_plan_is_cut_to_a_comment_with_a_count_and_a_pointer() {
    let dir = tempfile::tempdir().unwrap();
    let long = "x".repeat(200);
    let path = write_plan(dir.path(), &file::to_text(&hostile_plan(2_000, &long)));
    let (code, stdout, _) = show(
        dir.path(),
        &[path.to_str().unwrap(), "--format", "markdown"],
    );
    assert_eq!(code, 0);
    assert!(stdout.len() <= 65_536, "{} characters", stdout.len());
    outside_fences(&stdout);
    let shown = stdout.matches("+ create Team").count();
    assert!(shown > 0 && shown < 2_000, "{shown} shown");
    let pointer = format!("{} more changes not shown", 2_000 - shown);
    assert!(
        stdout.contains(&pointer),
        "{}",
        &stdout[stdout.len() - 300..]
    );
    assert!(
        stdout.contains("/out.plan`."),
        "{}",
        &stdout[stdout.len() - 300..]
    );
}

/// Issue 17, class 7 across fields: many fields each just under the per-field cut would add
/// up (40 fields of 2,000 changed lines took 20 s); the view's line-diff budget is shared,
/// so the later ones are shown whole, and markdown renders only what it shows.
#[test]
fn issue_17_line_diffs_share_one_budget_per_view() {
    use ckplan::diff::FieldChange;
    let text = |upper: bool| {
        (0..2_000)
            .map(|n| {
                if upper {
                    format!("P{n}")
                } else {
                    format!("p{n}")
                }
            })
            .collect::<Vec<_>>()
            .join("\n")
    };
    let records = (0..40)
        .map(|n| {
            let mut diff = record(
                "Team",
                &format!("team-{n:02}"),
                Category::Updated,
                &[("notes", FieldValue::string(text(true)))],
            );
            diff.changes = vec![FieldChange {
                field: "notes".into(),
                before: Some(FieldValue::string(text(false))),
                after: Some(FieldValue::string(text(true))),
            }];
            diff
        })
        .collect();
    let mut plan = hostile_plan(0, "");
    plan = Plan::build(
        plan.target.clone(),
        PlanOptions::default(),
        Vec::new(),
        vec!["Team".into()],
        vec![TypeDiff {
            record_type: "Team".into(),
            records,
        }],
        plan.created_at,
    );
    let dir = tempfile::tempdir().unwrap();
    let path = write_plan(dir.path(), &file::to_text(&plan));
    let (code, stdout, _) = show(dir.path(), &[path.to_str().unwrap()]);
    assert_eq!(code, 0);
    let whole = stdout
        .matches("too long to compare line by line, shown whole")
        .count();
    let diffed = stdout.matches("    ~ notes:\n").count();
    assert_eq!(diffed + whole, 40, "{diffed} diffed, {whole} whole");
    assert!(diffed >= 1 && whole >= 30, "{diffed} diffed, {whole} whole");
    let (code, markdown, _) = show(
        dir.path(),
        &[path.to_str().unwrap(), "--format", "markdown"],
    );
    assert_eq!(code, 0);
    assert!(
        markdown.contains("cut to fit a comment"),
        "{}",
        &markdown[..500]
    );
}
