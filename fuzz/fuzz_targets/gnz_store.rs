#![no_main]
//! `gnz_store`: see `common::gnz_store`.
#[path = "../common/mod.rs"]
#[allow(dead_code)]
mod common;
libfuzzer_sys::fuzz_target!(|d: &[u8]| common::gnz_store(d));
