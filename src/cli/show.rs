//! `ckplan show PLAN [--json]`: verifies a saved plan (format version, checksum) and renders
//! it for review, Terraform-style. Works offline: no configuration, no credentials.
//! [`render_plan`] is shared with `ckplan plan`, which shows the same text on terminals.

use super::{ExitStatus, Globals};
use crate::plan::{file, Action, Change, Plan};
use crate::record::{FieldValue, Value};
use anyhow::Context;
use console::Style;
use similar::{ChangeTag as LineTag, TextDiff};
use std::fmt::Write as _;
use std::io::Write as _;
use std::path::PathBuf;

/// Render a saved plan for review, after checking that it is intact.
#[derive(Debug, clap::Args)]
#[command(after_help = "\
Examples:
  ckplan plan > out.plan
  ckplan show out.plan          # review it: colours on a terminal, plain text when piped
  ckplan show -v out.plan       # also list the fields each update leaves as they are
  ckplan show out.plan --json | jq -r '.changes[] | select(.action == \"delete\") | .record_name'

A plan that was edited, truncated, or written by an unknown format version is refused
with exit status 1. No configuration or credentials are needed.")]
pub struct Args {
    /// The plan file written by `ckplan plan`
    #[arg(value_name = "PLAN")]
    pub plan: PathBuf,
    /// Print the verified plan as JSON (the plan file's document) instead of text
    #[arg(long)]
    pub json: bool,
}

pub fn run(args: Args, globals: &Globals) -> anyhow::Result<ExitStatus> {
    let path = args.plan.display();
    let bytes =
        std::fs::read(&args.plan).with_context(|| format!("failed to read plan `{path}`"))?;
    let plan = file::from_bytes(&bytes).map_err(|error| {
        anyhow::anyhow!("refusing plan `{path}`: {error}\nhint: make a new plan with `ckplan plan`")
    })?;
    check_target(&plan, globals, &path.to_string())?;
    let output = if args.json {
        file::to_text(&plan)
    } else {
        render_plan(&plan, globals.verbose > 0)
    };
    let mut stdout = std::io::stdout().lock();
    match stdout
        .write_all(output.as_bytes())
        .and_then(|()| stdout.flush())
    {
        // A reader that stops early (`| head`) is not an error.
        Err(error) if error.kind() != std::io::ErrorKind::BrokenPipe => {
            Err(error).context("failed to write to stdout")
        }
        _ => Ok(ExitStatus::Success),
    }
}

/// Refuses a plan made for another target than the configuration in use, when there is one
/// (`--config`, `CKPLAN_CONFIG` or `./ckplan.yaml`): a plan reviewed against the wrong
/// container or environment is the mistake the target check exists for. Without a
/// configuration, `show` works offline on the plan alone.
fn check_target(plan: &Plan, globals: &Globals, path: &str) -> anyhow::Result<()> {
    let config_path = globals.config_path();
    if globals.config.is_none() && !config_path.exists() {
        return Ok(());
    }
    let config = crate::config::Config::load(&config_path)
        .with_context(|| format!("failed to check plan `{path}` against its configuration"))?;
    let configured = config.target();
    if plan.target != configured {
        anyhow::bail!(
            "refusing plan `{path}`: it was made for `{}` but `{}` targets `{}`\n\
             hint: pass the matching --config, or review it where no ckplan.yaml is in use",
            plan.target,
            config_path.display(),
            configured
        );
    }
    Ok(())
}

/// The plan as review text, coloured when stdout takes colour.
pub fn render_plan(plan: &Plan, verbose_unchanged: bool) -> String {
    render_plan_styled(plan, verbose_unchanged, console::colors_enabled())
}

/// The plan as review text; `colour` decides escape codes (pass
/// `console::colors_enabled_stderr()` when writing to stderr). With `verbose_unchanged`,
/// updates also list the fields they leave as they are.
pub fn render_plan_styled(plan: &Plan, verbose_unchanged: bool, colour: bool) -> String {
    let renderer = Renderer {
        colour,
        verbose_unchanged,
    };
    let mut out = String::new();
    renderer.header(plan, &mut out);
    if plan.changes.is_empty() {
        out.push_str("\nNo changes: CloudKit already matches the local data.\n");
        return out;
    }
    for change in &plan.changes {
        out.push('\n');
        renderer.change(change, &mut out);
    }
    let (create, update, delete) = plan.counts();
    let _ = writeln!(
        out,
        "\n{} {create} to create, {update} to update, {delete} to delete.",
        renderer.paint("Plan:", Style::new().bold())
    );
    out
}

struct Renderer {
    colour: bool,
    verbose_unchanged: bool,
}

impl Renderer {
    fn paint(&self, text: &str, style: Style) -> String {
        style.force_styling(self.colour).apply_to(text).to_string()
    }

    fn header(&self, plan: &Plan, out: &mut String) {
        let target = &plan.target;
        let options = &plan.options;
        let types = match &options.types {
            None => "all".to_owned(),
            Some(types) => join(types.iter().map(|t| t.to_string())),
        };
        let inputs = join(plan.inputs.iter().map(|input| input.path.clone()));
        let title = format!(
            "Plan for {} ({}, {} database, zone {})",
            target.container,
            target.environment.as_str(),
            target.database.as_str(),
            target.zone
        );
        let _ = writeln!(out, "{}", self.paint(&title, Style::new().bold()));
        let _ = writeln!(
            out,
            "  made {} by ckplan {}",
            plan.created_at, plan.tool_version
        );
        let yes_no = if options.delete_orphans { "yes" } else { "no" };
        let _ = writeln!(out, "  delete orphans: {yes_no}");
        let _ = writeln!(out, "  types: {types}");
        let _ = writeln!(out, "  inputs: {inputs}");
        out.push('\n');
        for summary in &plan.summary {
            let _ = write!(
                out,
                "{}: {} to create, {} to update, {} to delete, {} unchanged",
                summary.record_type,
                summary.create,
                summary.update,
                summary.delete,
                summary.unchanged
            );
            let kept = summary.orphans - summary.orphans.min(summary.delete);
            if kept > 0 {
                let _ = write!(out, " ({kept} {} kept)", plural(kept, "orphan"));
            }
            out.push('\n');
        }
        let kept = plan.orphans_kept();
        if kept > 0 {
            let line = format!(
                "Would delete {kept} orphan {} (use --delete-orphans to confirm)",
                plural(kept, "record")
            );
            let _ = writeln!(out, "{}", self.paint(&line, Style::new().yellow()));
        }
    }

    fn change(&self, change: &Change, out: &mut String) {
        let (sign, style) = match change.action {
            Action::Create => ("+", Style::new().green()),
            Action::Update => ("~", Style::new().yellow()),
            Action::Delete => ("-", Style::new().red()),
        };
        let heading = format!(
            "{sign} {} {} {}",
            change.action, change.record_type, change.record_name
        );
        let _ = write!(out, "{}", self.paint(&heading, style.bold()));
        if let Some(tag) = &change.change_tag {
            let _ = write!(out, " (planned against change tag {tag})");
        }
        out.push('\n');
        match change.action {
            Action::Create => {
                for (field, value) in change.after.iter().flatten() {
                    let line = format!("    {field}: {}", render_value(value));
                    let _ = writeln!(out, "{}", self.paint(&line, Style::new().green()));
                }
            }
            Action::Update => self.update_fields(change, out),
            Action::Delete => {
                for (field, value) in &change.before {
                    let shown = value
                        .as_ref()
                        .map_or_else(|| "(absent)".into(), render_value);
                    let line = format!("    - {field}: {shown}");
                    let _ = writeln!(out, "{}", self.paint(&line, Style::new().red()));
                }
            }
        }
    }

    fn update_fields(&self, change: &Change, out: &mut String) {
        let (red, green) = (Style::new().red(), Style::new().green());
        let empty = Default::default();
        let after = change.after.as_ref().unwrap_or(&empty);
        for (field, before) in &change.before {
            let wanted = after.get(field);
            match (before, wanted) {
                (before, None) => {
                    let was = before.as_ref().map_or_else(String::new, |value| {
                        format!(" (was {})", render_value(value))
                    });
                    let line = format!("    - {field}{was}");
                    let _ = writeln!(out, "{}", self.paint(&line, red.clone()));
                }
                (None, Some(value)) => {
                    let line = format!("    + {field}: {}", render_value(value));
                    let _ = writeln!(out, "{}", self.paint(&line, green.clone()));
                }
                (Some(old), Some(new)) => self.changed_field(field, old, new, out),
            }
        }
        // Removals the diff reported without a before value.
        for field in change
            .removed
            .iter()
            .filter(|f| !change.before.contains_key(*f))
        {
            let _ = writeln!(
                out,
                "{}",
                self.paint(&format!("    - {field}"), red.clone())
            );
        }
        let unchanged: Vec<_> = after
            .iter()
            .filter(|(field, _)| !change.before.contains_key(*field))
            .collect();
        if unchanged.is_empty() {
            return;
        }
        if self.verbose_unchanged {
            for (field, value) in unchanged {
                let line = format!("      {field}: {}", render_value(value));
                let _ = writeln!(out, "{}", self.paint(&line, Style::new().dim()));
            }
        } else {
            let count = unchanged.len();
            let line = format!(
                "      ({count} unchanged {} hidden)",
                plural(count, "field")
            );
            let _ = writeln!(out, "{}", self.paint(&line, Style::new().dim()));
        }
    }

    fn changed_field(&self, field: &str, old: &FieldValue, new: &FieldValue, out: &mut String) {
        let (red, green) = (Style::new().red(), Style::new().green());
        if let (Some(old_text), Some(new_text)) = (long_text(old), long_text(new)) {
            let _ = writeln!(out, "    ~ {field}:");
            for line in TextDiff::from_lines(old_text, new_text).iter_all_changes() {
                let text = line.value().trim_end_matches(['\n', '\r']);
                let (sign, style) = match line.tag() {
                    LineTag::Delete => ("-", red.clone()),
                    LineTag::Insert => ("+", green.clone()),
                    LineTag::Equal => (" ", Style::new()),
                };
                let _ = writeln!(
                    out,
                    "{}",
                    self.paint(&format!("        {sign} {text}"), style)
                );
            }
            return;
        }
        let _ = writeln!(
            out,
            "    ~ {field}: {} → {}",
            self.paint(&render_value(old), red),
            self.paint(&render_value(new), green)
        );
    }
}

/// A string value long enough, or with enough lines, to be shown as a line diff.
fn long_text(value: &FieldValue) -> Option<&str> {
    match value {
        FieldValue::Scalar(Value::String(text))
            if text.chars().count() > 60 || text.contains('\n') =>
        {
            Some(text)
        }
        _ => None,
    }
}

/// A field value in one compact line: strings quoted, timestamps in RFC 3339 with
/// milliseconds, locations as `(lat, long)`, references as `→ name`, lists in brackets.
pub fn render_value(value: &FieldValue) -> String {
    match value {
        FieldValue::Scalar(element) => render_element(element),
        FieldValue::List(_, items) => format!("[{}]", join(items.iter().map(render_element))),
        FieldValue::Unknown { type_name, value } => format!("{type_name} {value}"),
    }
}

fn render_element(value: &Value) -> String {
    match value {
        Value::String(text) => quoted(text),
        Value::Int64(number) => number.to_string(),
        Value::Double(number) => format!("{number:?}"),
        Value::Timestamp(millis) => chrono::DateTime::from_timestamp_millis(*millis).map_or_else(
            || format!("{millis} ms"),
            |time| time.to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
        ),
        Value::Bytes(base64) if base64.chars().count() <= 24 => format!("bytes {base64}"),
        Value::Bytes(base64) => {
            let start: String = base64.chars().take(24).collect();
            format!("bytes {start}… ({} base64 characters)", base64.len())
        }
        Value::Reference(reference) => format!("→ {}", reference.record_name),
        Value::Location(location) => format!("({}, {})", location.latitude, location.longitude),
        Value::Asset(asset) => match asset.get("fileChecksum").and_then(|c| c.as_str()) {
            Some(checksum) => format!("asset {checksum}"),
            None => "asset".to_owned(),
        },
    }
}

fn quoted(text: &str) -> String {
    serde_json::to_string(text).unwrap_or_else(|_| format!("{text:?}"))
}

fn join(items: impl Iterator<Item = String>) -> String {
    items.collect::<Vec<_>>().join(", ")
}

fn plural(count: usize, noun: &str) -> String {
    if count == 1 {
        noun.to_owned()
    } else {
        format!("{noun}s")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_render_compactly() {
        let colors = FieldValue::List(
            crate::record::ScalarType::String,
            vec![Value::String("red".into()), Value::String("navy".into())],
        );
        assert_eq!(render_value(&colors), r#"["red", "navy"]"#);
        assert_eq!(
            render_value(&FieldValue::timestamp(1_712_344_200_123)),
            "2024-04-05T19:10:00.123Z"
        );
        assert_eq!(
            render_value(&FieldValue::location(42.3467, -71.0972)),
            "(42.3467, -71.0972)"
        );
        assert_eq!(
            render_value(&FieldValue::reference("stadium-fenway")),
            "→ stadium-fenway"
        );
        assert_eq!(render_value(&FieldValue::double(3.0)), "3.0");
        assert_eq!(render_value(&FieldValue::string("a\"b")), r#""a\"b""#);
    }

    #[test]
    fn colour_only_when_asked() {
        let plan = Plan {
            format_version: crate::plan::FORMAT_VERSION,
            tool_version: "0.1.0".into(),
            created_at: "2025-01-01T00:00:00Z".into(),
            target: crate::record::Target {
                container: "iCloud.x".into(),
                environment: crate::record::Environment::Production,
                database: crate::record::Database::Public,
                zone: "_defaultZone".into(),
            },
            options: Default::default(),
            inputs: Vec::new(),
            summary: Vec::new(),
            type_order: Vec::new(),
            rules: Default::default(),
            changes: vec![Change {
                action: Action::Delete,
                record_type: "Game".into(),
                record_name: "game-9".into(),
                change_tag: Some(crate::record::ChangeTag::new("k9")),
                before: Default::default(),
                after: None,
                removed: Vec::new(),
            }],
        };
        let coloured = render_plan_styled(&plan, false, true);
        assert!(coloured.contains("\u{1b}[31m"), "{coloured:?}");
        let plain = render_plan_styled(&plan, false, false);
        assert!(!plain.contains('\u{1b}'));
        assert!(plain.contains("- delete Game game-9 (planned against change tag k9)\n"));
        assert!(plain.ends_with("Plan: 0 to create, 0 to update, 1 to delete.\n"));
    }

    #[test]
    fn long_strings_are_line_diffs() {
        assert!(long_text(&FieldValue::string("short")).is_none());
        assert!(long_text(&FieldValue::string("two\nlines")).is_some());
        assert!(long_text(&FieldValue::string("x".repeat(61))).is_some());
    }
}
