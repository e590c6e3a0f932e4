//! mtasim's integration tests, one binary (one link of the library and its dependencies)
//! with a module per concern, as nexosim keeps one module per failure mode. `common` holds
//! what several modules need: the mtasim binary, the repository's files, command output.
//!
//! Run one module with `cargo test --test integration <module>::`, e.g.
//! `cargo test --test integration mta_config::`.

mod common;

mod broken_pipe;
mod calibrate;
mod charts;
mod cli_inputs;
mod determinism;
mod diagnose;
mod error_table;
mod fidelity;
mod flow_control;
mod golden_outputs;
mod hostile;
mod limits;
mod logs_props;
mod logs_read;
mod logs_real;
mod logs_roundtrip;
mod mta_config;
mod mta_config_roundtrip;
mod mta_log;
mod overwrites;
mod postfix;
mod properties;
mod report;
mod run;
mod scenario_errors;
mod scenarios;
mod serve;
mod shards;
mod slurm;
mod sweep;
mod twin;
mod what_went_wrong;
