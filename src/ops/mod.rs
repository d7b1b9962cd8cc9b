//! Operations between the commands and the cores: each takes a connected client and data,
//! does one job of a command (force-replacing records, emptying a type), and returns what
//! happened as data for the command to render. Commands never build wire operations.

pub mod delete_all;
pub mod export;
pub mod export_assets;
pub mod export_yaml;
pub mod guard;
pub mod import;
pub mod plan;
pub mod plan_check;
pub mod schema;
