//! The crate's only hand-written `unsafe`: mapping a file read-only, for every store.
#![allow(unsafe_code)] // the one home of `unsafe` (Cargo.toml [lints] denies it elsewhere)

use std::fs::File;
use std::path::Path;

use memmap2::{Mmap, MmapOptions};

use crate::error::{Error, Result};

/// Bytes of a mapped file, or an empty/owned buffer for empty files and in-memory stores.
pub(crate) enum Bytes {
    Mapped(Mmap),
    Owned(Box<dyn AsRef<[u8]> + Send + Sync>),
}

impl std::fmt::Debug for Bytes {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let kind = if matches!(self, Bytes::Mapped(_)) {
            "mapped"
        } else {
            "owned"
        };
        write!(f, "<{} {kind} bytes>", self.as_slice().len())
    }
}

impl Bytes {
    #[inline]
    pub(crate) fn as_slice(&self) -> &[u8] {
        match self {
            Bytes::Mapped(m) => m,
            Bytes::Owned(b) => b.as_ref().as_ref(),
        }
    }

    pub(crate) fn from_owned(data: impl AsRef<[u8]> + Send + Sync + 'static) -> Bytes {
        Bytes::Owned(Box::new(data))
    }
}

/// Maps `path` read-only. Empty files are not mapped (mapping zero bytes fails on some
/// platforms) and yield an empty buffer.
///
/// # Errors
/// [`Error::Open`] naming the path.
pub(crate) fn map(path: &Path) -> Result<Bytes> {
    map_opened::<0>(path, &open(path)?).map(|(b, _)| b)
}

/// Maps `path` as [`map`] does and reads its first `N` bytes with a plain read (`None` if
/// the file is shorter): the header a reader checks at open, without touching the mapping.
/// A first read through a fresh mapping is a page fault, and that page's unmapping later a
/// TLB flush; a repository opens one `.data` file per signal and most callers then read a
/// few of them.
///
/// # Errors
/// [`Error::Open`] naming the path; [`Error::Io`] if the read fails.
pub(crate) fn map_with_head<const N: usize>(path: &Path) -> Result<(Bytes, Option<[u8; N]>)> {
    map_opened::<N>(path, &open(path)?)
}

/// `r` with a file that does not exist as `None` (an [`Error::Open`] whose cause is
/// `NotFound`); every other error stays one.
pub(crate) fn absent_is_none<T>(r: Result<T>) -> Result<Option<T>> {
    match r {
        Ok(b) => Ok(Some(b)),
        Err(Error::Open { source, .. }) if source.kind() == std::io::ErrorKind::NotFound => {
            Ok(None)
        }
        Err(e) => Err(e),
    }
}

/// Opens `path` for reading, to be mapped later with [`map_opened`] (a repository opens its
/// files at open and maps each on first use: the descriptor pins the generation it opened).
///
/// # Errors
/// [`Error::Open`] naming the path.
pub(crate) fn open(path: &Path) -> Result<File> {
    File::open(path).map_err(|source| Error::Open {
        path: path.into(),
        source,
    })
}

/// Maps a file opened by [`open`] (`path` names it in errors) and reads its first `N` bytes
/// with a positioned read (`None` if the file is shorter): what [`map`] and [`map_with_head`]
/// do after their open. The file's offset is not moved, so a second call reads the same.
///
/// # Errors
/// [`Error::Open`] naming the path; [`Error::Io`] if the read fails.
pub(crate) fn map_opened<const N: usize>(
    path: &Path,
    file: &File,
) -> Result<(Bytes, Option<[u8; N]>)> {
    let len = file
        .metadata()
        .map_err(|source| Error::Open {
            path: path.into(),
            source,
        })?
        .len();
    let map = map_file(path, file, len)?;
    let head = if len >= N as u64 {
        let mut head = [0u8; N];
        #[cfg(unix)]
        std::os::unix::fs::FileExt::read_exact_at(file, &mut head, 0).map_err(|source| {
            Error::Io {
                path: path.into(),
                source,
            }
        })?;
        #[cfg(not(unix))]
        head.copy_from_slice(&map.as_slice()[..N]);
        Some(head)
    } else {
        None
    };
    Ok((map, head))
}

fn map_file(path: &Path, file: &File, len: u64) -> Result<Bytes> {
    if len == 0 {
        return Ok(Bytes::from_owned(Vec::<u8>::new()));
    }
    // SAFETY: memmap2 requires that the file is not modified or truncated while mapped, else
    // reads through the map are undefined behaviour (or SIGBUS). inframed never writes a
    // published file in place: every writer creates `<name>.tmp.*` and `rename`s it over the
    // old name, so a live map keeps the old inode. `Repository::open` documents that other
    // processes must follow the same rule (the original tools do: they write new files).
    // The length is the one `map_opened` just read: given, it spares memmap2 a second `fstat`
    // (one syscall per mapped file, a repository maps two per signal).
    let open = |source| Error::Open {
        path: path.into(),
        source,
    };
    let len = usize::try_from(len).map_err(|_| {
        open(std::io::Error::new(
            std::io::ErrorKind::InvalidInput,
            "larger than the address space",
        ))
    })?;
    let map = unsafe { MmapOptions::new().len(len).map(file) }.map_err(open)?;
    Ok(Bytes::Mapped(map))
}

/// Asks the kernel to back `b`'s mapping with huge pages (`MADV_HUGEPAGE`), for a file read at
/// random all over such as the lookup sidecar. Where the kernel keeps the file in 2 MiB page
/// cache folios, it then maps each with one page-table entry, and a random read costs a TLB hit
/// or a short walk instead of a walk to a 4 KiB entry. The advice makes a page-cache miss in
/// the mapping read a 2 MiB folio (Linux with transparent huge pages not `never`, and a file
/// system with large folios, e.g. ext4 from 6.16 or XFS); pages already cached in small folios
/// stay as they are. On the 1M-patient bench, batched lookups through `Repository` took
/// 0.73–0.82× the hash probe instead of 1.16–1.28× (BENCHMARKS.md). Errors (a kernel without
/// THP) and other platforms: nothing happens.
pub(crate) fn advise_huge_pages(b: &Bytes) {
    #[cfg(target_os = "linux")]
    if let Bytes::Mapped(m) = b {
        let _ = m.advise(memmap2::Advice::HugePage);
    }
    #[cfg(not(target_os = "linux"))]
    let _ = b;
}

/// Hints the CPU to bring the cache line holding `b[off]` into cache (no effect when `off` is
/// outside `b`, or on targets without a prefetch instruction). Batched lookups issue these for
/// independent keys so that their cache misses overlap instead of queueing one after another.
#[inline(always)]
pub(crate) fn prefetch(b: &[u8], off: usize) {
    #[cfg(target_arch = "x86_64")]
    if let Some(p) = b.get(off) {
        use std::arch::x86_64::{_mm_prefetch, _MM_HINT_T0};
        // SAFETY: `prefetch` is a hint that never faults and reads nothing the program can
        // observe; the pointer is in any case a valid reference into `b`. SSE is part of the
        // x86_64 baseline, so the instruction exists on every target this compiles for.
        unsafe { _mm_prefetch::<_MM_HINT_T0>(std::ptr::from_ref(p).cast::<i8>()) };
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = (b, off);
}
