#![no_main]
//! `native_index`: see `common::native_index`.
#[path = "../common/mod.rs"]
#[allow(dead_code)]
mod common;
libfuzzer_sys::fuzz_target!(|d: &[u8]| common::native_index(d));
