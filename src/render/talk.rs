//! What a view says on stderr, line by line, with how loud each line is: the printer
//! decides from the level alone whether `-q` leaves a line out and which label it carries,
//! so no view decides quietness at its call site.

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
}
