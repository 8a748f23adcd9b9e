#![no_main]
#[path = "../common/mod.rs"]
#[allow(dead_code)]
mod common;
use libfuzzer_sys::fuzz_target;
fuzz_target!(|d: &[u8]| { if let Ok(t) = std::str::from_utf8(d) { let _ = inframed::text::signals::SignalsFile::parse(std::path::Path::new("f.signals"), t, inframed::TimeUnit::default()); } });
