//! A local record whose recordName CloudKit already holds under another record type.
//! Record names are unique within a zone across all types (Apple, *CloudKit Web Services
//! Reference*, "Record Dictionary": a recordName is unique in its zone), so such a record can
//! be neither created (the name is taken) nor updated (the record there is not of its type):
//! it is found before planning instead of being planned as a create that fails every apply.

use crate::record::{RecordName, RecordType};
use std::fmt;

/// One local record whose name CloudKit holds as a record of another type.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NameClash {
    pub record_name: RecordName,
    /// The type of the local record.
    pub local: RecordType,
    /// The type of the record CloudKit holds under the same name.
    pub stored: RecordType,
}

impl fmt::Display for NameClash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "record `{name}` is a `{local}` in the local data but CloudKit holds `{name}` as a \
             `{stored}` (record names are unique in a zone across types): rename the local \
             record, or delete the `{stored}` record `{name}` in CloudKit",
            name = self.record_name,
            local = self.local,
            stored = self.stored,
        )
    }
}

#[cfg(test)]
mod tests {
    use super::NameClash;

    #[test]
    fn issue_12_a_name_clash_names_the_record_and_both_types() {
        let clash = NameClash {
            record_name: "t-5".into(),
            local: "Thing".into(),
            stored: "Other".into(),
        };
        assert_eq!(
            clash.to_string(),
            "record `t-5` is a `Thing` in the local data but CloudKit holds `t-5` as a `Other` \
             (record names are unique in a zone across types): rename the local record, or \
             delete the `Other` record `t-5` in CloudKit"
        );
    }
}
