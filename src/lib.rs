//! inframed: an embedded, memory-mapped time-series patient repository engine, byte-compatible
//! with InfraMed / MedRepository repositories of the original C++ tools.
//!
//! `get(pid, signal)` returns a patient's time-sorted vector of a signal as a typed view over
//! a memory-mapped file: no copy, no parse.
//!
//! ```
//! use inframed::{element::DateVal, Pid, Repository};
//!
//! let repo = Repository::open("testdata/inframed/small/repo/small.repository")?;
//! let hgb = repo.signal(Pid(1025), "Hemoglobin")?;
//! println!("{} Hemoglobin values, first on {}", hgb.len(), hgb.time(0, 0));
//! // Time window 2019–2021, by binary search on the time channel:
//! let window = hgb.range(20190101, 20211231);
//! assert!(window.len() <= hgb.len());
//! // A typed slice of `#[repr(C)]` structs (borrowed where aligned):
//! let typed = repo.get::<DateVal>(Pid(1025), "Hemoglobin")?;
//! assert_eq!(typed.len(), hgb.len());
//! # Ok::<_, inframed::Error>(())
//! ```
#![warn(missing_docs)]

#[cfg(feature = "arrow")]
pub mod arrow;
pub(crate) mod atomic;
pub mod backend;
mod cast;
pub mod catalog;
pub mod convert;
pub mod element;
mod error;
#[cfg(feature = "fuzzing")]
pub mod fuzzing;
mod ids;
pub mod layout;
#[cfg(feature = "arrow")]
pub mod meds;
mod mmap;
pub mod native;
pub mod repository;
pub mod shard;
mod signal;
pub mod store;
#[cfg(feature = "synth")]
pub mod synth;
pub mod target;
pub mod text;
pub mod time;

pub use catalog::{Catalog, SignalInfo};
pub use error::{DecodeError, Error, FormatError, InputError, MetadataProblem, Result, Warning};
pub use ids::{Pid, Sid};
pub use layout::{Layout, LayoutError, Value};
pub use native::NativeStore;
pub use repository::Repository;
pub use signal::{ElementRef, Signal};
pub use store::{SignalKey, SignalStore, SignalStoreExt};
pub use time::{TimeError, TimeUnit};
