//! Shared by every target: read everything a store holds, ignoring errors (only a panic,
//! abort, hang or oversized allocation is a finding).

use inframed::{SignalStore, SignalStoreExt};

/// Runs `verify_elements`, then reads every (pid, signal) of `store`.
pub fn read_all<S: SignalStore>(store: &S) {
    let _ = inframed::store::verify_elements(store);
    for &pid in store.pids() {
        for s in store.catalog().signals() {
            let _ = store.signal(pid, s.sid);
        }
    }
}

/// Splits `data` at the first `sep` byte string: (before, after).
pub fn split<'a>(data: &'a [u8], sep: &[u8]) -> (&'a [u8], &'a [u8]) {
    match data.windows(sep.len()).position(|w| w == sep) {
        Some(i) => (&data[..i], &data[i + sep.len()..]),
        None => (data, &[]),
    }
}
