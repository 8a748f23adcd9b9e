#![no_main]
//! `legacy_full_header`: see `common::legacy_full_header`.
#[path = "../common/mod.rs"]
#[allow(dead_code)]
mod common;
libfuzzer_sys::fuzz_target!(|d: &[u8]| common::legacy_full_header(d));
