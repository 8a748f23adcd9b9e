#![no_main]
#[path = "../common/mod.rs"]
#[allow(dead_code)]
mod common;
use libfuzzer_sys::fuzz_target;
fuzz_target!(|d: &[u8]| { if let Ok(t) = std::str::from_utf8(d) { let _ = inframed::convert::config::ConvertConfig::parse(std::path::Path::new("f.convert_config"), t); } });
