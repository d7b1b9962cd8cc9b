//! The protocol's minimums and the round-trip bounds the issue sets: a query returns at most
//! 200 records a page and pages of one query are sequential (each needs the previous
//! continuationMarker), so reading types concurrently is bounded by the largest type's pages;
//! a modify takes at most 200 operations and batches of one dependency level run
//! `parallelism` at a time, levels one after another.

use crate::dataset::TypeCount;
use std::time::Duration;

/// Records per query page and operations per modify request.
pub const PAGE: usize = 200;

/// Query calls to read `count` records: one even for an empty type.
pub fn pages(count: usize) -> usize {
    count.div_ceil(PAGE).max(1)
}

/// Modify calls for `operations` operations of one type: none for none.
pub fn batches(operations: usize) -> usize {
    operations.div_ceil(PAGE)
}

/// `plan`'s minimum: Σ over types of the pages of what CloudKit holds.
pub fn min_plan_calls(current: &[TypeCount]) -> usize {
    current.iter().map(|t| pages(t.count)).sum()
}

/// `apply`'s minimum without conflicts: Σ over types of ⌈operations/200⌉.
pub fn min_apply_calls(operations: &[TypeCount]) -> usize {
    operations.iter().map(|t| batches(t.count)).sum()
}

/// Types read concurrently: the largest type's pages, one round trip each.
pub fn read_bound(current: &[TypeCount], round_trip: Duration) -> Duration {
    let pages = current.iter().map(|t| pages(t.count)).max().unwrap_or(0);
    round_trip * pages as u32
}

/// Levels one after another; within a level ⌈batches / parallelism⌉ round trips.
pub fn write_bound(operations: &[TypeCount], parallelism: usize, round_trip: Duration) -> Duration {
    let levels = operations
        .iter()
        .map(|t| t.level)
        .max()
        .map_or(0, |l| l + 1);
    let trips: usize = (0..levels)
        .map(|level| {
            let level_batches: usize = operations
                .iter()
                .filter(|t| t.level == level)
                .map(|t| batches(t.count))
                .sum();
            level_batches.div_ceil(parallelism.max(1))
        })
        .sum();
    round_trip * trips as u32
}

/// `actual / bound`, or `None` when the bound is zero (no latency: nothing to compare to).
pub fn ratio(actual: Duration, bound: Duration) -> Option<f64> {
    (!bound.is_zero()).then(|| actual.as_secs_f64() / bound.as_secs_f64())
}
