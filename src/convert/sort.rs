//! The original loader's per-(pid, signal) order, reproduced exactly: libstdc++'s `std::sort`
//! (introsort, threshold 16, median-of-three pivot, heap-sort fallback, final insertion sort)
//! with `GenericSigVec::compareTimeLt` (time channels compared as C `int`, then value channels
//! as C `float`), then `std::unique` on the element bytes.
//!
//! `std::sort` is not stable, but it is deterministic: given the elements in the same input
//! order (files in config order, lines in file order), it leaves equal-time elements in the same
//! order as the original. Every index access is bounds-checked, so even a comparator that is
//! not a strict weak order (NaN values) cannot run off the slice as the C++ could.

use crate::layout::{ChannelType, Layout};

/// `compareTimeLt` of the original, over one layout.
pub(crate) struct Comparator {
    time: Vec<(ChannelType, usize)>,
    value: Vec<(ChannelType, usize)>,
}

fn arr<const N: usize>(b: &[u8], at: usize) -> [u8; N] {
    let mut out = [0u8; N];
    if let Some(s) = b.get(at..at + N) {
        out.copy_from_slice(s);
    }
    out
}

/// A float converted to `int` as x86-64 `cvttss2si` does: truncation, `INT_MIN` when out of range.
fn float_to_int(f: f64) -> i32 {
    if f.is_nan() || !(-2147483648.0..2147483648.0).contains(&f) {
        i32::MIN
    } else {
        f.trunc() as i32
    }
}

/// `Time<int>()`: the channel converted to C `int`.
fn as_int(ty: ChannelType, b: &[u8], at: usize) -> i32 {
    match ty {
        ChannelType::I8 => i8::from_le_bytes(arr(b, at)) as i32,
        ChannelType::U8 => u8::from_le_bytes(arr(b, at)) as i32,
        ChannelType::I16 => i16::from_le_bytes(arr(b, at)) as i32,
        ChannelType::U16 => u16::from_le_bytes(arr(b, at)) as i32,
        ChannelType::I32 => i32::from_le_bytes(arr(b, at)),
        ChannelType::U32 => u32::from_le_bytes(arr(b, at)) as i32,
        ChannelType::I64 => i64::from_le_bytes(arr(b, at)) as i32,
        ChannelType::U64 => u64::from_le_bytes(arr(b, at)) as i32,
        ChannelType::F32 => float_to_int(f32::from_le_bytes(arr(b, at)) as f64),
        ChannelType::F64 => float_to_int(f64::from_le_bytes(arr(b, at))),
    }
}

/// `Val<float>()`: the channel converted to C `float`.
fn as_float(ty: ChannelType, b: &[u8], at: usize) -> f32 {
    match ty {
        ChannelType::I8 => i8::from_le_bytes(arr(b, at)) as f32,
        ChannelType::U8 => u8::from_le_bytes(arr(b, at)) as f32,
        ChannelType::I16 => i16::from_le_bytes(arr(b, at)) as f32,
        ChannelType::U16 => u16::from_le_bytes(arr(b, at)) as f32,
        ChannelType::I32 => i32::from_le_bytes(arr(b, at)) as f32,
        ChannelType::U32 => u32::from_le_bytes(arr(b, at)) as f32,
        ChannelType::I64 => i64::from_le_bytes(arr(b, at)) as f32,
        ChannelType::U64 => u64::from_le_bytes(arr(b, at)) as f32,
        ChannelType::F32 => f32::from_le_bytes(arr(b, at)),
        ChannelType::F64 => f64::from_le_bytes(arr(b, at)) as f32,
    }
}

impl Comparator {
    pub(crate) fn new(layout: &Layout) -> Comparator {
        Comparator {
            time: layout
                .time_channels()
                .iter()
                .map(|c| (c.ty, c.offset))
                .collect(),
            value: layout
                .value_channels()
                .iter()
                .map(|c| (c.ty, c.offset))
                .collect(),
        }
    }

    /// Whether a value channel can hold a NaN (a float channel), which makes `less` no
    /// strict weak order.
    fn may_nan(&self) -> bool {
        self.value
            .iter()
            .any(|&(ty, _)| matches!(ty, ChannelType::F32 | ChannelType::F64))
    }

    /// Whether element `e` has a NaN in a value channel.
    fn has_nan(&self, e: &[u8]) -> bool {
        self.value
            .iter()
            .any(|&(ty, at)| as_float(ty, e, at).is_nan())
    }

    /// Whether `elements` (`size` bytes each) are strictly increasing for `less` with no NaN
    /// value: then `less` is a strict weak order on them (times compare as `int`s, values as
    /// non-NaN `float`s, channel after channel), no two of them are equivalent, and any
    /// correct sort, [`std_sort`] included, leaves them as they are; nor are two neighbours
    /// byte-identical, so [`unique_bytes`] keeps them all.
    fn strictly_increasing(&self, elements: &[u8], size: usize) -> bool {
        let mut it = elements.chunks_exact(size);
        let Some(mut prev) = it.next() else {
            return true;
        };
        let nan = self.may_nan();
        if nan && self.has_nan(prev) {
            return false;
        }
        for e in it {
            if !self.less(prev, e) || (nan && self.has_nan(e)) {
                return false;
            }
            prev = e;
        }
        true
    }

    /// `a < b` as `compareTimeLt`.
    #[inline]
    pub(crate) fn less(&self, a: &[u8], b: &[u8]) -> bool {
        for &(ty, at) in &self.time {
            let (x, y) = (as_int(ty, a, at), as_int(ty, b, at));
            if x > y {
                return false;
            }
            if x < y {
                return true;
            }
        }
        for &(ty, at) in &self.value {
            let (x, y) = (as_float(ty, a, at), as_float(ty, b, at));
            if x > y {
                return false;
            }
            if x < y {
                return true;
            }
        }
        false
    }
}

const THRESHOLD: usize = 16;

/// Sorts `v` exactly as libstdc++'s `std::sort(v.begin(), v.end(), less)` does.
pub(crate) fn std_sort<T: Copy>(v: &mut [T], less: &impl Fn(&T, &T) -> bool) {
    let n = v.len();
    if n < 2 {
        return;
    }
    let depth = 2 * (usize::BITS - 1 - n.leading_zeros()) as usize;
    introsort_loop(v, 0, n, depth, less);
    final_insertion_sort(v, 0, n, less);
}

fn introsort_loop<T: Copy>(
    v: &mut [T],
    first: usize,
    mut last: usize,
    mut depth: usize,
    less: &impl Fn(&T, &T) -> bool,
) {
    while last - first > THRESHOLD {
        if depth == 0 {
            heap_sort(&mut v[first..last], less);
            return;
        }
        depth -= 1;
        let cut = partition_pivot(v, first, last, less);
        introsort_loop(v, cut, last, depth, less);
        last = cut;
    }
}

fn partition_pivot<T: Copy>(
    v: &mut [T],
    first: usize,
    last: usize,
    less: &impl Fn(&T, &T) -> bool,
) -> usize {
    let mid = first + (last - first) / 2;
    move_median_to_first(v, first, first + 1, mid, last - 1, less);
    unguarded_partition(v, first + 1, last, first, less)
}

fn move_median_to_first<T: Copy>(
    v: &mut [T],
    result: usize,
    a: usize,
    b: usize,
    c: usize,
    less: &impl Fn(&T, &T) -> bool,
) {
    let l = |i: usize, j: usize| less(&v[i], &v[j]);
    let pick = if l(a, b) {
        if l(b, c) {
            b
        } else if l(a, c) {
            c
        } else {
            a
        }
    } else if l(a, c) {
        a
    } else if l(b, c) {
        c
    } else {
        b
    };
    v.swap(result, pick);
}

fn unguarded_partition<T: Copy>(
    v: &mut [T],
    mut first: usize,
    mut last: usize,
    pivot: usize,
    less: &impl Fn(&T, &T) -> bool,
) -> usize {
    let end = v.len();
    loop {
        while first < end && less(&v[first], &v[pivot]) {
            first += 1;
        }
        last = last.saturating_sub(1);
        while last > pivot && less(&v[pivot], &v[last]) {
            last -= 1;
        }
        if first >= last {
            return first;
        }
        v.swap(first, last);
        first += 1;
    }
}

fn final_insertion_sort<T: Copy>(
    v: &mut [T],
    first: usize,
    last: usize,
    less: &impl Fn(&T, &T) -> bool,
) {
    if last - first > THRESHOLD {
        insertion_sort(v, first, first + THRESHOLD, less);
        for i in first + THRESHOLD..last {
            unguarded_linear_insert(v, i, first, less);
        }
    } else {
        insertion_sort(v, first, last, less);
    }
}

fn insertion_sort<T: Copy>(v: &mut [T], first: usize, last: usize, less: &impl Fn(&T, &T) -> bool) {
    if first == last {
        return;
    }
    for i in first + 1..last {
        if less(&v[i], &v[first]) {
            let val = v[i];
            v.copy_within(first..i, first + 1);
            v[first] = val;
        } else {
            unguarded_linear_insert(v, i, first, less);
        }
    }
}

/// Moves `v[last]` down while it is less than its predecessor (never below `floor`).
fn unguarded_linear_insert<T: Copy>(
    v: &mut [T],
    mut last: usize,
    floor: usize,
    less: &impl Fn(&T, &T) -> bool,
) {
    let val = v[last];
    while last > floor && less(&val, &v[last - 1]) {
        v[last] = v[last - 1];
        last -= 1;
    }
    v[last] = val;
}

/// libstdc++'s `__partial_sort(first, last, last)`: make_heap, then sort_heap.
fn heap_sort<T: Copy>(v: &mut [T], less: &impl Fn(&T, &T) -> bool) {
    let len = v.len();
    if len >= 2 {
        let mut parent = (len - 2) / 2;
        loop {
            let value = v[parent];
            adjust_heap(v, parent, len, value, less);
            if parent == 0 {
                break;
            }
            parent -= 1;
        }
    }
    let mut last = len;
    while last > 1 {
        last -= 1;
        let value = v[last];
        v[last] = v[0];
        adjust_heap(v, 0, last, value, less);
    }
}

fn adjust_heap<T: Copy>(
    v: &mut [T],
    mut hole: usize,
    len: usize,
    value: T,
    less: &impl Fn(&T, &T) -> bool,
) {
    let top = hole;
    let mut second = hole;
    while len >= 1 && second < (len - 1) / 2 {
        second = 2 * (second + 1);
        if less(&v[second], &v[second - 1]) {
            second -= 1;
        }
        v[hole] = v[second];
        hole = second;
    }
    if len >= 2 && len % 2 == 0 && second == (len - 2) / 2 {
        second = 2 * (second + 1);
        v[hole] = v[second - 1];
        hole = second - 1;
    }
    // push_heap
    let mut parent = hole.saturating_sub(1) / 2;
    while hole > top && less(&v[parent], &value) {
        v[hole] = v[parent];
        hole = parent;
        parent = hole.saturating_sub(1) / 2;
    }
    v[hole] = value;
}

/// `std::unique` with `memcmp` over `order` (element indices into `elements`): keeps the first
/// of each run of byte-identical neighbours.
pub(crate) fn unique_bytes(order: &mut Vec<u32>, elements: &[u8], size: usize) {
    let el = |i: u32| elements.get(i as usize * size..(i as usize + 1) * size);
    let mut kept = 0usize;
    for k in 0..order.len() {
        if kept == 0 || el(order[kept - 1]) != el(order[k]) {
            order[kept] = order[k];
            kept += 1;
        }
    }
    order.truncate(kept);
}

/// One patient's vector of one signal as the original leaves it: `elements` (`size` bytes
/// each, in input order) sorted by [`std_sort`] with `cmp`, then [`unique_bytes`]; appended to
/// `out`. `order` is scratch space. Returns the number of elements appended.
pub(crate) fn sort_unique_into(
    cmp: &Comparator,
    elements: &[u8],
    size: usize,
    order: &mut Vec<u32>,
    out: &mut Vec<u8>,
) -> usize {
    let n = elements.len() / size;
    if n <= 1 || cmp.strictly_increasing(elements, size) {
        // Already in the order the sort and `unique` leave (the usual export).
        out.extend_from_slice(elements);
        return n;
    }
    order.clear();
    order.extend(0..n as u32);
    let el = |i: &u32| &elements[*i as usize * size..(*i as usize + 1) * size];
    std_sort(order, &|a, b| cmp.less(el(a), el(b)));
    unique_bytes(order, elements, size);
    out.reserve(order.len() * size);
    for i in order.iter() {
        crate::convert::tsv::push_element(out, el(i));
    }
    order.len()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lcg(seed: &mut u64) -> u64 {
        *seed = seed
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        *seed >> 33
    }

    #[test]
    fn sorts_like_a_sort() {
        let mut seed = 7;
        for n in [0usize, 1, 2, 15, 16, 17, 40, 100, 1000, 5000] {
            for range in [3u64, 1000] {
                let mut v: Vec<(u64, usize)> =
                    (0..n).map(|i| (lcg(&mut seed) % range, i)).collect();
                let mut want = v.clone();
                std_sort(&mut v, &|a, b| a.0 < b.0);
                want.sort_by_key(|x| x.0);
                let keys: Vec<u64> = v.iter().map(|x| x.0).collect();
                let want_keys: Vec<u64> = want.iter().map(|x| x.0).collect();
                assert_eq!(keys, want_keys, "n={n}");
                let mut idx: Vec<usize> = v.iter().map(|x| x.1).collect();
                idx.sort_unstable();
                assert_eq!(idx, (0..n).collect::<Vec<_>>(), "a permutation");
            }
        }
    }

    #[test]
    fn small_inputs_are_stable_insertion_sort() {
        // At most 16 elements: plain insertion sort, so equal keys keep their order.
        let mut v: Vec<(u8, u8)> = (0..16).map(|i| ((i * 7 % 3) as u8, i as u8)).collect();
        std_sort(&mut v, &|a, b| a.0 < b.0);
        for w in v.windows(2) {
            assert!(w[0].0 < w[1].0 || (w[0].0 == w[1].0 && w[0].1 < w[1].1));
        }
    }

    #[test]
    fn heap_sort_sorts() {
        let mut seed = 3;
        for n in [2usize, 3, 10, 33, 64] {
            let mut v: Vec<u64> = (0..n).map(|_| lcg(&mut seed) % 50).collect();
            let mut w = v.clone();
            heap_sort(&mut v, &|a, b| a < b);
            w.sort();
            assert_eq!(v, w);
        }
    }

    #[test]
    fn nan_comparator_does_not_panic() {
        let mut v: Vec<f32> = (0..300)
            .map(|i| if i % 3 == 0 { f32::NAN } else { i as f32 })
            .collect();
        std_sort(&mut v, &|a, b| a < b);
        assert_eq!(v.len(), 300);
    }

    /// The already-sorted shortcut gives what the sort and `unique` give, ties, duplicates
    /// and NaN values included.
    #[test]
    fn sort_unique_shortcut_is_the_sort() {
        let full = |cmp: &Comparator, bytes: &[u8], size: usize| {
            let n = bytes.len() / size;
            let mut order: Vec<u32> = (0..n as u32).collect();
            let el = |i: &u32| &bytes[*i as usize * size..(*i as usize + 1) * size];
            std_sort(&mut order, &|a, b| cmp.less(el(a), el(b)));
            unique_bytes(&mut order, bytes, size);
            order.iter().flat_map(el).copied().collect::<Vec<u8>>()
        };
        let l = Layout::parse("T(i),V(f)").unwrap();
        let c = Comparator::new(&l);
        let e = |t: i32, v: f32| [t.to_le_bytes(), v.to_le_bytes()].concat();
        let mut seed = 11;
        for n in [0usize, 1, 2, 5, 16, 17, 40, 200] {
            for case in 0..6 {
                let mut v: Vec<Vec<u8>> = (0..n)
                    .map(|i| {
                        let r = lcg(&mut seed);
                        match case {
                            0 => e(i as i32, 1.0),                  // increasing times
                            1 => e(1, i as f32),                    // increasing values
                            2 => e((i / 2) as i32, (r % 3) as f32), // ties and duplicates
                            3 => e(i as i32, if r % 5 == 0 { f32::NAN } else { 2.0 }),
                            4 => e(1, if i % 7 == 3 { f32::NAN } else { i as f32 }),
                            _ => e((r % 50) as i32, (r % 4) as f32), // random
                        }
                    })
                    .collect();
                if case == 5 {
                    v.sort();
                }
                let bytes = v.concat();
                let mut out = Vec::new();
                let mut order = Vec::new();
                let k = sort_unique_into(&c, &bytes, 8, &mut order, &mut out);
                assert_eq!(out, full(&c, &bytes, 8), "n={n} case={case}");
                assert_eq!(k * 8, out.len());
            }
        }
    }

    #[test]
    fn compare_time_lt() {
        let l = Layout::parse("T(i),V(i)").unwrap();
        let c = Comparator::new(&l);
        let e = |t: i32, v: i32| [t.to_le_bytes(), v.to_le_bytes()].concat();
        assert!(c.less(&e(1, 9), &e(2, 0)));
        assert!(c.less(&e(1, 1), &e(1, 2)));
        // 20200104 and 20200103 are the same float: equal for the comparator.
        assert!(!c.less(&e(1, 20200104), &e(1, 20200103)));
        assert!(!c.less(&e(1, 20200103), &e(1, 20200104)));
        let mut order = vec![0u32, 1, 2, 3];
        let bytes = [e(1, 1), e(1, 1), e(1, 2), e(1, 1)].concat();
        unique_bytes(&mut order, &bytes, 8);
        assert_eq!(order, [0, 2, 3]);
    }
}
