//! What to do with one planned change once CloudKit has said no (CONFLICT, EXISTS,
//! NOT_FOUND) or once the outcome of a request is unknown: pure decisions over the planned
//! change and the record as it is now. No I/O.

use crate::diff::{values_equal, CompareRules};
use crate::plan::{Action, Change};
use crate::record::{ChangeTag, FieldName, FieldValue, Record};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// `--on-conflict`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum OnConflict {
    /// Skip what is already applied, re-apply over unrelated concurrent edits, report the rest.
    Replan,
    /// Start no new batch, finish the ones in flight, report.
    Abort,
    /// Last writer wins: re-apply the desired values over the fresh change tag.
    Overwrite,
}

/// One field of a reported conflict: what the plan saw, what CloudKit has now, what the
/// plan wanted.
#[derive(Clone, Debug, PartialEq)]
pub struct FieldConflict {
    pub field: String,
    pub planned_before: Option<FieldValue>,
    pub now: Option<FieldValue>,
    pub wanted: Option<FieldValue>,
}

/// Why a change was not written.
#[derive(Clone, Debug, PartialEq)]
pub enum ConflictReason {
    /// Someone changed fields this plan also changes.
    ConcurrentEdit(Vec<FieldConflict>),
    /// The record the plan updates or deletes was deleted meanwhile.
    DeletedMeanwhile,
    /// The record the plan creates was created meanwhile with other values.
    CreatedMeanwhile(Vec<FieldConflict>),
    /// The record the plan deletes was changed meanwhile: the fields that changed.
    ChangedBeforeDelete(Vec<FieldConflict>),
    /// `--on-conflict abort` stopped at the first conflict: the planned action and the
    /// record's fields that differ from what the plan wants.
    Aborted(Action, Vec<FieldConflict>),
}

/// The decision for one change.
#[derive(Clone, Debug, PartialEq)]
pub enum Decision {
    /// The record already is as planned (an earlier run, or someone else, did it).
    AlreadyApplied { change_tag: Option<ChangeTag> },
    /// Send the operation again against this change tag (`None`: a create).
    Send { change_tag: Option<ChangeTag> },
    /// Send it again over someone else's values (`--on-conflict overwrite`): `fields` are
    /// the values written over (lost), for the receipt.
    Overwrite {
        change_tag: Option<ChangeTag>,
        fields: Vec<FieldConflict>,
    },
    /// Send it again over the fresh tag after a concurrent edit that touched none of the
    /// fields the change writes: `fields` are the values changed meanwhile (kept), for the
    /// receipt.
    Reapply {
        change_tag: Option<ChangeTag>,
        fields: Vec<FieldConflict>,
    },
    /// Do not write; report.
    Conflict(ConflictReason),
}

/// The fields the change sets or removes, with the value wanted for each (`None`: removed).
pub fn wanted_fields(change: &Change) -> BTreeMap<&str, Option<&FieldValue>> {
    let mut wanted = BTreeMap::new();
    match change.action {
        Action::Create => {
            for (name, value) in change.after.iter().flatten() {
                wanted.insert(name.as_str(), Some(value));
            }
        }
        Action::Update => {
            let after = change.after.as_ref();
            for name in change.before.keys() {
                wanted.insert(name.as_str(), after.and_then(|fields| fields.get(name)));
            }
            for name in &change.removed {
                wanted.insert(name.as_str(), None);
            }
        }
        Action::Delete => {}
    }
    wanted
}

fn same(a: Option<&FieldValue>, b: Option<&FieldValue>, rules: &CompareRules) -> bool {
    match (a, b) {
        (None, None) => true,
        (Some(a), Some(b)) => values_equal(a, b, rules),
        _ => false,
    }
}

fn field_conflicts(change: &Change, current: &Record, rules: &CompareRules) -> Vec<FieldConflict> {
    wanted_fields(change)
        .into_iter()
        // The wanted value first: it decides whether a reference's action is compared.
        .filter(|(name, wanted)| !same(*wanted, current.fields.get(name), rules))
        .map(|(name, wanted)| FieldConflict {
            field: name.to_owned(),
            planned_before: change.before.get(name).cloned().flatten(),
            now: current.fields.get(name).cloned(),
            wanted: wanted.cloned(),
        })
        .collect()
}

/// What stands between a create and the record someone else created meanwhile: the
/// fields whose value differs from the one the create wants, then the fields (not ignored)
/// the create does not have, which writing the desired record removes (`wanted: None`).
fn create_conflicts(change: &Change, current: &Record, rules: &CompareRules) -> Vec<FieldConflict> {
    let mut fields = field_conflicts(change, current, rules);
    let after = change.after.as_ref();
    fields.extend(
        current
            .fields
            .iter()
            .filter(|(name, _)| !rules.ignore_fields.contains(name.as_str()))
            .filter(|(name, _)| !after.is_some_and(|after| after.contains_key(name)))
            .map(|(name, value)| FieldConflict {
                field: name.to_string(),
                planned_before: None,
                now: Some(value.clone()),
                wanted: None,
            }),
    );
    fields.sort_by(|a, b| a.field.cmp(&b.field));
    fields
}

/// The record's fields as the plan saw them in CloudKit: for an update, the desired fields
/// overlaid with CloudKit's values of the fields it changes; for a delete, the values it
/// deletes; nothing for a create.
fn planned_state(change: &Change) -> BTreeMap<&str, Option<&FieldValue>> {
    let mut state = BTreeMap::new();
    if change.action == Action::Update {
        for (name, value) in change.after.iter().flatten() {
            state.insert(name.as_str(), Some(value));
        }
    }
    for (name, value) in &change.before {
        state.insert(name.as_str(), value.as_ref());
    }
    state
}

/// The fields (not ignored) whose value in `current` differs from what the plan saw:
/// what someone else changed between plan and apply. `wanted` is the value the change
/// writes, or, for a field an update does not touch, the value it keeps.
pub fn changed_meanwhile(
    change: &Change,
    current: &Record,
    rules: &CompareRules,
) -> Vec<FieldConflict> {
    let state = planned_state(change);
    let wanted = wanted_fields(change);
    let mut names: Vec<&str> = state.keys().copied().collect();
    names.extend(current.fields.keys().map(FieldName::as_str));
    names.sort_unstable();
    names.dedup();
    names
        .into_iter()
        .filter(|name| !rules.ignore_fields.contains(*name))
        .filter_map(|name| {
            let before = state.get(name).copied().flatten();
            let now = current.fields.get(name);
            if same(before, now, rules) {
                return None;
            }
            let wanted = match (change.action, wanted.get(name)) {
                (Action::Delete, _) => None,
                (_, Some(value)) => *value,
                (_, None) => now,
            };
            Some(FieldConflict {
                field: name.to_owned(),
                planned_before: before.cloned(),
                now: now.cloned(),
                wanted: wanted.cloned(),
            })
        })
        .collect()
}

/// Whether `current` holds every value the change wants (fields it does not touch are
/// someone else's business, except for a create, where cloud-only fields that are not
/// ignored also count).
pub fn is_applied(change: &Change, current: Option<&Record>, rules: &CompareRules) -> bool {
    match (change.action, current) {
        (Action::Delete, current) => current.is_none(),
        (_, None) => false,
        (Action::Create, Some(record)) => {
            field_conflicts(change, record, rules).is_empty()
                && record.fields.keys().all(|name| {
                    rules.ignore_fields.contains(name.as_str())
                        || change
                            .after
                            .as_ref()
                            .is_some_and(|after| after.contains_key(name))
                })
        }
        (Action::Update, Some(record)) => field_conflicts(change, record, rules).is_empty(),
    }
}

/// Decides after CloudKit refused the change (CONFLICT, EXISTS or NOT_FOUND) and the record
/// was looked up again (`current`: as it is now, `None` if absent).
pub fn after_refusal(
    change: &Change,
    current: Option<&Record>,
    policy: OnConflict,
    rules: &CompareRules,
) -> Decision {
    if is_applied(change, current, rules) {
        return Decision::AlreadyApplied {
            change_tag: current.and_then(|r| r.change_tag.clone()),
        };
    }
    let Some(current) = current else {
        // Updated or deleted record gone: never re-created behind someone's back.
        return match change.action {
            Action::Create => Decision::Send { change_tag: None },
            _ => Decision::Conflict(ConflictReason::DeletedMeanwhile),
        };
    };
    let fresh = current.change_tag.clone();
    if change.action == Action::Create {
        let fields = create_conflicts(change, current, rules);
        return match policy {
            OnConflict::Abort => {
                Decision::Conflict(ConflictReason::Aborted(Action::Create, fields))
            }
            OnConflict::Overwrite => Decision::Overwrite {
                change_tag: fresh,
                fields,
            },
            OnConflict::Replan => Decision::Conflict(ConflictReason::CreatedMeanwhile(fields)),
        };
    }
    let changed = changed_meanwhile(change, current, rules);
    // The values someone else wrote that this change would lose: every changed field for
    // a delete, the fields it writes for an update.
    let wanted = wanted_fields(change);
    let lost: Vec<FieldConflict> = changed
        .iter()
        .filter(|c| change.action == Action::Delete || wanted.contains_key(c.field.as_str()))
        .cloned()
        .collect();
    match policy {
        OnConflict::Abort => Decision::Conflict(ConflictReason::Aborted(change.action, changed)),
        _ if lost.is_empty() => Decision::Reapply {
            change_tag: fresh,
            fields: changed,
        },
        OnConflict::Overwrite => Decision::Overwrite {
            change_tag: fresh,
            fields: lost,
        },
        OnConflict::Replan if change.action == Action::Delete => {
            Decision::Conflict(ConflictReason::ChangedBeforeDelete(lost))
        }
        OnConflict::Replan => Decision::Conflict(ConflictReason::ConcurrentEdit(lost)),
    }
}

/// Decides for an operation whose request may or may not have been applied (the reply was
/// lost). `sent_tag` is the change tag the lost request carried.
pub fn after_unknown_outcome(
    change: &Change,
    sent_tag: Option<&ChangeTag>,
    current: Option<&Record>,
    policy: OnConflict,
    rules: &CompareRules,
) -> Decision {
    if is_applied(change, current, rules) {
        return Decision::AlreadyApplied {
            change_tag: current.and_then(|r| r.change_tag.clone()),
        };
    }
    // An update or delete whose record still carries the tag it was sent against never
    // took effect. (A create that is still absent is sent again as a create by
    // `after_refusal`, whatever tag it carried.)
    let untouched = match (change.action, current) {
        (Action::Update | Action::Delete, Some(record)) => {
            sent_tag.is_some() && record.change_tag.as_ref() == sent_tag
        }
        _ => false,
    };
    if untouched {
        // The request never took effect: send it again as it was.
        return Decision::Send {
            change_tag: sent_tag.cloned(),
        };
    }
    after_refusal(change, current, policy, rules)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record::Fields;

    fn rules() -> CompareRules {
        CompareRules::default()
    }

    fn cloud(tag: &str, fields: &[(&str, FieldValue)]) -> Record {
        let mut record = Record::new("Team", "team-1");
        record.change_tag = Some(ChangeTag::new(tag));
        for (name, value) in fields {
            record.fields.insert((*name).to_owned(), value.clone());
        }
        record
    }

    fn fields(pairs: &[(&str, FieldValue)]) -> Fields {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), v.clone()))
            .collect()
    }

    /// Plan: team-1 name "Old" → "New" (city "Boston" unchanged), planned against tag t1.
    fn update_change() -> Change {
        Change {
            action: Action::Update,
            record_type: "Team".into(),
            record_name: "team-1".into(),
            change_tag: Some(ChangeTag::new("t1")),
            before: [("name".to_owned(), Some(FieldValue::string("Old")))].into(),
            after: Some(fields(&[
                ("name", FieldValue::string("New")),
                ("city", FieldValue::string("Boston")),
            ])),
            removed: vec![],
        }
    }

    #[test]
    fn already_applied_update_is_skipped() {
        let now = cloud(
            "t2",
            &[
                ("name", FieldValue::string("New")),
                ("city", FieldValue::string("Boston")),
            ],
        );
        let decision = after_refusal(&update_change(), Some(&now), OnConflict::Replan, &rules());
        assert_eq!(
            decision,
            Decision::AlreadyApplied {
                change_tag: Some(ChangeTag::new("t2"))
            }
        );
    }

    #[test]
    fn unrelated_concurrent_edit_is_reapplied_with_fresh_tag() {
        let now = cloud(
            "t2",
            &[
                ("name", FieldValue::string("Old")),
                ("city", FieldValue::string("Cambridge")),
            ],
        );
        let decision = after_refusal(&update_change(), Some(&now), OnConflict::Replan, &rules());
        assert_eq!(
            decision,
            Decision::Reapply {
                change_tag: Some(ChangeTag::new("t2")),
                fields: vec![FieldConflict {
                    field: "city".into(),
                    planned_before: Some(FieldValue::string("Boston")),
                    now: Some(FieldValue::string("Cambridge")),
                    wanted: Some(FieldValue::string("Cambridge")),
                }],
            }
        );
    }

    #[test]
    fn overlapping_concurrent_edit_is_reported_under_replan() {
        let now = cloud("t2", &[("name", FieldValue::string("Theirs"))]);
        let Decision::Conflict(ConflictReason::ConcurrentEdit(fields)) =
            after_refusal(&update_change(), Some(&now), OnConflict::Replan, &rules())
        else {
            panic!("expected a reported conflict");
        };
        assert_eq!(fields.len(), 1);
        assert_eq!(fields[0].planned_before, Some(FieldValue::string("Old")));
        assert_eq!(fields[0].now, Some(FieldValue::string("Theirs")));
        assert_eq!(fields[0].wanted, Some(FieldValue::string("New")));
    }

    #[test]
    fn overwrite_and_abort_policies() {
        let now = cloud("t2", &[("name", FieldValue::string("Theirs"))]);
        let Decision::Overwrite { change_tag, fields } = after_refusal(
            &update_change(),
            Some(&now),
            OnConflict::Overwrite,
            &rules(),
        ) else {
            panic!("expected an overwrite");
        };
        assert_eq!(change_tag, Some(ChangeTag::new("t2")));
        assert_eq!(fields[0].now, Some(FieldValue::string("Theirs")));
        let Decision::Conflict(ConflictReason::Aborted(Action::Update, fields)) =
            after_refusal(&update_change(), Some(&now), OnConflict::Abort, &rules())
        else {
            panic!("expected an aborted conflict");
        };
        // The fields changed meanwhile: `name`, and `city`, which the plan saw as "Boston"
        // and which is gone now.
        let names: Vec<_> = fields.iter().map(|f| f.field.as_str()).collect();
        assert_eq!(names, ["city", "name"]);
    }

    #[test]
    fn deleted_meanwhile_is_reported_not_recreated() {
        for policy in [OnConflict::Replan, OnConflict::Overwrite, OnConflict::Abort] {
            assert_eq!(
                after_refusal(&update_change(), None, policy, &rules()),
                Decision::Conflict(ConflictReason::DeletedMeanwhile)
            );
        }
    }

    #[test]
    fn lost_reply_resolved_by_lookup() {
        let change = update_change();
        let sent = ChangeTag::new("t1");
        let untouched = cloud("t1", &[("name", FieldValue::string("Old"))]);
        assert_eq!(
            after_unknown_outcome(
                &change,
                Some(&sent),
                Some(&untouched),
                OnConflict::Replan,
                &rules()
            ),
            Decision::Send {
                change_tag: Some(sent.clone())
            }
        );
        let applied = cloud(
            "t9",
            &[
                ("name", FieldValue::string("New")),
                ("city", FieldValue::string("Boston")),
            ],
        );
        assert_eq!(
            after_unknown_outcome(
                &change,
                Some(&sent),
                Some(&applied),
                OnConflict::Replan,
                &rules()
            ),
            Decision::AlreadyApplied {
                change_tag: Some(ChangeTag::new("t9"))
            }
        );
    }

    #[test]
    fn create_outcomes() {
        let change = create_change();
        assert_eq!(
            after_unknown_outcome(&change, None, None, OnConflict::Replan, &rules()),
            Decision::Send { change_tag: None }
        );
        let same = cloud("t5", &[("name", FieldValue::string("New"))]);
        assert_eq!(
            after_refusal(&change, Some(&same), OnConflict::Replan, &rules()),
            Decision::AlreadyApplied {
                change_tag: Some(ChangeTag::new("t5"))
            }
        );
        let other = cloud("t5", &[("name", FieldValue::string("Other"))]);
        assert!(matches!(
            after_refusal(&change, Some(&other), OnConflict::Replan, &rules()),
            Decision::Conflict(ConflictReason::CreatedMeanwhile(_))
        ));
    }

    fn create_change() -> Change {
        Change {
            action: Action::Create,
            record_type: "Team".into(),
            record_name: "team-1".into(),
            change_tag: None,
            before: BTreeMap::new(),
            after: Some(fields(&[("name", FieldValue::string("New"))])),
            removed: vec![],
        }
    }

    #[test]
    fn a_create_refused_and_then_found_absent_is_sent_again_as_a_create() {
        // EXISTS, then the lookup finds nothing (deleted meanwhile): create it, never a
        // "deleted meanwhile" conflict.
        for policy in [OnConflict::Replan, OnConflict::Overwrite, OnConflict::Abort] {
            assert_eq!(
                after_refusal(&create_change(), None, policy, &rules()),
                Decision::Send { change_tag: None }
            );
        }
    }

    #[test]
    fn overwriting_a_create_names_the_values_lost_and_only_those() {
        // Same values plus a cloud-only field: writing the desired record removes it, so the
        // loss is reported (issue 17: the receipt is true of the record afterwards).
        let extra = cloud(
            "t5",
            &[
                ("name", FieldValue::string("New")),
                ("colour", FieldValue::string("red")),
            ],
        );
        assert_eq!(
            after_refusal(
                &create_change(),
                Some(&extra),
                OnConflict::Overwrite,
                &rules()
            ),
            Decision::Overwrite {
                change_tag: Some(ChangeTag::new("t5")),
                fields: vec![FieldConflict {
                    field: "colour".into(),
                    planned_before: None,
                    now: Some(FieldValue::string("red")),
                    wanted: None,
                }],
            }
        );
        let other = cloud("t5", &[("name", FieldValue::string("Other"))]);
        assert_eq!(
            after_refusal(
                &create_change(),
                Some(&other),
                OnConflict::Overwrite,
                &rules()
            ),
            Decision::Overwrite {
                change_tag: Some(ChangeTag::new("t5")),
                fields: vec![FieldConflict {
                    field: "name".into(),
                    planned_before: None,
                    now: Some(FieldValue::string("Other")),
                    wanted: Some(FieldValue::string("New")),
                }],
            }
        );
    }

    #[test]
    fn an_update_removing_a_field_already_gone_is_already_applied() {
        let mut change = update_change();
        change
            .before
            .insert("logo".into(), Some(FieldValue::string("old.png")));
        change.removed = vec!["logo".into()];
        let now = cloud(
            "t2",
            &[
                ("name", FieldValue::string("New")),
                ("city", FieldValue::string("Boston")),
            ],
        );
        assert_eq!(
            after_refusal(&change, Some(&now), OnConflict::Replan, &rules()),
            Decision::AlreadyApplied {
                change_tag: Some(ChangeTag::new("t2"))
            }
        );
        let still_there = cloud(
            "t2",
            &[
                ("name", FieldValue::string("New")),
                ("city", FieldValue::string("Boston")),
                ("logo", FieldValue::string("old.png")),
            ],
        );
        assert!(!is_applied(&change, Some(&still_there), &rules()));
    }

    #[test]
    fn a_lost_update_whose_record_moved_on_is_judged_as_a_refusal() {
        // Sent against t1; the record is now at t3 with someone else's name: the request
        // may not be sent again blindly over t1, the concurrent edit is reported.
        let change = update_change();
        let sent = ChangeTag::new("t1");
        let moved = cloud("t3", &[("name", FieldValue::string("Theirs"))]);
        assert!(matches!(
            after_unknown_outcome(
                &change,
                Some(&sent),
                Some(&moved),
                OnConflict::Replan,
                &rules()
            ),
            Decision::Conflict(ConflictReason::ConcurrentEdit(_))
        ));
        // A lost create found absent is created again without a tag, even when it was sent
        // over a fresh tag by `--on-conflict overwrite`.
        let create = create_change();
        assert_eq!(
            after_unknown_outcome(&create, Some(&sent), None, OnConflict::Overwrite, &rules()),
            Decision::Send { change_tag: None }
        );
    }

    #[test]
    fn a_delete_of_a_record_changed_meanwhile_is_reported_as_changed_before_delete() {
        let change = Change {
            action: Action::Delete,
            record_type: "Team".into(),
            record_name: "team-1".into(),
            change_tag: Some(ChangeTag::new("t1")),
            before: [("name".to_owned(), Some(FieldValue::string("Old")))].into(),
            after: None,
            removed: vec![],
        };
        let now = cloud("t2", &[("name", FieldValue::string("Theirs"))]);
        let lost = vec![FieldConflict {
            field: "name".into(),
            planned_before: Some(FieldValue::string("Old")),
            now: Some(FieldValue::string("Theirs")),
            wanted: None,
        }];
        assert_eq!(
            after_refusal(&change, Some(&now), OnConflict::Replan, &rules()),
            Decision::Conflict(ConflictReason::ChangedBeforeDelete(lost.clone()))
        );
        assert_eq!(
            after_refusal(&change, Some(&now), OnConflict::Overwrite, &rules()),
            Decision::Overwrite {
                change_tag: Some(ChangeTag::new("t2")),
                fields: lost,
            }
        );
    }
}
