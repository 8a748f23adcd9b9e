#![no_main]
#[path = "../common/mod.rs"]
#[allow(dead_code)]
mod common;
use libfuzzer_sys::fuzz_target;
fuzz_target!(|d: &[u8]| { if d.len() < 2 { return; } let elem = 1 + (d[0] as usize % 32); let start = d[1] as usize; let b = &d[2..]; if let Ok(s) = inframed::native::sparse::Sparse::parse(b, start.min(b.len()), elem) { let _ = s.verify(b, true); } });
