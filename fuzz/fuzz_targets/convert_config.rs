#![no_main]
//! `convert_config`: see `common::convert_config`.
#[path = "../common/mod.rs"]
#[allow(dead_code)]
mod common;
libfuzzer_sys::fuzz_target!(|d: &[u8]| common::convert_config(d));
