//! The converter: raw tab-separated exports → a repository, reading the original loader's
//! convert config (not implemented yet).
