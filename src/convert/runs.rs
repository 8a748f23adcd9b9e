//! The merge's per-patient work done by the parse workers: a piece's lines cut into runs (the
//! consecutive lines of one pid), each run's elements grouped by signal and every group sorted
//! and de-duplicated as the merge would sort it. A patient's vector of a signal almost always
//! comes from one run; the merge then takes the group as it is, and sorts only the rest
//! (the same sort over the same input order: the same bytes).

use crate::convert::parse::{Ctx, Outcome, Piece};
use crate::convert::sort::sort_unique_into;

/// Consecutive lines of one pid (`>= 0`), each parsed or skipped (none dropped).
#[derive(Clone, Debug)]
pub(super) struct Run {
    /// Index of its first line in the piece's lines.
    pub(super) first: u32,
    /// Number of lines.
    pub(super) lines: u32,
    /// The pid.
    pub(super) pid: u32,
    /// Lines skipped (a signal outside LOAD_ONLY); the others gave elements.
    pub(super) skipped: u32,
    /// Its groups: `piece.groups[groups.0..groups.1]`.
    pub(super) groups: (u32, u32),
}

/// One signal's elements of a run.
#[derive(Clone, Debug)]
pub(super) struct Group {
    /// The signal (catalog serial).
    pub(super) serial: u32,
    /// The elements in line order: `piece.raw[raw.0..raw.1]`.
    pub(super) raw: (u32, u32),
    /// The same sorted and de-duplicated: `piece.sorted[sorted.0..sorted.1]`.
    pub(super) sorted: (u32, u32),
}

/// Scratch space of [`group_runs`], per worker call.
#[derive(Default)]
pub(super) struct Scratch {
    /// Elements per serial in the current run (0 outside it).
    count: Vec<u32>,
    /// Next write offset in `piece.raw` per serial.
    at: Vec<usize>,
    /// Serials of the current run, in order of first appearance.
    touched: Vec<usize>,
    order: Vec<u32>,
}

fn is_run_line(outcome: &Outcome) -> bool {
    matches!(outcome, Outcome::Recs { .. } | Outcome::Skip)
}

/// Cuts the parsed lines of `piece` into runs and fills its runs, groups, raw and sorted
/// elements (`piece.lines`, `recs` and `bytes` are left as they are).
pub(super) fn group_runs(ctx: &Ctx<'_>, piece: &mut Piece, s: &mut Scratch) {
    let n_signals = ctx.plans.len();
    s.count.clear();
    s.count.resize(n_signals, 0);
    s.at.clear();
    s.at.resize(n_signals, 0);
    let lines = &piece.lines;
    let mut i = 0;
    while i < lines.len() {
        let first = i;
        let pid = lines[i].pid;
        if pid < 0 || !is_run_line(&lines[i].outcome) {
            i += 1;
            continue;
        }
        while i < lines.len() && lines[i].pid == pid && is_run_line(&lines[i].outcome) {
            i += 1;
        }
        // Count per signal, then place each signal's elements in line order.
        let mut skipped = 0u32;
        s.touched.clear();
        let mut raw_len = piece.raw.len();
        for lo in &lines[first..i] {
            match lo.outcome {
                Outcome::Recs { start, n } => {
                    for &(serial, _) in &piece.recs[start as usize..(start + n) as usize] {
                        let serial = serial as usize;
                        if s.count[serial] == 0 {
                            s.touched.push(serial);
                        }
                        s.count[serial] += 1;
                    }
                }
                _ => skipped += 1,
            }
        }
        for &serial in &s.touched {
            s.at[serial] = raw_len;
            raw_len += s.count[serial] as usize * ctx.plans[serial].size;
        }
        let raw_start = piece.raw.len();
        piece.raw.resize(raw_len, 0);
        for lo in &lines[first..i] {
            if let Outcome::Recs { start, n } = lo.outcome {
                for &(serial, off) in &piece.recs[start as usize..(start + n) as usize] {
                    let serial = serial as usize;
                    let size = ctx.plans[serial].size;
                    let at = s.at[serial];
                    copy_element(
                        &mut piece.raw[at..at + size],
                        &piece.bytes[off as usize..off as usize + size],
                    );
                    s.at[serial] = at + size;
                }
            }
        }
        // Sort each group (in the order the groups were laid out).
        let groups_start = piece.groups.len() as u32;
        let mut at = raw_start;
        for &serial in &s.touched {
            let size = ctx.plans[serial].size;
            let end = at + s.count[serial] as usize * size;
            let sorted_start = piece.sorted.len();
            sort_unique_into(
                &ctx.comparators[serial],
                &piece.raw[at..end],
                size,
                &mut s.order,
                &mut piece.sorted,
            );
            piece.groups.push(Group {
                serial: serial as u32,
                raw: (at as u32, end as u32),
                sorted: (sorted_start as u32, piece.sorted.len() as u32),
            });
            s.count[serial] = 0;
            at = end;
        }
        piece.runs.push(Run {
            first: first as u32,
            lines: (i - first) as u32,
            pid: pid as u32,
            skipped,
            groups: (groups_start, piece.groups.len() as u32),
        });
    }
}

/// `dst.copy_from_slice(src)` with the common element sizes as fixed-size copies (a
/// variable-length copy is a `memcpy` call per element).
#[inline(always)]
fn copy_element(dst: &mut [u8], src: &[u8]) {
    #[inline(always)]
    fn fixed<const N: usize>(dst: &mut [u8], src: &[u8]) {
        match (<&[u8; N]>::try_from(src), dst.len() == N) {
            (Ok(s), true) => dst[..N].copy_from_slice(s),
            _ => dst.copy_from_slice(src),
        }
    }
    match dst.len() {
        4 => fixed::<4>(dst, src),
        8 => fixed::<8>(dst, src),
        12 => fixed::<12>(dst, src),
        16 => fixed::<16>(dst, src),
        _ => dst.copy_from_slice(src),
    }
}
