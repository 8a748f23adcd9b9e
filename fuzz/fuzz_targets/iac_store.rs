#![no_main]
//! `iac_store`: see `common::iac_store`.
#[path = "../common/mod.rs"]
#[allow(dead_code)]
mod common;
libfuzzer_sys::fuzz_target!(|d: &[u8]| common::iac_store(d));
