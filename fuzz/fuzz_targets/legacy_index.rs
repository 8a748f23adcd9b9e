#![no_main]
//! `legacy_index`: see `common::legacy_index`.
#[path = "../common/mod.rs"]
#[allow(dead_code)]
mod common;
libfuzzer_sys::fuzz_target!(|d: &[u8]| common::legacy_index(d));
