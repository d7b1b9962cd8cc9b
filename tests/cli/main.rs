//! The CLI through its binary, in one test binary (one build, one link): each module
//! covers a command or a walk-through, all sharing the harness in `tests/common` (a
//! project in a temporary directory, an emulator on 127.0.0.1, snapshots with ports, paths
//! and times filtered). Edge cases are tested a layer lower, next to the code.

#[path = "../common/mod.rs"]
mod common;

mod apply;
mod assets;
mod basics;
mod example_sportstime;
mod export;
mod field_safety;
mod lifecycle;
mod misleads;
mod plan;
mod preflight;
mod references;
mod schema;
mod schema_plan;
mod show;
mod show_markdown;
mod validate;
