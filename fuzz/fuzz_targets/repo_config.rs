#![no_main]
//! `repo_config`: see `common::repo_config`.
#[path = "../common/mod.rs"]
#[allow(dead_code)]
mod common;
libfuzzer_sys::fuzz_target!(|d: &[u8]| common::repo_config(d));
