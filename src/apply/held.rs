//! Deletes held back for references that stay: a plan that deletes record X and updates a
//! record R whose field referenced X (the update removes or retargets it) must not delete X
//! while R still references X — with `DELETE_SELF`, CloudKit would then delete R too,
//! asynchronously, with whatever another writer had put there. Updates run before deletes
//! (a phase boundary), so by then each update has an outcome. Pure.

use crate::plan::{Action, Change};
use crate::record::{FieldValue, Value};

/// The first change (by index) and field of `changes` that held a reference to `target`'s
/// record before the plan and has not applied (`applied(index)` false), if any.
pub fn blocking_reference<'a>(
    changes: &'a [Change],
    target: &Change,
    applied: impl Fn(usize) -> bool,
) -> Option<(usize, &'a str)> {
    changes.iter().enumerate().find_map(|(index, change)| {
        if change.action == Action::Delete || applied(index) {
            return None;
        }
        let field = change.before.iter().find_map(|(field, value)| {
            value
                .as_ref()
                .filter(|v| references(v, target))
                .map(|_| field.as_str())
        })?;
        Some((index, field))
    })
}

fn references(value: &FieldValue, target: &Change) -> bool {
    let names = |v: &Value| matches!(v, Value::Reference(r) if r.record_name == target.record_name);
    match value {
        FieldValue::Scalar(v) => names(v),
        FieldValue::List(_, items) => items.iter().any(names),
        FieldValue::Unknown { .. } => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record::{ChangeTag, ScalarType};

    fn change(action: Action, name: &str, before: Option<FieldValue>) -> Change {
        Change {
            action,
            record_type: if name.starts_with('s') {
                "Stadium"
            } else {
                "Team"
            }
            .into(),
            record_name: name.into(),
            change_tag: Some(ChangeTag::new("t")),
            before: before
                .map(|v| ("stadium".to_owned(), Some(v)))
                .into_iter()
                .collect(),
            after: (action != Action::Delete).then(Default::default),
            removed: if action == Action::Update {
                vec!["stadium".into()]
            } else {
                vec![]
            },
        }
    }

    #[test]
    fn an_unapplied_update_that_dropped_a_reference_holds_the_delete() {
        let changes = vec![
            change(Action::Update, "t-1", Some(FieldValue::reference("s-3"))),
            change(
                Action::Update,
                "t-2",
                Some(FieldValue::List(
                    ScalarType::Reference,
                    vec![Value::Reference(Box::new(crate::record::Reference::to(
                        "s-4",
                    )))],
                )),
            ),
            change(Action::Delete, "s-3", None),
            change(Action::Delete, "s-4", None),
            change(Action::Delete, "s-5", None),
        ];
        assert_eq!(
            blocking_reference(&changes, &changes[2], |_| false),
            Some((0, "stadium"))
        );
        assert_eq!(blocking_reference(&changes, &changes[2], |i| i == 0), None);
        assert_eq!(
            blocking_reference(&changes, &changes[3], |_| false),
            Some((1, "stadium"))
        );
        assert_eq!(blocking_reference(&changes, &changes[4], |_| false), None);
    }
}
