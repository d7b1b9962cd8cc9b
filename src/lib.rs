//! ckplan: Terraform-style plan and apply for Apple CloudKit records.
//!
//! Layers, from the bottom: `record` (the model), `cloudkit` (wire, signing, client),
//! `config` and `record::load` (local state), `diff` and `plan` (pure), `apply`
//! (execution), `emulator` (a CloudKit-compatible server), and `cli` (the only part that
//! prints, prompts, reads the environment or exits).

pub mod cli;
pub mod cloudkit;
pub mod diff;
pub mod emulator;
pub mod record;
