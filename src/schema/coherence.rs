//! Whether a plan's schema additions could all be imported as one change. ckplan plans
//! each field once, with one type, its indexes among those the type allows, and never a
//! system field as a field; a plan file's checksum can be recomputed by whoever edits it,
//! so a plan read from disk is checked for the same before anything is imported (a
//! contradiction would otherwise import part of it: the merge keeps the first of two
//! types and leaves out an index it cannot place). Pure.

use super::{index_problem, Addition, DataType, SYSTEM_FIELDS};
use std::collections::BTreeMap;

/// The first addition that contradicts the others or cannot be one: its position in
/// `additions`, the member at fault (`field`, `index`) and why. Refused: an addition
/// repeated; a field added twice (whatever its types); a field whose name begins `___`
/// (CloudKit's system fields are never added); an index on an unknown `___` field, on a
/// field of a record type the plan adds but no field addition defines (it cannot exist
/// yet), before the field's own addition, or that the field's type does not allow
/// ([`index_problem`], the rule the configuration follows). An index on a field the plan
/// neither adds nor could know of is kept: the field may already be in CloudKit.
pub fn contradiction(additions: &[Addition]) -> Option<(usize, &'static str, String)> {
    let mut fields: BTreeMap<(&str, &str), (usize, DataType)> = BTreeMap::new();
    for (position, addition) in additions.iter().enumerate() {
        if let Addition::Field {
            record_type,
            field,
            data_type,
        } = addition
        {
            fields
                .entry((record_type.as_str(), field.as_str()))
                .or_insert((position, *data_type));
        }
    }
    for (position, addition) in additions.iter().enumerate() {
        if let Some(earlier) = additions[..position].iter().position(|a| a == addition) {
            return Some((
                position,
                "add",
                format!("repeats schema.additions[{earlier}] ({addition})"),
            ));
        }
        let problem = match addition {
            Addition::Field {
                record_type,
                field,
                data_type,
            } => field_problem(&fields, position, record_type, field, *data_type),
            Addition::Index {
                record_type,
                field,
                index,
            } => {
                let adds_type = additions[..position].iter().any(
                    |a| matches!(a, Addition::RecordType { record_type: t } if t == record_type),
                );
                index_target(&fields, position, adds_type, record_type, field).and_then(
                    |data_type| match data_type {
                        Ok(data_type) => index_problem(data_type, *index).map(|why| {
                            ("index", format!("index on `{record_type}.{field}`: {why}"))
                        }),
                        Err(why) => Some(why),
                    },
                )
            }
            _ => None,
        };
        if let Some((member, why)) = problem {
            return Some((position, member, why));
        }
    }
    None
}

type Fields<'a> = BTreeMap<(&'a str, &'a str), (usize, DataType)>;

fn field_problem(
    fields: &Fields,
    position: usize,
    record_type: &str,
    field: &str,
    data_type: DataType,
) -> Option<(&'static str, String)> {
    if field.starts_with("___") {
        let what = match SYSTEM_FIELDS.iter().any(|(name, _)| *name == field) {
            true => "a system field every record type has",
            false => "a system field name (names beginning `___` are CloudKit's)",
        };
        return Some((
            "field",
            format!("`{record_type}.{field}` is {what}: it is never added as a field"),
        ));
    }
    let (first, first_type) = fields[&(record_type, field)];
    (first != position).then(|| {
        (
            "field",
            format!(
                "field `{record_type}.{field}` is added as {data_type} here and as \
                 {first_type} by schema.additions[{first}]: a field has one type"
            ),
        )
    })
}

/// The type an index's field has when the plan can know it (`Ok(Some)` as `Some(Ok)`),
/// `None` when the field may already be in CloudKit, or why the index cannot be.
fn index_target(
    fields: &Fields,
    position: usize,
    adds_type: bool,
    record_type: &str,
    field: &str,
) -> Option<Result<DataType, (&'static str, String)>> {
    let refuse = |why: String| Some(Err(("field", why)));
    if field.starts_with("___") {
        return match SYSTEM_FIELDS.iter().find(|(name, _)| *name == field) {
            Some((_, primitive)) => Some(Ok(DataType::scalar(*primitive))),
            None => refuse(format!(
                "index on `{record_type}.{field}`, which is no system field CloudKit has"
            )),
        };
    }
    match fields.get(&(record_type, field)) {
        Some((added, _)) if *added > position => refuse(format!(
            "index on `{record_type}.{field}` comes before the field's addition \
             (schema.additions[{added}])"
        )),
        Some((_, data_type)) => Some(Ok(*data_type)),
        None if adds_type => refuse(format!(
            "index on `{record_type}.{field}`, a field no addition defines on a record \
             type this plan adds"
        )),
        None => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::schema::{Index, Primitive};

    fn field(record_type: &str, name: &str, primitive: Primitive) -> Addition {
        Addition::Field {
            record_type: record_type.into(),
            field: name.into(),
            data_type: DataType::scalar(primitive),
        }
    }

    fn index(record_type: &str, name: &str, index: Index) -> Addition {
        Addition::Index {
            record_type: record_type.into(),
            field: name.into(),
            index,
        }
    }

    fn record_type(name: &str) -> Addition {
        Addition::RecordType {
            record_type: name.into(),
        }
    }

    #[test]
    fn issue_20_contradictory_additions_are_found_and_planned_ones_pass() {
        use Primitive::{Int64, String};
        let planned = [
            record_type("Stadium"),
            field("Stadium", "city", String),
            field("Stadium", "seats", Int64),
            index("Stadium", "city", Index::Searchable),
            index("Stadium", "seats", Index::Sortable),
            index("Stadium", "___createTime", Index::Sortable),
            index("Team", "name", Index::Queryable),
        ];
        assert_eq!(contradiction(&planned), None);
        let cases: [(Vec<Addition>, usize, &str, &str); 8] = [
            (
                vec![
                    field("Stadium", "city", String),
                    field("Stadium", "city", Int64),
                ],
                1,
                "field",
                "a field has one type",
            ),
            (
                vec![field("S", "city", String), field("S", "city", String)],
                1,
                "add",
                "repeats schema.additions[0]",
            ),
            (
                vec![field("S", "___createTime", Int64)],
                0,
                "field",
                "never added as a field",
            ),
            (vec![field("S", "___foo", String)], 0, "field", "`___`"),
            (
                vec![field("S", "n", Int64), index("S", "n", Index::Searchable)],
                1,
                "index",
                "INT64 cannot be SEARCHABLE",
            ),
            (
                vec![index("S", "___createTime", Index::Searchable)],
                0,
                "index",
                "TIMESTAMP cannot be SEARCHABLE",
            ),
            (
                vec![record_type("S"), index("S", "ghost", Index::Queryable)],
                1,
                "field",
                "no addition defines",
            ),
            (
                vec![index("S", "n", Index::Queryable), field("S", "n", String)],
                0,
                "field",
                "comes before",
            ),
        ];
        for (additions, at, member, words) in cases {
            let found = contradiction(&additions);
            let Some((position, what, why)) = &found else {
                panic!("{additions:?} passed")
            };
            assert_eq!((*position, *what), (at, member), "{why}");
            assert!(why.contains(words), "{why}");
        }
        assert!(contradiction(&[index("S", "___foo", Index::Queryable)]).is_some());
    }
}
