#![no_main]
//! `trx_zip`: see `common::trx_zip`.
#[path = "../common/mod.rs"]
#[allow(dead_code)]
mod common;
libfuzzer_sys::fuzz_target!(|d: &[u8]| common::trx_zip(d));
