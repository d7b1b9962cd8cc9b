//! `doctor`: a read-only preflight of the configured target. Each check reads (users/caller,
//! one-record queries) and returns data: a status, what was found, and the fix for a
//! problem. Nothing here writes to CloudKit or prints.

use crate::cloudkit::{Client, CloudKitError};
use crate::config::Config;
use crate::local as load;
use crate::record::RecordType;
use crate::record::{Database, Environment, Target};
use serde::Serialize;

/// The clock skew beyond which doctor fails. CloudKit does not document its tolerance for
/// `X-Apple-CloudKit-Request-ISO8601Date`; the only figure published (a third-party API
/// catalogue, unsourced) is that signed requests expire 10 minutes after their date, so
/// half of that is taken as the safe bound.
pub const MAX_CLOCK_SKEW_SECONDS: i64 = 300;

/// A skew worth a warning although requests still pass.
pub const WARN_CLOCK_SKEW_SECONDS: i64 = 60;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    Pass,
    Warn,
    Fail,
    /// Not run because an earlier check failed (no usable key, an unreachable endpoint, a
    /// key that does not authenticate); the detail says which.
    Skipped,
}

/// One check: what it looked at (`key`, `clock`, `type Game`, `environment`,
/// `local data`), its status, what was found, and for a problem the fix.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Check {
    pub name: String,
    pub status: Status,
    pub detail: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fix: Option<String>,
}

impl Check {
    fn new(name: impl Into<String>, status: Status, detail: impl Into<String>) -> Self {
        Self {
            name: name.into(),
            status,
            detail: detail.into(),
            fix: None,
        }
    }

    fn with_fix(mut self, fix: Option<String>) -> Self {
        self.fix = fix;
        self
    }
}

/// Every check of one run, in order.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Report {
    pub target: Target,
    pub endpoint: String,
    pub checks: Vec<Check>,
}

impl Report {
    /// No check failed (warnings allowed).
    pub fn passed(&self) -> bool {
        self.checks.iter().all(|c| c.status != Status::Fail)
    }
}

/// Runs every check against `client`'s target. Reads only: `users/caller` and two
/// single-record queries per configured type (can it be queried; is `createdTimestamp`
/// indexed for the fast read).
pub async fn run(config: &Config, client: &Client) -> Report {
    run_advised(config, client, &|_| None).await
}

/// What a check says to do about a CloudKit error, when the caller knows better than the
/// error's own hint (`None`: the hint).
pub type Advice<'a> = &'a (dyn Fn(&CloudKitError) -> Option<String> + Sync);

/// [`run`], with `advice` over each failed type check's hint.
pub async fn run_advised(config: &Config, client: &Client, advice: Advice<'_>) -> Report {
    let (key, reached) = key(config, client).await;
    let clock = match &reached {
        Reached::No(why) => skipped("clock", why),
        // The clock comes from the reply's `Date` header, a 401 included.
        _ => clock(client),
    };
    let mut checks = vec![key, clock, environment(config), database(config.database)];
    for record_type in config.types.keys() {
        match &reached {
            Reached::Authenticated => {
                let check = record_type_check(client, record_type, advice).await;
                let passed = check.status == Status::Pass;
                checks.push(check);
                if passed {
                    checks.push(created_index_check(client, record_type).await);
                }
            }
            Reached::Refused => checks.push(skipped(
                format!("type {record_type}"),
                "not checked: the key does not authenticate",
            )),
            Reached::No(why) => checks.push(skipped(format!("type {record_type}"), why)),
        }
    }
    checks.push(local_data(config));
    Report {
        target: config.target(),
        endpoint: client.endpoint().to_string(),
        checks,
    }
}

/// The checks that can run without a client, when no signed client could be built
/// (`problem` says why: a missing or unreadable key file, no key ID). The key fails with
/// `fix`; the checks that need CloudKit are skipped saying so; the environment, database
/// and local data are checked as usual.
pub fn without_client(config: &Config, endpoint: String, problem: String, fix: String) -> Report {
    let why = "not checked: no usable key to sign requests with";
    let mut checks = vec![
        Check::new("key", Status::Fail, problem).with_fix(Some(fix)),
        skipped("clock", why),
        environment(config),
        database(config.database),
    ];
    for record_type in config.types.keys() {
        checks.push(skipped(format!("type {record_type}"), why));
    }
    checks.push(local_data(config));
    Report {
        target: config.target(),
        endpoint,
        checks,
    }
}

fn skipped(name: impl Into<String>, why: &str) -> Check {
    Check::new(name, Status::Skipped, why)
}

/// How far the `users/caller` request got: the key authenticated, CloudKit refused it, or
/// no answer came from CloudKit (the reason for the dependent checks' `skip`).
enum Reached {
    Authenticated,
    Refused,
    No(&'static str),
}

async fn key(config: &Config, client: &Client) -> (Check, Reached) {
    let key_id = client.key_id();
    let shown = &key_id[..key_id.len().min(8)];
    match client
        .get::<serde_json::Value>(crate::cloudkit::wire::Endpoint::UsersCaller)
        .await
    {
        Ok(reply) => {
            // Apple documents `{users: [identity]}`; CloudKit JS reads the identity at the
            // top level. Either names the caller.
            let user = reply["users"][0]["userRecordName"]
                .as_str()
                .or_else(|| reply["userRecordName"].as_str())
                .unwrap_or("an unnamed user");
            let detail = format!("key `{shown}...` authenticates as `{}`", plain(user));
            (
                Check::new("key", Status::Pass, detail),
                Reached::Authenticated,
            )
        }
        Err(
            error @ (CloudKitError::NotSent { .. }
            | CloudKitError::MaybeSent { .. }
            | CloudKitError::Gateway { .. }),
        ) => {
            let fix = format!(
                "check that `endpoint:` in ckplan.yaml is the right URL and that this machine can reach it (network, proxy, firewall): {}",
                client.endpoint()
            );
            let check = Check::new(
                "endpoint",
                Status::Fail,
                format!("no answer from CloudKit: {error}"),
            );
            let why = "not checked: CloudKit could not be reached";
            (check.with_fix(Some(fix)), Reached::No(why))
        }
        // Still throttled or unavailable after the client's retries: not the key's fault.
        Err(error) if error.is_retryable() => {
            let check = Check::new(
                "endpoint",
                Status::Fail,
                format!("CloudKit is busy or unavailable (transient): {error}"),
            );
            let fix = "run `ckplan doctor` again in a few minutes".to_owned();
            let why = "not checked: CloudKit answered with a transient error";
            (check.with_fix(Some(fix)), Reached::No(why))
        }
        Err(error) => {
            let check = Check::new("key", Status::Fail, format!("key `{shown}...`: {error}"));
            // The advice names the settings that gave this environment's key.
            let settings = config.auth.settings(config.environment);
            let fix = error.hint().map(|hint| settings.name_in(&hint));
            (check.with_fix(fix), Reached::Refused)
        }
    }
}

/// Server-to-server keys reach the public database only. Source: Apple, "CloudKit Web
/// Services Reference", Accessing CloudKit Using a Server-to-Server Key ("the server-to-server
/// key ... can only be used to access the public database").
fn database(database: Database) -> Check {
    match database {
        Database::Public => Check::new(
            "database",
            Status::Pass,
            "public: the database server-to-server keys can write",
        ),
        other => Check::new(
            "database",
            Status::Fail,
            format!(
                "{}: server-to-server keys can only access the public database",
                other.as_str()
            ),
        )
        .with_fix(Some("set `database: public` in ckplan.yaml".to_owned())),
    }
}

fn clock(client: &Client) -> Check {
    let Some(clock) = client.server_clock() else {
        return Check::new(
            "clock",
            Status::Warn,
            "CloudKit's reply had no `Date` header; the clock was not compared",
        );
    };
    let skew = clock.skew().num_seconds();
    let detail = format!(
        "this machine's clock is {} s {} CloudKit's",
        skew.abs(),
        if skew >= 0 { "ahead of" } else { "behind" }
    );
    let status = match skew.abs() {
        s if s > MAX_CLOCK_SKEW_SECONDS => Status::Fail,
        s if s > WARN_CLOCK_SKEW_SECONDS => Status::Warn,
        _ => Status::Pass,
    };
    let fix = (status != Status::Pass).then(|| {
        "synchronise this machine's clock (NTP: `timedatectl set-ntp true`, or `sntp -sS time.apple.com` on macOS); signed requests carry the time and CloudKit refuses stale ones".to_owned()
    });
    Check::new("clock", status, detail).with_fix(fix)
}

async fn record_type_check(client: &Client, record_type: &RecordType, advice: Advice<'_>) -> Check {
    let name = format!("type {record_type}");
    match client.probe_query(record_type).await {
        Ok(_) => Check::new(
            name,
            Status::Pass,
            format!("record type `{record_type}` exists and can be queried without a filter"),
        ),
        Err(CloudKitError::UnknownRecordType {
            environment: Environment::Development,
            ..
        }) => Check::new(
            name,
            Status::Warn,
            format!("record type `{record_type}` does not exist in development yet; the first apply creates it"),
        )
        .with_fix(Some(format!(
            "none needed now: the first `ckplan apply` creates `{record_type}` in development; before using production, deploy the schema to production in CloudKit Console"
        ))),
        Err(error) => {
            let fix = advice(&error).or_else(|| error.hint());
            Check::new(name, Status::Fail, error.to_string()).with_fix(fix)
        }
    }
}

/// Issue 18: whether `record_type` can be read as several query chains at once, which
/// needs QUERYABLE and SORTABLE indexes on `createdTimestamp` (`___createTime`).
async fn created_index_check(client: &Client, record_type: &RecordType) -> Check {
    let name = format!("index {record_type}.createdTimestamp");
    match client.probe_created_index(record_type).await {
        Ok(None) => Check::new(
            name,
            Status::Pass,
            format!("`{record_type}` can be filtered and sorted by `createdTimestamp`: it is read as several query chains at once"),
        ),
        Ok(Some(field)) => Check::new(
            name,
            Status::Warn,
            format!("cloudkit refused to filter or sort `{record_type}` by `createdTimestamp` (field `{field}`): it is read as one query chain, slower for many records"),
        )
        .with_fix(Some(format!(
            "in CloudKit Console, Schema, Indexes, add QUERYABLE and SORTABLE indexes on `createdTimestamp` (`___createTime`) of `{record_type}`, then deploy them to production"
        ))),
        Err(error) => Check::new(name, Status::Warn, error.to_string()).with_fix(error.hint()),
    }
}

fn environment(config: &Config) -> Check {
    match config.environment {
        Environment::Development => Check::new(
            "environment",
            Status::Pass,
            "development: apps built from Xcode read it; apps from the App Store and TestFlight do not",
        ),
        Environment::Production => Check::new(
            "environment",
            Status::Warn,
            "production: apps from the App Store and TestFlight read these records; an apply changes what users see",
        )
        .with_fix(Some(match config.configured_environment {
            // The file already says development: production came from `--environment`.
            Environment::Development => "if you meant to try things first, leave out `--environment production` (or `CKPLAN_ENVIRONMENT`): the configuration says `environment: development`".to_owned(),
            Environment::Production => {
                "if you meant to try things first, set `environment: development`".to_owned()
            }
        })),
    }
}

fn local_data(config: &Config) -> Check {
    let local = load::load_all(config);
    let errors = local.error_count();
    let records: usize = config.types.keys().map(|t| local.records(t).len()).sum();
    if errors == 0 {
        Check::new(
            "local data",
            Status::Pass,
            format!(
                "{} record type{}, {records} record{} validate",
                config.types.len(),
                plural(config.types.len()),
                plural(records)
            ),
        )
    } else {
        Check::new(
            "local data",
            Status::Fail,
            format!(
                "local data has {errors} error{}",
                if errors == 1 { "" } else { "s" }
            ),
        )
        .with_fix(Some(
            "run `ckplan validate` for each error with its file and line".to_owned(),
        ))
    }
}

/// Text from CloudKit, reduced to printable ASCII (it is untrusted and goes to a terminal).
fn plain(text: &str) -> String {
    text.chars()
        .take(80)
        .map(|c| {
            if c.is_ascii_graphic() || c == ' ' {
                c
            } else {
                '?'
            }
        })
        .collect()
}

fn plural(count: usize) -> &'static str {
    if count == 1 {
        ""
    } else {
        "s"
    }
}
