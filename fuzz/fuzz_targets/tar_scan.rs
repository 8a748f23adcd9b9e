#![no_main]
//! `tar_scan`: see `common::tar_scan`.
#[path = "../common/mod.rs"]
#[allow(dead_code)]
mod common;
libfuzzer_sys::fuzz_target!(|d: &[u8]| common::tar_scan(d));
