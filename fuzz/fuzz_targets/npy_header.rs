#![no_main]
//! `npy_header`: see `common::npy_header`.
#[path = "../common/mod.rs"]
#[allow(dead_code)]
mod common;
libfuzzer_sys::fuzz_target!(|d: &[u8]| common::npy_header(d));
