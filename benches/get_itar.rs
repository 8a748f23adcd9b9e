//! Placeholder until the itar backend lands; replaced by its criterion bench `get/itar`.
fn main() {}
