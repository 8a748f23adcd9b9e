#![no_main]
//! `sparse_idx`: see `common::sparse_idx`.
#[path = "../common/mod.rs"]
#[allow(dead_code)]
mod common;
libfuzzer_sys::fuzz_target!(|d: &[u8]| common::sparse_idx(d));
