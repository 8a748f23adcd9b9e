#![no_main]
#[path = "../common/mod.rs"]
#[allow(dead_code)]
mod common;
use libfuzzer_sys::fuzz_target;
fuzz_target!(|d: &[u8]| { if d.is_empty() { return; } let _ = inframed::native::legacy::data::parse_full_header(&d[1..], d[0] as usize % d.len()); });
