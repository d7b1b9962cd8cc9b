//! Upload throughput (issue 21): a first publish of `files` records, each with its own ASSET
//! file of `bytes` bytes, against the emulator process; then a re-plan, which must upload
//! nothing, and a re-plan from a fresh checkout (no `.ckplan/assets.json`), which probes
//! each file once. Files and MB per second are of the apply's wall time; uploads are the
//! emulator's `assets/upload/bytes` requests. `CKPLAN_BENCH_ASSETS=1` runs only this
//! section; the full run ends with it.

use crate::dataset::SEED;
use crate::emulator::Emulator;
use crate::measure::Usage;
use crate::scenarios::{Bench, KEY_ID};
use rand::{RngCore, SeedableRng};
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

/// (files, bytes per file, latency in ms) of each measured publish.
pub const CASES: [(usize, usize, u64); 4] = [
    (500, 16 * 1024, 0),
    (20, 5 * 1024 * 1024, 0),
    (500, 16 * 1024, 20),
    (500, 16 * 1024, 100),
];

/// One publish of assets and the re-plans after it.
pub struct Measured {
    pub files: usize,
    pub bytes: usize,
    pub latency_ms: u64,
    pub plan: Usage,
    pub apply: Usage,
    pub uploads: u64,
    pub replan: Usage,
    pub replan_uploads: u64,
    pub fresh: Usage,
    pub fresh_uploads: u64,
}

/// Writes the project: `Photo` records with `image: ASSET`, one random file each.
fn project(
    root: &Path,
    bench: &Bench,
    emulator: &Emulator,
    (files, bytes, latency_ms): (usize, usize, u64),
) -> anyhow::Result<PathBuf> {
    let dir = root.join(format!("assets-{files}x{bytes}-{latency_ms}ms"));
    std::fs::create_dir_all(dir.join("data/files"))?;
    let mut random = rand::rngs::StdRng::seed_from_u64(SEED);
    let mut records = Vec::with_capacity(files);
    for id in 0..files {
        let mut content = vec![0u8; bytes];
        random.fill_bytes(&mut content);
        std::fs::write(dir.join(format!("data/files/{id}.bin")), &content)?;
        records.push(serde_json::json!({"id": id, "name": format!("photo {id}"), "image": format!("files/{id}.bin")}));
    }
    std::fs::write(dir.join("data/photos.json"), serde_json::to_vec(&records)?)?;
    let config = format!(
        "container: iCloud.com.example.SportsTime\nenvironment: development\ndatabase: public\n\
         zone: _defaultZone\nendpoint: {}\nauth:\n  key_id: {KEY_ID}\n  private_key_file: {}\n\
         types:\n  Photo:\n    file: data/photos.json\n    record_name: \"photo-{{id}}\"\n    \
         fields: {{name: STRING, image: ASSET}}\n",
        emulator.url,
        bench.private_key.display()
    );
    std::fs::write(dir.join("ckplan.yaml"), config)?;
    Ok(dir.join("ckplan.yaml"))
}

fn uploads(stats: &crate::emulator::Stats) -> u64 {
    stats.requests_to("assets/upload/bytes")
}

/// Runs every case, each on a fresh emulator at its latency.
pub fn run(bench: &mut Bench) -> anyhow::Result<Vec<Measured>> {
    let mut measured = Vec::new();
    for (files, bytes, latency_ms) in CASES {
        eprintln!("bench: assets, {files} files of {bytes} bytes at {latency_ms} ms");
        let emulator = bench.start_emulator(latency_ms)?;
        let root = bench.root.clone();
        let config = project(&root, bench, &emulator, (files, bytes, latency_ms))?;
        let plan_file = root.join(format!("plans/assets-{files}x{bytes}-{latency_ms}.plan"));
        let plan_arg = plan_file.to_string_lossy().into_owned();
        let check = root
            .join("plans/assets-check.plan")
            .to_string_lossy()
            .into_owned();
        let plan_args = ["plan", "--detailed-exitcode", "-o", plan_arg.as_str()];
        let (plan, _, _, _) = bench.measured(&emulator, &config, &plan_args, 2)?;
        let (apply, stats, _, _) = bench.measured(&emulator, &config, &["apply", &plan_arg], 0)?;
        let replan_args = ["plan", "--detailed-exitcode", "-o", check.as_str()];
        let (replan, replan_stats, _, _) = bench.measured(&emulator, &config, &replan_args, 0)?;
        let ledger = config.with_file_name(".ckplan").join("assets.json");
        std::fs::remove_file(&ledger)?;
        let (fresh, fresh_stats, _, _) = bench.measured(&emulator, &config, &replan_args, 0)?;
        anyhow::ensure!(
            uploads(&stats) == files as u64 && uploads(&replan_stats) == 0,
            "assets: apply uploaded {} of {files} files, the re-plan {}",
            uploads(&stats),
            uploads(&replan_stats)
        );
        measured.push(Measured {
            files,
            bytes,
            latency_ms,
            plan,
            apply,
            uploads: uploads(&stats),
            replan,
            replan_uploads: uploads(&replan_stats),
            fresh,
            fresh_uploads: uploads(&fresh_stats),
        });
    }
    Ok(measured)
}

/// The section of the report.
pub fn render(measured: &[Measured]) -> String {
    let mut out = String::from(
        "### Asset uploads\n\nFirst publish of N records with one ASSET file each (random \
         bytes, so no two files are alike), `--parallelism` default; files/s and MB/s over the \
         apply's wall time (1 MB = 10^6 bytes). Then a re-plan (must upload nothing) and a \
         re-plan from a fresh checkout without `.ckplan/assets.json` (one probe upload per \
         file).\n\n| files × size | RTT | plan | apply | uploads | files/s | MB/s | re-plan \
         (uploads) | fresh-checkout re-plan (probes) |\n|---|---|---|---|---|---|---|---|---|\n",
    );
    for m in measured {
        let seconds = m.apply.wall.as_secs_f64().max(1e-9);
        let total = (m.files * m.bytes) as f64;
        let _ = writeln!(
            out,
            "| {} × {} KiB | {} ms | {:.2} s | {:.2} s | {} | {:.0} | {:.1} | {:.2} s ({}) | {:.2} s ({}) |",
            m.files,
            m.bytes / 1024,
            m.latency_ms,
            m.plan.wall.as_secs_f64(),
            seconds,
            m.uploads,
            m.files as f64 / seconds,
            total / seconds / 1e6,
            m.replan.wall.as_secs_f64(),
            m.replan_uploads,
            m.fresh.wall.as_secs_f64(),
            m.fresh_uploads,
        );
    }
    out
}
