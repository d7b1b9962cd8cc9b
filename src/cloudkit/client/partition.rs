//! Partitioned reads: one record type read as several independent query chains at once,
//! each over a half-open range of `createdTimestamp` (immutable, so a record edited during
//! the read cannot move into a range already read). The ranges come from `split`, a pure
//! function whose ranges cover every possible timestamp exactly once.
//!
//! The read: the first page of the whole type in `createdTimestamp` order and a one-record
//! probe for the newest record go out together; when more pages follow, the span from the
//! first page's last record to the newest is split, the first chain goes on with its marker
//! up to the first cut, and every other range is a chain of its own (a filtered query),
//! all within the client's request budget. A span that cannot be cut (a bulk import within
//! one millisecond) leaves the first chain to read everything, as one chain would. A record
//! seen by two chains is kept once (`QueryRead`). Without an index on `___createTime`
//! CloudKit refuses the sorted query; the type is then read as one unsorted chain and the
//! read says so (`PartitionedRead::unindexed`).

/// `[start, end)` of `createdTimestamp` in milliseconds; `None` is unbounded.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CreatedRange {
    pub start: Option<i64>,
    pub end: Option<i64>,
}

impl CreatedRange {
    /// Every timestamp.
    pub const ALL: CreatedRange = CreatedRange {
        start: None,
        end: None,
    };

    pub fn contains(&self, created: i64) -> bool {
        self.start.is_none_or(|start| created >= start) && self.end.is_none_or(|end| created < end)
    }
}

/// At most `parts` ranges that together cover every `i64` exactly once, in order: the
/// first unbounded below, the last unbounded above, with cut points spread evenly over
/// `(low, high]` (the span the data is known to occupy). A span too narrow to cut gives
/// fewer ranges, down to one (`CreatedRange::ALL`).
pub fn split(low: i64, high: i64, parts: usize) -> Vec<CreatedRange> {
    let (low, high) = (i128::from(low.min(high)), i128::from(low.max(high)));
    let width = high - low;
    let parts = i128::try_from(parts.max(1)).unwrap_or(1).min(width.max(1));
    let mut cuts: Vec<i64> = (1..parts)
        .filter_map(|index| i64::try_from(low + width * index / parts + 1).ok())
        .collect();
    cuts.dedup();
    let mut ranges = Vec::with_capacity(cuts.len() + 1);
    let mut start = None;
    for cut in cuts {
        ranges.push(CreatedRange {
            start,
            end: Some(cut),
        });
        start = Some(cut);
    }
    ranges.push(CreatedRange { start, end: None });
    ranges
}

use super::records::{decode_page_in_background, QueryPage, QueryRead};
use super::Client;
use crate::cloudkit::error::CloudKitError;
use crate::cloudkit::query::{QueryField, QuerySpec};
use crate::cloudkit::wire::{
    Comparator, Endpoint, QueryRequest, RecordResult, RecordsResponse, SystemField,
};
use crate::record::{FieldValue, Record, RecordType};
use futures::stream::{FuturesUnordered, StreamExt};
use std::collections::HashSet;
use tracing::debug;

/// What a partitioned read of one type found.
#[derive(Debug)]
pub struct PartitionedRead {
    pub records: Vec<Record>,
    /// Query chains the read used (1 when it fell back or the span could not be cut).
    pub chains: usize,
    /// `Some(field)` when CloudKit refused the sorted query on `field` (no index on
    /// `___createTime`) and the type was read as one chain.
    pub unindexed: Option<String>,
}

const CREATED: QueryField = QueryField::System(SystemField::CreatedTimestamp);

/// The query of one range, in `createdTimestamp` order.
fn range_query(record_type: &RecordType, range: CreatedRange) -> QuerySpec {
    let mut spec = QuerySpec::all(record_type);
    if let Some(start) = range.start {
        spec = spec.filter(
            CREATED,
            Comparator::GreaterThanOrEquals,
            FieldValue::timestamp(start),
        );
    }
    if let Some(end) = range.end {
        spec = spec.filter(CREATED, Comparator::LessThan, FieldValue::timestamp(end));
    }
    spec.sort_by(CREATED, true)
}

/// `createdTimestamp` of a read record (`i64::MIN` when the reply had none).
fn created(record: &Record) -> i64 {
    record.stamps.map_or(i64::MIN, |stamps| stamps.created)
}

impl Client {
    /// Every record of `record_type`, read as up to `partitions` concurrent query chains
    /// over ranges of `createdTimestamp` (see the module's documentation); `partitions` 1
    /// is `query_all`. `on_page` hears the records read so far by all chains.
    ///
    /// Errors: as `query_all`; a refused sorted query is not an error but a fallback.
    pub async fn query_partitioned(
        &self,
        record_type: &RecordType,
        partitions: usize,
        on_page: &mut (dyn FnMut(usize) + Send),
    ) -> Result<PartitionedRead, CloudKitError> {
        if partitions <= 1 {
            return self.one_chain(record_type, None, on_page).await;
        }
        let whole = range_query(record_type, CreatedRange::ALL);
        let (first, newest) = tokio::join!(
            self.query_page(&whole, None),
            self.newest_created(record_type)
        );
        let (mut first, newest) = match (first, newest) {
            (Err(CloudKitError::NotQueryable { field, .. }), _)
            | (_, Err(CloudKitError::NotQueryable { field, .. })) => {
                debug!(record_type = %record_type, field, "no createdTimestamp index; one query chain");
                return self.one_chain(record_type, Some(field), on_page).await;
            }
            (first, newest) => (first?, newest?),
        };
        let marker = first.continuation_marker.take().filter(|m| !m.is_empty());
        let page = decode_page_in_background(first).await?;
        let mut read = QueryRead::default();
        let last = page.last().map(|(record, _)| created(record));
        read.extend(page);
        on_page(read.records.len());
        let Some(marker) = marker else {
            return Ok(PartitionedRead {
                records: read.records,
                chains: 1,
                unindexed: None,
            });
        };
        // No newest record seen (a lagging index hid it): nothing to cut, one chain.
        let ranges = match (last, newest) {
            (Some(last), Some(newest)) => split(last, newest, partitions),
            _ => vec![CreatedRange::ALL],
        };
        let chains = ranges.len();
        debug!(record_type = %record_type, chains, "partitioned read");
        let mut running = FuturesUnordered::new();
        running.push(self.range_chain(whole, Some(marker), ranges[0].end));
        for range in &ranges[1..] {
            running.push(self.range_chain(range_query(record_type, *range), None, None));
        }
        while let Some(chain) = running.next().await {
            read.extend(chain?);
            on_page(read.records.len());
        }
        Ok(PartitionedRead {
            records: read.records,
            chains,
            unindexed: None,
        })
    }

    /// Whether CloudKit lets `record_type` be filtered and sorted by `createdTimestamp`
    /// (the fast read): one query of at most one record. `Ok(Some(field))` names the index
    /// CloudKit refused; other errors are the query's.
    pub async fn probe_created_index(
        &self,
        record_type: &RecordType,
    ) -> Result<Option<String>, CloudKitError> {
        let spec = QuerySpec::all(record_type)
            .filter(
                CREATED,
                Comparator::GreaterThanOrEquals,
                FieldValue::timestamp(0),
            )
            .sort_by(CREATED, false);
        let request = QueryRequest {
            zone_id: self.zone_id(),
            results_limit: Some(1),
            query: spec.to_wire(),
            continuation_marker: None,
            desired_keys: Some(Vec::new()),
            zone_wide: None,
            numbers_as_strings: None,
        };
        match self
            .post::<_, RecordsResponse>(Endpoint::Query, &request)
            .await
        {
            Ok(_) => Ok(None),
            Err(error) => match self.query_error(record_type, error) {
                CloudKitError::NotQueryable { field, .. } => Ok(Some(field)),
                other => Err(other),
            },
        }
    }

    /// The read of `query_all`, as a `PartitionedRead`.
    async fn one_chain(
        &self,
        record_type: &RecordType,
        unindexed: Option<String>,
        on_page: &mut (dyn FnMut(usize) + Send),
    ) -> Result<PartitionedRead, CloudKitError> {
        Ok(PartitionedRead {
            records: self.query_all(record_type, on_page).await?,
            chains: 1,
            unindexed,
        })
    }

    /// `createdTimestamp` of the newest record of `record_type` (`None`: no records), from
    /// a one-record query in descending order.
    async fn newest_created(&self, record_type: &RecordType) -> Result<Option<i64>, CloudKitError> {
        let request = QueryRequest {
            zone_id: self.zone_id(),
            results_limit: Some(1),
            query: QuerySpec::all(record_type)
                .sort_by(CREATED, false)
                .to_wire(),
            continuation_marker: None,
            desired_keys: Some(Vec::new()),
            zone_wide: None,
            numbers_as_strings: None,
        };
        let reply: RecordsResponse = self
            .post(Endpoint::Query, &request)
            .await
            .map_err(|error| self.query_error(record_type, error))?;
        Ok(reply.records.iter().find_map(|entry| match entry {
            RecordResult::Record(wire) => wire.created.as_ref().map(|stamp| stamp.timestamp),
            RecordResult::Error(_) => None,
        }))
    }

    /// One chain of `spec`, from `marker` (or its first page), to its end or, with `stop`,
    /// until a page ends at or past that `createdTimestamp` (every record before it has then
    /// been passed, the order being by `createdTimestamp`). A marker that comes back is the
    /// chain going round: `RepeatedMarker`.
    async fn range_chain(
        &self,
        spec: QuerySpec,
        marker: Option<String>,
        stop: Option<i64>,
    ) -> Result<Vec<(Record, i64)>, CloudKitError> {
        let mut records = Vec::new();
        let mut markers_seen = HashSet::new();
        let mut marker = marker;
        loop {
            let mut page: QueryPage = self.query_page(&spec, marker.take()).await?;
            let next = page.continuation_marker.take().filter(|m| !m.is_empty());
            let decoded = decode_page_in_background(page).await?;
            let passed_stop = stop.is_some_and(|stop| {
                decoded
                    .last()
                    .is_some_and(|(record, _)| created(record) >= stop)
            });
            records.extend(decoded);
            match next {
                Some(_) if passed_stop => return Ok(records),
                Some(next) => {
                    if !markers_seen.insert(next.clone()) {
                        return Err(CloudKitError::RepeatedMarker {
                            record_type: spec.record_type.0.clone(),
                        });
                    }
                    marker = Some(next);
                }
                None => return Ok(records),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn assert_cover(ranges: &[CreatedRange]) {
        assert_eq!(ranges.first().unwrap().start, None);
        assert_eq!(ranges.last().unwrap().end, None);
        for pair in ranges.windows(2) {
            let end = pair[0].end.expect("an inner range is bounded");
            assert_eq!(pair[1].start, Some(end), "no gap, no overlap: {ranges:?}");
            assert!(pair[0].start.is_none_or(|start| start < end), "{ranges:?}");
        }
    }

    #[test]
    fn an_even_span_splits_evenly_and_a_narrow_one_not_at_all() {
        assert_eq!(
            split(0, 400, 4),
            vec![
                CreatedRange {
                    start: None,
                    end: Some(101)
                },
                CreatedRange {
                    start: Some(101),
                    end: Some(201)
                },
                CreatedRange {
                    start: Some(201),
                    end: Some(301)
                },
                CreatedRange {
                    start: Some(301),
                    end: None
                },
            ]
        );
        assert_eq!(split(7, 7, 8), vec![CreatedRange::ALL]);
        assert_eq!(split(7, 8, 8).len(), 1);
        assert_eq!(split(7, 9, 8).len(), 2);
        assert_eq!(split(i64::MIN, i64::MAX, 1), vec![CreatedRange::ALL]);
    }

    proptest! {
        /// Issue 18: complete. Every timestamp, inside the span or not, is in exactly one
        /// range, whatever the span and the number of parts.
        #[test]
        fn issue_18_ranges_cover_every_timestamp_once(
            low in any::<i64>(),
            high in any::<i64>(),
            parts in 0usize..70,
            probes in proptest::collection::vec(any::<i64>(), 16),
        ) {
            let ranges = split(low, high, parts);
            assert_cover(&ranges);
            prop_assert!(ranges.len() <= parts.max(1));
            let edges = [i64::MIN, i64::MAX, low, high, low.wrapping_add(1), high.wrapping_sub(1)];
            let cut_points = ranges.iter().filter_map(|r| r.start);
            let around = cut_points.flat_map(|c| [c.wrapping_sub(1), c]);
            for value in probes.into_iter().chain(edges).chain(around) {
                let holding = ranges.iter().filter(|r| r.contains(value)).count();
                prop_assert_eq!(holding, 1, "{} in {:?}", value, ranges);
            }
        }

        /// A span wide enough is cut into exactly `parts` ranges, each inner one non-empty.
        #[test]
        fn wide_spans_use_every_part(low in -1_000_000_000i64..1_000_000_000, width in 64i64..10_000_000, parts in 1usize..64) {
            let ranges = split(low, low + width, parts);
            prop_assert_eq!(ranges.len(), parts);
        }
    }
}
