//! A record's fields: a map from field name to value, kept as one vector of pairs sorted by
//! name. It iterates in the order a `BTreeMap<String, FieldValue>` did (by name, byte-wise),
//! so every rendering is unchanged, but a record of five fields takes one allocation of
//! five pairs instead of a B-tree leaf of eleven slots plus a string per name. Records hold
//! few fields (CloudKit's limit is in the hundreds, real types have a handful to a few
//! dozen), so a binary search over the vector is as fast as the tree's walk, and an insert
//! in the middle moves a few pairs at most.
//!
//! Field names are [`FieldName`]s: shared, immutable strings. The names of the records a
//! thread decodes are interned (a small bounded table per thread), so the 40,000 records of
//! a type share one allocation per field name instead of holding 40,000 copies of it.

use super::FieldValue;
use serde::de::Visitor;
use serde::ser::SerializeMap;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::borrow::Borrow;
use std::cell::RefCell;
use std::fmt;
use std::ops::Deref;
use std::sync::Arc;

/// A field's name: an immutable string shared by every record that has the field. It
/// compares, orders and hashes as its text, and dereferences to `str`.
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct FieldName(Arc<str>);

/// How many distinct names a thread keeps for sharing; names past it are allocated per use.
/// Names come from untrusted files and replies, so the table must not grow without bound
/// (the emulator runs for as long as its user wants).
const INTERNED_NAMES: usize = 1024;
/// Longer names are not shared (CloudKit's own limit on a field name is 255 characters).
const INTERNED_LENGTH: usize = 255;

thread_local! {
    /// The names this thread has made, sorted, for a binary search.
    static NAMES: RefCell<Vec<Arc<str>>> = const { RefCell::new(Vec::new()) };
}

impl FieldName {
    /// The name `text`, sharing the allocation of an equal name made before on this thread.
    pub fn new(text: &str) -> Self {
        if text.len() > INTERNED_LENGTH {
            return Self(Arc::from(text));
        }
        NAMES.with(|names| {
            let mut names = names.borrow_mut();
            match names.binary_search_by(|name| (**name).cmp(text)) {
                Ok(found) => Self(Arc::clone(&names[found])),
                Err(slot) => {
                    let name: Arc<str> = Arc::from(text);
                    if names.len() < INTERNED_NAMES {
                        names.insert(slot, Arc::clone(&name));
                    }
                    Self(name)
                }
            }
        })
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl Deref for FieldName {
    type Target = str;
    fn deref(&self) -> &str {
        &self.0
    }
}

impl AsRef<str> for FieldName {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

impl Borrow<str> for FieldName {
    fn borrow(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for FieldName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// As a `String` shows: quoted and escaped.
impl fmt::Debug for FieldName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&*self.0, f)
    }
}

impl From<&str> for FieldName {
    fn from(text: &str) -> Self {
        Self::new(text)
    }
}

impl From<&String> for FieldName {
    fn from(text: &String) -> Self {
        Self::new(text)
    }
}

impl From<String> for FieldName {
    fn from(text: String) -> Self {
        Self::new(&text)
    }
}

impl From<&FieldName> for FieldName {
    fn from(name: &FieldName) -> Self {
        name.clone()
    }
}

impl From<FieldName> for String {
    fn from(name: FieldName) -> Self {
        name.0.as_ref().to_owned()
    }
}

impl PartialEq<str> for FieldName {
    fn eq(&self, other: &str) -> bool {
        &*self.0 == other
    }
}

impl PartialEq<&str> for FieldName {
    fn eq(&self, other: &&str) -> bool {
        &*self.0 == *other
    }
}

impl PartialEq<String> for FieldName {
    fn eq(&self, other: &String) -> bool {
        *self.0 == **other
    }
}

impl Serialize for FieldName {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.0)
    }
}

impl<'de> Deserialize<'de> for FieldName {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct NameVisitor;
        impl Visitor<'_> for NameVisitor {
            type Value = FieldName;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a field name")
            }
            fn visit_str<E: serde::de::Error>(self, text: &str) -> Result<FieldName, E> {
                Ok(FieldName::new(text))
            }
        }
        deserializer.deserialize_str(NameVisitor)
    }
}

/// The fields of a record, ordered by name so that every rendering is deterministic: the
/// map API of the `BTreeMap<String, FieldValue>` this replaces, over a sorted vector with
/// no two pairs of the same name.
#[derive(Clone, Default, PartialEq)]
pub struct Fields(Vec<(FieldName, FieldValue)>);

impl Fields {
    pub fn new() -> Self {
        Self(Vec::new())
    }

    /// An empty map with room for `capacity` fields, for a builder that knows its count.
    pub fn with_capacity(capacity: usize) -> Self {
        Self(Vec::with_capacity(capacity))
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Where `name` is (`Ok`) or would be inserted (`Err`).
    fn find(&self, name: &str) -> Result<usize, usize> {
        self.0.binary_search_by(|(key, _)| key.as_str().cmp(name))
    }

    pub fn get(&self, name: &str) -> Option<&FieldValue> {
        self.find(name).ok().map(|at| &self.0[at].1)
    }

    pub fn get_mut(&mut self, name: &str) -> Option<&mut FieldValue> {
        self.find(name).ok().map(|at| &mut self.0[at].1)
    }

    /// The stored name and value of `name`.
    pub fn get_key_value(&self, name: &str) -> Option<(&FieldName, &FieldValue)> {
        self.find(name)
            .ok()
            .map(|at| (&self.0[at].0, &self.0[at].1))
    }

    pub fn contains_key(&self, name: &str) -> bool {
        self.find(name).is_ok()
    }

    /// Sets `name` to `value`, returning the value it replaced (the stored name is kept, as
    /// `BTreeMap::insert` keeps its key).
    pub fn insert(&mut self, name: impl Into<FieldName>, value: FieldValue) -> Option<FieldValue> {
        let name = name.into();
        match self.find(&name) {
            Ok(at) => Some(std::mem::replace(&mut self.0[at].1, value)),
            Err(at) => {
                self.0.insert(at, (name, value));
                None
            }
        }
    }

    pub fn remove(&mut self, name: &str) -> Option<FieldValue> {
        self.find(name).ok().map(|at| self.0.remove(at).1)
    }

    /// Keeps the fields for which `keep` says yes, in order.
    pub fn retain(&mut self, mut keep: impl FnMut(&FieldName, &mut FieldValue) -> bool) {
        self.0.retain_mut(|(name, value)| keep(name, value));
    }

    pub fn clear(&mut self) {
        self.0.clear();
    }

    /// The fields by name.
    pub fn iter(&self) -> Iter<'_> {
        Iter(self.0.iter())
    }

    /// The fields by name, values mutable.
    pub fn iter_mut(&mut self) -> IterMut<'_> {
        IterMut(self.0.iter_mut())
    }

    pub fn keys(&self) -> impl DoubleEndedIterator<Item = &FieldName> + ExactSizeIterator {
        self.0.iter().map(|(name, _)| name)
    }

    pub fn values(&self) -> impl DoubleEndedIterator<Item = &FieldValue> + ExactSizeIterator {
        self.0.iter().map(|(_, value)| value)
    }

    pub fn values_mut(
        &mut self,
    ) -> impl DoubleEndedIterator<Item = &mut FieldValue> + ExactSizeIterator {
        self.0.iter_mut().map(|(_, value)| value)
    }

    pub fn into_values(self) -> impl DoubleEndedIterator<Item = FieldValue> + ExactSizeIterator {
        self.0.into_iter().map(|(_, value)| value)
    }

    /// Sorts pairs gathered in any order and keeps, of several of one name, the last one,
    /// as inserting them one by one into a `BTreeMap` would.
    fn from_unsorted(mut pairs: Vec<(FieldName, FieldValue)>) -> Self {
        // Stable: pairs of one name stay in the order given.
        pairs.sort_by(|(a, _), (b, _)| a.cmp(b));
        // `dedup_by` removes `later` when it says yes: move its value into the kept pair.
        pairs.dedup_by(|later, kept| {
            let same = later.0 == kept.0;
            if same {
                std::mem::swap(&mut later.1, &mut kept.1);
            }
            same
        });
        pairs.shrink_to_fit();
        Self(pairs)
    }
}

/// As a map shows: `{"name": value, ...}`.
impl fmt::Debug for Fields {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_map().entries(self.iter()).finish()
    }
}

/// The fields by name, as `Fields::iter` gives them.
#[derive(Clone)]
pub struct Iter<'a>(std::slice::Iter<'a, (FieldName, FieldValue)>);

impl<'a> Iterator for Iter<'a> {
    type Item = (&'a FieldName, &'a FieldValue);
    fn next(&mut self) -> Option<Self::Item> {
        self.0.next().map(|(name, value)| (name, value))
    }
    fn size_hint(&self) -> (usize, Option<usize>) {
        self.0.size_hint()
    }
}

impl DoubleEndedIterator for Iter<'_> {
    fn next_back(&mut self) -> Option<Self::Item> {
        self.0.next_back().map(|(name, value)| (name, value))
    }
}

impl ExactSizeIterator for Iter<'_> {}

/// The fields by name with mutable values, as `Fields::iter_mut` gives them.
pub struct IterMut<'a>(std::slice::IterMut<'a, (FieldName, FieldValue)>);

impl<'a> Iterator for IterMut<'a> {
    type Item = (&'a FieldName, &'a mut FieldValue);
    fn next(&mut self) -> Option<Self::Item> {
        self.0.next().map(|(name, value)| (&*name, value))
    }
    fn size_hint(&self) -> (usize, Option<usize>) {
        self.0.size_hint()
    }
}

impl DoubleEndedIterator for IterMut<'_> {
    fn next_back(&mut self) -> Option<Self::Item> {
        self.0.next_back().map(|(name, value)| (&*name, value))
    }
}

impl ExactSizeIterator for IterMut<'_> {}

impl<'a> IntoIterator for &'a Fields {
    type Item = (&'a FieldName, &'a FieldValue);
    type IntoIter = Iter<'a>;
    fn into_iter(self) -> Iter<'a> {
        self.iter()
    }
}

impl<'a> IntoIterator for &'a mut Fields {
    type Item = (&'a FieldName, &'a mut FieldValue);
    type IntoIter = IterMut<'a>;
    fn into_iter(self) -> IterMut<'a> {
        self.iter_mut()
    }
}

impl IntoIterator for Fields {
    type Item = (FieldName, FieldValue);
    type IntoIter = std::vec::IntoIter<(FieldName, FieldValue)>;
    fn into_iter(self) -> Self::IntoIter {
        self.0.into_iter()
    }
}

impl<K: Into<FieldName>> FromIterator<(K, FieldValue)> for Fields {
    fn from_iter<I: IntoIterator<Item = (K, FieldValue)>>(pairs: I) -> Self {
        Self::from_unsorted(
            pairs
                .into_iter()
                .map(|(name, value)| (name.into(), value))
                .collect(),
        )
    }
}

impl<K: Into<FieldName>, const N: usize> From<[(K, FieldValue); N]> for Fields {
    fn from(pairs: [(K, FieldValue); N]) -> Self {
        pairs.into_iter().collect()
    }
}

impl<K: Into<FieldName>> Extend<(K, FieldValue)> for Fields {
    fn extend<I: IntoIterator<Item = (K, FieldValue)>>(&mut self, pairs: I) {
        for (name, value) in pairs {
            self.insert(name, value);
        }
    }
}

impl std::ops::Index<&str> for Fields {
    type Output = FieldValue;
    /// The value of `name`; panics when there is none, as `BTreeMap`'s index does.
    fn index(&self, name: &str) -> &FieldValue {
        self.get(name).expect("no field of that name")
    }
}

/// A JSON object of the fields, in name order.
impl Serialize for Fields {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(Some(self.len()))?;
        for (name, value) in self {
            map.serialize_entry(name.as_str(), value)?;
        }
        map.end()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::collections::BTreeMap;

    /// One step of a sequence applied to both maps.
    #[derive(Clone, Debug)]
    enum Step {
        Insert(String, i64),
        Remove(String),
        Retain(i64),
    }

    fn arb_name() -> impl Strategy<Value = String> {
        // Few names, so that steps collide; upper case and multi-byte text for the order.
        prop::sample::select(vec![
            "a", "B", "b", "ab", "é", "z", "", "aa", "start", "Start",
        ])
        .prop_map(str::to_owned)
    }

    fn arb_step() -> impl Strategy<Value = Step> {
        prop_oneof![
            4 => (arb_name(), any::<i64>()).prop_map(|(n, v)| Step::Insert(n, v)),
            2 => arb_name().prop_map(Step::Remove),
            1 => any::<i64>().prop_map(Step::Retain),
        ]
    }

    fn same(fields: &Fields, model: &BTreeMap<String, FieldValue>) {
        let ours: Vec<(&str, &FieldValue)> = fields.iter().map(|(n, v)| (n.as_str(), v)).collect();
        let theirs: Vec<(&str, &FieldValue)> = model.iter().map(|(n, v)| (n.as_str(), v)).collect();
        assert_eq!(ours, theirs);
        assert_eq!(fields.len(), model.len());
        assert_eq!(fields.is_empty(), model.is_empty());
        assert_eq!(format!("{fields:?}"), format!("{model:?}"));
        for name in [
            "a", "B", "b", "ab", "é", "z", "", "aa", "start", "Start", "zz",
        ] {
            assert_eq!(fields.get(name), model.get(name), "{name}");
            assert_eq!(fields.contains_key(name), model.contains_key(name));
        }
        assert_eq!(
            serde_json::to_string(fields).unwrap(),
            serde_json::to_string(model).unwrap()
        );
    }

    proptest! {
        #[test]
        fn behaves_as_a_btree_map(steps in prop::collection::vec(arb_step(), 0..40)) {
            let mut fields = Fields::new();
            let mut model = BTreeMap::new();
            for step in steps {
                match step {
                    Step::Insert(name, v) => {
                        let value = FieldValue::int64(v);
                        prop_assert_eq!(
                            fields.insert(name.clone(), value.clone()),
                            model.insert(name, value)
                        );
                    }
                    Step::Remove(name) => {
                        prop_assert_eq!(fields.remove(&name), model.remove(&name));
                    }
                    Step::Retain(bit) => {
                        let keep = |value: &FieldValue| {
                            !matches!(value, FieldValue::Scalar(crate::record::Value::Int64(v)) if v & 1 == bit & 1)
                        };
                        fields.retain(|_, value| keep(value));
                        model.retain(|_, value| keep(value));
                    }
                }
                same(&fields, &model);
            }
        }

        #[test]
        fn collects_as_a_btree_map(
            pairs in prop::collection::vec((arb_name(), any::<i64>()), 0..20)
        ) {
            let pairs: Vec<(String, FieldValue)> =
                pairs.into_iter().map(|(n, v)| (n, FieldValue::int64(v))).collect();
            let fields: Fields = pairs.iter().cloned().collect();
            let model: BTreeMap<String, FieldValue> = pairs.iter().cloned().collect();
            same(&fields, &model);
            let mut extended = Fields::new();
            extended.extend(pairs.iter().cloned());
            prop_assert_eq!(&extended, &fields);
            let owned: Vec<(String, FieldValue)> =
                fields.into_iter().map(|(n, v)| (String::from(n), v)).collect();
            prop_assert_eq!(owned, model.into_iter().collect::<Vec<_>>());
        }
    }

    #[test]
    fn names_are_shared_and_bounded() {
        let a = FieldName::new("homeTeam");
        let b = FieldName::from("homeTeam".to_owned());
        assert!(Arc::ptr_eq(&a.0, &b.0));
        assert_eq!(a, "homeTeam");
        assert_eq!(format!("{a:?}"), "\"homeTeam\"");
        let long = "x".repeat(INTERNED_LENGTH + 1);
        assert!(!Arc::ptr_eq(
            &FieldName::new(&long).0,
            &FieldName::new(&long).0
        ));
        // Past the bound, names are still made, only not kept.
        for i in 0..INTERNED_NAMES + 10 {
            assert_eq!(FieldName::new(&format!("f{i}")).as_str(), format!("f{i}"));
        }
        NAMES.with(|names| assert!(names.borrow().len() <= INTERNED_NAMES));
    }
}
