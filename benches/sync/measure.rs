//! Measuring child processes: wall time, CPU time (user + system) and peak RSS from
//! `wait4`'s rusage, and the CPU time a long-running process (the emulator) has used so far
//! from `/proc/PID/stat`.

use anyhow::{bail, Context};
use std::fs::File;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// What one finished child process used.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Usage {
    pub wall: Duration,
    pub user: Duration,
    pub system: Duration,
    /// Peak resident set size, in KiB.
    pub max_rss_kib: u64,
}

impl Usage {
    pub fn cpu(&self) -> Duration {
        self.user + self.system
    }

    /// CPU time as a share of wall time, in percent.
    pub fn cpu_percent(&self) -> f64 {
        percent(self.cpu(), self.wall)
    }
}

pub fn percent(part: Duration, whole: Duration) -> f64 {
    if whole.is_zero() {
        0.0
    } else {
        100.0 * part.as_secs_f64() / whole.as_secs_f64()
    }
}

fn timeval(tv: libc::timeval) -> Duration {
    Duration::from_secs(tv.tv_sec as u64) + Duration::from_micros(tv.tv_usec as u64)
}

/// The first argument that makes this bench binary the measuring intermediate
/// ([`intermediate_main`]).
pub const INTERMEDIATE: &str = "--measure-child";

/// Runs `command` to its end with stdout and stderr in `log`; fails, quoting the log's
/// tail, unless it exits with `expected_code`.
///
/// The command runs as the grandchild of a fresh copy of this binary
/// ([`intermediate_main`]), which reports its rusage: Linux gives a child the peak RSS of
/// the process it was forked (or vforked) from as its own starting peak, so a command
/// started straight from a bench that has grown (generated data, parsed plans) would report
/// the bench's size as its peak RSS.
pub fn run_measured(
    command: &mut Command,
    log: &Path,
    expected_code: i32,
) -> anyhow::Result<Usage> {
    let out = File::create(log).with_context(|| format!("failed to create `{}`", log.display()))?;
    let report = log.with_extension("rusage");
    let mut outer = Command::new(std::env::current_exe()?);
    outer
        .arg(INTERMEDIATE)
        .arg(&report)
        .arg(command.get_program())
        .args(command.get_args());
    for (key, value) in command.get_envs() {
        match value {
            Some(value) => outer.env(key, value),
            None => outer.env_remove(key),
        };
    }
    if let Some(dir) = command.get_current_dir() {
        outer.current_dir(dir);
    }
    let started = Instant::now();
    let status = outer
        .stdin(Stdio::null())
        .stdout(out.try_clone()?)
        .stderr(out)
        .status()
        .with_context(|| format!("failed to start {command:?}"))?;
    let wall = started.elapsed();
    anyhow::ensure!(status.success(), "measuring {command:?} failed: {status}");
    let text = std::fs::read_to_string(&report)
        .with_context(|| format!("failed to read `{}`", report.display()))?;
    let _ = std::fs::remove_file(&report);
    let (status, mut usage) = parse_report(&text)
        .with_context(|| format!("unexpected contents of `{}`: {text}", report.display()))?;
    usage.wall = wall;
    if !(libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == expected_code) {
        let text = std::fs::read_to_string(log).unwrap_or_default();
        let tail: Vec<&str> = text.lines().rev().take(20).collect();
        let tail: Vec<&str> = tail.into_iter().rev().collect();
        bail!(
            "{command:?} did not exit with {expected_code} (wait status {status}); last lines \
             of `{}`:\n{}",
            log.display(),
            tail.join("\n")
        );
    }
    Ok(usage)
}

/// `INTERMEDIATE REPORT PROGRAM ARGS...`: runs PROGRAM with this process's stdio, reaps it
/// with `wait4` and writes `status user_µs system_µs max_rss_kib` to REPORT.
pub fn intermediate_main(args: &[String]) -> std::process::ExitCode {
    let run = || -> anyhow::Result<()> {
        let [report, program, rest @ ..] = args else {
            bail!("usage: {INTERMEDIATE} REPORT PROGRAM [ARGS...]");
        };
        let child = Command::new(program)
            .args(rest)
            .spawn()
            .with_context(|| format!("failed to start `{program}`"))?;
        let pid = child.id() as libc::pid_t;
        let mut status = 0;
        // SAFETY: an all-zero rusage is a valid value; wait4 fills it.
        let mut rusage: libc::rusage = unsafe { std::mem::zeroed() };
        // SAFETY: `pid` is our own unreaped child; `status` and `rusage` are valid for
        // writes. The `Child` is dropped afterwards without waiting, so it is reaped once.
        let reaped = unsafe { libc::wait4(pid, &mut status, 0, &mut rusage) };
        drop(child);
        if reaped != pid {
            bail!("wait4 failed: {}", std::io::Error::last_os_error());
        }
        let micros = |d: Duration| d.as_micros();
        std::fs::write(
            report,
            format!(
                "{status} {} {} {}\n",
                micros(timeval(rusage.ru_utime)),
                micros(timeval(rusage.ru_stime)),
                rusage.ru_maxrss
            ),
        )?;
        Ok(())
    };
    match run() {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("bench: error: {error:#}");
            std::process::ExitCode::FAILURE
        }
    }
}

/// `status user_µs system_µs max_rss_kib`, as [`intermediate_main`] writes it.
pub fn parse_report(text: &str) -> Option<(i32, Usage)> {
    let mut fields = text.split_whitespace();
    let status = fields.next()?.parse().ok()?;
    let user = Duration::from_micros(fields.next()?.parse().ok()?);
    let system = Duration::from_micros(fields.next()?.parse().ok()?);
    let max_rss_kib = fields.next()?.parse().ok()?;
    Some((
        status,
        Usage {
            wall: Duration::ZERO,
            user,
            system,
            max_rss_kib,
        },
    ))
}

/// CPU time the calling thread has used so far.
pub fn thread_cpu() -> Duration {
    // SAFETY: an all-zero timespec is valid; clock_gettime fills it.
    let mut now: libc::timespec = unsafe { std::mem::zeroed() };
    // SAFETY: `now` is valid for writes; the clock id is a constant the kernel knows.
    let result = unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut now) };
    if result != 0 {
        return Duration::ZERO;
    }
    Duration::new(now.tv_sec as u64, now.tv_nsec as u32)
}

/// The 1-minute load average, from `/proc/loadavg` (other work on the machine).
pub fn load_average() -> Option<f64> {
    let text = std::fs::read_to_string("/proc/loadavg").ok()?;
    text.split_whitespace().next()?.parse().ok()
}

/// CPU time (user + system) process `pid` has used so far, from `/proc/PID/stat`.
pub fn process_cpu(pid: u32) -> anyhow::Result<Duration> {
    let path = format!("/proc/{pid}/stat");
    let text =
        std::fs::read_to_string(&path).with_context(|| format!("failed to read `{path}`"))?;
    parse_proc_stat_cpu(&text, clock_ticks_per_second())
        .with_context(|| format!("unexpected contents of `{path}`"))
}

fn clock_ticks_per_second() -> u64 {
    // SAFETY: sysconf has no preconditions.
    let ticks = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    if ticks > 0 {
        ticks as u64
    } else {
        100
    }
}

/// utime + stime (fields 14 and 15) of a `/proc/PID/stat` line. The command name (field 2)
/// may hold spaces and parentheses, so fields are counted after its last `)`.
pub fn parse_proc_stat_cpu(text: &str, ticks_per_second: u64) -> Option<Duration> {
    let after_name = &text[text.rfind(')')? + 1..];
    let mut fields = after_name.split_whitespace().skip(11);
    let user: u64 = fields.next()?.parse().ok()?;
    let system: u64 = fields.next()?.parse().ok()?;
    let ticks = user + system;
    Some(Duration::from_secs_f64(
        ticks as f64 / ticks_per_second as f64,
    ))
}
