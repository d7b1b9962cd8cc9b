use super::*;
use crate::record::ChangeTag;

fn plan_with(changes: Vec<Change>, delete_orphans: bool, orphans: usize) -> Plan {
    Plan {
        format_version: crate::plan::FORMAT_VERSION,
        tool_version: "0.1.0".into(),
        created_at: "2025-01-01T00:00:00Z".parse().unwrap(),
        target: crate::record::Target {
            container: "iCloud.x".into(),
            environment: crate::record::Environment::Production,
            database: crate::record::Database::Public,
            zone: "_defaultZone".into(),
        },
        endpoint: None,
        options: crate::plan::PlanOptions {
            delete_orphans,
            delete_referenced: false,
            types: None,
        },
        referenced_orphans: Vec::new(),
        schema: None,
        inputs: Vec::new(),
        summary: vec![crate::plan::TypeSummary {
            record_type: "Game".into(),
            create: 0,
            update: 0,
            delete: changes.len(),
            unchanged: 4,
            orphans,
        }],
        type_order: Vec::new(),
        rules: Default::default(),
        changes,
    }
}

fn delete(name: &str) -> Change {
    Change {
        action: Action::Delete,
        record_type: "Game".into(),
        record_name: name.into(),
        change_tag: Some(ChangeTag::new("k9")),
        before: Default::default(),
        after: None,
        removed: Vec::new(),
    }
}

#[test]
fn values_render_compactly() {
    let colors = FieldValue::List(
        crate::record::ScalarType::String,
        vec![Value::String("red".into()), Value::String("navy".into())],
    );
    assert_eq!(value_text(&colors), r#"["red", "navy"]"#);
    assert_eq!(
        value_text(&FieldValue::timestamp(1_712_344_200_123)),
        "2024-04-05T19:10:00.123Z"
    );
    assert_eq!(
        value_text(&FieldValue::location(42.3467, -71.0972)),
        "(42.3467, -71.0972)"
    );
    assert_eq!(
        value_text(&FieldValue::reference("stadium-fenway")),
        "→ stadium-fenway"
    );
    assert_eq!(value_text(&FieldValue::double(3.0)), "3.0");
    assert_eq!(value_text(&FieldValue::string("a\"b")), r#""a\"b""#);
}

#[test]
fn values_are_escaped_beyond_json_quoting() {
    assert_eq!(
        value_text(&FieldValue::string("x\u{202e}y\u{9b}")),
        r#""x\u{202e}y\u{9b}""#
    );
    assert_eq!(
        value_text(&FieldValue::reference("a\u{1b}[2J")),
        "→ a\\u{1b}[2J"
    );
}

#[test]
fn colour_only_when_asked() {
    let plan = plan_with(vec![delete("game-9")], true, 1);
    let coloured = review(&plan, false, true);
    assert!(coloured.contains("\u{1b}[31m"), "{coloured:?}");
    let plain = review(&plan, false, false);
    assert!(!plain.contains('\u{1b}'));
    assert!(plain.contains("- delete Game game-9 (planned against change tag k9)\n"));
    assert!(plain.ends_with("Plan: 0 to create, 0 to update, 1 to delete.\n"));
}

#[test]
fn issue_12_untrusted_names_cannot_rewrite_the_review() {
    let plan = plan_with(vec![delete("x\u{1b}[2J\u{1b}[1A\u{202e}")], true, 1);
    let coloured = review(&plan, false, true);
    assert!(
        coloured.contains("- delete Game x\\u{1b}[2J\\u{1b}[1A\\u{202e}"),
        "{coloured:?}"
    );
    assert!(!coloured.contains("\u{1b}[2J") && !coloured.contains('\u{202e}'));
}

#[test]
fn issue_12_kept_orphans_are_not_called_no_difference() {
    let plan = plan_with(Vec::new(), false, 1);
    let text = review(&plan, false, false);
    assert!(!text.contains("already matches"), "{text}");
    assert!(
        text.contains("Would delete 1 orphan records (use --delete-orphans to confirm)"),
        "{text}"
    );
    assert!(
        text.ends_with("it has 1 orphan record that this plan does not delete.\n"),
        "{text}"
    );
    let none = review(&plan_with(Vec::new(), false, 0), false, false);
    assert!(none.ends_with("No changes: CloudKit already matches the local data.\n"));
}

#[test]
fn long_strings_are_line_diffs() {
    assert!(long_text(&FieldValue::string("short")).is_none());
    assert!(long_text(&FieldValue::string("two\nlines")).is_some());
    assert!(long_text(&FieldValue::string("x".repeat(61))).is_some());
}

#[test]
fn issue_17_line_diffs_are_bounded_by_size() {
    assert!(line_diff_is_bounded(2_000, 2_000));
    assert!(!line_diff_is_bounded(20_000, 20_000));
    assert!(!line_diff_is_bounded(usize::MAX, 2));
}

#[test]
fn dry_run_counts_agree_with_their_nouns() {
    let plan = plan_with(vec![delete("game-9")], true, 1);
    assert_eq!(
        dry_run(&plan),
        "would delete Game game-9\nwould skip 4 unchanged records\n"
    );
}

#[test]
fn one_format_choice_picks_the_review_the_counts_or_the_document() {
    let plan = plan_with(vec![delete("game-1")], true, 0);
    let options = crate::render::ReviewOptions {
        summary_only: false,
        types: Vec::new(),
        unchanged_fields: false,
        full_plan_command: "ckplan show out.plan".into(),
        budget: crate::render::markdown::COMMENT_BUDGET,
    };
    let review = |format, options: &crate::render::ReviewOptions| {
        crate::render::plan_review(&plan, format, options, false)
    };
    use crate::render::Format;
    assert_eq!(
        review(Format::Text, &options),
        super::review(&plan, false, false)
    );
    assert!(review(Format::Json, &options).starts_with('{'));
    assert!(review(Format::Markdown, &options).contains("<details>"));
    let counts = crate::render::ReviewOptions {
        summary_only: true,
        ..options.clone()
    };
    assert_eq!(review(Format::Text, &counts), summary::plan_counts(&plan));
    let other = crate::render::ReviewOptions {
        types: vec!["Team".into()],
        ..options.clone()
    };
    let filtered = review(Format::Text, &other);
    assert!(review(Format::Text, &options).contains("game-1"));
    assert!(!filtered.contains("game-1"), "{filtered}");
}
