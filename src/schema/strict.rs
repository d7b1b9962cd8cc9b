//! What CloudKit refuses in schema text beyond its grammar, for [`super::parse_strict`]
//! (what an import or validate accepts): names that are not identifiers or are over
//! CloudKit's length limit, a system field (`___` name) CloudKit does not have or with
//! another type than its own, a field named after the record's own metadata
//! (`RESERVED_FIELD_NAMES`: `recordName`, `creationDate`, …), and a grant on the managed
//! `Users` type other than the ones CloudKit gives it. An export never holds any of these.

use super::{names, DataType, Permission, SYSTEM_FIELDS, USERS};
use crate::record::identifier::{escaped, RESERVED_FIELD_NAMES};

/// The grants CloudKit gives a record type it creates, the managed `Users` type included
/// (`_creator` WRITE, `_icloud` CREATE, `_world` READ).
pub const DEFAULT_GRANTS: [(&str, Permission); 3] = [
    ("_creator", Permission::Write),
    ("_icloud", Permission::Create),
    ("_world", Permission::Read),
];

/// Why `name` cannot name a record type; `None` when it can.
pub(super) fn type_name_problem(name: &str) -> Option<String> {
    names::identifier_problem("record type", name)
}

/// Why a field `name` cannot be defined at all (`None` when it can): not an identifier,
/// reserved, or a `___` name that is no system field.
pub(super) fn field_name_problem(name: &str) -> Option<String> {
    if let Some(problem) = names::identifier_problem("field name", name) {
        return Some(problem);
    }
    if RESERVED_FIELD_NAMES.contains(&name) {
        return Some(format!(
            "field name `{name}` is reserved: it names the record's own metadata in CloudKit"
        ));
    }
    (name.starts_with("___") && !SYSTEM_FIELDS.iter().any(|(s, _)| *s == name)).then(|| {
        format!(
            "`{}` is no system field CloudKit has (names beginning `___` are CloudKit's)",
            escaped(name)
        )
    })
}

/// Why system field `name` cannot have `data_type` (`None` when it is its own type).
pub(super) fn system_type_problem(name: &str, data_type: DataType) -> Option<String> {
    let (_, primitive) = SYSTEM_FIELDS.iter().find(|(s, _)| *s == name)?;
    let own = DataType::scalar(*primitive);
    (data_type != own).then(|| {
        format!("system field `{name}` is {own}: its type cannot change (found {data_type})")
    })
}

/// Why `record_type` cannot grant `permission` to `role` (`None` when it can).
pub(super) fn grant_problem(
    record_type: &str,
    role: &str,
    permission: Permission,
) -> Option<String> {
    let default = DEFAULT_GRANTS.contains(&(role, permission));
    (record_type == USERS && !default).then(|| {
        format!(
            "cannot grant {permission} to `{}` on the managed record type `{USERS}`: CloudKit \
             sets its permissions",
            escaped(role)
        )
    })
}
