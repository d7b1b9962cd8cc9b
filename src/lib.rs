//! ckplan: Terraform-style plan and apply for Apple CloudKit records.
//!
//! Layers, from the bottom: `record` (the model), `cloudkit` (wire, signing, client),
//! `config` and `record::load` (local state), `diff` and `plan` (pure), `sync` (reading
//! both states and comparing them), `apply` (execution), `emulator` (a CloudKit-compatible
//! server sharing only the wire types and signing with the client), `render` (pure views:
//! plan review, diff, counts, and the escaping of untrusted text), and `cli` (the only
//! part that prints, prompts, reads the environment or exits: one `Printer`, one
//! `CommandError`).

pub mod apply;
pub mod cli;
pub mod cloudkit;
pub mod config;
pub mod diff;
pub mod emulator;
pub mod plan;
pub mod record;
pub mod render;
pub mod sync;
