//! Whole-signal scans of a MODE 3 signal: the bitmap walk shared by [`SignalStore::scan`] and
//! [`NativeStore::par_scan`], and how `par_scan` splits the walk across threads.

use crate::error::{DecodeError, Error, Result};
use crate::ids::{Pid, Sid};
use crate::native::files::SignalFiles;
use crate::native::index::DATA_BASE;
use crate::native::NativeStore;
#[cfg(doc)]
use crate::store::SignalStore;

/// Bitmap words per check of a scan's walk against the index's counts (4,096 pids), and the
/// unit of [`NativeStore::par_scan`]'s ranges: every range is a whole number of these, so a
/// scan reports a damaged index at the same point however it was split.
const SCAN_CHECK_WORDS: usize = 64;

/// [`NativeStore::par_scan`] cuts its ranges so that each is this fraction of what is left
/// (down to one [`SCAN_CHECK_WORDS`]): large ranges first, small ones last, so the threads
/// finish within a small range of each other. A constant, not the thread count, so that the
/// ranges (and a float sum's rounding) are the same on every machine.
const PAR_SCAN_SPLIT: usize = 16;

/// The word ranges of [`NativeStore::par_scan`] over a bitmap of `n_words`: consecutive,
/// ascending, covering `0..n_words`, each a multiple of [`SCAN_CHECK_WORDS`] long (the last
/// one up to the end), and shrinking as [`PAR_SCAN_SPLIT`] says.
fn par_scan_ranges(n_words: usize) -> Vec<std::ops::Range<usize>> {
    let mut ranges = Vec::new();
    let mut at = 0;
    while at < n_words {
        let left = (n_words - at).div_ceil(SCAN_CHECK_WORDS);
        let len = (left / PAR_SCAN_SPLIT).max(1) * SCAN_CHECK_WORDS;
        let end = (at + len).min(n_words);
        ranges.push(at..end);
        at = end;
    }
    ranges
}

/// The patients of bitmap words `words` of a signal (a multiple of [`SCAN_CHECK_WORDS`]
/// from its start), in pid order: set bits by `leading_zeros`, the element starts read in
/// place, the first key's data index from the word's count (so any word range can be walked
/// on its own, as `par_scan` does).
pub(super) fn scan_words(
    f: &SignalFiles,
    words: std::ops::Range<usize>,
    visit: &mut dyn FnMut(Pid, &[u8]),
) -> Result<()> {
    let sp = &f.index.sparse;
    // data[1..] are the element starts. In a mapped `.idx` they are 4-aligned and read as a
    // `&[u32]`; unaligned in-memory bytes (`from_bytes`) are read entry by entry. Never a copy:
    // `par_scan` walks dozens of ranges, and a copy would be of the whole array for each.
    let raw = &f.idx.as_slice()[sp.data_at(1)..sp.data_at(sp.n_data)];
    match bytemuck::try_cast_slice::<u8, u32>(raw) {
        Ok(starts) => walk(f, words, visit, starts.len(), |k| starts.get(k).copied()),
        Err(_) => walk(f, words, visit, raw.len() / 4, |k| {
            let c = raw.get(4 * k..4 * k + 4)?;
            Some(u32::from_le_bytes([c[0], c[1], c[2], c[3]]))
        }),
    }
}

/// [`scan_words`] with the element starts behind `start_at` (entry `k`, `None` past the
/// `keys` entries): one copy of the loop per way of reading them.
#[inline(always)]
fn walk(
    f: &SignalFiles,
    words: std::ops::Range<usize>,
    visit: &mut dyn FnMut(Pid, &[u8]),
    keys: usize,
    start_at: impl Fn(usize) -> Option<u32>,
) -> Result<()> {
    let (idx, data) = (f.idx.as_slice(), f.data.as_slice());
    let sp = &f.index.sparse;
    let factor = f.index.factor as usize;
    let elements = &data[DATA_BASE as usize..];
    let mut k = match words.start {
        0 => 0,
        w => crate::native::sparse::u32_at(idx, sp.word_offsets(w).1).unwrap_or(0) as usize,
    };
    // Entry k, carried over from the previous patient's end (one read per patient).
    let mut next = start_at(k);
    for w in words {
        let mut word = crate::native::sparse::u64_at(idx, sp.words_off + 8 * w).unwrap_or(0);
        while word != 0 {
            let bit = word.leading_zeros();
            word &= !(1u64 << (63 - bit));
            let Some(start) = next else {
                return Err(Error::corrupt(
                    &f.idx_path,
                    sp.counts_off as u64,
                    DecodeError::Mismatch {
                        what: "index keys",
                        found: k as u64 + 1,
                        expected: keys as u64,
                    },
                ));
            };
            next = start_at(k + 1);
            let end = next.unwrap_or(start.wrapping_add(f.index.last_len));
            let (from, to) = (start as usize * factor, end as usize * factor);
            match elements.get(from..to) {
                Some(b) => visit(Pid(sp.min + (w as u32) * 64 + bit), b),
                None => {
                    return Err(Error::corrupt(
                        &f.idx_path,
                        sp.data_at(k + 1) as u64,
                        DecodeError::OutOfBounds {
                            start: 4 + from as u64,
                            end: 4 + to as u64,
                            len: data.len() as u64,
                        },
                    ))
                }
            }
            k += 1;
        }
        // At each check point, the keys walked must be the count the next words start
        // from (all keys at the bitmap's end). A bitmap bit or a count damaged so that the
        // two disagree is an error here, in `scan` and in `par_scan` alike, where it would
        // otherwise shift every later patient's elements (or only one range's, in
        // `par_scan`), or silently drop the last patients.
        let end = w + 1;
        if end % SCAN_CHECK_WORDS == 0 || end == sp.n_words {
            let (off, expected) = if end == sp.n_words {
                (sp.counts_off, keys)
            } else {
                let off = sp.word_offsets(end).1;
                let count = crate::native::sparse::u32_at(idx, off).unwrap_or(0) as usize;
                (off, count)
            };
            if k != expected {
                return Err(Error::corrupt(
                    &f.idx_path,
                    off as u64,
                    DecodeError::Mismatch {
                        what: "index keys",
                        found: k as u64,
                        expected: expected as u64,
                    },
                ));
            }
        }
    }
    Ok(())
}

impl NativeStore {
    /// Folds every patient's non-empty vector of `sid` on all rayon threads: the signal's
    /// bitmap is cut into word ranges (each walked as [`SignalStore::scan`] walks the whole),
    /// `fold` runs per range from `identity()`, and `reduce` combines the ranges' results in
    /// pid order, one after the other (pids within a range are visited ascending).
    ///
    /// The ranges depend on the bitmap's size only, not on the threads: a range is a
    /// sixteenth of the words still left (at least 4,096 pids), so the threads finish within a
    /// small range of each other, and a fold whose result depends on how the pids were split
    /// (a float sum's rounding) gives the same result on every machine.
    ///
    /// The calling thread works too: it takes ranges from a shared counter beside one task per
    /// other rayon thread, and when the ranges run out it spins (not sleeps) until the other
    /// threads finish theirs. A whole scan is a few milliseconds, and each thread wake-up costs
    /// tens of microseconds: a caller that only waited would add two (the pool's at the start,
    /// its own at the end).
    ///
    /// # Errors
    /// As [`SignalStore::scan`] (the error of the first failing range; the others stop).
    pub fn par_scan<A, I, F, R>(&self, sid: Sid, identity: I, fold: F, reduce: R) -> Result<A>
    where
        A: Send,
        I: Fn() -> A + Sync + Send,
        F: Fn(&mut A, Pid, &[u8]) + Sync + Send,
        R: Fn(A, A) -> A + Sync + Send,
    {
        use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
        use std::sync::{Mutex, PoisonError};
        let Some(f) = self.files(sid)? else {
            return Ok(identity());
        };
        let ranges = par_scan_ranges(f.index.sparse.n_words);
        let next = AtomicUsize::new(0);
        let failed = AtomicBool::new(false);
        let results: Vec<Mutex<Option<Result<A>>>> =
            ranges.iter().map(|_| Mutex::new(None)).collect();
        let work = || {
            while !failed.load(Ordering::Relaxed) {
                let c = next.fetch_add(1, Ordering::Relaxed);
                let Some(words) = ranges.get(c) else { break };
                let mut acc = identity();
                let r =
                    scan_words(f, words.clone(), &mut |p, b| fold(&mut acc, p, b)).map(|()| acc);
                failed.fetch_or(r.is_err(), Ordering::Relaxed);
                *results[c].lock().unwrap_or_else(PoisonError::into_inner) = Some(r);
            }
        };
        // The helpers inside `work`, counted so that the caller can spin until they are done;
        // the count drops when a helper's `work` ends, by returning or by a panic of `fold`.
        // It only decides whether to spin: the scope's join is what orders the results (each
        // behind its mutex) before they are read, so the count's loads and stores are relaxed.
        let busy = AtomicUsize::new(0);
        struct Leave<'a>(&'a AtomicUsize);
        impl Drop for Leave<'_> {
            fn drop(&mut self) {
                self.0.fetch_sub(1, Ordering::Relaxed);
            }
        }
        let helpers = rayon::current_num_threads()
            .saturating_sub(1)
            .min(ranges.len().saturating_sub(1));
        rayon::in_place_scope(|s| {
            for _ in 0..helpers {
                s.spawn(|_| {
                    busy.fetch_add(1, Ordering::Relaxed);
                    let _leave = Leave(&busy);
                    work();
                });
            }
            work();
            // Every range is taken: the helpers still inside `work` end within one range, and
            // a helper not started yet finds none when it starts (the scope's own wait covers
            // that one, asleep: nothing waits on it). A helper held off its CPU for longer
            // than ~1 ms of spinning gets the CPU back by `yield_now`.
            let mut spins = 0u32;
            while busy.load(Ordering::Relaxed) != 0 {
                if spins < 1 << 16 {
                    std::hint::spin_loop();
                    spins += 1;
                } else {
                    std::thread::yield_now();
                }
            }
        });
        let mut total = identity();
        for slot in results {
            // A range not taken (after an error) has no result; the error comes first.
            match slot.into_inner().unwrap_or_else(PoisonError::into_inner) {
                Some(r) => total = reduce(total, r?),
                None => continue,
            }
        }
        Ok(total)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The ranges cover the bitmap once, in order, each a whole number of check points (but
    /// the last), never growing, and few enough that their per-range cost stays negligible.
    #[test]
    fn par_scan_ranges_cover_the_bitmap_and_shrink() {
        for n in [0, 1, 63, 64, 65, 1_000, 15_625, 156_250, 1 << 22] {
            let r = par_scan_ranges(n);
            assert_eq!(r.first().map_or(0, |r| r.start), 0, "{n}");
            assert_eq!(r.last().map_or(0, |r| r.end), n, "{n}");
            for (a, b) in r.iter().zip(r.iter().skip(1)) {
                assert_eq!(a.end, b.start, "{n}");
                assert!(a.len() >= b.len() || b.end == n, "{n}: {a:?} then {b:?}");
            }
            for w in &r[..r.len().saturating_sub(1)] {
                assert!(
                    !w.is_empty() && w.len() % SCAN_CHECK_WORDS == 0,
                    "{n}: {w:?}"
                );
            }
            let granules = n.div_ceil(SCAN_CHECK_WORDS).max(1) as f64;
            let bound = PAR_SCAN_SPLIT as f64 * (granules.ln() + 2.0);
            assert!((r.len() as f64) <= bound, "{n}: {} ranges", r.len());
        }
        // 100k synthetic patients (pids up to 1M): the last ranges are one check point each.
        let r = par_scan_ranges(15_625);
        assert_eq!(r[0].len(), 15 * SCAN_CHECK_WORDS);
        assert_eq!(r.last().unwrap().len(), 15_625 % SCAN_CHECK_WORDS);
        assert_eq!(r[r.len() - 2].len(), SCAN_CHECK_WORDS);
    }
}
