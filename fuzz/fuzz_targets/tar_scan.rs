#![no_main]
#[path = "../common/mod.rs"]
#[allow(dead_code)]
mod common;
use libfuzzer_sys::fuzz_target;
fuzz_target!(|d: &[u8]| { if let Ok(f) = inframed::backend::itar::Fold::from_bytes("f", None, vec![d.to_vec()]) { let _ = f.verify(); } });
