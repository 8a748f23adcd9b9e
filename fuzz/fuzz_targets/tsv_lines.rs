#![no_main]
//! `tsv_lines`: see `common::tsv_lines`.
#[path = "../common/mod.rs"]
#[allow(dead_code)]
mod common;
libfuzzer_sys::fuzz_target!(|d: &[u8]| common::tsv_lines(d));
