//! The protocol's minimums and the round-trip bounds the issue sets: a query returns at most
//! 200 records a page and pages of one query are sequential (each needs the previous
//! continuationMarker), so reading types concurrently is bounded by the largest type's pages;
//! a modify takes at most 200 operations, in order. Operations are sent in dependency order
//! (referenced types first) cut into batches of 200 across type boundaries, ⌈operations/200⌉
//! requests; consecutive batches of one level run `parallelism` at a time, and a batch that
//! spans levels waits for every batch before it and is waited for by every batch after.

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

/// `apply`'s minimum without conflicts: ⌈operations/200⌉, batches spanning types.
pub fn min_apply_calls(operations: &[TypeCount]) -> usize {
    batches(operations.iter().map(|t| t.count).sum())
}

/// Types read concurrently: the largest type's pages, one round trip each.
pub fn read_bound(current: &[TypeCount], round_trip: Duration) -> Duration {
    let pages = current.iter().map(|t| pages(t.count)).max().unwrap_or(0);
    round_trip * pages as u32
}

/// The levels each batch holds, operations in `operations` order cut every 200.
fn batch_levels(operations: &[TypeCount]) -> Vec<(usize, usize)> {
    let mut out: Vec<(usize, usize)> = Vec::new();
    let mut filled = 0;
    for t in operations.iter().filter(|t| t.count > 0) {
        let mut left = t.count;
        while left > 0 {
            if filled % PAGE == 0 {
                out.push((t.level, t.level));
            }
            let last = out.len() - 1;
            out[last].1 = t.level;
            let take = left.min(PAGE - filled % PAGE);
            filled += take;
            left -= take;
        }
    }
    out
}

/// Round trips of the batches: a run of batches of one level takes ⌈run / parallelism⌉, a
/// batch spanning levels one of its own.
pub fn write_bound(operations: &[TypeCount], parallelism: usize, round_trip: Duration) -> Duration {
    let mut trips = 0;
    let mut run: Option<(usize, usize)> = None;
    for (first, last) in batch_levels(operations) {
        match run {
            Some((level, ref mut length)) if first == last && level == first => *length += 1,
            _ => {
                trips += run.map_or(0, |(_, length)| length.div_ceil(parallelism.max(1)));
                run = Some((first, 1));
                if first != last {
                    // Spanning: alone, and nothing may join it.
                    trips += 1;
                    run = None;
                }
            }
        }
    }
    trips += run.map_or(0, |(_, length)| length.div_ceil(parallelism.max(1)));
    round_trip * trips as u32
}

/// One batch at a time (the old script): one round trip per batch of ⌈operations/200⌉.
pub fn sequential_bound(operations: &[TypeCount], round_trip: Duration) -> Duration {
    round_trip * min_apply_calls(operations) as u32
}

/// `actual / bound`, or `None` when the bound is zero (no latency: nothing to compare to).
pub fn ratio(actual: Duration, bound: Duration) -> Option<f64> {
    (!bound.is_zero()).then(|| actual.as_secs_f64() / bound.as_secs_f64())
}
