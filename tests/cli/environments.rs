//! Environments in practice (issue 19): the README's promotion sequence runs as written,
//! `show` reviews a plan for another environment than the configuration's, and every hint
//! about a plan for another environment names `--environment` with a command that works.

use crate::common;

use common::Env;

/// The README's promotion block ("Environments and promotion"), as command lines.
fn readme_promotion() -> Vec<String> {
    let readme = include_str!("../../README.md");
    let start = readme
        .find("Promotion:\n\n```\n")
        .expect("README has the promotion block")
        + "Promotion:\n\n```\n".len();
    let block = &readme[start..];
    let block = &block[..block.find("```").unwrap()];
    block
        .lines()
        .flat_map(|line| line.split('#').next().unwrap().split("&&"))
        .map(|command| command.trim().to_owned())
        .filter(|command| !command.is_empty())
        .collect()
}

/// Runs one README command line (`ckplan ARGS [> FILE]`) in the project; its stdout goes to
/// FILE when redirected.
fn run_line(env: &Env, line: &str) -> common::Run {
    let (command, redirect) = match line.split_once('>') {
        Some((command, file)) => (command, Some(file.trim())),
        None => (line, None),
    };
    let words: Vec<&str> = command.split_whitespace().collect();
    assert_eq!(words[0], "ckplan", "{line}");
    let run = env.run(&words[1..]);
    if let Some(file) = redirect {
        env.write(file, &run.stdout);
    }
    run
}

#[test]
fn issue_19_the_readme_promotion_runs_as_written() {
    let env = Env::new();
    let lines = readme_promotion();
    assert!(lines.len() >= 5, "{lines:?}");
    for line in &lines {
        let run = run_line(&env, line);
        assert_eq!(run.code, 0, "`{line}`:\n{}", run.stderr);
        if line.contains("production plan") {
            // The plan's own advice is the README's next steps.
            assert!(
                run.stderr.contains(
                    "then `ckplan --environment production apply prod.plan --allow-production`"
                ),
                "{}",
                run.stderr
            );
        }
        if line.contains("show prod.plan") {
            // The configuration says development: the review says whose plan this is.
            assert!(
                run.stderr.contains(
                    "plan `prod.plan` is for the PRODUCTION environment, not development"
                ),
                "{}",
                run.stderr
            );
            assert!(run.stdout.contains("(**PRODUCTION**, public database"));
        }
    }
    // Production now holds the development data: a production plan has nothing to do.
    let again = env.run(&[
        "--environment",
        "production",
        "plan",
        "--detailed-exitcode",
        "-o",
        "again.plan",
    ]);
    assert_eq!(again.code, 0, "{}", again.stderr);
    assert!(
        again.stderr.contains("Stadium: 3 unchanged, 0 new"),
        "{}",
        again.stderr
    );
}

#[test]
fn issue_19_a_refused_plan_for_another_environment_names_the_flag() {
    let env = Env::new();
    let run = env.run(&["--environment", "production", "plan", "-o", "prod.plan"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_eq!(env.run(&["plan", "-o", "dev.plan"]).code, 0);
    let before = env.stats();
    for args in [
        &["apply", "prod.plan"][..],
        &["apply", "prod.plan", "--allow-production"],
    ] {
        let run = env.run(args);
        assert_eq!(run.code, 1, "{}", run.stderr);
        assert!(
            run.stderr.contains(
                "hint: the plan is for the production environment: run `ckplan --environment production apply prod.plan --allow-production`"
            ),
            "{}",
            run.stderr
        );
    }
    // With --config the hint keeps it.
    let run = env.run(&["--config", "ckplan.yaml", "apply", "prod.plan"]);
    assert!(
        run.stderr.contains(
            "run `ckplan --config ckplan.yaml --environment production apply prod.plan --allow-production`"
        ),
        "{}",
        run.stderr
    );
    // A development plan refused by a production override says so the other way round.
    let run = env.run(&["--environment", "production", "apply", "dev.plan"]);
    assert_eq!(run.code, 1, "{}", run.stderr);
    assert!(
        run.stderr.contains(
            "hint: the plan is for the development environment: run `ckplan --environment development apply dev.plan`"
        ),
        "{}",
        run.stderr
    );
    assert_eq!(common::all_requests(&before, &env.stats()), 0);

    // Another container and another environment: still refused by show, naming both ways out.
    env.set_config("iCloud.com.example.Other", "development");
    let show = env.run(&["show", "prod.plan"]);
    assert_eq!(
        (show.code, show.stdout.as_str()),
        (1, ""),
        "{}",
        show.stderr
    );
    assert!(
        show.stderr.contains("`--environment production`"),
        "{}",
        show.stderr
    );
}

/// Issue 19: CloudKit refusing production's key is advised about production's key — the
/// settings that gave it, and a doctor command that checks production — and `doctor` in
/// production by `--environment` does not tell to set what the file already says.
#[test]
fn issue_19_a_refused_production_key_names_production_settings() {
    let env = Env::new();
    let config = env.read("ckplan.yaml").replace(
        "  private_key_file: keys/test.pem\n",
        "  private_key_file: keys/test.pem\n  production:\n    key_id: unregistered-production-key\n",
    );
    env.write("ckplan.yaml", &config);
    let run = env.run(&[
        "--config",
        "ckplan.yaml",
        "--environment",
        "production",
        "plan",
    ]);
    assert_eq!(run.code, 1, "{}", run.stderr);
    assert!(
        run.stderr.contains(
            "hint: check `auth.production.key_id` and `auth.private_key_file`, that the key is registered"
        ),
        "{}",
        run.stderr
    );
    assert!(
        run.stderr.contains(
            "(`ckplan --config ckplan.yaml --environment production doctor` checks all three)"
        ),
        "{}",
        run.stderr
    );
    // Development still signs with `auth:`'s key and passes.
    assert_eq!(env.run(&["plan"]).code, 0);

    let doctor = env.run(&["--environment", "production", "doctor"]);
    assert_eq!(doctor.code, 1, "{}", doctor.stderr);
    let report = format!("{}{}", doctor.stdout, doctor.stderr);
    assert!(report.contains("`auth.production.key_id`"), "{report}");
    assert!(
        report.contains("leave out `--environment production`"),
        "{report}"
    );
    assert!(
        !report.contains("set `environment: development`"),
        "{report}"
    );

    // A key from the environment is named as such.
    let output = env
        .ckplan()
        .env("CKPLAN_KEY_ID", "unregistered-ci-key")
        .args(["plan"])
        .output()
        .unwrap();
    let stderr = String::from_utf8(output.stderr).unwrap();
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("check `CKPLAN_KEY_ID` and `auth.private_key_file`"),
        "{stderr}"
    );
}
