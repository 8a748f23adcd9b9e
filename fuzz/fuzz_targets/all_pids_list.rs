#![no_main]
//! `all_pids_list`: see `common::all_pids_list`.
#[path = "../common/mod.rs"]
#[allow(dead_code)]
mod common;
libfuzzer_sys::fuzz_target!(|d: &[u8]| common::all_pids_list(d));
