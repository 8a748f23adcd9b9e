#![no_main]
#[path = "../common/mod.rs"]
#[allow(dead_code)]
mod common;
use libfuzzer_sys::fuzz_target;
fuzz_target!(|d: &[u8]| { if let Ok(f) = inframed::backend::trx::TrxFile::from_zip_bytes("f.trx", d.to_vec()) { let _ = f.verify_checksums(); if let Ok(s) = inframed::backend::trx::TrxStore::from_file(f) { common::read_all(&s); } } });
