//! Partitioned reads: one record type read as several independent query chains at once,
//! each over a half-open range of `createdTimestamp` (immutable, so a record edited during
//! the read cannot move into a range already read). The ranges come from `split`, a pure
//! function whose ranges cover every possible timestamp exactly once.
//!
//! The read: the first page of the whole type in `createdTimestamp` order and a one-record
//! probe for the newest record go out together; when more pages follow, the span from the
//! first page's last record to the newest is split, the first chain goes on with its marker
//! up to the first cut, and every other range is a chain of its own (a filtered query),
//! all within the client's request budget. Records written in batches share their
//! `createdTimestamp`, so even cuts leave some ranges several pages deep: after each page
//! that leaves more, the rest of a chain is split again (`split_rest`): its marker goes on
//! through the rest of its last record's millisecond, and new filtered chains, as many as
//! the pages left look like at the density it read at (`rest_parts`), take the rest, as
//! far as requests are free in the budget right then (up to four times `partitions`
//! chains in all). A span
//! that cannot be cut (a bulk import within one millisecond) leaves the first chain to read
//! everything, as one chain would. A record
//! seen by two chains is kept once (`QueryRead`). Without an index on `___createTime`
//! CloudKit refuses the sorted query; the type is then read as one unsorted chain and the
//! read says so (`PartitionedRead::unindexed`).
//!
//! A read can start from a hint (`ReadHint`): the cuts that would have split the type's
//! records into chains of about equal length at its last read (`balanced_cuts`). The chains
//! then all start at once, without the first page and the probe, so a type read again costs
//! one round trip fewer and its chains come out even. The hint only moves the cuts: its
//! ranges (`split_at`) cover every timestamp whatever it holds, so a stale or edited hint
//! can make a read slower, never miss a record.

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
    let cuts: Vec<i64> = (1..parts)
        .filter_map(|index| i64::try_from(low + width * index / parts + 1).ok())
        .collect();
    split_at(&cuts)
}

/// Where a type read before is worth cutting: `createdTimestamp` cut points in increasing
/// order, the newest `createdTimestamp` that read saw (milliseconds), and the request
/// budget (`--parallelism`) the cuts were made for: a read with another budget does not
/// use them (cuts made for 4 requests would hold back a read of 32).
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReadHint {
    pub cuts: Vec<i64>,
    pub newest: i64,
    pub parallelism: usize,
}

impl ReadHint {
    /// The hint for a type whose records were created at `created` (any order), read as at
    /// most `chains` chains of a budget of `parallelism` requests next time; `None` when it
    /// has no record.
    pub fn of(created: &mut [i64], chains: usize, parallelism: usize) -> Option<Self> {
        let newest = created.iter().copied().max()?;
        Some(Self {
            cuts: balanced_cuts(created, chains),
            newest,
            parallelism,
        })
    }
}

/// Cut points splitting records created at `created` (sorted here) into ranges of about the
/// same number of records, as few as keep every range within the fewest pages `chains`
/// ranges allow (a page counted as nine tenths full: room for records of one millisecond
/// and for some growth). Each cut is the `createdTimestamp` of the first record of its
/// range, strictly increasing, and never the oldest (a range below it would be empty);
/// records of one millisecond stay in one range.
pub fn balanced_cuts(created: &mut [i64], chains: usize) -> Vec<i64> {
    created.sort_unstable();
    let count = created.len();
    let pages = count.div_ceil(PAGE * 9 / 10);
    let depth = pages.div_ceil(chains.max(1)).max(1);
    let chains = pages.div_ceil(depth).max(1);
    let per_chain = count.div_ceil(chains).max(1);
    let mut cuts: Vec<i64> = Vec::with_capacity(chains - 1);
    for index in 1..chains {
        let cut = created[(index * per_chain).min(count - 1)];
        if cut > created[0] && cuts.last().is_none_or(|&last| cut > last) {
            cuts.push(cut);
        }
    }
    cuts
}

/// The ranges `cuts` make, in order, covering every `i64` exactly once whatever `cuts`
/// holds (sorted and deduplicated here): unbounded below up to the first cut, from each cut
/// to the next, the last unbounded above.
pub fn split_at(cuts: &[i64]) -> Vec<CreatedRange> {
    let mut cuts = cuts.to_vec();
    cuts.sort_unstable();
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

/// How many chains the rest of a chain is worth, at most `most`: the pages left up to
/// `high` (the newest `createdTimestamp` it can hold) if the rest is as dense as its last
/// page, which read `records` records over `(from, last]`. 1: go on as one chain.
pub fn rest_parts(
    from: i64,
    last: i64,
    high: i64,
    records: usize,
    page: usize,
    most: usize,
) -> usize {
    let (from, last, high) = (i128::from(from), i128::from(last), i128::from(high));
    if high <= last || records == 0 {
        return 1;
    }
    let read_span = (last - from).max(1);
    let left = i128::try_from(records).unwrap_or(i128::MAX / 4) * (high - last) / read_span;
    let page = i128::try_from(page.max(1)).unwrap_or(1);
    let pages = (left + page - 1) / page;
    usize::try_from(pages.clamp(1, i128::try_from(most.max(1)).unwrap_or(1))).unwrap_or(1)
}

/// The rest of a chain that has read up to `last` and answers for timestamps below `end`
/// (`None`: unbounded), cut into at most `parts` ranges: the first, unbounded below and
/// ending at `last + 1`, stays with the chain (its marker goes on only through records
/// created in the same millisecond as `last`; its end is the chain's new stop); the rest,
/// `(last, high]` cut evenly, become chains of their own, the last ending at `end`. Filtered
/// chains end where their range ends, where a chain going on by marker has to read a page
/// past its stop to know it is done. Together the ranges cover what the chain covered,
/// with no gap and no overlap; every cut lies past `last` and before `end`.
pub fn split_rest(last: i64, high: i64, end: Option<i64>, parts: usize) -> Vec<CreatedRange> {
    let high = end.map_or(high, |end| high.min(end.saturating_sub(1)));
    if high <= last || parts < 2 {
        return vec![CreatedRange { start: None, end }];
    }
    // `last < high <= i64::MAX`, so `last + 1` does not overflow.
    let next = last + 1;
    let mut ranges = vec![CreatedRange {
        start: None,
        end: Some(next),
    }];
    ranges.extend(
        split(next, high, parts - 1)
            .into_iter()
            .map(|range| CreatedRange {
                start: range.start.or(Some(next)),
                end: range.end,
            }),
    );
    if let Some(rest) = ranges.last_mut() {
        rest.end = end;
    }
    ranges
}

use super::records::{decode_page_in_background, QueryPage, QueryRead};
use super::{Client, MAX_RECORDS_PER_REQUEST};
use crate::cloudkit::error::CloudKitError;
use crate::cloudkit::query::{QueryField, QuerySpec};
use crate::cloudkit::wire::{
    Comparator, Endpoint, QueryRequest, RecordResult, RecordsResponse, SystemField,
};
use crate::record::{FieldValue, Record, RecordType};
use futures::stream::{FuturesUnordered, StreamExt};
use std::collections::HashSet;
use tracing::debug;

/// What a partitioned read of one type found: its records, or what `keep` made of them.
#[derive(Debug)]
pub struct PartitionedRead<T = Record> {
    pub records: Vec<T>,
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
        hint: Option<&ReadHint>,
        on_page: &mut (dyn FnMut(usize) + Send),
    ) -> Result<PartitionedRead, CloudKitError> {
        self.query_partitioned_kept(record_type, partitions, hint, on_page, &mut |record| record)
            .await
    }

    /// As [`Client::query_partitioned`], each record passed through `keep` as its page is
    /// decoded (a repeated recordName keeps the copy `query_all` keeps), so that a caller
    /// holds what it needs of a record, not the record.
    pub async fn query_partitioned_kept<T: Send>(
        &self,
        record_type: &RecordType,
        partitions: usize,
        hint: Option<&ReadHint>,
        on_page: &mut (dyn FnMut(usize) + Send),
        keep: &mut (dyn FnMut(Record) -> T + Send),
    ) -> Result<PartitionedRead<T>, CloudKitError> {
        if partitions <= 1 {
            return self.one_chain(record_type, None, on_page, keep).await;
        }
        // A hint made for another budget, or of more cuts than a read would ever make, is
        // not used.
        if let Some(hint) =
            hint.filter(|h| h.parallelism == partitions && h.cuts.len() < partitions)
        {
            return self
                .read_hinted(record_type, partitions, hint, on_page, keep)
                .await;
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
                return self
                    .one_chain(record_type, Some(field), on_page, keep)
                    .await;
            }
            (first, newest) => (first?, newest?),
        };
        let marker = first.continuation_marker.take().filter(|m| !m.is_empty());
        let page = decode_page_in_background(first).await?;
        let mut read = QueryRead::default();
        let last = page.last().map(|(record, _)| created(record));
        read.extend(page, keep);
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
        debug!(record_type = %record_type, chains = ranges.len(), "partitioned read");
        let mut chains = Vec::with_capacity(ranges.len());
        chains.push(Chain::new(whole, last, ranges[0].end, Some(marker.clone())));
        for range in &ranges[1..] {
            chains.push(Chain::new(
                range_query(record_type, *range),
                range.start,
                range.end,
                None,
            ));
        }
        let first_markers = std::iter::once(Some(marker)).chain(std::iter::repeat(None));
        let started = chains
            .iter()
            .zip(first_markers)
            .map(|(chain, marker)| (chain.spec.clone(), marker));
        let started: Vec<_> = started.collect();
        self.run_chains(
            record_type,
            partitions,
            chains,
            started,
            newest,
            read,
            on_page,
            keep,
            true,
        )
        .await
    }

    /// The read from a hint: a chain per range of its cuts, all at once, none split again
    /// (the cuts already balance them; re-splitting on one page's density spends requests
    /// on empty ranges and makes the chains queue behind the budget); without the index,
    /// one chain (what the chains read is dropped, and the progress heard never goes back).
    async fn read_hinted<T: Send>(
        &self,
        record_type: &RecordType,
        partitions: usize,
        hint: &ReadHint,
        on_page: &mut (dyn FnMut(usize) + Send),
        keep: &mut (dyn FnMut(Record) -> T + Send),
    ) -> Result<PartitionedRead<T>, CloudKitError> {
        let ranges = split_at(&hint.cuts);
        debug!(record_type = %record_type, chains = ranges.len(), "partitioned read from a hint");
        let chains: Vec<Chain> = ranges
            .iter()
            .map(|range| {
                Chain::new(
                    range_query(record_type, *range),
                    range.start,
                    range.end,
                    None,
                )
            })
            .collect();
        let started = chains
            .iter()
            .map(|chain| (chain.spec.clone(), None))
            .collect();
        let newest = hint.cuts.iter().copied().chain([hint.newest]).max();
        let mut heard = 0;
        let mut hear = |so_far: usize| {
            heard = heard.max(so_far);
            on_page(heard);
        };
        let read = self
            .run_chains(
                record_type,
                partitions,
                chains,
                started,
                newest,
                QueryRead::default(),
                &mut hear,
                keep,
                false,
            )
            .await;
        match read {
            Err(CloudKitError::NotQueryable { field, .. }) => {
                debug!(record_type = %record_type, field, "no createdTimestamp index; one query chain");
                self.one_chain(record_type, Some(field), &mut hear, keep)
                    .await
            }
            read => read,
        }
    }

    /// Runs `chains` (the first page of each as `started` says: its query and marker) to
    /// their ends, with `resplit` splitting the rest of a long one again while requests are
    /// free (see the module's documentation); `newest` is the newest `createdTimestamp`
    /// known.
    #[allow(clippy::too_many_arguments)]
    async fn run_chains<T: Send>(
        &self,
        record_type: &RecordType,
        partitions: usize,
        mut chains: Vec<Chain>,
        started: Vec<(QuerySpec, Option<String>)>,
        newest: Option<i64>,
        mut read: QueryRead<T>,
        on_page: &mut (dyn FnMut(usize) + Send),
        keep: &mut (dyn FnMut(Record) -> T + Send),
        resplit: bool,
    ) -> Result<PartitionedRead<T>, CloudKitError> {
        let mut running = FuturesUnordered::new();
        for (index, (spec, marker)) in started.into_iter().enumerate() {
            running.push(self.chain_page(index, spec, marker));
        }
        // A chain found long is split again, up to this many chains in all.
        let most_chains = partitions.saturating_mul(4);
        while let Some((index, page)) = running.next().await {
            let (page, next) = page?;
            let records = page.len();
            let first = page.first().map(|(record, _)| created(record));
            let last = page.last().map(|(record, _)| created(record));
            read.extend(page, keep);
            on_page(read.records.len());
            debug!(record_type = %record_type, chain = index, records, last, stop = chains[index].stop, more = next.is_some(), "partitioned read page");
            let Some(next) = next else { continue };
            // New chains only into requests free now, so none waits behind the budget.
            let room = self.inner.in_flight.available_permits().saturating_sub(1);
            let room = if resplit && chains.len() < most_chains {
                room
            } else {
                0
            };
            let chain = &mut chains[index];
            if let (Some(stop), Some(last)) = (chain.stop, last) {
                if last >= stop {
                    // Every record before `stop` has been passed (the order is by
                    // `createdTimestamp`); the rest is another chain's.
                    continue;
                }
            }
            if !chain.markers_seen.insert(next.clone()) {
                return Err(CloudKitError::RepeatedMarker {
                    record_type: record_type.0.clone(),
                });
            }
            let mut more = Vec::new();
            if let (Some(first), Some(last)) = (first, last) {
                let from = chain.from.unwrap_or(first);
                // The newest record this chain can hold, as far as the probe knew.
                let high = match (chain.stop, newest) {
                    (Some(stop), newest) => {
                        Some(newest.unwrap_or(i64::MAX).min(stop.saturating_sub(1)))
                    }
                    (None, newest) => newest,
                };
                if let Some(high) = high.filter(|_| last > i64::MIN && room > 0) {
                    // The same millisecond's leftovers and the pages left, if free; a rest
                    // of one page is read as soon by the marker, with one request.
                    let pages_left = rest_parts(from, last, high, records, PAGE, room);
                    let parts = match pages_left {
                        0 | 1 => 1,
                        _ => (pages_left + 1).min(room + 1),
                    };
                    let rest = split_rest(last, high, chain.stop, parts);
                    if rest.len() > 1 {
                        debug!(record_type = %record_type, chains = rest.len(), "a long chain split again");
                        chain.stop = rest[0].end;
                        more.extend(rest[1..].iter().copied());
                    }
                }
                chain.from = Some(last);
            }
            running.push(self.chain_page(index, chain.spec.clone(), Some(next)));
            for range in more {
                let chain = Chain::new(
                    range_query(record_type, range),
                    range.start,
                    range.end,
                    None,
                );
                running.push(self.chain_page(chains.len(), chain.spec.clone(), None));
                chains.push(chain);
            }
        }
        Ok(PartitionedRead {
            records: read.records,
            chains: chains.len(),
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
    async fn one_chain<T: Send>(
        &self,
        record_type: &RecordType,
        unindexed: Option<String>,
        on_page: &mut (dyn FnMut(usize) + Send),
        keep: &mut (dyn FnMut(Record) -> T + Send),
    ) -> Result<PartitionedRead<T>, CloudKitError> {
        Ok(PartitionedRead {
            records: self.query_all_kept(record_type, on_page, keep).await?,
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

    /// One page of a chain of `spec` (its first, or the one `marker` points at), decoded,
    /// with the marker of the next page; `index` names the chain.
    async fn chain_page(
        &self,
        index: usize,
        spec: QuerySpec,
        marker: Option<String>,
    ) -> (usize, Result<ChainPage, CloudKitError>) {
        let page = async {
            let mut page: QueryPage = self.query_page(&spec, marker).await?;
            let next = page.continuation_marker.take().filter(|m| !m.is_empty());
            Ok((decode_page_in_background(page).await?, next))
        };
        (index, page.await)
    }
}

/// A decoded page and the marker of the next.
type ChainPage = (Vec<(Record, i64)>, Option<String>);

/// Records per query page.
const PAGE: usize = MAX_RECORDS_PER_REQUEST;

/// One query chain of a partitioned read.
struct Chain {
    /// Its query (the whole type, or one range).
    spec: QuerySpec,
    /// Where its next page starts reading, as far as is known: the range's start, then
    /// the `createdTimestamp` its last page ended at (the density of the rest is guessed
    /// from the records read since).
    from: Option<i64>,
    /// The chain ends at the first page that ends at or past this `createdTimestamp`
    /// (every record before it has then been passed); the rest is other chains'.
    stop: Option<i64>,
    /// Markers it was given, to catch a chain going round.
    markers_seen: HashSet<String>,
}

impl Chain {
    fn new(spec: QuerySpec, from: Option<i64>, stop: Option<i64>, marker: Option<String>) -> Self {
        Chain {
            spec,
            from,
            stop,
            markers_seen: marker.into_iter().collect(),
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

    #[test]
    fn a_chain_is_worth_the_pages_left_at_its_density() {
        // 200 records over 10 ms, 30 ms left: three pages.
        assert_eq!(rest_parts(0, 10, 40, 200, 200, 16), 3);
        // The budget caps it; nothing left, nothing read or a narrow span: one chain.
        assert_eq!(rest_parts(0, 10, 40, 200, 200, 2), 2);
        assert_eq!(rest_parts(0, 10, 10, 200, 200, 16), 1);
        assert_eq!(rest_parts(0, 10, 9, 200, 200, 16), 1);
        assert_eq!(rest_parts(0, 10, 40, 0, 200, 16), 1);
        assert_eq!(rest_parts(0, 10, 11, 200, 200, 16), 1);
        // A page within one millisecond: every millisecond left may hold a page.
        assert_eq!(rest_parts(5, 5, 9, 200, 200, 16), 4);
        assert_eq!(rest_parts(i64::MIN, i64::MIN, i64::MAX, 200, 200, 16), 16);
    }

    #[test]
    fn the_rest_of_a_chain_splits_past_what_it_read() {
        assert_eq!(
            split_rest(10, 40, Some(50), 3),
            vec![
                CreatedRange {
                    start: None,
                    end: Some(11)
                },
                CreatedRange {
                    start: Some(11),
                    end: Some(26)
                },
                CreatedRange {
                    start: Some(26),
                    end: Some(50)
                },
            ]
        );
        // The chain keeps its own millisecond's leftovers; the next one is a chain's.
        assert_eq!(
            split_rest(10, 11, None, 4),
            vec![
                CreatedRange {
                    start: None,
                    end: Some(11)
                },
                CreatedRange {
                    start: Some(11),
                    end: None
                },
            ]
        );
        assert_eq!(split_rest(10, 40, Some(50), 1).len(), 1);
        // Nothing past `last` below `end`: the chain goes on alone.
        assert_eq!(
            split_rest(10, 40, Some(11), 3),
            vec![CreatedRange {
                start: None,
                end: Some(11)
            }]
        );
        assert_eq!(split_rest(10, 10, None, 3), vec![CreatedRange::ALL]);
    }

    #[test]
    fn cuts_balance_pages_and_keep_a_millisecond_whole() {
        // 1,000 records in 1,000 milliseconds, at most 4 chains: 6 pages of 180, so 2
        // deep, so 3 chains of 334 records.
        let mut created: Vec<i64> = (0..1000).rev().collect();
        assert_eq!(balanced_cuts(&mut created, 4), vec![334, 668]);
        // Everything in one millisecond: nothing to cut.
        assert_eq!(balanced_cuts(&mut vec![5; 1000], 8), Vec::<i64>::new());
        // One page: one chain.
        assert_eq!(
            balanced_cuts(&mut (0..150).collect::<Vec<_>>(), 8),
            Vec::<i64>::new()
        );
        assert_eq!(ReadHint::of(&mut Vec::new(), 8, 8), None);
    }

    proptest! {
        /// Issue 18: complete. Every timestamp, inside the span or not, is in exactly one
        /// range, whatever the span and the number of parts.
        #[test]
        fn issue_18_hinted_ranges_cover_every_timestamp_once(
            cuts in proptest::collection::vec(any::<i64>(), 0..40),
            probes in proptest::collection::vec(any::<i64>(), 16),
        ) {
            // Whatever a hints file holds (unsorted, repeated, extreme), nothing is missed.
            let ranges = split_at(&cuts);
            assert_cover(&ranges);
            for probe in probes.into_iter().chain(cuts.iter().copied()).chain([i64::MIN, i64::MAX]) {
                let holding = ranges.iter().filter(|r| r.contains(probe)).count();
                prop_assert_eq!(holding, 1, "{} in {:?}", probe, ranges);
            }
        }

        #[test]
        fn issue_18_balanced_cuts_are_increasing_real_and_within_the_chains(
            mut created in proptest::collection::vec(-1_000i64..1_000, 0..3_000),
            chains in 1usize..40,
        ) {
            let cuts = balanced_cuts(&mut created, chains);
            prop_assert!(cuts.len() < chains.max(2));
            prop_assert!(cuts.windows(2).all(|pair| pair[0] < pair[1]));
            for cut in &cuts {
                prop_assert!(created.contains(cut) && *cut > created[0]);
            }
        }

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

        /// Issue 18: complete after a split again. The part kept by the chain (below the
        /// first range's end) and the new ranges hold every timestamp below the chain's `end`
        /// exactly once and none at or past it; every cut lies past what the chain read.
        #[test]
        fn issue_18_the_rest_of_a_chain_is_covered_once(
            last in any::<i64>(),
            high in any::<i64>(),
            end in proptest::option::of(any::<i64>()),
            parts in 0usize..70,
            probes in proptest::collection::vec(any::<i64>(), 16),
        ) {
            let ranges = split_rest(last, high, end, parts);
            prop_assert!(!ranges.is_empty() && ranges.len() <= parts.max(1));
            prop_assert_eq!(ranges[0].start, None);
            prop_assert_eq!(ranges.last().unwrap().end, end);
            for pair in ranges.windows(2) {
                let cut = pair[0].end.expect("an inner range is bounded");
                prop_assert_eq!(pair[1].start, Some(cut));
                prop_assert!(cut > last, "{} not past {}: {:?}", cut, last, ranges);
                prop_assert!(end.is_none_or(|end| cut < end), "{:?}", ranges);
            }
            let edges = [i64::MIN, i64::MAX, last, high, last.wrapping_add(1)];
            let around = ranges.iter().filter_map(|r| r.start).flat_map(|c| [c.wrapping_sub(1), c]);
            let around_end = end.into_iter().flat_map(|e| [e.wrapping_sub(1), e]);
            for value in probes.into_iter().chain(edges).chain(around).chain(around_end) {
                let holding = ranges.iter().filter(|r| r.contains(value)).count();
                let expected = usize::from(end.is_none_or(|end| value < end));
                prop_assert_eq!(holding, expected, "{} in {:?}", value, ranges);
            }
        }

        /// At most `most`, at least one, whatever the numbers.
        #[test]
        fn rest_parts_stays_within_its_budget(
            from in any::<i64>(), last in any::<i64>(), high in any::<i64>(),
            records in 0usize..100_000, page in 0usize..1000, most in 0usize..100,
        ) {
            let parts = rest_parts(from, last, high, records, page, most);
            prop_assert!((1..=most.max(1)).contains(&parts));
        }

        /// A span wide enough is cut into exactly `parts` ranges, each inner one non-empty.
        #[test]
        fn wide_spans_use_every_part(low in -1_000_000_000i64..1_000_000_000, width in 64i64..10_000_000, parts in 1usize..64) {
            let ranges = split(low, low + width, parts);
            prop_assert_eq!(ranges.len(), parts);
        }
    }
}
