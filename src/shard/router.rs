//! [`Router`]: a pid → shard index in a few instructions and one load.

/// Routes a pid to its shard with one load from a small table and one compare: the lookup
/// path is memory-bound, and the CPU overlaps as many lookups as fit in its reorder window,
/// so each instruction and each dependent load on the way to the shard's store costs
/// (benches/shards.rs: a binary search cost 1.4-1.5x at 8 shards against the same lookups
/// routed beforehand).
///
/// The pid span `[min, max]` of all shards is cut into buckets of `2^shift` pids. Bucket `b`
/// holds `(first, bound)`: `first` is the first shard whose range ends at or after the
/// bucket's first pid, `bound` that shard's last pid (`u32::MAX` for the last shard). When no
/// bucket holds the ends of two shards (an exact table), a pid's shard is `first + (pid > bound)`,
/// with no branch; `new` picks the widest buckets for which that holds, so the table is as
/// small as the shards allow (a dozen entries for 8 even shards). Only when even
/// [`Router::BUCKETS`] buckets are too wide (a shard narrower than `span / 4096`) does a
/// lookup step over the shards from `first`.
pub(super) struct Router {
    /// `min | shift << 32`: one load for both.
    min_shift: u64,
    /// Per bucket: `first | bound << 32`, see above (one load); `first` has
    /// [`Router::STEP`] set in the buckets of a table that is not exact. Always
    /// [`Router::BUCKETS`] long and held inline, so that a bucket number masked to it needs
    /// neither a pointer, a length nor a bounds test.
    table: [u64; Router::BUCKETS],
}

impl std::fmt::Debug for Router {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Router")
            .field("min", &(self.min_shift as u32))
            .field("shift", &(self.min_shift >> 32))
            .field("first_buckets", &&self.table[..4])
            .finish_non_exhaustive()
    }
}

impl Router {
    /// Buckets at most (4096 entries: 32 KiB, one cache line touched per lookup; an exact
    /// table of a few buckets touches the same line every time).
    const BUCKETS: usize = 4096;
    /// Flag on `first`: step over the shards from `first` (not an exact table).
    const STEP: u32 = 1 << 31;
    /// The entry of buckets past the last: shard 0, bound `u32::MAX`.
    const PAD: u64 = (u32::MAX as u64) << 32;

    /// The router of `ranges` (ascending, disjoint; may be empty).
    pub(super) fn new(ranges: &[(u32, u32)]) -> Router {
        let (Some(&(min, _)), Some(&(_, max))) = (ranges.first(), ranges.last()) else {
            // Every pid → 0, which is `ranges.len()`.
            return Router::with(0, 0, &[], 0);
        };
        let span = u64::from(max - min) + 1;
        let mut finest = 0;
        while (span >> finest) >= Router::BUCKETS as u64 {
            finest += 1;
        }
        // The widest buckets that hold at most one shard end each, else the finest allowed.
        for shift in (finest..32).rev() {
            if let Some(table) = Router::table(ranges, span, shift, true) {
                return Router::with(min, shift, &table, 0);
            }
        }
        let table = Router::table(ranges, span, finest, false).unwrap_or_default();
        Router::with(min, finest, &table, Router::STEP)
    }

    /// The router of a `(first, bound)` table (at most [`Router::BUCKETS`] long), padded
    /// with [`Router::PAD`] (read only for pids outside every range), `flag` on every
    /// `first`.
    fn with(min: u32, shift: u32, table: &[(u32, u32)], flag: u32) -> Router {
        let mut t = [Router::PAD; Router::BUCKETS];
        for (e, &(first, bound)) in t.iter_mut().zip(table) {
            *e = u64::from(first | flag) | u64::from(bound) << 32;
        }
        Router {
            min_shift: u64::from(min) | u64::from(shift) << 32,
            table: t,
        }
    }

    /// The `(first, bound)` table of buckets of `2^shift` pids; `None` when `exact` is asked
    /// for and a bucket holds the ends of two shards before the last.
    fn table(ranges: &[(u32, u32)], span: u64, shift: u32, exact: bool) -> Option<Vec<(u32, u32)>> {
        let n = ranges.len();
        let min = u64::from(ranges[0].0);
        let max = min + span - 1;
        let buckets = ((span - 1) >> shift) + 1;
        let mut table = Vec::with_capacity(buckets as usize);
        let mut i = 0usize;
        for b in 0..buckets {
            let lo = min + (b << shift);
            let hi = (lo + (1u64 << shift) - 1).min(max);
            while i + 1 < n && u64::from(ranges[i].1) < lo {
                i += 1;
            }
            // Pids past shard i's end in this bucket go to shard i + 1: right only if that
            // shard reaches the bucket's end (or is the last, which takes every pid beyond).
            if exact && i + 2 < n && u64::from(ranges[i].1) < hi && u64::from(ranges[i + 1].1) < hi
            {
                return None;
            }
            let bound = if i + 1 == n { u32::MAX } else { ranges[i].1 };
            table.push((i as u32, bound));
        }
        Some(table)
    }

    /// An index in `ranges` (ascending, disjoint, the ranges this router was built from, not
    /// empty) that is the range holding `pid` whenever one does; for a pid in no range, some
    /// range. `ranges.len()` (out of bounds) only for no ranges. An exact table reads nothing
    /// but the router's first word and one entry, and takes no branch.
    #[inline]
    pub(super) fn candidate(&self, ranges: &[(u32, u32)], pid: u32) -> usize {
        // A pid outside `[min, max]` lands in any bucket (the difference wraps, the mask
        // keeps it in the table): every entry names a shard, and no shard holds such a pid.
        let b = pid.wrapping_sub(self.min_shift as u32) >> (self.min_shift >> 32);
        let e = self.table[b as usize % Router::BUCKETS];
        let (first, bound) = (e as u32, (e >> 32) as u32);
        if first & Router::STEP != 0 {
            return Router::step(ranges, (first & !Router::STEP) as usize, pid);
        }
        first as usize + usize::from(pid > bound)
    }

    /// The range from `i` on that ends at or after `pid` (the last if none does). Inlined:
    /// a call here would make every lookup save registers for it.
    #[inline(always)]
    fn step(ranges: &[(u32, u32)], mut i: usize, pid: u32) -> usize {
        while i + 1 < ranges.len() && ranges[i].1 < pid {
            i += 1;
        }
        i
    }

    /// The index in `ranges` (ascending, disjoint, the ranges this router was built from)
    /// of the range holding `pid`.
    #[inline]
    pub(super) fn route(&self, ranges: &[(u32, u32)], pid: u32) -> Option<usize> {
        let i = self.candidate(ranges, pid);
        let &(first, last) = ranges.get(i)?;
        (first <= pid && pid <= last).then_some(i)
    }
}

#[cfg(test)]
mod tests {
    use super::Router;

    /// The router against a plain scan of the ranges, over every pid around every bound,
    /// for shards wider and narrower than a bucket and with gaps between them.
    #[test]
    fn routes_like_a_scan_of_the_ranges() {
        let cases: Vec<Vec<(u32, u32)>> = vec![
            vec![(5, 5)],
            vec![(1, 10), (11, 20), (30, 40)],
            vec![(0, u32::MAX)],
            (0..3000u32).map(|k| (k * 7, k * 7 + 3)).collect(),
            vec![(7, 124_991), (125_003, 250_000), (250_001, 10_000_994)],
            vec![(0, 0), (u32::MAX - 1, u32::MAX)],
            (0..64u32)
                .map(|k| (k * 1563 + 1, k * 1563 + 1563))
                .collect(),
            vec![(1, 100_000), (100_001, 100_002), (100_003, 200_000)],
            vec![(0, 1), (2, 3), (4, u32::MAX)],
        ];
        for ranges in cases {
            let r = Router::new(&ranges);
            let scan = |pid: u32| ranges.iter().position(|&(a, b)| a <= pid && pid <= b);
            let mut probes = vec![0, 1, 2, u32::MAX, u32::MAX - 1];
            for &(a, b) in &ranges {
                for p in [a, b] {
                    probes.extend([p.saturating_sub(1), p, p.saturating_add(1)]);
                }
                probes.push(a / 2 + b / 2);
            }
            for p in probes {
                let c = r.candidate(&ranges, p);
                assert!(c < ranges.len(), "pid {p}: candidate {c} out of range");
                if let Some(i) = scan(p) {
                    assert_eq!(c, i, "pid {p}: the candidate is the range holding it");
                }
                assert_eq!(
                    r.route(&ranges, p),
                    scan(p),
                    "pid {p} in {:?}",
                    &ranges[..ranges.len().min(4)]
                );
            }
        }
    }

    /// Even shards get an exact table of a few buckets; a shard far narrower than the span
    /// leaves the finest table, which steps over shards.
    #[test]
    fn exact_tables_are_small() {
        let even: Vec<(u32, u32)> = (0..8u32)
            .map(|k| (k * 12_500 + 1, k * 12_500 + 12_500))
            .collect();
        let r = Router::new(&even);
        assert_eq!(r.table[0] as u32 & Router::STEP, 0, "exact");
        let used = r
            .table
            .iter()
            .filter(|&&e| e >> 32 != u64::from(u32::MAX))
            .count();
        assert!(used < 16, "{used} buckets");
        let narrow = vec![(0, 1), (2, 3), (4, u32::MAX)];
        let r = Router::new(&narrow);
        assert!(r.table[0] as u32 & Router::STEP != 0);
    }
}
