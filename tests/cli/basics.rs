//! `keygen`, `completions` and `--help`: the commands that need no config.

use assert_cmd::Command;

fn ckplan() -> Command {
    let mut command = Command::cargo_bin("ckplan").unwrap();
    command.env("NO_COLOR", "1").env_remove("CKPLAN_CONFIG");
    command
}

#[test]
fn keygen_writes_a_private_key_with_mode_0600_and_prints_the_public_key() {
    let dir = tempfile::tempdir().unwrap();
    let key = dir.path().join("dev.pem");
    let output = ckplan().args(["keygen", "-o"]).arg(&key).output().unwrap();
    assert!(output.status.success());
    let public = String::from_utf8(output.stdout).unwrap();
    assert!(public.starts_with("-----BEGIN PUBLIC KEY-----"), "{public}");
    let private = std::fs::read_to_string(&key).unwrap();
    assert!(!public.contains(private.lines().nth(1).unwrap()));
    // The pair matches: the public key printed is the private key's.
    let signing = ckplan::cloudkit::auth::parse_private_pem(&private).unwrap();
    let verifying = ckplan::cloudkit::auth::parse_public_pem(&public).unwrap();
    assert_eq!(signing.verifying_key(), &verifying);
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&key).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
    }
    // An existing key is never overwritten without --force.
    let again = ckplan().args(["keygen", "-o"]).arg(&key).output().unwrap();
    assert_eq!(again.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&again.stderr).contains("failed to write private key"));
    assert_eq!(std::fs::read_to_string(&key).unwrap(), private);
}

#[test]
fn issue_11_keygen_makes_the_key_directory_and_names_force_and_stdout() {
    let dir = tempfile::tempdir().unwrap();
    let key = dir.path().join("keys").join("dev.pem");
    let output = ckplan().args(["keygen", "-o"]).arg(&key).output().unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
    assert!(output.status.success(), "{stderr}");
    assert!(key.exists());
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let parent = std::fs::metadata(key.parent().unwrap()).unwrap();
        assert_eq!(parent.permissions().mode() & 0o777, 0o700);
    }
    // stdout is a pipe here: the key is not "above".
    assert!(stderr.contains("public key printed on stdout"), "{stderr}");
    assert!(!stderr.contains("above"), "{stderr}");
    let again = ckplan().args(["keygen", "-o"]).arg(&key).output().unwrap();
    assert_eq!(again.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&again.stderr);
    assert!(stderr.contains("--force"), "{stderr}");
    let help = ckplan().args(["keygen", "--help"]).output().unwrap();
    let help = String::from_utf8_lossy(&help.stdout);
    assert!(
        help.contains("mkdir -p keys\n") || help.contains("mkdir -p keys "),
        "{help}"
    );
}

fn completions(shell: &str) -> String {
    let output = ckplan().args(["completions", shell]).output().unwrap();
    assert!(output.status.success(), "{shell}");
    String::from_utf8(output.stdout).unwrap()
}

/// Regression (issue 13): the check passed on `--help` output. Each script must carry its
/// shell's own machinery and complete the subcommands and a command's flags.
#[test]
fn issue_13_completions_are_real_scripts_for_bash_zsh_and_fish() {
    let bash = completions("bash");
    assert!(bash.contains("_ckplan()"), "bash function:\n{bash}");
    assert!(bash.contains("COMPREPLY=("), "bash reply array");
    assert!(bash.contains("complete -F _ckplan"), "bash registration");
    assert!(bash.contains("--auto-approve") && bash.contains("delete-all"));

    let zsh = completions("zsh");
    assert!(zsh.starts_with("#compdef ckplan"), "zsh header:\n{zsh}");
    assert!(zsh.contains("_arguments"), "zsh _arguments");
    assert!(zsh.contains("'apply:") && zsh.contains("--delete-orphans"));

    let fish = completions("fish");
    assert!(fish.contains("complete -c ckplan"), "fish:\n{fish}");
    assert!(
        fish.contains("-n \"__fish_ckplan_needs_command\""),
        "fish subcommand condition"
    );
    assert!(fish.contains("-n \"__fish_ckplan_using_subcommand apply\" -l on-conflict"));
    assert!(fish.contains("-a \"apply\"") && fish.contains("-l auto-approve"));

    for (shell, script) in [("bash", &bash), ("zsh", &zsh), ("fish", &fish)] {
        assert!(
            !script.contains("Usage:"),
            "{shell}: help text, not a script"
        );
    }
    let help = String::from_utf8(ckplan().arg("--help").output().unwrap().stdout).unwrap();
    assert!(!help.contains("complete -c ckplan") && !help.contains("COMPREPLY"));
}

#[test]
fn every_command_has_a_worked_example_in_its_help() {
    for command in [
        "validate",
        "diff",
        "plan",
        "show",
        "apply",
        "import",
        "delete-all",
        "emulator",
        "keygen",
        "menu",
        "completions",
    ] {
        let output = ckplan().args([command, "--help"]).output().unwrap();
        assert!(output.status.success(), "{command}");
        let help = String::from_utf8(output.stdout).unwrap();
        assert!(
            help.contains("Example"),
            "`ckplan {command} --help` has no example:\n{help}"
        );
    }
}

#[test]
fn issue_11_a_missing_config_points_to_the_flag_and_the_example() {
    let dir = tempfile::tempdir().unwrap();
    let output = ckplan()
        .current_dir(dir.path())
        .arg("plan")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_ne!(output.status.code(), Some(0), "{stderr}");
    assert!(stderr.contains("failed to read config"), "{stderr}");
    assert!(
        stderr.contains("pass --config FILE, or start from examples/sportstime/ckplan.yaml"),
        "{stderr}"
    );
}

/// Issue 17 (and the review's exit codes): an argument error is a usage error and exits 1,
/// as Terraform's do, never 2, which `plan --detailed-exitcode` gives for "differences". It
/// is refused before any config is read and prints nothing on stdout.
#[test]
fn issue_17_an_unknown_flag_exits_1_not_the_differences_code() {
    let dir = tempfile::tempdir().unwrap();
    for args in [
        &["plan", "--detailed-exitcode", "--no-such-flag"][..],
        &["apply", "--no-such-flag"],
        &["no-such-command"],
    ] {
        let output = ckplan()
            .current_dir(dir.path())
            .args(args)
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(output.status.code(), Some(1), "{args:?}: {stderr}");
        assert!(stderr.contains("error:"), "{args:?}: {stderr}");
        assert!(
            !stderr.contains("failed to read config"),
            "{args:?}: {stderr}"
        );
        assert!(output.stdout.is_empty(), "{args:?}");
    }
}
