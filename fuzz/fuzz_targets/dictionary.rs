#![no_main]
//! `dictionary`: see `common::dictionary`.
#[path = "../common/mod.rs"]
#[allow(dead_code)]
mod common;
libfuzzer_sys::fuzz_target!(|d: &[u8]| common::dictionary(d));
