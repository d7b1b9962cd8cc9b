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
