//! `ckplan export --type T...`: write local data files and a `ckplan.yaml` from what
//! CloudKit holds, so a plan right after shows no changes.

use super::{workspace, CommandError, CommandResult, ExitStatus, Globals};
use crate::config::{Config, Endpoint};
use crate::local::asset::{ledger_key, Ledger};
use crate::ops::export::{self, ConfigSource, ExportFormat};
use crate::ops::export_assets::{self, Downloaded};
use crate::record::RecordType;
use anyhow::Context;
use std::path::{Component, Path, PathBuf};

/// Write local data files and a config from the records CloudKit holds.
#[derive(Debug, clap::Args)]
#[command(
    after_help = "Example:\n  ckplan export --type Stadium --type Team -o adopted\n  \
    cd adopted && ckplan plan --detailed-exitcode   # exits 0: nothing to change"
)]
pub struct Args {
    /// Record type to export (repeatable; at least one)
    #[arg(long = "type", value_name = "TYPE", required = true)]
    pub types: Vec<String>,
    /// Directory to write `ckplan.yaml` and `data/` into
    #[arg(
        short = 'o',
        long = "output",
        value_name = "DIR",
        default_value = "export"
    )]
    pub output: PathBuf,
    /// Format of the data files
    #[arg(long, value_enum, default_value_t = Format::Json)]
    pub format: Format,
    /// Overwrite files that already exist
    #[arg(long)]
    pub force: bool,
    /// Requests to CloudKit in flight at once
    #[arg(long, default_value_t = crate::cloudkit::client::DEFAULT_PARALLELISM, value_parser = super::connect::parse_parallelism)]
    pub parallelism: usize,
}

#[derive(Clone, Copy, Debug, clap::ValueEnum)]
pub enum Format {
    Json,
    Ndjson,
    Yaml,
}

impl From<Format> for ExportFormat {
    fn from(format: Format) -> Self {
        match format {
            Format::Json => ExportFormat::Json,
            Format::Ndjson => ExportFormat::Ndjson,
            Format::Yaml => ExportFormat::Yaml,
        }
    }
}

pub async fn run(args: Args, globals: &Globals) -> CommandResult {
    let config = workspace::load_config(globals)?;
    let format = ExportFormat::from(args.format);
    let mut types = Vec::new();
    for name in &args.types {
        let record_type = RecordType::new(name.as_str());
        if let Some(problem) = crate::record::identifier::type_name_problem(name) {
            return Err(CommandError::user(format!(
                "--type `{}`: {problem}",
                crate::render::escape::escape(name)
            )));
        }
        if !types.contains(&record_type) {
            types.push(record_type);
        }
    }
    let config_path = args.output.join("ckplan.yaml");
    let data_paths: Vec<PathBuf> = types
        .iter()
        .flat_map(|t| {
            [
                args.output.join(format!("data/{t}.{}", format.extension())),
                args.output
                    .join(export_assets::ASSETS_DIR)
                    .join(export_assets::component(t.as_str())),
            ]
        })
        .collect();
    if !args.force {
        if let Some(existing) = std::iter::once(&config_path)
            .chain(&data_paths)
            .find(|path| path.exists())
        {
            return Err(CommandError::user(format!(
                "refusing to overwrite `{}` (use --force); nothing was read or written",
                existing.display()
            )));
        }
    }
    let connection = workspace::connect(&config, globals, args.parallelism).await?;
    let bar = workspace::ReadBar::new(globals.printer.shows_progress());
    let read = crate::sync::read_current(&connection.client, &types, &bar).await;
    bar.finish();
    let exported = match read {
        Ok(current) => {
            for note in &current.notes {
                globals.printer.warn(note);
            }
            export::export(current.records, format).map_err(|e| CommandError::user(e.to_string()))
        }
        Err(error) => Err(CommandError::from(
            anyhow::Error::new(error)
                .context(format!("failed to read CloudKit for `{}`", config.target())),
        )),
    };
    // Assets are downloaded before anything else is written, while the connection (an
    // embedded store's server) is up.
    let downloaded = match &exported {
        Ok(exported) => download_assets(&connection.client, exported, &args).await,
        Err(_) => Ok(Downloaded::default()),
    };
    connection.close().await;
    let (exported, downloaded) = (exported?, downloaded?);
    let key_file = config
        .auth
        .private_key_file
        .as_deref()
        .map(|file| relative_to(file, &args.output));
    let source = ConfigSource {
        target: &config.target(),
        endpoint: &endpoint_from(&config, &args.output),
        key_id: config.auth.key_id.as_deref(),
        private_key_file: key_file.as_deref(),
    };
    let config_text = export::config_text(&source, &exported);
    std::fs::create_dir_all(args.output.join("data"))
        .with_context(|| format!("failed to create `{}`", args.output.join("data").display()))?;
    for one in &exported {
        let path = args.output.join(&one.file);
        crate::durable::write_atomically(&path, one.text.as_bytes())
            .with_context(|| format!("failed to write `{}`", path.display()))?;
        globals.printer.status(format_args!(
            "{}: {} → `{}`",
            one.record_type,
            crate::render::plural(one.records, "record"),
            path.display()
        ));
    }
    crate::durable::write_atomically(&config_path, config_text.as_bytes())
        .with_context(|| format!("failed to write `{}`", config_path.display()))?;
    if downloaded.files > 0 {
        // Keyed as the exported config's plan will look it up.
        let written = Config::load(&config_path)?;
        let key = ledger_key(&written.endpoint_text(), &written.target());
        let ledger = Ledger::path(written.directory());
        export_assets::remember(&ledger, &key, &downloaded)
            .with_context(|| format!("failed to write `{}`", ledger.display()))?;
        globals.printer.status(format_args!(
            "Assets: {} downloaded ({} bytes) → `{}`",
            crate::render::plural(downloaded.files, "file"),
            downloaded.bytes,
            args.output.join(export_assets::ASSETS_DIR).display()
        ));
    }
    globals.printer.outcome(
        format_args!(
            "Export complete: `{}`; `ckplan plan` there shows no changes.",
            config_path.display()
        ),
        false,
    );
    Ok(ExitStatus::Success)
}

/// Downloads every asset the exported records name into the export directory.
async fn download_assets(
    client: &crate::cloudkit::Client,
    exported: &[export::ExportedType],
    args: &Args,
) -> Result<Downloaded, CommandError> {
    let files: Vec<_> = exported.iter().flat_map(|one| &one.assets).collect();
    if files.is_empty() {
        return Ok(Downloaded::default());
    }
    let downloader = client.asset_downloader()?;
    export_assets::download_all(&downloader, &args.output, &files, args.parallelism)
        .await
        .map_err(|e| CommandError::user(e.to_string()))
}

/// The endpoint as the exported config must say it: a URL as it is; the embedded store by
/// its path from the export directory.
fn endpoint_from(config: &Config, output: &Path) -> String {
    match &config.endpoint {
        Endpoint::Url(url) => url.clone(),
        Endpoint::Embedded { dir } => format!("embedded:{}", relative_to(dir, output)),
    }
}

/// `path` as seen from directory `from` (both taken from the working directory), `.` and
/// `..` resolved lexically.
fn relative_to(path: &Path, from: &Path) -> String {
    let parts = |p: &Path| -> Vec<std::ffi::OsString> {
        let absolute = std::path::absolute(p).unwrap_or_else(|_| p.to_owned());
        let mut parts = Vec::new();
        for part in absolute.components() {
            match part {
                Component::ParentDir => {
                    parts.pop();
                }
                Component::Normal(name) => parts.push(name.to_owned()),
                _ => {}
            }
        }
        parts
    };
    let target = parts(path);
    let base = parts(from);
    let common = target.iter().zip(&base).take_while(|(a, b)| a == b).count();
    let mut relative = PathBuf::new();
    for _ in common..base.len() {
        relative.push("..");
    }
    for part in &target[common..] {
        relative.push(part);
    }
    relative.display().to_string()
}
