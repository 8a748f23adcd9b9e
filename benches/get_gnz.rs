//! Placeholder until the gnz backend lands; replaced by its criterion bench `get/gnz`.
fn main() {}
