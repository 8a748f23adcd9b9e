#![no_main]
//! `trx_header`: see `common::trx_header`.
#[path = "../common/mod.rs"]
#[allow(dead_code)]
mod common;
libfuzzer_sys::fuzz_target!(|d: &[u8]| common::trx_header(d));
