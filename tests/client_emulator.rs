//! The client against the real emulator (issue 2 with issue 3): pagination over several
//! pages, lookup with a missing name, modify with typed per-record errors, GET routes, and a
//! key the emulator does not know.

use ckplan::cloudkit::auth::{parse_private_pem, RequestSigner};
use ckplan::cloudkit::client::{Lookup, OperationResult};
use ckplan::cloudkit::wire::{Operation, OperationType, ServerErrorCode, UserIdentity, WireRecord};
use ckplan::cloudkit::{Client, ClientOptions, CloudKitError};
use ckplan::emulator::{self, EmulatorConfig, RegisteredKey};
use ckplan::record::{ChangeTag, FieldValue, Record, RecordName, RecordType};
use ckplan::record::{Database, Environment, Target};

fn target() -> Target {
    Target {
        container: "iCloud.com.example.ClientTests".into(),
        environment: Environment::Development,
        database: Database::Public,
        zone: "_defaultZone".into(),
    }
}

fn new_signer(key_id: &str) -> RequestSigner {
    let (private, _) = ckplan::cloudkit::auth::generate_key_pair();
    RequestSigner::new(key_id, parse_private_pem(&private).unwrap())
}

async fn start(signer: &RequestSigner) -> emulator::RunningEmulator {
    emulator::start(EmulatorConfig {
        keys: vec![RegisteredKey {
            key_id: Some(signer.key_id().to_owned()),
            key: signer.verifying_key(),
        }],
        ..EmulatorConfig::default()
    })
    .await
    .unwrap()
}

fn create(name: &str, number: i64) -> Operation {
    let record = Record::new("Game", name).with_field("number", FieldValue::int64(number));
    Operation {
        operation_type: OperationType::Create,
        record: WireRecord::from_record(&record),
        desired_keys: None,
    }
}

#[tokio::test]
async fn query_all_reads_every_page_and_modify_reports_per_record_errors() {
    let signer = new_signer("client-test-key");
    let emulator = start(&signer).await;
    let client = Client::new(&emulator.url(), target(), signer, ClientOptions::default()).unwrap();

    // 450 creates: three modify requests of at most 200.
    let operations: Vec<_> = (0..450)
        .map(|i| create(&format!("game-{i:03}"), i))
        .collect();
    let results = client.modify(operations).await.unwrap();
    assert_eq!(results.len(), 450);
    assert!(results
        .iter()
        .all(|r| matches!(r, OperationResult::Saved(_))));

    // Three pages of at most 200, every record once, in name order.
    let mut pages = 0;
    let records = client
        .query_all(&RecordType::new("Game"), &mut |_| pages += 1)
        .await
        .unwrap();
    assert_eq!(records.len(), 450);
    assert_eq!(pages, 3);
    assert!(records
        .windows(2)
        .all(|w| w[0].record_name < w[1].record_name));
    let stats = emulator.stats();
    assert_eq!(stats.requests.get("records/query"), Some(&3));
    assert_eq!(stats.requests.get("records/modify"), Some(&3));

    // A stale tag, an existing create and a missing record, each typed.
    let mut stale = WireRecord::from_record(&records[0]);
    stale.record_change_tag = Some("stale".into());
    let mut missing = WireRecord::from_record(&Record::new("Game", "game-missing"));
    missing.record_change_tag = Some(ChangeTag::new("x").0);
    let results = client
        .modify_batch(vec![
            Operation {
                operation_type: OperationType::Update,
                record: stale,
                desired_keys: None,
            },
            create("game-001", 1),
            Operation {
                operation_type: OperationType::Delete,
                record: missing,
                desired_keys: None,
            },
        ])
        .await
        .unwrap();
    let codes: Vec<_> = results
        .iter()
        .map(|r| match r {
            OperationResult::Failed(_, failure) => failure.code.clone(),
            other => panic!("expected a per-record error, got {other:?}"),
        })
        .collect();
    assert_eq!(
        codes,
        [
            ServerErrorCode::Conflict,
            ServerErrorCode::Exists,
            ServerErrorCode::NotFound
        ]
    );

    // Lookup keeps request order and reports the missing name.
    let found = client
        .lookup(&[RecordName::new("game-002"), RecordName::new("nope")])
        .await
        .unwrap();
    assert!(matches!(&found[0], Lookup::Found(r) if r.record_name.as_str() == "game-002"));
    assert!(matches!(&found[1], Lookup::NotFound(name) if name.as_str() == "nope"));

    let user: UserIdentity = client
        .get(ckplan::cloudkit::wire::Endpoint::UsersCurrent)
        .await
        .unwrap();
    assert!(user.user_record_name.starts_with('_'));
    emulator.shutdown().await;
}

#[tokio::test]
async fn an_unknown_key_is_refused_and_not_retried() {
    let registered = new_signer("registered");
    let emulator = start(&registered).await;
    let stranger = new_signer("registered");
    let client = Client::new(
        &emulator.url(),
        target(),
        stranger,
        ClientOptions::default(),
    )
    .unwrap();
    let error = client
        .query_all(&RecordType::new("Game"), &mut |_| {})
        .await
        .unwrap_err();
    match error {
        CloudKitError::Service { status, code, .. } => {
            assert_eq!(status, 401);
            assert_eq!(code, ServerErrorCode::AuthenticationFailed);
        }
        other => panic!("expected AUTHENTICATION_FAILED, got {other:?}"),
    }
    assert_eq!(emulator.stats().requests.get("records/query"), Some(&1));
    emulator.shutdown().await;
}

/// Issue 18: a type read as several `createdTimestamp` chains at once: records created
/// over time (the emulator's clock moved between batches).
async fn start_with(signer: &RequestSigner, config: EmulatorConfig) -> emulator::RunningEmulator {
    emulator::start(EmulatorConfig {
        keys: vec![RegisteredKey {
            key_id: Some(signer.key_id().to_owned()),
            key: signer.verifying_key(),
        }],
        ..config
    })
    .await
    .unwrap()
}

/// 1,000 games written in 50 batches of 20, `step_ms` apart on the emulator's clock.
async fn seed_games(client: &Client, clock: &emulator::ManualClock, step_ms: u64) {
    for batch in 0..50 {
        let operations: Vec<_> = (0..20)
            .map(|i| create(&format!("game-{batch:02}-{i:02}"), batch * 20 + i))
            .collect();
        client.modify(operations).await.unwrap();
        clock.advance(std::time::Duration::from_millis(step_ms));
    }
}

fn names(records: &[Record]) -> Vec<String> {
    let mut names: Vec<String> = records.iter().map(|r| r.record_name.0.clone()).collect();
    names.sort();
    names
}

#[tokio::test]
async fn issue_18_a_partitioned_read_finds_every_record_once() {
    for step_ms in [1_000, 0] {
        let signer = new_signer("client-test-key");
        let clock = emulator::ManualClock::at_millis(1_700_000_000_000);
        let emulator = start_with(
            &signer,
            EmulatorConfig {
                clock: emulator::Clock::Manual(clock.clone()),
                clock_skew: std::time::Duration::ZERO,
                ..EmulatorConfig::default()
            },
        )
        .await;
        let client =
            Client::new(&emulator.url(), target(), signer, ClientOptions::default()).unwrap();
        seed_games(&client, &clock, step_ms).await;
        let game = RecordType::new("Game");
        let one = client.query_all(&game, &mut |_| {}).await.unwrap();
        let before = emulator
            .stats()
            .requests
            .get("records/query")
            .copied()
            .unwrap();
        let read = client
            .query_partitioned(&game, 4, None, &mut |_| {})
            .await
            .unwrap();
        assert_eq!(
            read.records.len(),
            1000,
            "each record once (step {step_ms})"
        );
        assert_eq!(names(&read.records), names(&one));
        assert!(read.unindexed.is_none());
        let queries = emulator
            .stats()
            .requests
            .get("records/query")
            .copied()
            .unwrap()
            - before;
        if step_ms == 0 {
            // Created within one millisecond: nothing to cut, one chain, plus the probe.
            assert_eq!(read.chains, 1);
            assert_eq!(queries, 5 + 1);
        } else {
            assert_eq!(read.chains, 4);
            // Pages per chain (the first chain's first page told where to cut) and the probe.
            assert!(queries <= 5 + 4 + 1, "{queries} queries");
        }
        assert!(read.records.iter().all(|r| r.stamps.is_some()));
    }
}

/// Issue 18: without an index on `___createTime` CloudKit refuses the sorted query; the
/// type is read as one chain and the read says which index was missing.
#[tokio::test]
async fn issue_18_without_the_created_index_the_read_falls_back_to_one_chain() {
    let signer = new_signer("client-test-key");
    let emulator = start_with(
        &signer,
        EmulatorConfig {
            require_indexes: true,
            indexes: vec!["Game.recordName".to_owned()],
            ..EmulatorConfig::default()
        },
    )
    .await;
    let client = Client::new(&emulator.url(), target(), signer, ClientOptions::default()).unwrap();
    let operations: Vec<_> = (0..450).map(|i| create(&format!("g-{i:03}"), i)).collect();
    client.modify(operations).await.unwrap();
    let read = client
        .query_partitioned(&RecordType::new("Game"), 8, None, &mut |_| {})
        .await
        .unwrap();
    assert_eq!(read.records.len(), 450);
    assert_eq!(read.chains, 1);
    assert_eq!(read.unindexed.as_deref(), Some("___createTime"));
}

/// Issue 18: live-like switches against the partitioned read. Repeated pages are merged
/// (each record once, none lost); skipped records and lagging indexes only ever hide a
/// record, never invent or double one (the plan's confirming lookups find what is hidden).
#[tokio::test]
async fn issue_18_partitioned_reads_merge_repeats_and_only_ever_hide_records() {
    let signer = new_signer("client-test-key");
    let clock = emulator::ManualClock::at_millis(1_700_000_000_000);
    let emulator = start_with(
        &signer,
        EmulatorConfig {
            clock: emulator::Clock::Manual(clock.clone()),
            clock_skew: std::time::Duration::ZERO,
            ..EmulatorConfig::default()
        },
    )
    .await;
    let client = Client::new(&emulator.url(), target(), signer, ClientOptions::default()).unwrap();
    seed_games(&client, &clock, 1_000).await;
    let game = RecordType::new("Game");
    let all = names(&client.query_all(&game, &mut |_| {}).await.unwrap());
    for (seed, repeat, skip) in [(1, 0.5, 0.0), (2, 0.0, 0.5), (3, 0.4, 0.4)] {
        emulator.set_faults(emulator::Faults {
            page_repeat_rate: repeat,
            page_skip_rate: skip,
            seed,
            ..emulator::Faults::default()
        });
        let read = client
            .query_partitioned(&game, 4, None, &mut |_| {})
            .await
            .unwrap();
        assert_eq!(read.chains, 4);
        let seen = names(&read.records);
        let mut once = seen.clone();
        once.dedup();
        assert_eq!(seen, once, "seed {seed}: a record counted twice");
        assert!(seen.iter().all(|name| all.contains(name)), "seed {seed}");
        if skip == 0.0 {
            assert_eq!(seen, all, "seed {seed}: repeats lose nothing");
        }
    }
    // Records written after the index stopped moving are hidden from queries until it does,
    // whichever range they fall in.
    emulator.set_faults(emulator::Faults {
        index_lag_ms: 60_000,
        ..emulator::Faults::default()
    });
    client.modify(vec![create("late", 9999)]).await.unwrap();
    let read = client
        .query_partitioned(&game, 4, None, &mut |_| {})
        .await
        .unwrap();
    assert_eq!(names(&read.records), all);
    clock.advance(std::time::Duration::from_secs(61));
    let read = client
        .query_partitioned(&game, 4, None, &mut |_| {})
        .await
        .unwrap();
    assert_eq!(read.records.len(), all.len() + 1);
}

/// Issue 18: records written in batches share their `createdTimestamp`, so ranges cut
/// evenly over time hold very different numbers of pages. A chain that turns out long is
/// split again past what it has read, and the read still finds every record exactly once,
/// with repeated pages merged.
#[tokio::test]
async fn issue_18_a_long_chain_is_split_again_and_still_reads_everything_once() {
    let signer = new_signer("client-test-key");
    let clock = emulator::ManualClock::at_millis(1_700_000_000_000);
    let emulator = start_with(
        &signer,
        EmulatorConfig {
            clock: emulator::Clock::Manual(clock.clone()),
            clock_skew: std::time::Duration::ZERO,
            ..EmulatorConfig::default()
        },
    )
    .await;
    let client = Client::new(&emulator.url(), target(), signer, ClientOptions::default()).unwrap();
    // Eight batches of 200, each within one millisecond: six of them in the first of the
    // four ranges the read starts with.
    let mut at = 0;
    for (batch, offset_ms) in [0u64, 10, 11, 12, 13, 14, 15, 400].into_iter().enumerate() {
        clock.advance(std::time::Duration::from_millis(offset_ms - at));
        at = offset_ms;
        let operations: Vec<_> = (0..200)
            .map(|i| create(&format!("game-{batch}-{i:03}"), (batch * 200 + i) as i64))
            .collect();
        client.modify(operations).await.unwrap();
    }
    let game = RecordType::new("Game");
    let all = names(&client.query_all(&game, &mut |_| {}).await.unwrap());
    assert_eq!(all.len(), 1600);
    for (seed, repeat) in [(0, 0.0), (1, 0.5)] {
        emulator.set_faults(emulator::Faults {
            page_repeat_rate: repeat,
            seed,
            ..emulator::Faults::default()
        });
        let read = client
            .query_partitioned(&game, 4, None, &mut |_| {})
            .await
            .unwrap();
        assert_eq!(names(&read.records), all, "seed {seed}: each record once");
        assert_eq!(read.records.len(), all.len(), "seed {seed}");
        assert!(
            read.chains > 4,
            "seed {seed}: the long first range was split again ({} chains)",
            read.chains
        );
    }
}

#[tokio::test]
async fn issue_18_a_read_from_a_hint_starts_every_chain_at_once_and_any_hint_misses_nothing() {
    let signer = new_signer("client-test-key");
    let clock = emulator::ManualClock::at_millis(1_700_000_000_000);
    let emulator = start_with(
        &signer,
        EmulatorConfig {
            clock: emulator::Clock::Manual(clock.clone()),
            clock_skew: std::time::Duration::ZERO,
            ..EmulatorConfig::default()
        },
    )
    .await;
    let client = Client::new(&emulator.url(), target(), signer, ClientOptions::default()).unwrap();
    seed_games(&client, &clock, 1_000).await;
    let game = RecordType::new("Game");
    let one = client.query_all(&game, &mut |_| {}).await.unwrap();
    let mut created: Vec<i64> = one.iter().map(|r| r.stamps.unwrap().created).collect();
    let hint = ckplan::cloudkit::client::ReadHint::of(&mut created, 4, 4).unwrap();
    // Six pages of 180 in at most four chains: two deep, three chains.
    assert_eq!(hint.cuts.len(), 2, "{hint:?}");
    let queries = || {
        emulator
            .stats()
            .requests
            .get("records/query")
            .copied()
            .unwrap_or(0)
    };
    let before = queries();
    let read = client
        .query_partitioned(&game, 4, Some(&hint), &mut |_| {})
        .await
        .unwrap();
    assert_eq!(read.records.len(), 1000);
    assert_eq!(names(&read.records), names(&one));
    assert_eq!(read.chains, 3);
    // 340 records a chain (20 a second): two pages each, no first page of the whole type,
    // no probe.
    assert_eq!(queries() - before, 6);
    // A stale or edited hint costs speed, never a record.
    let odd = [
        vec![i64::MIN + 1, 0, 0, 5],
        vec![1_700_000_030_000, 1_700_000_010_000],
        vec![i64::MAX],
    ];
    for cuts in odd {
        let hint = ckplan::cloudkit::client::ReadHint {
            cuts,
            newest: 0,
            parallelism: 4,
        };
        let read = client
            .query_partitioned(&game, 4, Some(&hint), &mut |_| {})
            .await
            .unwrap();
        assert_eq!(names(&read.records), names(&one), "{hint:?}");
    }
    // Cuts made for another budget are not used: the read starts as without a hint.
    let before = queries();
    let other = ckplan::cloudkit::client::ReadHint::of(&mut created, 2, 2).unwrap();
    let read = client
        .query_partitioned(&game, 4, Some(&other), &mut |_| {})
        .await
        .unwrap();
    assert_eq!(names(&read.records), names(&one));
    assert!(
        read.chains > 2 && queries() - before > 6,
        "{} chains",
        read.chains
    );
}
