//! Writing MODE 3 repositories. [`Mode3Writer`] (in `mode3.rs`) is the one writer of the
//! `.data`/`.idx` files and the pid list; every other writer goes through it:
//! [`write_mode3`] (any [`crate::SignalStore`]), [`RepositoryWriter`] (elements held in
//! memory), [`add_signal()`] (one more signal in place) and the converter's merge.
//!
//! Every writer is atomic. A new repository is built in a temporary sibling directory and
//! renamed into place; a signal added to an existing repository goes to new files first, and
//! the renamed signals file publishes it last. A failure at any point leaves the previous
//! repository readable and unchanged.

mod add_signal;
mod from_store;
mod memory;
mod metadata;
mod mode3;
mod out;
mod staging;
mod transpose;

#[cfg(feature = "testing")]
pub use add_signal::add_signal_with;
pub(crate) use add_signal::unlisted_signal_files;
pub use add_signal::{add_signal, NewSignal};
pub(crate) use from_store::check_target;
pub use from_store::write_mode3;
pub use memory::RepositoryWriter;
pub(crate) use metadata::ConfigText;
pub use metadata::{Metadata, Mode3Options};
pub(crate) use mode3::check_pid;
pub use mode3::Mode3Writer;
pub(crate) use out::{put, Budget, Out};
#[cfg(feature = "testing")]
pub use transpose::build_transpose_with;
pub use transpose::{
    build_transpose, build_transpose_forced, build_transpose_with_progress, chunk_plan,
    transpose_bytes,
};
pub(crate) use transpose::{remove_transpose, write_transpose_into};
