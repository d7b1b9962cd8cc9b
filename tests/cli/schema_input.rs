//! Issue 20's input findings, through the binary: what the configuration, the environment
//! and a plan file say is checked where it is read, with the file, line or variable named,
//! and nothing from them is echoed raw or unbounded.

use crate::common::{Env, CONTAINER};

/// The project's config with `line` put first.
fn with_line(env: &Env, line: &str) {
    let config = env.read("ckplan.yaml");
    env.write("ckplan.yaml", &format!("{line}\n{config}"));
}

#[test]
fn issue_20_a_bad_team_id_is_refused_at_config_load_with_file_and_line() {
    let env = Env::new();
    env.set_config(CONTAINER, "development");
    with_line(&env, "team_id: \"../../evil\"");
    let validate = env.run(&["validate"]);
    assert_eq!(validate.code, 1, "{}", validate.stderr);
    assert!(
        validate.stderr.contains("ckplan.yaml`:1: `team_id`: team ID `../../evil`"),
        "{}",
        validate.stderr
    );
    let show = env.run(&["schema", "show"]);
    assert_eq!(show.code, 1, "{}", show.stderr);
    assert!(show.stderr.contains("ckplan.yaml`:1:"), "{}", show.stderr);
}

#[test]
fn issue_20_a_bad_ckplan_team_id_is_refused_naming_the_variable() {
    let env = Env::new();
    env.set_config(CONTAINER, "development");
    let output = env
        .ckplan()
        .env("CKPLAN_TEAM_ID", "a/b\u{1b}[2J")
        .args(["schema", "show"])
        .output()
        .unwrap();
    let stderr = String::from_utf8(output.stderr).unwrap();
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("`CKPLAN_TEAM_ID`"), "{stderr}");
    assert!(!stderr.contains('\u{1b}'), "{stderr}");
}

#[test]
fn issue_20_one_record_name_in_two_types_is_refused_by_validate_and_plan() {
    let env = Env::new();
    env.set_config(CONTAINER, "development");
    // Teams named like the stadiums: `stadium-1` and `stadium-2` in both types.
    let config = env.read("ckplan.yaml").replace("team-{id}", "stadium-{id}");
    env.write("ckplan.yaml", &config);
    let validate = env.run(&["validate"]);
    assert_eq!(validate.code, 1, "{}", validate.stderr);
    for name in ["stadium-1", "stadium-2"] {
        let line = format!(
            "Team `{name}`: recordName `{name}` is also used by a `Stadium` record at "
        );
        assert!(validate.stderr.contains(&line), "{line}\n{}", validate.stderr);
    }
    assert!(validate.stderr.contains("data/teams.json:"), "{}", validate.stderr);
    assert!(validate.stderr.contains("data/stadiums.json:"), "{}", validate.stderr);
    let before = env.stats();
    let plan = env.run(&["plan", "-o", "out.plan"]);
    assert_eq!(plan.code, 1, "{}", plan.stderr);
    assert!(plan.stderr.contains("is also used by a `Stadium` record"), "{}", plan.stderr);
    assert!(!env.path("out.plan").exists());
    assert_eq!(crate::common::modify_requests(&before, &env.stats()), 0);
}
