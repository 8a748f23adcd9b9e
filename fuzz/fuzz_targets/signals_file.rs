#![no_main]
//! `signals_file`: see `common::signals_file`.
#[path = "../common/mod.rs"]
#[allow(dead_code)]
mod common;
libfuzzer_sys::fuzz_target!(|d: &[u8]| common::signals_file(d));
