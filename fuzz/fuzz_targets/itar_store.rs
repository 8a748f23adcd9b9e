#![no_main]
#[path = "../common/mod.rs"]
#[allow(dead_code)]
mod common;
use libfuzzer_sys::fuzz_target;
// Input: the .taridx bytes, the separator "\n--SHARD--\n", then one tar shard.
fuzz_target!(|d: &[u8]| { let (idx, shard) = common::split(d, b"\n--SHARD--\n"); if let Ok(s) = inframed::backend::itar::ItarStore::from_bytes(idx.to_vec(), vec![shard.to_vec()]) { common::read_all(&s); } });
