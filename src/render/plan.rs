//! The plan review, Terraform-style: a header (target, options, inputs, per-type counts,
//! orphans), one block per change with its fields, and the totals or the no-changes
//! verdict. Also the compact field-value form every view uses, and smart sync's dry-run
//! listing. Every name and value is escaped ([`super::escape`]) before it is styled.

use super::summary::{self, OrphanFate};
use super::{escape, plural};
use crate::plan::{Action, Change, Plan};
use crate::record::{FieldValue, Reference, ScalarType, Value};
use console::Style;
use similar::{ChangeTag as LineTag, TextDiff};
use std::fmt::Write as _;

/// The plan as review text; `colour` decides escape codes. With `verbose_unchanged`,
/// updates also list the fields they leave as they are.
pub fn review(plan: &Plan, verbose_unchanged: bool, colour: bool) -> String {
    let renderer = Renderer {
        colour,
        verbose_unchanged,
        line_budget: std::cell::Cell::new(LINE_DIFF_PLAN_BUDGET),
    };
    let mut out = String::new();
    renderer.header(plan, &mut out);
    out.push_str(&super::schema_part::review(plan));
    if plan.changes.is_empty() && plan.schema_additions() > 0 {
        let _ = writeln!(out, "\nNo record changes.");
        return out;
    }
    if plan.changes.is_empty() {
        let _ = writeln!(out, "\n{}", summary::no_changes_line(plan));
        return out;
    }
    for change in &plan.changes {
        out.push('\n');
        renderer.change(change, &mut out);
    }
    let totals = summary::plan_totals(plan);
    let (label, rest) = totals.split_at("Plan:".len());
    let _ = writeln!(
        out,
        "\n{}{rest}",
        renderer.paint(label, Style::new().bold())
    );
    out
}

/// Changes as the review shows them, without colour, one block at a time (the heading line
/// and its fields, every name and value escaped), sharing one line-diff budget: the
/// markdown view's source.
pub struct ChangeBlocks(Renderer);

impl ChangeBlocks {
    pub fn new(verbose_unchanged: bool) -> Self {
        Self(Renderer {
            colour: false,
            verbose_unchanged,
            line_budget: std::cell::Cell::new(LINE_DIFF_PLAN_BUDGET),
        })
    }

    pub fn block(&self, change: &Change) -> String {
        let mut out = String::new();
        self.0.change(change, &mut out);
        out
    }
}

/// `would add to the schema …` per schema addition, `would create Team team-1` per change,
/// then the unchanged count: what smart sync would do, without the fields.
pub fn dry_run(plan: &Plan) -> String {
    let mut out = String::new();
    // The schema part goes first, as apply takes it first.
    let verb = match plan.target.environment {
        crate::record::Environment::Development => "would add to the schema",
        crate::record::Environment::Production => "would need deployed first",
    };
    for addition in plan.schema.iter().flat_map(|part| &part.additions) {
        let _ = writeln!(out, "{verb}: {}", escape(&addition.to_string()));
    }
    for action in [Action::Create, Action::Update, Action::Delete] {
        for change in plan.changes.iter().filter(|c| c.action == action) {
            let _ = writeln!(
                out,
                "would {action} {} {}",
                escape(change.record_type.as_str()),
                escape(change.record_name.as_str())
            );
        }
    }
    let unchanged: usize = plan.summary.iter().map(|s| s.unchanged).sum();
    let _ = writeln!(out, "would skip {}", plural(unchanged, "unchanged record"));
    out
}

struct Renderer {
    colour: bool,
    verbose_unchanged: bool,
    /// What is left of [`LINE_DIFF_PLAN_BUDGET`] for this view.
    line_budget: std::cell::Cell<usize>,
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
            Some(types) => join(types.iter().map(|t| escape(t.as_str()).into_owned())),
        };
        let inputs = join(
            plan.inputs
                .iter()
                .map(|input| escape(&input.path).into_owned()),
        );
        let title = format!(
            "Plan for {} ({}, {} database, zone {})",
            escape(&target.container),
            target.environment.as_str(),
            target.database.as_str(),
            escape(&target.zone)
        );
        let _ = writeln!(out, "{}", self.paint(&title, Style::new().bold()));
        let _ = writeln!(
            out,
            "  made {} by ckplan {}",
            escape(&plan.created_at.to_string()),
            escape(&plan.tool_version)
        );
        if let Some(endpoint) = &plan.endpoint {
            let _ = writeln!(out, "  endpoint: {}", escape(endpoint));
        }
        let yes_no = if options.delete_orphans { "yes" } else { "no" };
        let _ = writeln!(out, "  delete orphans: {yes_no}");
        let _ = writeln!(out, "  types: {types}");
        let _ = writeln!(out, "  inputs: {inputs}");
        out.push('\n');
        for type_summary in &plan.summary {
            let _ = writeln!(out, "{}", summary::type_line(type_summary.into()));
        }
        let (orphans, fate) = summary::plan_orphans(plan);
        for line in summary::referenced_orphan_lines(plan) {
            let _ = writeln!(out, "{}", self.paint(&line, Style::new().yellow()));
        }
        if let Some(line) = summary::orphan_line(orphans, fate) {
            let style = match fate {
                OrphanFate::Kept => Style::new().yellow(),
                OrphanFate::Deleted | OrphanFate::Compared => Style::new(),
            };
            let _ = writeln!(out, "{}", self.paint(&line, style));
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
            change.action,
            escape(change.record_type.as_str()),
            escape(change.record_name.as_str())
        );
        let _ = write!(out, "{}", self.paint(&heading, style.bold()));
        if let Some(tag) = &change.change_tag {
            let _ = write!(
                out,
                " (planned against change tag {})",
                escape(&tag.to_string())
            );
        }
        out.push('\n');
        match change.action {
            Action::Create => {
                for (field, value) in change.after.iter().flatten() {
                    let line = format!("    {}: {}", escape(field), value_text(value));
                    let _ = writeln!(out, "{}", self.paint(&line, Style::new().green()));
                }
            }
            Action::Update => self.update_fields(change, out),
            Action::Delete => {
                for (field, value) in &change.before {
                    let shown = value.as_ref().map_or_else(|| "(absent)".into(), value_text);
                    let line = format!("    - {}: {shown}", escape(field));
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
            let name = escape(field);
            match (before, after.get(field)) {
                (before, None) => {
                    let was = before
                        .as_ref()
                        .map_or_else(String::new, |value| format!(" (was {})", value_text(value)));
                    let line = format!("    - {name}{was}");
                    let _ = writeln!(out, "{}", self.paint(&line, red.clone()));
                }
                (None, Some(value)) => {
                    let line = format!("    + {name}: {}", value_text(value));
                    let _ = writeln!(out, "{}", self.paint(&line, green.clone()));
                }
                (Some(old), Some(new)) => self.changed_field(&name, old, new, out),
            }
        }
        // Removals the diff reported without a before value.
        for field in change
            .removed
            .iter()
            .filter(|f| !change.before.contains_key(*f))
        {
            let line = format!("    - {}", escape(field));
            let _ = writeln!(out, "{}", self.paint(&line, red.clone()));
        }
        let unchanged: Vec<_> = after
            .iter()
            .filter(|(field, _)| !change.before.contains_key(field.as_str()))
            .collect();
        if unchanged.is_empty() {
            return;
        }
        if self.verbose_unchanged {
            for (field, value) in unchanged {
                let line = format!("      {}: {}", escape(field), value_text(value));
                let _ = writeln!(out, "{}", self.paint(&line, Style::new().dim()));
            }
        } else {
            let hidden = plural(unchanged.len(), "unchanged field");
            let line = format!("      ({hidden} hidden)");
            let _ = writeln!(out, "{}", self.paint(&line, Style::new().dim()));
        }
    }

    /// `name` is already escaped.
    fn changed_field(&self, name: &str, old: &FieldValue, new: &FieldValue, out: &mut String) {
        let (red, green) = (Style::new().red(), Style::new().green());
        if let (Some(old_text), Some(new_text)) = (long_text(old), long_text(new)) {
            let (old_lines, new_lines) = (old_text.lines().count(), new_text.lines().count());
            let cost = old_lines.saturating_mul(new_lines);
            let affordable =
                line_diff_is_bounded(old_lines, new_lines) && cost <= self.line_budget.get();
            if affordable {
                self.line_budget.set(self.line_budget.get() - cost);
            } else {
                let _ = writeln!(
                    out,
                    "    ~ {name}: ({} → {}; too long to compare line by line, shown whole)",
                    plural(old_lines, "line"),
                    plural(new_lines, "line")
                );
                for (sign, text, style) in [("-", old_text, red), ("+", new_text, green)] {
                    for line in text.lines() {
                        let line =
                            format!("        {sign} {}", escape(line.trim_end_matches('\r')));
                        let _ = writeln!(out, "{}", self.paint(&line, style.clone()));
                    }
                }
                return;
            }
            let _ = writeln!(out, "    ~ {name}:");
            for line in TextDiff::from_lines(old_text, new_text).iter_all_changes() {
                let text = escape(line.value().trim_end_matches(['\n', '\r']));
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
        // An asset file (issue 21): its name and size, and the size CloudKit holds.
        if let Some(file) = asset_file_text(new) {
            let was = match old {
                FieldValue::Scalar(Value::Asset(asset)) => asset_size_text(asset),
                other => Some(value_text(other)),
            };
            let was = was.map_or_else(String::new, |was| format!(" (was {was})"));
            let _ = writeln!(out, "    ~ {name}: {}{was}", self.paint(&file, green));
            return;
        }
        // A reference change may be one of action or zone only: state both sides in full.
        let text = match holds_reference(old) || holds_reference(new) {
            true => |value: &FieldValue| render_value(value, true),
            false => value_text,
        };
        let _ = writeln!(
            out,
            "    ~ {name}: {} → {}",
            self.paint(&text(old), red),
            self.paint(&text(new), green)
        );
    }
}

/// The most `before lines × after lines` a line diff is computed for. The diff's cost grows
/// with that product when most lines changed (20,000 changed lines took seconds); past it
/// `show` prints the two texts whole, so it stays about as fast as reading the plan. A
/// size cut rather than a deadline: the same plan always renders the same.
const LINE_DIFF_MAX_PRODUCT: usize = 4_000_000;

/// The most `before lines × after lines` one view spends on line diffs in all: many fields
/// just under [`LINE_DIFF_MAX_PRODUCT`] would otherwise add up (40 fields of 2,000 changed
/// lines took 20 s). Past it, the remaining long texts are shown whole, in plan order.
const LINE_DIFF_PLAN_BUDGET: usize = 2 * LINE_DIFF_MAX_PRODUCT;

fn line_diff_is_bounded(old_lines: usize, new_lines: usize) -> bool {
    old_lines.saturating_mul(new_lines) <= LINE_DIFF_MAX_PRODUCT
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

fn holds_reference(value: &FieldValue) -> bool {
    matches!(
        value,
        FieldValue::Scalar(Value::Reference(_)) | FieldValue::List(ScalarType::Reference, _)
    )
}

/// A field value in one compact, escaped line: strings quoted, timestamps in RFC 3339
/// with milliseconds, locations as `(lat, long)`, references as `→ name` (with
/// `(DELETE_SELF)` or `(VALIDATE)` and `zone Z` when not CloudKit's defaults), lists in
/// brackets.
pub fn value_text(value: &FieldValue) -> String {
    render_value(value, false)
}

/// `full`: every reference states its action, `NONE` included.
fn render_value(value: &FieldValue, full: bool) -> String {
    let element = |value: &Value| element_text(value, full);
    let raw = match value {
        FieldValue::Scalar(value) => element(value),
        FieldValue::List(_, items) => format!("[{}]", join(items.iter().map(element))),
        FieldValue::Unknown { type_name, value } => format!("{type_name} {value}"),
    };
    escape(&raw).into_owned()
}

/// `→ name`, then in parentheses the action (when not `NONE`, or always when `full`) and
/// the zone (when one other than `_defaultZone` is named).
fn reference_text(reference: &Reference, full: bool) -> String {
    let mut notes = Vec::new();
    let action = reference.action_or_none();
    if full || action != "NONE" {
        notes.push(action.to_owned());
    }
    let zone = reference.zone_id.as_ref().and_then(|z| z.get("zoneName"));
    if let Some(zone) = zone
        .and_then(|z| z.as_str())
        .filter(|z| *z != "_defaultZone")
    {
        notes.push(format!("zone {zone}"));
    }
    match notes.is_empty() {
        true => format!("→ {}", reference.record_name),
        false => format!("→ {} ({})", reference.record_name, notes.join(", ")),
    }
}

fn element_text(value: &Value, full: bool) -> String {
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
        Value::Reference(reference) => reference_text(reference, full),
        Value::Location(location) => format!("({}, {})", location.latitude, location.longitude),
        Value::Asset(asset) if asset.get("sha256").is_some() => {
            asset_file_text(&FieldValue::Scalar(value.clone())).unwrap_or_default()
        }
        Value::Asset(asset) => match asset.get("fileChecksum").and_then(|c| c.as_str()) {
            Some(checksum) => format!("asset {checksum}"),
            None => "asset".to_owned(),
        },
    }
}

/// `logos/team-7.png 18.2 KB`: a local asset's path as its data file wrote it (relative
/// to the data file; in plans that predate it, the path relative to the config) and size,
/// never its bytes. The whole path, escaped, so a reviewer sees where it points.
fn asset_file_text(value: &FieldValue) -> Option<String> {
    let FieldValue::Scalar(Value::Asset(asset)) = value else {
        return None;
    };
    asset.get("sha256")?;
    let file = asset
        .get(crate::local::asset::WRITTEN)
        .or_else(|| asset.get("file"))?
        .as_str()?;
    let size = asset_size_text(asset).unwrap_or_default();
    Some(format!("{} {size}", escape(file)))
}

/// `18.2 KB` (1 KB = 1,000 bytes), `940 bytes`, `3.1 MB`.
fn asset_size_text(asset: &serde_json::Value) -> Option<String> {
    let size = asset.get("size")?.as_u64()?;
    Some(match size {
        0..=999 => plural(size as usize, "byte"),
        1_000..=999_999 => format!("{:.1} KB", size as f64 / 1e3),
        _ => format!("{:.1} MB", size as f64 / 1e6),
    })
}

fn quoted(text: &str) -> String {
    serde_json::to_string(text).unwrap_or_else(|_| format!("{text:?}"))
}

fn join(items: impl Iterator<Item = String>) -> String {
    items.collect::<Vec<_>>().join(", ")
}

#[cfg(test)]
mod tests;
