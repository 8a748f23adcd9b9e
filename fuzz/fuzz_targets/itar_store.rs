#![no_main]
//! `itar_store`: see `common::itar_store`.
#[path = "../common/mod.rs"]
#[allow(dead_code)]
mod common;
libfuzzer_sys::fuzz_target!(|d: &[u8]| common::itar_store(d));
