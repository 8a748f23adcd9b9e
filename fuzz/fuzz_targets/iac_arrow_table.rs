#![no_main]
//! `iac_arrow_table`: see `common::iac_arrow_table`.
#[path = "../common/mod.rs"]
#[allow(dead_code)]
mod common;
libfuzzer_sys::fuzz_target!(|d: &[u8]| common::iac_arrow_table(d));
