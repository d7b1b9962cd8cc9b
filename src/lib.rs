//! ckplan: Terraform-style plan and apply for Apple CloudKit records.
//!
//! Layers, from the bottom (a module may use those above it in this list, never those
//! below; `docs/architecture.md` gives the rules and how they are checked):
//!
//! - `record`: the model (names, types, change tags, field values, the target,
//!   timestamps); uses nothing.
//! - `cloudkit`: wire shapes, signing, client, retry, typed errors; takes a
//!   `record::Target`, knows no plans.
//! - `config`: `ckplan.yaml` → target, endpoint, auth, record types (the file's shape
//!   reads and writes back), and the `Problem` shape its own and the data files' findings
//!   share.
//! - `local`: the local data files → desired records, with file:line problems; reads
//!   `config`, which never reads it back.
//! - `diff` and `plan`: pure comparison and the plan model; `plan::file` is the only home
//!   of the on-disk plan format, with its own forms of the target and field values
//!   (converted explicitly, so no other module's rename changes plans on disk) and one
//!   checksum path for writer and reader. `plan` never uses `cloudkit`.
//! - `sync`: reading both states and comparing them.
//! - `apply`: execution, conflict resolution, journal, receipt (closed sets persisted by
//!   name, formats versioned).
//! - `emulator`: a CloudKit-compatible server sharing only the wire types and signing
//!   with the client.
//! - `render`: pure views, one per command's output (plan review, diff, apply, doctor,
//!   validate, counts), chosen by one `render::Format` (text, JSON, markdown), and the one
//!   escaping of untrusted text for terminals; returns strings and leveled lines, prints
//!   nothing.
//! - `ops`: one job of a command each (making a plan, reading and checking a saved plan,
//!   import, delete-all, export), returning data or a typed error; commands call these
//!   instead of orchestrating the layers above.
//! - `cli`: the only part that prints, prompts, reads the environment or exits: one
//!   `Printer` built from `-q`/`-v`/colour, one `CommandError` with kind and hints.
//!
//! Beside them, usable by any layer: `context` (clock, seed, prompter), `lock` (exclusive
//! file locks naming their holder) and `durable` (atomic whole-file writes).

// stdout and stderr are written only through `cli::output`, which never panics on a
// closed pipe; `print!`/`eprint!` would.
#![cfg_attr(not(test), deny(clippy::print_stdout, clippy::print_stderr))]

pub mod apply;
pub mod cli;
pub mod cloudkit;
pub mod config;
pub mod context;
pub mod diff;
pub mod durable;
pub mod emulator;
pub mod local;
pub mod lock;
pub mod ops;
pub mod plan;
pub mod record;
pub mod render;
pub mod schema;
pub mod sync;
