//! The one way commands talk to the terminal: a [`Printer`] built once from `-q`, `-v`,
//! `--no-color` and `NO_COLOR`, then passed to every command. stdout carries only pipeable
//! data; talk, progress, warnings, hints and errors go to stderr. `-q` is decided here and
//! nowhere else. A closed stdout ends the command quietly ([`ErrorKind::BrokenPipe`]); a
//! closed stderr is ignored: nothing here can panic on a pipe.
//!
//! Data and talk are written as given: the views in [`crate::render`] escape the untrusted
//! text in them before styling. Warnings, errors and hints are plain messages, so the
//! printer escapes them itself ([`render::escape_lines`]): a record name in an error
//! cannot reach the terminal raw.

use super::error::{CommandError, ErrorKind};
use crate::render;
use std::io::{IsTerminal, Write};
use tracing_subscriber::filter::{LevelFilter, Targets};
use tracing_subscriber::layer::SubscriberExt as _;
use tracing_subscriber::util::SubscriberInitExt as _;

/// Where and how output goes. Cheap to copy; every command receives one through
/// [`super::Globals`].
#[derive(Clone, Copy, Debug)]
pub struct Printer {
    quiet: bool,
    verbose: u8,
    colour_stdout: bool,
    colour_stderr: bool,
}

impl Printer {
    /// Decides colour (`--no-color`, a non-empty `NO_COLOR`, terminals only) and quietness,
    /// and installs the tracing subscriber on stderr for `-v` / `-vv`.
    pub fn new(no_color: bool, verbose: u8, quiet: bool) -> Self {
        let no_color = no_color || std::env::var_os("NO_COLOR").is_some_and(|v| !v.is_empty());
        if no_color {
            console::set_colors_enabled(false);
            console::set_colors_enabled_stderr(false);
        }
        init_tracing(no_color, verbose, quiet);
        Self {
            quiet,
            verbose,
            colour_stdout: console::colors_enabled(),
            colour_stderr: console::colors_enabled_stderr(),
        }
    }

    /// `-q`: only errors, failure verdicts and data.
    pub fn is_quiet(&self) -> bool {
        self.quiet
    }

    /// `-v` count.
    pub fn verbosity(&self) -> u8 {
        self.verbose
    }

    /// Whether text for stdout may carry colour escapes.
    pub fn colour_stdout(&self) -> bool {
        self.colour_stdout
    }

    /// Whether text for stderr may carry colour escapes.
    pub fn colour_stderr(&self) -> bool {
        self.colour_stderr
    }

    /// Whether progress bars and spinners are drawn: not with `-q`, only on a terminal.
    pub fn shows_progress(&self) -> bool {
        !self.quiet && stderr_is_terminal()
    }

    /// Data on stdout, exactly as given. A closed pipe is [`ErrorKind::BrokenPipe`].
    pub fn data(&self, text: &str) -> Result<(), CommandError> {
        self.data_with(|out| out.write_all(text.as_bytes()))
    }

    /// Data on stdout, streamed by `write` through a buffer, then flushed.
    pub fn data_with(
        &self,
        write: impl FnOnce(&mut dyn Write) -> std::io::Result<()>,
    ) -> Result<(), CommandError> {
        let mut out = std::io::BufWriter::with_capacity(1 << 16, std::io::stdout().lock());
        write(&mut out)
            .and_then(|()| out.flush())
            .map_err(CommandError::stdout)
    }

    /// Talk on stderr (summaries, what was saved where); left out with `-q`.
    pub fn status(&self, text: impl std::fmt::Display) {
        if !self.quiet {
            self.stderr_line(&text.to_string());
        }
    }

    /// A verdict on stderr: left out with `-q` unless it reports a failure.
    pub fn outcome(&self, text: impl std::fmt::Display, failed: bool) {
        if failed || !self.quiet {
            self.stderr_line(&text.to_string());
        }
    }

    /// `warning: …` on stderr; left out with `-q`.
    pub fn warn(&self, message: impl std::fmt::Display) {
        if !self.quiet {
            let prefix = self.label("warning:", console::Style::new().yellow().bold());
            let message = message.to_string();
            self.stderr_line(&format!("{prefix} {}", render::escape_lines(&message)));
        }
    }

    /// `hint: …` on stderr, on its own (not after an error); left out with `-q`.
    pub fn hint(&self, message: impl std::fmt::Display) {
        if !self.quiet {
            self.stderr_line(&self.hint_line(&message.to_string()));
        }
    }

    /// `error: …` on stderr for a problem that does not end the command (a record that
    /// failed, a bad line in a data file); always shown.
    pub fn error(&self, message: impl std::fmt::Display) {
        let prefix = self.label("error:", console::Style::new().red().bold());
        let message = message.to_string();
        self.stderr_line(&format!("{prefix} {}", render::escape_lines(&message)));
    }

    /// A view's output: its data on stdout (when there is any), then its lines on stderr.
    pub fn show(&self, output: &render::Output) -> Result<(), CommandError> {
        if !output.data.is_empty() {
            self.data(&output.data)?;
        }
        self.say_all(&output.talk);
        Ok(())
    }

    /// One line of a view, as loud as its level says.
    pub fn say(&self, line: &render::Line) {
        match line {
            render::Line::Status(text) => self.status(text),
            render::Line::Warning(text) => self.warn(text),
            render::Line::Error(text) => self.error(text),
            render::Line::Hint(text) => self.hint(text),
            render::Line::Always(text) => self.stderr_line(text),
        }
    }

    /// Every line of a view, in order.
    pub fn say_all(&self, lines: &[render::Line]) {
        lines.iter().for_each(|line| self.say(line));
    }

    /// A question on stderr, without a line end, shown even with `-q`.
    pub fn prompt(&self, question: &str) {
        stderr_fmt(format_args!("{question}"));
    }

    /// A command's failure: `error: <message>`, each cause on a `  caused by:` line, then
    /// every `hint:`. A closed stdout prints nothing.
    pub fn command_error(&self, error: &CommandError) {
        if error.kind() == ErrorKind::BrokenPipe {
            return;
        }
        let mut text = format!(
            "{} {}\n",
            self.label("error:", console::Style::new().red().bold()),
            render::escape_lines(&error.error().to_string())
        );
        for cause in error.error().chain().skip(1) {
            let cause = cause.to_string();
            text.push_str(&format!("  caused by: {}\n", render::escape_lines(&cause)));
        }
        for hint in error.hints() {
            text.push_str(&self.hint_line(hint));
            text.push('\n');
        }
        self.stderr_text(&text);
    }

    fn hint_line(&self, message: &str) -> String {
        let prefix = self.label("hint:", console::Style::new().cyan().bold());
        format!("{prefix} {}", render::escape_lines(message))
    }

    fn label(&self, text: &str, style: console::Style) -> String {
        style
            .force_styling(self.colour_stderr)
            .apply_to(text)
            .to_string()
    }

    fn stderr_line(&self, line: &str) {
        if line.ends_with('\n') {
            self.stderr_text(line);
        } else {
            self.stderr_text(&format!("{line}\n"));
        }
    }

    fn stderr_text(&self, text: &str) {
        stderr_fmt(format_args!("{text}"));
    }
}

/// Writes formatted text to stderr and flushes it. Nobody is left to tell when stderr is
/// closed, so its write errors (`EPIPE`, `EBADF`) are dropped: a command keeps going and
/// still writes its files. The `stderr!` macro calls this.
pub fn stderr_fmt(args: std::fmt::Arguments<'_>) {
    let mut err = std::io::stderr().lock();
    let _ = err.write_fmt(args).and_then(|()| err.flush());
}

/// stderr as an [`std::io::Write`] that never fails: every write reports all bytes taken,
/// whether or not stderr is still open. The tracing subscriber writes through it, so a log
/// line to a closed stderr (the emulator's `-v` request log included) costs nothing.
#[derive(Clone, Copy, Debug, Default)]
pub struct Stderr;

impl Write for Stderr {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let _ = std::io::stderr().lock().write_all(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        let _ = std::io::stderr().flush();
        Ok(())
    }
}

/// The tracing subscriber on stderr: warnings by default, `-v` info, `-vv` debug with
/// times, `-q` errors only; `CKPLAN_LOG` overrides the filter.
fn init_tracing(no_color: bool, verbose: u8, quiet: bool) {
    let level = match (quiet, verbose) {
        (true, _) => LevelFilter::ERROR,
        (false, 0) => LevelFilter::WARN,
        (false, 1) => LevelFilter::INFO,
        (false, _) => LevelFilter::DEBUG,
    };
    // `CKPLAN_LOG` is a `target=level` list such as `ckplan=debug,reqwest=trace` (or a bare
    // level); unparsable text falls back to the flags' level for ckplan's own events.
    let filter = std::env::var("CKPLAN_LOG")
        .ok()
        .and_then(|directives| directives.parse::<Targets>().ok())
        .unwrap_or_else(|| Targets::new().with_target("ckplan", level));
    // The builder's own level would cap `filter` at INFO; `filter` decides alone.
    let builder = tracing_subscriber::fmt()
        .with_max_level(LevelFilter::TRACE)
        .with_writer(|| Stderr)
        // Its own complaint about a failed write would go to the same closed stderr, through
        // `eprintln!`, and panic.
        .log_internal_errors(false)
        .with_ansi(!no_color && std::io::stderr().is_terminal())
        .with_target(false);
    // Times only help when tracing requests (-vv); warnings read better without them.
    let _ = if verbose >= 2 {
        builder.finish().with(filter).try_init()
    } else {
        builder.without_time().finish().with(filter).try_init()
    };
}

pub fn stdout_is_terminal() -> bool {
    std::io::stdout().is_terminal()
}

pub fn stderr_is_terminal() -> bool {
    std::io::stderr().is_terminal()
}

pub fn stdin_is_terminal() -> bool {
    std::io::stdin().is_terminal()
}
