//! Placeholder until the iac backend lands; replaced by its criterion bench `get/iac`.
fn main() {}
