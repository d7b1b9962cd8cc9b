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
    /// A verdict or detail shown even with `-q`.
    Always(String),
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
