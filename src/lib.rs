//! ckplan: Terraform-style plan and apply for Apple CloudKit records.
//!
//! Layers, from the bottom: `record` (the model), `cloudkit` (wire, signing, client),
//! `config` and `record::load` (local state), `diff` and `plan` (pure), `sync` (reading
//! both states and comparing them), `apply` (execution), `emulator` (a CloudKit-compatible
//! server sharing only the wire types and signing with the client), and `cli` (the only
//! part that prints, prompts, reads the environment or exits). Beside them, used by any
//! layer: `context` (clock, seed, prompter), `lock` (exclusive file locks) and `durable`
//! (atomic whole-file writes).

pub mod apply;
pub mod cli;
pub mod cloudkit;
pub mod config;
pub mod context;
pub mod diff;
pub mod durable;
pub mod emulator;
pub mod lock;
pub mod plan;
pub mod record;
pub mod sync;
