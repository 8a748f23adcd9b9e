#![no_main]
//! `transpose`: see `common::transpose`.
#[path = "../common/mod.rs"]
#[allow(dead_code)]
mod common;
libfuzzer_sys::fuzz_target!(|d: &[u8]| common::transpose(d));
