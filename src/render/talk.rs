//! What a view says on stderr, line by line, with how loud each line is: the printer
//! decides from the level alone whether `-q` leaves a line out and which label it carries,
//! so no view decides quietness at its call site.

use super::plural;
use crate::record::{RecordName, RecordType, Target};

/// One message of a view for stderr (without its line end).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Line {
    /// Talk: left out with `-q`.
    Status(String),
    /// `warning: …`, left out with `-q`.
    Warning(String),
    /// `error: …`, always shown.
    Error(String),
    /// `hint: …`, left out with `-q`.
    Hint(String),
    /// A verdict or detail shown even with `-q`.
    Always(String),
}

/// `plan -o FILE` wrote the plan: how to review and apply it (`show` and `apply` are the
/// command lines to suggest).
pub fn plan_saved(path: &str, show: &str, apply: &str) -> Line {
    Line::Status(format!(
        "Saved the plan to `{path}`. Review it with `{show}`, then `{apply}`."
    ))
}

/// A plan shown on a terminal is not kept: how to keep one (`save` writes it to a file,
/// `plan` to stdout).
pub fn plan_not_saved(save: &str, plan: &str) -> Line {
    Line::Hint(format!(
        "this plan was not saved; run `{save}` (or `{plan} > out.plan`) to keep it for `ckplan apply`"
    ))
}

/// Before the production guard's question.
pub fn production_warning(container: &str) -> Line {
    Line::Always(format!(
        "This writes to the PRODUCTION environment of `{container}`."
    ))
}

/// A verdict: shown even with `-q` when it reports a failure.
pub fn verdict(text: String, failed: bool) -> Line {
    if failed {
        Line::Always(text)
    } else {
        Line::Status(text)
    }
}

/// `import`: `Type: done/total` after each batch.
pub fn import_progress(record_type: &RecordType, done: usize, total: usize) -> Line {
    Line::Status(format!("{record_type}: {done}/{total}"))
}

/// `import`: CloudKit refused one record.
pub fn import_refused(
    record_type: &RecordType,
    name: &RecordName,
    code: &str,
    reason: &str,
) -> Line {
    Line::Warning(format!("{record_type} `{name}`: {code} {reason}"))
}

/// `import`'s verdict.
pub fn imported(imported: usize, failed: usize) -> Line {
    let text = format!(
        "Import complete: {} force-replaced, {failed} failed.",
        plural(imported, "record")
    );
    verdict(text, failed > 0)
}

/// `delete-all` found nothing to delete.
pub fn nothing_to_delete(record_type: &RecordType, target: &Target) -> Line {
    Line::Status(format!("No `{record_type}` records in `{target}`."))
}

/// `delete-all`'s verdict.
pub fn deleted(record_type: &RecordType, deleted: usize, failed: usize) -> Line {
    let records = plural(deleted, &format!("`{record_type}` record"));
    verdict(format!("Deleted {records}, {failed} failed."), failed > 0)
}

/// `delete-all`'s question was answered with anything but the type's name.
pub fn delete_declined() -> Line {
    Line::Always("Cancelled; nothing was deleted.".to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_saved_plan_names_how_to_review_and_apply_it_and_an_unsaved_one_is_a_hint() {
        assert_eq!(
            plan_saved("out.plan", "ckplan show out.plan", "ckplan apply out.plan"),
            Line::Status("Saved the plan to `out.plan`. Review it with `ckplan show out.plan`, then `ckplan apply out.plan`.".to_owned())
        );
        assert!(matches!(
            plan_not_saved("ckplan plan -o out.plan", "ckplan plan"),
            Line::Hint(text) if text.contains("(or `ckplan plan > out.plan`)")
        ));
    }

    #[test]
    fn a_verdict_that_reports_a_failure_is_shown_even_with_quiet() {
        let team = RecordType::new("Team");
        assert_eq!(
            deleted(&team, 2, 0),
            Line::Status("Deleted 2 `Team` records, 0 failed.".to_owned())
        );
        assert_eq!(
            deleted(&team, 1, 1),
            Line::Always("Deleted 1 `Team` record, 1 failed.".to_owned())
        );
        assert_eq!(
            imported(3, 1),
            Line::Always("Import complete: 3 records force-replaced, 1 failed.".to_owned())
        );
        assert!(matches!(imported(3, 0), Line::Status(_)));
    }
}
