//! Security properties, through the binary and raw HTTP:
//!
//! - the private key never appears in any output, log, plan, journal, receipt or error,
//!   even when the key file is given where a config, a data file or a plan belongs;
//! - a key file readable by group or others is warned about, a private one is not;
//! - a plan's integrity and target are checked before any network call;
//! - the production guard refuses to write without `--allow-production`;
//! - the management token (issue 20) appears in no output or file;
//! - the emulator refuses a replayed request once its date is stale, a date changed after
//!   signing, and a signature presented under another registered key's ID (the other
//!   tamper cases are in `tests/emulator.rs`).

#[allow(dead_code)]
#[path = "chaos/runner.rs"]
mod runner;
#[allow(dead_code)]
#[path = "chaos/world.rs"]
mod world;

use base64::engine::general_purpose::STANDARD as BASE64;
use base64::Engine;
use ckplan::cloudkit::auth::{self, RequestSigner};
use ckplan::emulator::{self, EmulatorConfig, RegisteredKey};
use runner::{Ended, Setup};
use std::path::Path;
use std::time::Duration;

/// Every fragment of the private key that must never be shown: 20-character windows of the
/// PEM body past the constant PKCS#8 header, and 16-character windows of the scalar in hex
/// and base64.
fn secret_fragments(pem: &str) -> Vec<String> {
    let body: String = pem.lines().filter(|l| !l.starts_with("-----")).collect();
    let key = auth::parse_private_pem(pem).expect("a P-256 key");
    let scalar = key.to_bytes();
    let hex: String = scalar.iter().map(|b| format!("{b:02x}")).collect();
    let mut fragments = Vec::new();
    let windows = |text: &str, width: usize, skip: usize| -> Vec<String> {
        let chars: Vec<char> = text.chars().collect();
        (skip..chars.len().saturating_sub(width))
            .map(|i| chars[i..i + width].iter().collect())
            .collect()
    };
    // `MIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQg`: the same for every P-256 key.
    fragments.extend(windows(&body, 20, 48));
    fragments.extend(windows(&hex, 16, 0));
    fragments.extend(windows(&hex.to_uppercase(), 16, 0));
    fragments.extend(windows(&BASE64.encode(scalar), 16, 0));
    fragments
}

fn leaks(text: &str, fragments: &[String]) -> Option<String> {
    fragments
        .iter()
        .find(|fragment| text.contains(fragment.as_str()))
        .cloned()
}

fn files_under(directory: &Path, found: &mut Vec<std::path::PathBuf>) {
    for entry in std::fs::read_dir(directory).expect("read dir") {
        let path = entry.expect("entry").path();
        if path.is_dir() {
            files_under(&path, found);
        } else {
            found.push(path);
        }
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn the_private_key_never_appears_in_any_output_or_file() {
    let setup = Setup::new(3).await;
    setup.seed_cloud().await;
    let root = setup.directory.path();
    let pem = std::fs::read_to_string(root.join("key.pem")).expect("key");
    let fragments = secret_fragments(&pem);
    assert!(
        leaks(&pem, &fragments).is_some(),
        "the scan finds the key itself"
    );
    let trace = [("CKPLAN_LOG", "trace")];
    // Every command that loads the key, verbose and traced, and the key put where a
    // config, a plan or a data file belongs.
    std::fs::write(
        root.join("key-as-data.yaml"),
        std::fs::read_to_string(root.join("ckplan.yaml"))
            .unwrap()
            .replace("file: teams.json", "file: key.pem.json"),
    )
    .unwrap();
    std::fs::copy(root.join("key.pem"), root.join("key.pem.json")).unwrap();
    let runs: Vec<Vec<&str>> = vec![
        vec!["-vv", "validate"],
        vec!["-vv", "diff"],
        vec!["-vv", "plan", "--delete-orphans", "-o", "x.plan"],
        vec!["-vv", "show", "x.plan"],
        vec!["show", "x.plan", "--json"],
        vec!["-vv", "apply", "x.plan"],
        vec!["-vv", "apply", "x.plan"],
        vec!["-vv", "import", "--type", "Team"],
        vec!["--config", "key.pem", "validate"],
        vec!["--config", "key-as-data.yaml", "validate"],
        vec!["show", "key.pem"],
        vec!["apply", "key.pem"],
    ];
    let mut outputs = Vec::new();
    for args in &runs {
        let (ended, stderr, stdout) = setup.ckplan(args, &trace).await;
        assert!(ended != Ended::Exited(101), "{args:?} panicked: {stderr}");
        outputs.push((format!("{args:?}"), format!("{stderr}\n{stdout}")));
    }
    // A key the server does not know: the signing error path.
    let wrong_id = std::fs::read_to_string(root.join("ckplan.yaml"))
        .unwrap()
        .replace("key_id: chaos-key", "key_id: someone-else");
    std::fs::write(root.join("wrong-id.yaml"), wrong_id).unwrap();
    let (ended, stderr, stdout) = setup
        .ckplan(&["--config", "wrong-id.yaml", "-vv", "diff"], &trace)
        .await;
    assert_eq!(ended, Ended::Exited(1), "{stderr}");
    outputs.push(("unknown key ID".into(), format!("{stderr}\n{stdout}")));
    for (what, text) in &outputs {
        if let Some(fragment) = leaks(text, &fragments) {
            panic!("{what} shows key material `{fragment}`:\n{text}");
        }
    }
    let mut files = Vec::new();
    files_under(root, &mut files);
    let mut scanned = 0;
    for file in files {
        let name = file.file_name().unwrap().to_string_lossy().into_owned();
        if name == "key.pem" || name == "key.pem.json" {
            continue;
        }
        let bytes = std::fs::read(&file).unwrap();
        if let Some(fragment) = leaks(&String::from_utf8_lossy(&bytes), &fragments) {
            panic!("`{}` holds key material `{fragment}`", file.display());
        }
        scanned += 1;
    }
    for written in ["x.plan", "x.plan.journal", "x.plan.receipt.json"] {
        assert!(
            root.join(written).exists(),
            "{written} was written and scanned"
        );
    }
    assert!(scanned >= 6);
}

/// Issue 19: the key given as text in CKPLAN_PRIVATE_KEY (a CI secret) signs, and appears
/// in no output and no file, traced or not, also when it is damaged or encrypted.
#[tokio::test(flavor = "multi_thread")]
async fn a_key_from_ckplan_private_key_signs_and_is_never_shown() {
    let setup = Setup::new(3).await;
    setup.seed_cloud().await;
    let root = setup.directory.path();
    let pem = std::fs::read_to_string(root.join("key.pem")).expect("key");
    let fragments = secret_fragments(&pem);
    // No key file at all: the key exists only in the environment.
    std::fs::remove_file(root.join("key.pem")).unwrap();
    let with_key = [
        ("CKPLAN_PRIVATE_KEY", pem.as_str()),
        ("CKPLAN_LOG", "trace"),
    ];
    let mut outputs = Vec::new();
    for args in [
        vec!["-vv", "diff"],
        vec!["-vv", "plan", "--delete-orphans", "-o", "x.plan"],
        vec!["-vv", "apply", "x.plan"],
    ] {
        let (ended, stderr, stdout) = setup.ckplan(&args, &with_key).await;
        assert_eq!(ended, Ended::Exited(0), "{args:?}: {stderr}");
        outputs.push((format!("{args:?}"), format!("{stderr}\n{stdout}")));
    }
    // A damaged key (one body line changed) and a key encrypted without its passphrase
    // fail naming the variable, without quoting it.
    let lines: Vec<&str> = pem.lines().collect();
    let damaged = pem.replacen(lines[2], &lines[2].chars().rev().collect::<String>(), 1);
    let encrypted = encrypted_pkcs8(&pem, "sesame");
    for (what, text) in [
        ("damaged", damaged.as_str()),
        ("encrypted", encrypted.as_str()),
    ] {
        let env = [("CKPLAN_PRIVATE_KEY", text), ("CKPLAN_LOG", "trace")];
        let (ended, stderr, stdout) = setup.ckplan(&["-vv", "diff"], &env).await;
        assert_eq!(ended, Ended::Exited(1), "{what}: {stderr}");
        assert!(stderr.contains("CKPLAN_PRIVATE_KEY"), "{what}: {stderr}");
        outputs.push((what.to_owned(), format!("{stderr}\n{stdout}")));
    }
    assert!(outputs
        .last()
        .unwrap()
        .1
        .contains("CKPLAN_KEY_PASSPHRASE is not set"));
    let env = [
        ("CKPLAN_PRIVATE_KEY", encrypted.as_str()),
        ("CKPLAN_KEY_PASSPHRASE", "sesame"),
    ];
    let (ended, stderr, stdout) = setup.ckplan(&["diff"], &env).await;
    assert_eq!(ended, Ended::Exited(0), "{stderr}");
    outputs.push((
        "encrypted with passphrase".into(),
        format!("{stderr}\n{stdout}"),
    ));
    for (what, text) in &outputs {
        if let Some(fragment) = leaks(text, &fragments) {
            panic!("{what} shows key material `{fragment}`:\n{text}");
        }
        assert!(!text.contains("sesame"), "{what} shows the passphrase");
    }
    let mut files = Vec::new();
    files_under(root, &mut files);
    for file in &files {
        let bytes = std::fs::read(file).unwrap();
        if let Some(fragment) = leaks(&String::from_utf8_lossy(&bytes), &fragments) {
            panic!("`{}` holds key material `{fragment}`", file.display());
        }
    }
    assert!(
        root.join("x.plan.receipt.json").exists(),
        "the apply ran and was scanned"
    );
}

/// `pem` encrypted as `openssl pkcs8 -topk8` does (PBES2, PBKDF2-SHA256, AES-256-CBC).
fn encrypted_pkcs8(pem: &str, passphrase: &str) -> String {
    use p256::pkcs8::EncodePrivateKey;
    let der = auth::parse_private_pem(pem)
        .unwrap()
        .to_pkcs8_der()
        .unwrap();
    let info = pkcs8::PrivateKeyInfo::try_from(der.as_bytes()).unwrap();
    let parameters =
        pkcs8::pkcs5::pbes2::Parameters::pbkdf2_sha256_aes256cbc(2048, b"saltsalt", &[9; 16])
            .unwrap();
    info.encrypt_with_params(parameters, passphrase)
        .unwrap()
        .to_pem("ENCRYPTED PRIVATE KEY", pkcs8::LineEnding::LF)
        .unwrap()
        .to_string()
}

/// Issue 20: the management token, given in the environment or in a token file, appears
/// in no output (at the most verbose level, with tracing), no plan, journal or receipt, and
/// no file the run leaves; a wrong one is refused without being quoted.
#[tokio::test(flavor = "multi_thread")]
async fn the_management_token_never_appears_in_any_output_or_file() {
    const TOKEN: &str = "mgmt-7c1f0e9d4b2a8c3e";
    let token = ckplan::cloudkit::token::ManagementToken::new(TOKEN).unwrap();
    assert!(!format!("{token:?}").contains(TOKEN));
    let setup = Setup::with_schema_token(3, &[], Some(token)).await;
    let root = setup.directory.path();
    let with_token = [
        ("CKPLAN_MANAGEMENT_TOKEN", TOKEN),
        ("CKPLAN_TEAM_ID", "TEAM123456"),
        ("CKPLAN_LOG", "trace"),
    ];
    let mut outputs = Vec::new();
    for args in [
        vec!["-vv", "plan", "-o", "x.plan"],
        vec!["-vv", "show", "x.plan", "--json"],
        vec!["-vv", "apply", "x.plan"],
        vec!["-vv", "schema", "diff"],
        vec!["-vv", "doctor"],
    ] {
        let (ended, stderr, stdout) = setup.ckplan(&args, &with_token).await;
        assert_eq!(ended, Ended::Exited(0), "{args:?}: {stderr}");
        outputs.push((format!("{args:?}"), format!("{stderr}\n{stdout}")));
    }
    assert!(std::fs::read_to_string(root.join("x.plan"))
        .unwrap()
        .contains("\"schema\""));
    // From a token file named in the config.
    std::fs::write(root.join("token.txt"), format!("{TOKEN}\n")).unwrap();
    let config = std::fs::read_to_string(root.join("ckplan.yaml")).unwrap();
    let config = config.replacen("auth:\n", "auth:\n  management_token_file: token.txt\n", 1);
    std::fs::write(root.join("ckplan.yaml"), config).unwrap();
    let from_file = [("CKPLAN_TEAM_ID", "TEAM123456"), ("CKPLAN_LOG", "trace")];
    let (ended, stderr, stdout) = setup
        .ckplan(&["-vv", "plan", "-o", "y.plan"], &from_file)
        .await;
    assert_eq!(ended, Ended::Exited(0), "{stderr}");
    outputs.push(("from a file".into(), format!("{stderr}\n{stdout}")));
    let wrong = [
        ("CKPLAN_MANAGEMENT_TOKEN", "wrong-9a8b7c6d5e"),
        ("CKPLAN_TEAM_ID", "TEAM123456"),
    ];
    let (ended, stderr, _) = setup.ckplan(&["plan", "-o", "z.plan"], &wrong).await;
    assert_eq!(ended, Ended::Exited(1), "{stderr}");
    assert!(stderr.contains("refused the management token"), "{stderr}");
    assert!(!stderr.contains("wrong-9a8b7c6d5e"), "{stderr}");
    for (what, text) in &outputs {
        assert!(!text.contains(TOKEN), "{what} shows the token:\n{text}");
    }
    let mut files = Vec::new();
    files_under(root, &mut files);
    for file in files.iter().filter(|f| !f.ends_with("token.txt")) {
        let bytes = std::fs::read(file).unwrap();
        assert!(
            !String::from_utf8_lossy(&bytes).contains(TOKEN),
            "`{}` holds the token",
            file.display()
        );
    }
    assert!(
        root.join("x.plan.receipt.json").exists(),
        "the apply ran and was scanned"
    );
}

#[cfg(unix)]
#[tokio::test(flavor = "multi_thread")]
async fn a_key_readable_by_others_is_warned_about_and_a_private_one_is_not() {
    use std::os::unix::fs::PermissionsExt;
    let setup = Setup::new(4).await;
    let key = setup.directory.path().join("key.pem");
    for (mode, warned) in [(0o600, false), (0o640, true), (0o604, true), (0o400, false)] {
        std::fs::set_permissions(&key, std::fs::Permissions::from_mode(mode)).unwrap();
        let (ended, stderr, _) = setup.ckplan(&["diff"], &[]).await;
        assert_eq!(ended, Ended::Exited(0), "{stderr}");
        let warning = "private key `key.pem` is readable by group or others; run `chmod 600";
        assert_eq!(stderr.contains(warning), warned, "mode {mode:o}: {stderr}");
    }
}

fn total_requests(setup: &Setup) -> u64 {
    setup.emulator.stats().requests.values().sum()
}

#[tokio::test(flavor = "multi_thread")]
async fn plan_integrity_and_target_are_checked_before_any_network_call() {
    let setup = Setup::new(5).await;
    setup.seed_cloud().await;
    setup.plan().await;
    let root = setup.directory.path();
    let good = std::fs::read_to_string(setup.plan_path()).unwrap();
    let mut other_target = ckplan::plan::file::from_text(&good).unwrap();
    other_target.target.container = "iCloud.com.example.Elsewhere".into();
    let cases = [
        ("edited.plan", good.replacen("\"score\"", "\"scor\"", 1)),
        ("truncated.plan", good[..good.len() - 40].to_owned()),
        ("elsewhere.plan", ckplan::plan::file::to_text(&other_target)),
    ];
    for (name, text) in cases {
        std::fs::write(root.join(name), text).unwrap();
        // `show` only checks integrity: it reviews a plan without needing its target.
        let commands: &[&str] = if name == "elsewhere.plan" {
            &["apply"]
        } else {
            &["apply", "show"]
        };
        for &command in commands {
            let before = total_requests(&setup);
            let (ended, stderr, _) = setup.ckplan(&[command, name], &[]).await;
            assert_eq!(ended, Ended::Exited(1), "{command} {name}: {stderr}");
            assert!(
                stderr.contains(&format!("refusing plan `{name}`")),
                "{stderr}"
            );
            assert_eq!(
                total_requests(&setup),
                before,
                "{command} {name} sent a request"
            );
        }
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn production_is_written_only_with_allow_production() {
    // The schema is deployed to production (as it must be before ckplan can plan there);
    // the records were seeded in development only, so production starts empty.
    let setup = Setup::with_deployed_types(6, &[world::TEAM, world::GAME]).await;
    setup.seed_cloud().await;
    let config = setup.directory.path().join("ckplan.yaml");
    let text = std::fs::read_to_string(&config).unwrap();
    std::fs::write(
        &config,
        text.replace("environment: development", "environment: production"),
    )
    .unwrap();
    let writes = |setup: &Setup| {
        let stats = setup.emulator.stats();
        stats.requests.get("records/modify").copied().unwrap_or(0)
    };
    let (ended, stderr, _) = setup.ckplan(&["plan", "-o", "prod.plan"], &[]).await;
    assert_eq!(ended, Ended::Exited(0), "{stderr}");
    let before = writes(&setup);
    for args in [vec!["apply", "prod.plan"], vec!["apply", "--auto-approve"]] {
        let (ended, stderr, _) = setup.ckplan(&args, &[]).await;
        assert_eq!(ended, Ended::Exited(1), "{args:?}: {stderr}");
        assert!(
            stderr.contains("refusing to write to the production environment")
                && stderr.contains("--allow-production"),
            "{stderr}"
        );
        assert_eq!(writes(&setup), before, "{args:?} wrote to production");
    }
    let (ended, stderr, _) = setup
        .ckplan(&["apply", "prod.plan", "--allow-production"], &[])
        .await;
    assert_eq!(ended, Ended::Exited(0), "{stderr}");
    assert!(writes(&setup) > before);
}

/// A signed request, as bytes on the wire, to send (and send again) with raw HTTP.
struct Captured {
    url: String,
    body: Vec<u8>,
    headers: Vec<(&'static str, String)>,
}

const PATH: &str = "/database/1/iCloud.com.example.Chaos/development/public/records/lookup";

fn capture(url: &str, signer: &RequestSigner, at: chrono::DateTime<chrono::Utc>) -> Captured {
    // A lookup answers 200 on an empty store (a query on a type never written is a 404).
    let body = br#"{"records":[{"recordName":"team-1"}]}"#.to_vec();
    let signed = signer.sign(at, &body, PATH);
    Captured {
        url: format!("{url}{PATH}"),
        body,
        headers: vec![
            (auth::HEADER_KEY_ID, signed.key_id),
            (auth::HEADER_DATE, signed.date),
            (auth::HEADER_SIGNATURE, signed.signature),
        ],
    }
}

async fn send(http: &reqwest::Client, request: &Captured) -> u16 {
    let mut builder = http.post(&request.url).body(request.body.clone());
    for (name, value) in &request.headers {
        builder = builder.header(*name, value);
    }
    builder.send().await.expect("reply").status().as_u16()
}

fn key_pair(id: &'static str) -> (RequestSigner, p256::ecdsa::VerifyingKey, &'static str) {
    let (private, public) = auth::generate_key_pair();
    let key = auth::parse_private_pem(&private).unwrap();
    (
        RequestSigner::new(id, key),
        auth::parse_public_pem(&public).unwrap(),
        id,
    )
}

#[tokio::test]
async fn the_emulator_refuses_replays_changed_dates_and_borrowed_key_ids() {
    let (first, first_public, first_id) = key_pair("first-key");
    let (_, second_public, second_id) = key_pair("second-key");
    let running = emulator::start(EmulatorConfig {
        keys: vec![
            RegisteredKey {
                key_id: Some(first_id.into()),
                key: first_public,
            },
            RegisteredKey {
                key_id: Some(second_id.into()),
                key: second_public,
            },
        ],
        clock_skew: Duration::from_secs(60),
        ..EmulatorConfig::default()
    })
    .await
    .unwrap();
    let http = reqwest::Client::builder().no_proxy().build().unwrap();
    let url = running.url();

    // Replay: the very bytes of a request signed five minutes ago, accepted by a server
    // allowing ten minutes of skew, refused by one allowing one minute (margins of minutes,
    // not a sleep racing a one-second window). The signature covers the path, not the host.
    let lenient = emulator::start(EmulatorConfig {
        keys: vec![RegisteredKey {
            key_id: Some(first_id.into()),
            key: first_public,
        }],
        clock_skew: Duration::from_secs(600),
        ..EmulatorConfig::default()
    })
    .await
    .unwrap();
    let five_minutes_ago = chrono::Utc::now() - chrono::Duration::minutes(5);
    let mut captured = capture(&lenient.url(), &first, five_minutes_ago);
    assert_eq!(
        send(&http, &captured).await,
        200,
        "accepted within the skew"
    );
    captured.url = captured.url.replace(&lenient.url(), &url);
    assert_eq!(send(&http, &captured).await, 401, "a stale replay");
    lenient.shutdown().await;

    // The date header changed after signing (still within the skew).
    let mut redated = capture(&url, &first, chrono::Utc::now());
    let later = auth::format_date(chrono::Utc::now() + chrono::Duration::seconds(1));
    let original = redated.headers[1].1.clone();
    redated.headers[1].1 = if later == original {
        auth::format_date(chrono::Utc::now() - chrono::Duration::seconds(1))
    } else {
        later
    };
    assert_eq!(send(&http, &redated).await, 401, "a changed date");

    // A valid signature by the first key, presented under the second key's ID.
    let mut borrowed = capture(&url, &first, chrono::Utc::now());
    borrowed.headers[0].1 = second_id.to_owned();
    assert_eq!(send(&http, &borrowed).await, 401, "another key's ID");

    let fresh = capture(&url, &first, chrono::Utc::now());
    assert_eq!(
        send(&http, &fresh).await,
        200,
        "the untampered request passes"
    );
    assert_eq!(running.stats().statuses["401"], 3);
    running.shutdown().await;
}
