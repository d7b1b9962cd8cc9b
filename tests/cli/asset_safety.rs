//! Issue 21, what a hostile review of assets found: an asset path that leads outside the
//! project (or to ckplan's own keys and state), special files, a file changed while apply
//! uploads it. Every case runs the binary against the emulator and counts what reached it.

use crate::common::Env;
use serde_json::json;

/// The project's config with `photo: ASSET` on stadiums, and stadiums 1 and 2 whose photos
/// are `first` (as written in the data file) and `photos/2.png`.
fn stadiums_with(env: &Env, first: &str) {
    let config = env
        .read("ckplan.yaml")
        .replace("capacity: INT64}", "capacity: INT64, photo: ASSET}");
    env.write("ckplan.yaml", &config);
    env.write("data/photos/2.png", "two");
    let records: Vec<_> = [(1, first), (2, "photos/2.png")]
        .iter()
        .map(|(id, photo)| {
            json!({"id": id, "name": format!("Stadium {id}"), "city": "Springfield",
                   "location": {"latitude": 1.0, "longitude": 2.0}, "capacity": 100,
                   "photo": photo})
        })
        .collect();
    env.set_stadiums(&json!(records));
    env.set_teams(&json!([]));
}

/// `validate` and `plan` refuse stadium-1's photo with `message`, naming the data file,
/// the record and the field; no plan is written and nothing is uploaded.
fn refused(env: &Env, message: &str) {
    let validate = env.run(&["validate"]);
    assert_eq!(validate.code, 1, "{}", validate.stderr);
    for expected in ["data/stadiums.json", "`stadium-1` field `photo`", message] {
        assert!(
            validate.stderr.contains(expected),
            "validate does not say {expected:?}:\n{}",
            validate.stderr
        );
    }
    let plan = env.run(&["plan", "-o", "out.plan"]);
    assert_eq!(plan.code, 1, "{}", plan.stderr);
    assert!(plan.stderr.contains(message), "{}", plan.stderr);
    assert!(!env.path("out.plan").exists(), "a plan was written");
    let stats = env.stats();
    assert_eq!(stats.assets.uploads, 0);
    assert_eq!(stats.records, 0);
}

/// Issue 21 (review 1): an asset naming the signing key, an absolute path, a `..` escape,
/// ckplan's own state or a symlink leading outside is refused by validate and plan.
#[test]
fn asset_paths_outside_the_project_or_to_its_keys_are_refused() {
    let outside = tempfile::tempdir().unwrap();
    std::fs::write(outside.path().join("secret.txt"), "outside").unwrap();
    let escape = format!(
        "../../{}/secret.txt",
        outside.path().file_name().unwrap().to_string_lossy()
    );
    let cases = [
        ("/etc/passwd", "asset `/etc/passwd` is an absolute path"),
        ("/proc/self/environ", "is an absolute path"),
        (escape.as_str(), "leads outside the project directory"),
        ("../keys/test.pem", "is one of ckplan's own files"),
        ("../.ckplan/emulator/lock", "is one of ckplan's own files"),
        ("photos/link.png", "leads outside the project directory"),
    ];
    for (written, message) in cases {
        let env = Env::new();
        std::fs::create_dir_all(env.path("data/photos")).unwrap();
        std::fs::create_dir_all(env.path(".ckplan/emulator")).unwrap();
        std::fs::write(env.path(".ckplan/emulator/lock"), "state").unwrap();
        std::os::unix::fs::symlink(
            outside.path().join("secret.txt"),
            env.path("data/photos/link.png"),
        )
        .unwrap();
        stadiums_with(&env, written);
        refused(&env, message);
    }
}

/// Issue 21 (review 1): apply checks again. A file replaced after the plan by a symlink to
/// an outside file of the very same bytes passes the digest check, and is still refused.
#[test]
fn apply_refuses_an_asset_that_became_a_symlink_out_of_the_project() {
    let env = Env::new();
    std::fs::create_dir_all(env.path("data/photos")).unwrap();
    env.write("data/photos/1.png", "the same bytes");
    stadiums_with(&env, "photos/1.png");
    let plan = env.run(&["plan", "-o", "out.plan"]);
    assert_eq!(plan.code, 0, "{}", plan.stderr);
    let outside = tempfile::tempdir().unwrap();
    std::fs::write(outside.path().join("same.png"), "the same bytes").unwrap();
    std::fs::remove_file(env.path("data/photos/1.png")).unwrap();
    std::os::unix::fs::symlink(
        outside.path().join("same.png"),
        env.path("data/photos/1.png"),
    )
    .unwrap();
    let apply = env.run(&["apply", "out.plan"]);
    assert_eq!(apply.code, 1, "{}", apply.stderr);
    assert!(
        apply.stderr.contains(
            "cannot take asset `data/photos/1.png` of record `stadium-1` (field `photo`); nothing was sent"
        ),
        "{}",
        apply.stderr
    );
    assert!(
        apply.stderr.contains("leads outside the project directory"),
        "{}",
        apply.stderr
    );
    let stats = env.stats();
    assert_eq!(stats.assets.uploads, 0);
    assert_eq!(stats.records, 0);
}

/// Issue 21 (review 4): a named pipe is refused from its metadata, never opened (opening
/// it for reading would block `validate` for good); a device behind a symlink is outside.
#[test]
fn a_named_pipe_or_a_device_as_an_asset_is_refused_without_hanging() {
    let env = Env::new();
    std::fs::create_dir_all(env.path("data/photos")).unwrap();
    let fifo = std::ffi::CString::new(env.path("data/photos/pipe.png").to_str().unwrap()).unwrap();
    // SAFETY: a valid NUL-terminated path; mkfifo only creates the node.
    assert_eq!(unsafe { libc::mkfifo(fifo.as_ptr(), 0o600) }, 0);
    stadiums_with(&env, "photos/pipe.png");
    refused(
        &env,
        "asset `photos/pipe.png` is not a regular file (a named pipe)",
    );

    let env = Env::new();
    std::fs::create_dir_all(env.path("data/photos")).unwrap();
    std::os::unix::fs::symlink("/dev/zero", env.path("data/photos/zero.png")).unwrap();
    stadiums_with(&env, "photos/zero.png");
    refused(&env, "leads outside the project directory (to `/dev/zero`)");
}

/// Issue 21 (review 1): `show` prints the path as the data file wrote it, escaped, in
/// text and markdown, and the plan keeps it with the path relative to the config.
#[test]
fn show_prints_the_asset_path_as_written_and_escaped() {
    let env = Env::new();
    std::fs::create_dir_all(env.path("data/photos/deep")).unwrap();
    env.write("data/photos/deep/a\u{1b}[2J.png", "escape");
    stadiums_with(&env, "photos/deep/a\u{1b}[2J.png");
    let plan = env.run(&["plan", "-o", "out.plan"]);
    assert_eq!(plan.code, 0, "{}", plan.stderr);
    let show = env.run(&["show", "out.plan"]);
    assert!(
        show.stdout
            .contains("photo: photos/deep/a\\u{1b}[2J.png 6 bytes"),
        "{}",
        show.stdout
    );
    assert!(!show.stdout.contains('\u{1b}'), "{}", show.stdout);
    let markdown = env.run(&["show", "out.plan", "--format", "markdown"]);
    assert!(
        markdown
            .stdout
            .contains("photos/deep/a\\u{1b}[2J.png 6 bytes"),
        "{}",
        markdown.stdout
    );
    let json = env.run(&["show", "out.plan", "--format", "json"]);
    let document: serde_json::Value = serde_json::from_str(&json.stdout).unwrap();
    let change = document["changes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["record_name"] == "stadium-1")
        .unwrap();
    let photo = &change["after"]["photo"]["value"];
    assert_eq!(photo["path"], "photos/deep/a\u{1b}[2J.png", "{photo}");
    assert_eq!(photo["file"], "data/photos/deep/a\u{1b}[2J.png", "{photo}");
    assert!(json.stdout.contains("\\u001b"), "{}", json.stdout);
}

/// Issue 21 (review 2): apply reads each file once, checks those bytes against the plan and
/// uploads exactly them. A file changed after the up-front digest check, while the upload
/// URL is being asked for, is refused: its new bytes are not uploaded, no record is
/// written, and the ledger learns nothing under the planned digest (so restoring the file
/// still plans it as new).
#[test]
fn a_file_changed_between_the_digest_check_and_its_upload_is_not_uploaded() {
    let env = Env::new();
    std::fs::create_dir_all(env.path("data/photos")).unwrap();
    env.write("data/photos/1.png", "planned bytes");
    stadiums_with(&env, "photos/1.png");
    let proxy = env.hold_request(crate::common::hold::ASSETS_UPLOAD, 1);
    let plan = env.run(&["plan", "-o", "out.plan"]);
    assert_eq!(plan.code, 0, "{}", plan.stderr);
    let child = env.spawn_apply(std::process::Stdio::piped());
    proxy.wait_held();
    env.write("data/photos/1.png", "altered bytes");
    proxy.release();
    let output = child.wait_with_output().unwrap();
    let stderr = env.filter(&String::from_utf8(output.stderr).unwrap());
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains(
            "asset `data/photos/1.png` of record `stadium-1` (field `photo`) changed while apply was uploading it"
        ),
        "{stderr}"
    );
    let stats = env.stats();
    assert_eq!(stats.records, 0, "a record was written");
    assert_eq!(stats.assets.uploads, 1, "only photos/2.png is uploaded");
    env.write("data/photos/1.png", "planned bytes");
    let plan = env.run(&["plan", "-o", "again.plan"]);
    assert!(
        plan.stderr.contains("Stadium: 0 unchanged, 2 new"),
        "{}",
        plan.stderr
    );
}

/// The ledger entry of `bytes`, with `checksum`, as `{sha256: {size, fileChecksum}}`.
fn ledger_entry(bytes: &str, checksum: &serde_json::Value) -> (String, serde_json::Value) {
    let sha256 = ckplan::local::asset::sha256_hex(bytes.as_bytes());
    (
        sha256,
        json!({"size": bytes.len(), "fileChecksum": checksum}),
    )
}

/// Issue 21 (review 3): a stale or poisoned ledger entry makes a changed file plan as
/// unchanged; `plan --refresh-assets` trusts none of it, probes, finds the change and
/// mends the ledger. A malformed ledger is ignored whole with a warning (its well-formed
/// poisoned entry is not trusted either), and `.ckplan/` ignores itself for git.
#[test]
fn a_poisoned_ledger_is_caught_by_refresh_and_a_malformed_one_is_ignored_whole() {
    let env = Env::new();
    std::fs::create_dir_all(env.path("data/photos")).unwrap();
    env.write("data/photos/1.png", "original");
    stadiums_with(&env, "photos/1.png");
    let apply = env.run(&["apply", "--auto-approve"]);
    assert_eq!(apply.code, 0, "{}", apply.stderr);
    assert_eq!(env.read(".ckplan/.gitignore").lines().last(), Some("*"));
    let stored = env.stored_fields()["stadium-1"]["photo"]["value"]["fileChecksum"].clone();

    // Same size, other bytes; the ledger says they are what CloudKit holds.
    env.write("data/photos/1.png", "poisoned");
    let mut ledger: serde_json::Value =
        serde_json::from_str(&env.read(".ckplan/assets.json")).unwrap();
    let target = ledger["targets"]
        .as_object()
        .unwrap()
        .keys()
        .next()
        .unwrap()
        .clone();
    let (sha256, entry) = ledger_entry("poisoned", &stored);
    ledger["targets"][&target][&sha256] = entry;
    env.write(".ckplan/assets.json", &ledger.to_string());
    let trusting = env.run(&["plan", "-o", "out.plan"]);
    assert!(
        trusting
            .stderr
            .contains("Stadium: 2 unchanged, 0 new, 0 updated"),
        "the ledger is trusted as documented: {}",
        trusting.stderr
    );

    let before = env.stats().assets.uploads;
    let refreshed = env.run(&["plan", "--refresh-assets", "-o", "out.plan"]);
    assert_eq!(refreshed.code, 0, "{}", refreshed.stderr);
    assert!(
        refreshed
            .stderr
            .contains("Stadium: 1 unchanged, 0 new, 1 updated"),
        "{}",
        refreshed.stderr
    );
    assert_eq!(env.stats().assets.uploads, before + 2, "one probe per file");
    let again = env.run(&["plan", "-o", "out.plan"]);
    assert!(
        again.stderr.contains("1 updated"),
        "the probe mended the ledger: {}",
        again.stderr
    );

    // Poisoned again, next to an entry of the wrong shape: nothing of it is trusted.
    let mut ledger: serde_json::Value =
        serde_json::from_str(&env.read(".ckplan/assets.json")).unwrap();
    ledger["targets"][&target][&sha256]["fileChecksum"] = stored;
    ledger["targets"][&target]["NOT-A-DIGEST"] = json!({"size": 1, "fileChecksum": "AQ=="});
    env.write(".ckplan/assets.json", &ledger.to_string());
    let ignored = env.run(&["plan", "-o", "out.plan"]);
    assert_eq!(ignored.code, 0, "{}", ignored.stderr);
    assert!(
        ignored.stderr.contains(
            "warning: ignoring the asset ledger `.ckplan/assets.json`: `NOT-A-DIGEST` is not a SHA-256 in lowercase hex"
        ),
        "{}",
        ignored.stderr
    );
    assert!(ignored.stderr.contains("1 updated"), "{}", ignored.stderr);
}

/// Issue 21 (review 5): an asset the app keeps in a field the config does not declare (and
/// the local record does not set) is left alone: not planned for removal, not touched by
/// an apply that updates the record. Declaring the field makes it ckplan's, and then a
/// record without it has it removed, as any declared field.
#[test]
fn an_asset_field_outside_the_config_is_never_planned_for_removal() {
    let env = Env::new();
    env.publish();
    let asset = env.upload_asset_for("Stadium", "appAsset", b"the app's own asset");
    env.edit("Stadium", "stadium-1", &[("appAsset", Some(asset))]);
    let plan = env.run(&["plan", "--detailed-exitcode", "-o", "out.plan"]);
    assert_eq!(plan.code, 0, "planned a change: {}", plan.stderr);
    let mut stadiums = crate::common::stadiums();
    stadiums[0]["name"] = json!("Renamed");
    env.set_stadiums(&stadiums);
    let plan = env.run(&["plan", "-o", "out.plan"]);
    assert_eq!(plan.code, 0, "{}", plan.stderr);
    let show = env.run(&["show", "out.plan"]);
    assert!(!show.stdout.contains("appAsset"), "{}", show.stdout);
    let apply = env.run(&["apply", "out.plan"]);
    assert_eq!(apply.code, 0, "{}", apply.stderr);
    let stored = env.stored_fields();
    assert_eq!(stored["stadium-1"]["name"]["value"], "Renamed");
    assert_eq!(stored["stadium-1"]["appAsset"]["value"]["size"], 19);

    let config = env
        .read("ckplan.yaml")
        .replace("capacity: INT64}", "capacity: INT64, appAsset: ASSET}");
    env.write("ckplan.yaml", &config);
    let plan = env.run(&["plan", "-o", "declared.plan"]);
    assert_eq!(plan.code, 0, "{}", plan.stderr);
    let show = env.run(&["show", "declared.plan"]);
    assert!(show.stdout.contains("- appAsset"), "{}", show.stdout);
}

/// Issue 21 (review 6): one upload per slot (record, field, list element), even of the same
/// bytes, since a receipt saves one field of one record (the emulator refuses a reused
/// one); a re-plan after the apply uploads nothing.
#[test]
fn the_same_file_in_several_slots_is_uploaded_once_per_slot() {
    let env = Env::new();
    let config = env.read("ckplan.yaml").replace(
        "capacity: INT64}",
        "capacity: INT64, photo: ASSET, gallery: ASSET_LIST}",
    );
    env.write("ckplan.yaml", &config);
    env.write("data/shared.png", "the same photo");
    env.write("data/g1.png", "first");
    env.write("data/g2.png", "second");
    let records: Vec<_> = (1..=2)
        .map(|id| {
            json!({"id": id, "name": format!("Stadium {id}"), "city": "Springfield",
                   "location": {"latitude": 1.0, "longitude": 2.0}, "capacity": 100,
                   "photo": "shared.png", "gallery": ["g1.png", "g2.png", "g1.png"]})
        })
        .collect();
    env.set_stadiums(&json!(records));
    env.set_teams(&json!([]));
    let apply = env.run(&["apply", "--auto-approve"]);
    assert_eq!(apply.code, 0, "{}", apply.stderr);
    assert!(
        apply
            .stderr
            .contains("Assets: 8 files uploaded (60 bytes)."),
        "{}",
        apply.stderr
    );
    assert_eq!(env.stats().assets.uploads, 8);
    let stored = env.stored_fields();
    assert_eq!(stored["stadium-2"]["gallery"]["value"][2]["size"], 5);
    let plan = env.run(&["plan", "--detailed-exitcode", "-o", "out.plan"]);
    assert_eq!(plan.code, 0, "{}", plan.stderr);
    assert_eq!(env.stats().assets.uploads, 8, "the re-plan uploaded");
}

/// Issue 21 (review 1): a native record cannot spell ckplan's resolved form of an asset
/// (`file`, `sha256`) to name a file outside the project for apply to upload.
#[test]
fn a_native_asset_value_spelling_ckplans_own_members_is_refused() {
    let env = Env::new();
    let config = env
        .read("ckplan.yaml")
        .replace("capacity: INT64}", "capacity: INT64, photo: ASSET}");
    env.write("ckplan.yaml", &config);
    let forged = json!({"file": "/etc/hostname", "size": 1, "sha256": "00"});
    env.set_stadiums(&json!([{"recordName": "stadium-1", "fields": {
        "name": {"value": "Stadium 1"}, "photo": {"value": forged, "type": "ASSETID"}}}]));
    env.set_teams(&json!([]));
    let validate = env.run(&["validate"]);
    assert_eq!(validate.code, 1, "{}", validate.stderr);
    assert!(
        validate
            .stderr
            .contains("`stadium-1` field `photo`: an asset value names its file as a path"),
        "{}",
        validate.stderr
    );
}

/// Issue 21 (review 7): removing a field from records that hold an unchanged asset applies
/// on the first run. A `replace` would have to send the unchanged asset back without a
/// receipt, which CloudKit (and the emulator) refuses for the whole batch; the removal
/// goes as a tag-checked update with the field null instead, and the asset stays.
#[test]
fn removing_a_field_beside_an_unchanged_asset_applies_the_whole_batch() {
    let env = Env::new();
    std::fs::create_dir_all(env.path("data/photos")).unwrap();
    env.write("data/photos/1.png", "one");
    stadiums_with(&env, "photos/1.png");
    let apply = env.run(&["apply", "--auto-approve"]);
    assert_eq!(apply.code, 0, "{}", apply.stderr);
    let stored = env.stored_fields();
    let checksum = stored["stadium-1"]["photo"]["value"]["fileChecksum"].clone();
    let mut stadiums: serde_json::Value =
        serde_json::from_str(&env.read("data/stadiums.json")).unwrap();
    for stadium in stadiums.as_array_mut().unwrap() {
        stadium.as_object_mut().unwrap().remove("city");
    }
    env.set_stadiums(&stadiums);
    let uploads = env.stats().assets.uploads;
    let plan = env.run(&["plan", "-o", "out.plan"]);
    assert_eq!(plan.code, 0, "{}", plan.stderr);
    assert!(plan.stderr.contains("2 updated"), "{}", plan.stderr);
    let apply = env.run(&["apply", "out.plan"]);
    assert_eq!(apply.code, 0, "{}", apply.stderr);
    assert!(apply.stderr.contains("2 updated"), "{}", apply.stderr);
    let stored = env.stored_fields();
    for name in ["stadium-1", "stadium-2"] {
        assert!(
            stored[name].get("city").is_none(),
            "{name}: {}",
            stored[name]
        );
    }
    assert_eq!(
        stored["stadium-1"]["photo"]["value"]["fileChecksum"],
        checksum
    );
    assert_eq!(
        env.stats().assets.uploads,
        uploads,
        "an unchanged asset was uploaded"
    );
    let again = env.run(&["plan", "--detailed-exitcode", "-o", "again.plan"]);
    assert_eq!(again.code, 0, "{}", again.stderr);
}

/// `validate` refuses stadium-1's photo as one of ckplan's own files, naming the data file,
/// the record and the field, with `variables` set.
fn validate_refuses_as_own(env: &Env, variables: &[(&str, &str)]) {
    let mut command = env.ckplan();
    command.arg("validate");
    for (name, value) in variables {
        command.env(name, value);
    }
    let output = command.output().unwrap();
    let stderr = env.filter(&String::from_utf8(output.stderr).unwrap());
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    for expected in [
        "data/stadiums.json",
        "`stadium-1` field `photo`",
        "is one of ckplan's own files",
    ] {
        assert!(stderr.contains(expected), "no {expected:?}:\n{stderr}");
    }
}

/// Issue 21 (review 7): a hard link to the signing key or to a file under `.ckplan/` is the
/// same file under another path: refused by its identity (device and inode), by validate
/// and plan, nothing uploaded. A plain second link to an ordinary file is still taken.
#[test]
fn a_hard_link_to_the_key_or_to_ckplans_state_is_refused() {
    for target in ["keys/test.pem", ".ckplan/assets.json"] {
        let env = Env::new();
        std::fs::create_dir_all(env.path("data/photos")).unwrap();
        std::fs::create_dir_all(env.path(".ckplan")).unwrap();
        env.write(".ckplan/assets.json", "{}");
        std::fs::hard_link(env.path(target), env.path("data/photos/1.png")).unwrap();
        stadiums_with(&env, "photos/1.png");
        refused(&env, "is one of ckplan's own files");
    }
    let env = Env::new();
    std::fs::create_dir_all(env.path("data/photos")).unwrap();
    env.write("data/photos/0.png", "an ordinary photo");
    std::fs::hard_link(env.path("data/photos/0.png"), env.path("data/photos/1.png")).unwrap();
    stadiums_with(&env, "photos/1.png");
    assert_eq!(env.run(&["validate"]).code, 0);
}

/// Issue 21 (review 7): the embedded emulator's store, wherever `endpoint: embedded:DIR`
/// puts it (its `assets/key` secret, its log), is ckplan's own like `.ckplan/`, under its
/// path or through a hard link.
#[test]
fn the_embedded_emulators_store_is_never_an_asset() {
    for (written, link) in [("../store/assets/key", false), ("photos/1.png", true)] {
        let env = Env::new();
        let config = env.read("ckplan.yaml");
        let endpoint = config
            .lines()
            .find(|line| line.starts_with("endpoint:"))
            .unwrap()
            .to_owned();
        env.write(
            "ckplan.yaml",
            &config.replace(&endpoint, "endpoint: embedded:store"),
        );
        std::fs::create_dir_all(env.path("store/assets")).unwrap();
        std::fs::create_dir_all(env.path("data/photos")).unwrap();
        env.write("store/assets/key", "the store's secret");
        if link {
            std::fs::hard_link(env.path("store/assets/key"), env.path("data/photos/1.png"))
                .unwrap();
        }
        stadiums_with(&env, written);
        validate_refuses_as_own(&env, &[]);
    }
}

/// Issue 21 (review 7): `validate` protects the key file `CKPLAN_PRIVATE_KEY_FILE` names,
/// as `plan` does.
#[test]
fn validate_refuses_the_key_file_the_environment_names() {
    let env = Env::new();
    std::fs::create_dir_all(env.path("data")).unwrap();
    env.write("data/envkey.pem", "stands for a key");
    stadiums_with(&env, "envkey.pem");
    validate_refuses_as_own(&env, &[("CKPLAN_PRIVATE_KEY_FILE", "data/envkey.pem")]);
}

/// Issue 21 (review 7): a plan edited so that an asset's `file` (what apply uploads) is not
/// where its `path` (what `show` prints) leads from the type's data file is refused before
/// anything is sent, naming the record and the field — even with the same bytes.
#[test]
fn a_plan_whose_asset_file_is_not_its_shown_path_is_refused() {
    let env = Env::new();
    std::fs::create_dir_all(env.path("data/photos")).unwrap();
    env.write("data/photos/1.png", "same bytes");
    env.write("data/notes.txt", "same bytes");
    stadiums_with(&env, "photos/1.png");
    let plan = env.run(&["plan", "-o", "out.plan"]);
    assert_eq!(plan.code, 0, "{}", plan.stderr);
    let text = env.read("out.plan");
    assert!(text.contains("\"data/photos/1.png\""), "{text}");
    let edited = text.replacen("\"data/photos/1.png\"", "\"data/notes.txt\"", 1);
    let json: serde_json::Value = serde_json::from_str(&edited).unwrap();
    let old = json["checksum"].as_str().unwrap().to_owned();
    let body = ckplan::plan::file::canonical_body(&edited).unwrap();
    let new = format!("blake3:{}", blake3::hash(&body).to_hex());
    env.write("out.plan", &edited.replacen(&old, &new, 1));
    let apply = env.run(&["apply", "out.plan"]);
    assert_eq!(apply.code, 1, "{}", apply.stderr);
    assert!(
        apply.stderr.contains(
            "the plan's asset of record `stadium-1` (field `photo`) is shown as `photos/1.png` but names the file `data/notes.txt`"
        ),
        "{}",
        apply.stderr
    );
    let stats = env.stats();
    assert_eq!(stats.assets.uploads, 0);
    assert_eq!(stats.records, 0);
}

/// Issue 21 (review 7): a native ASSETID value written in CloudKit's fetched shape names no
/// file (and CloudKit would refuse it without a receipt, failing the whole batch at
/// apply), and an unknown member beside `path` is a typo: validate refuses both, naming
/// the data file, the line, the record and the field.
#[test]
fn a_native_asset_without_a_path_or_with_unknown_members_is_refused() {
    let cases = [
        (
            json!({"fileChecksum": "AQ==", "size": 3}),
            "an asset in local data must name a file",
        ),
        (
            json!({"path": "photos/1.png", "bogus": 1}),
            "an asset value has one member, `path`; `bogus` is not one",
        ),
    ];
    for (value, message) in cases {
        let env = Env::new();
        std::fs::create_dir_all(env.path("data/photos")).unwrap();
        env.write("data/photos/1.png", "one");
        let config = env
            .read("ckplan.yaml")
            .replace("capacity: INT64}", "capacity: INT64, photo: ASSET}");
        env.write("ckplan.yaml", &config);
        env.write(
            "data/stadiums.json",
            &format!(
                "[\n{}\n]",
                json!({"recordName": "stadium-1", "fields": {
                    "name": {"value": "Stadium 1"}, "photo": {"value": value, "type": "ASSETID"}}})
            ),
        );
        env.set_teams(&json!([]));
        let validate = env.run(&["validate"]);
        assert_eq!(validate.code, 1, "{}", validate.stderr);
        for expected in ["data/stadiums.json:2", "`stadium-1` field `photo`", message] {
            assert!(
                validate.stderr.contains(expected),
                "no {expected:?}: {}",
                validate.stderr
            );
        }
        let plan = env.run(&["plan", "-o", "out.plan"]);
        assert_eq!(plan.code, 1, "{}", plan.stderr);
        assert_eq!(env.stats().records, 0);
    }
}
