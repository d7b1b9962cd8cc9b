//! The CloudKit Web Services operations by name (`records/query`, ...), shared by the client
//! and the emulator: each knows its subpath under `/database/1/{container}/{environment}/
//! {database}/` and whether it only reads, so that resending it after an unclear failure
//! is harmless.

use std::fmt;

/// One operation of the database API.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Endpoint {
    Query,
    Lookup,
    Modify,
    RecordsChanges,
    ZonesList,
    ZonesLookup,
    ZonesModify,
    ZonesChanges,
    ChangesDatabase,
    ChangesZone,
    SubscriptionsList,
    SubscriptionsLookup,
    SubscriptionsModify,
    UsersCurrent,
    UsersCaller,
    AssetsUpload,
}

/// Every endpoint with its subpath and whether it only reads.
const ENDPOINTS: [(Endpoint, &str, bool); 16] = [
    (Endpoint::Query, "records/query", true),
    (Endpoint::Lookup, "records/lookup", true),
    (Endpoint::Modify, "records/modify", false),
    (Endpoint::RecordsChanges, "records/changes", true),
    (Endpoint::ZonesList, "zones/list", true),
    (Endpoint::ZonesLookup, "zones/lookup", true),
    (Endpoint::ZonesModify, "zones/modify", false),
    (Endpoint::ZonesChanges, "zones/changes", true),
    (Endpoint::ChangesDatabase, "changes/database", true),
    (Endpoint::ChangesZone, "changes/zone", true),
    (Endpoint::SubscriptionsList, "subscriptions/list", true),
    (Endpoint::SubscriptionsLookup, "subscriptions/lookup", true),
    (Endpoint::SubscriptionsModify, "subscriptions/modify", false),
    (Endpoint::UsersCurrent, "users/current", true),
    (Endpoint::UsersCaller, "users/caller", true),
    (Endpoint::AssetsUpload, "assets/upload", false),
];

impl Endpoint {
    fn entry(self) -> &'static (Endpoint, &'static str, bool) {
        // Every variant is in the table (tested below), so the fallback is never taken.
        ENDPOINTS
            .iter()
            .find(|(endpoint, _, _)| *endpoint == self)
            .unwrap_or(&ENDPOINTS[0])
    }

    /// The subpath after the database, such as `records/query`.
    pub fn path(self) -> &'static str {
        self.entry().1
    }

    /// Whether the operation only reads: resending it after a failure that may have reached
    /// CloudKit cannot change anything. A write is never resent blindly.
    pub fn retry_safe(self) -> bool {
        self.entry().2
    }

    /// The endpoint whose subpath is `path`.
    pub fn parse(path: &str) -> Option<Endpoint> {
        ENDPOINTS
            .iter()
            .find(|(_, name, _)| *name == path)
            .map(|(endpoint, _, _)| *endpoint)
    }
}

impl fmt::Display for Endpoint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.path())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_endpoint_parses_back_from_its_path() {
        for (endpoint, path, _) in ENDPOINTS {
            assert_eq!(endpoint.path(), path);
            assert_eq!(Endpoint::parse(path), Some(endpoint));
            assert_eq!(endpoint.to_string(), path);
        }
        assert_eq!(Endpoint::parse("records/frobnicate"), None);
    }

    #[test]
    fn only_reads_are_retry_safe() {
        assert!(Endpoint::Query.retry_safe());
        assert!(Endpoint::Lookup.retry_safe());
        assert!(Endpoint::UsersCaller.retry_safe());
        assert!(!Endpoint::Modify.retry_safe());
        assert!(!Endpoint::ZonesModify.retry_safe());
        assert!(!Endpoint::AssetsUpload.retry_safe());
        assert!(!Endpoint::SubscriptionsModify.retry_safe());
    }
}
