#![no_main]
#[path = "../common/mod.rs"]
#[allow(dead_code)]
mod common;
use libfuzzer_sys::fuzz_target;
fuzz_target!(|d: &[u8]| { if let Ok(s) = inframed::backend::gnz::GnzStore::from_bytes(d.to_vec()) { common::read_all(&s); } });
