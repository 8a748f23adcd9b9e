//! Placeholder until the trx backend lands; replaced by its criterion bench `get/trx`.
fn main() {}
