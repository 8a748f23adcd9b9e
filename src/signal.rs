//! `Signal<'a>`: one patient's vector of one signal, viewed through its layout.

use std::borrow::Cow;

use crate::cast;
use crate::element::Element;
use crate::error::{DecodeError, Error, Result};
use crate::ids::{Pid, Sid};
use crate::layout::{Layout, Value};

/// One patient's elements of one signal: bytes (borrowed from the store's map where possible)
/// plus their layout. Channel reads are unaligned little-endian loads; nothing is copied.
///
/// # Examples
/// ```
/// use inframed::{Pid, Repository};
/// let repo = Repository::open("testdata/inframed/small/repo/small.repository")?;
/// let bp = repo.signal(Pid(1025), "BP")?; // T(i),V(s,s): date, systolic, diastolic
/// assert_eq!(bp.layout().time_channels().len(), 1);
/// assert_eq!(bp.layout().value_channels().len(), 2);
/// let first = bp.iter().next().unwrap();
/// let (date, sys, dia) = (first.time(0).as_i64(), first.value(0).as_i64(), first.value(1).as_i64());
/// assert_eq!((date, sys, dia), (20120101, 118, 79));
/// # Ok::<_, inframed::Error>(())
/// ```
#[derive(Clone, Debug)]
pub struct Signal<'a> {
    bytes: Cow<'a, [u8]>,
    layout: &'a Layout,
    /// Number of elements, `bytes.len() / layout.size()`, computed once at construction.
    len: usize,
    pid: Pid,
    sid: Sid,
}

/// One element of a [`Signal`].
#[derive(Clone, Copy, Debug)]
pub struct ElementRef<'a> {
    bytes: &'a [u8],
    layout: &'a Layout,
}

impl<'a> ElementRef<'a> {
    /// Time channel `ch`.
    ///
    /// # Panics
    /// If `ch` is not a time channel of the layout.
    #[inline(always)]
    pub fn time(&self, ch: usize) -> Value {
        let c = self.layout.time_channels()[ch];
        c.ty.read(&self.bytes[c.offset..])
    }

    /// Value channel `ch`.
    ///
    /// # Panics
    /// If `ch` is not a value channel of the layout.
    #[inline(always)]
    pub fn value(&self, ch: usize) -> Value {
        let c = self.layout.value_channels()[ch];
        c.ty.read(&self.bytes[c.offset..])
    }

    /// The element's bytes.
    pub fn bytes(&self) -> &'a [u8] {
        self.bytes
    }
}

impl<'a> Signal<'a> {
    /// A view of `bytes` as elements of `layout`.
    ///
    /// # Errors
    /// [`Error::Corrupt`] (path `<memory>`) if the length is not a whole number of elements.
    #[inline(always)]
    pub fn new(bytes: Cow<'a, [u8]>, layout: &'a Layout, pid: Pid, sid: Sid) -> Result<Signal<'a>> {
        let (len, rest) = div_rem(bytes.len(), layout.size());
        if rest != 0 {
            return Err(partial_elements(bytes.len(), layout.size()));
        }
        Ok(Signal {
            bytes,
            layout,
            len,
            pid,
            sid,
        })
    }

    /// Number of elements.
    #[inline]
    pub fn len(&self) -> usize {
        self.len
    }

    /// True if the patient has no elements of this signal.
    #[inline]
    pub fn is_empty(&self) -> bool {
        self.bytes.is_empty()
    }

    /// The element layout.
    pub fn layout(&self) -> &'a Layout {
        self.layout
    }

    /// The patient.
    pub fn pid(&self) -> Pid {
        self.pid
    }

    /// The signal id.
    pub fn sid(&self) -> Sid {
        self.sid
    }

    /// The raw element bytes.
    pub fn bytes(&self) -> &[u8] {
        &self.bytes
    }

    /// Whether the bytes are borrowed from the store (no copy was made).
    pub fn is_borrowed(&self) -> bool {
        matches!(self.bytes, Cow::Borrowed(_))
    }

    /// Element `i`.
    ///
    /// # Panics
    /// If `i >= len()`.
    #[inline]
    pub fn element(&self, i: usize) -> ElementRef<'_> {
        let s = self.layout.size();
        ElementRef {
            bytes: &self.bytes[i * s..(i + 1) * s],
            layout: self.layout,
        }
    }

    /// Time channel `ch` of element `i`.
    ///
    /// # Panics
    /// If `i >= len()` or `ch` is not a time channel.
    #[inline]
    pub fn time(&self, i: usize, ch: usize) -> Value {
        self.element(i).time(ch)
    }

    /// Value channel `ch` of element `i`.
    ///
    /// # Panics
    /// If `i >= len()` or `ch` is not a value channel.
    #[inline]
    pub fn value(&self, i: usize, ch: usize) -> Value {
        self.element(i).value(ch)
    }

    /// The elements in order.
    #[inline]
    pub fn iter(&self) -> impl ExactSizeIterator<Item = ElementRef<'_>> + '_ {
        Elements {
            rest: &self.bytes,
            left: self.len,
            size: self.layout.size(),
            layout: self.layout,
        }
    }

    /// The elements whose time channel 0 lies in `from..=to` (both inclusive), found by binary
    /// search; a sub-view, no copy. A layout without time channels returns every element.
    ///
    /// `from` and `to` are in the signal's time unit ([`crate::SignalInfo::time_unit`]): for
    /// the default [`crate::TimeUnit::Date`] they are `YYYYMMDD` integers such as `20110101`;
    /// [`crate::TimeUnit::parse`] turns `2011-01-01` into that form.
    ///
    /// # Examples
    /// ```
    /// use inframed::{Pid, Repository};
    /// let repo = Repository::open("testdata/inframed/small/repo/small.repository")?;
    /// let hgb = repo.signal(Pid(1025), "Hemoglobin")?;
    /// let window = hgb.range(20110101, 20131231); // 2011-01-01 ..= 2013-12-31
    /// let dates: Vec<i64> = window.iter().map(|e| e.time(0).as_i64()).collect();
    /// assert_eq!(dates, [20110714, 20121223, 20130624]);
    /// # Ok::<_, inframed::Error>(())
    /// ```
    pub fn range(&self, from: i64, to: i64) -> Signal<'_> {
        let (lo, hi) = self.range_bounds(from, to);
        let s = self.layout.size();
        Signal {
            bytes: Cow::Borrowed(&self.bytes[lo * s..hi * s]),
            layout: self.layout,
            len: hi - lo,
            pid: self.pid,
            sid: self.sid,
        }
    }

    /// Element indices `lo..hi` of [`Signal::range`].
    pub fn range_bounds(&self, from: i64, to: i64) -> (usize, usize) {
        let Some(&ch) = self.layout.time_channels().first() else {
            return (0, self.len());
        };
        let s = self.layout.size();
        let n = self.len();
        if ch.ty == crate::layout::ChannelType::I32 {
            // The common case (dates as YYYYMMDD): compare plain i32 loads, no Value dispatch;
            // for the common element sizes over fixed-size element arrays (std's branchless
            // binary search, no per-byte bounds checks), the upper bound searched after `lo`.
            let off = ch.offset;
            match s {
                8 => return i32_bounds::<8>(&self.bytes, off, from, to),
                12 => return i32_bounds::<12>(&self.bytes, off, from, to),
                16 => return i32_bounds::<16>(&self.bytes, off, from, to),
                4 => return i32_bounds::<4>(&self.bytes, off, from, to),
                _ => {}
            }
            let key = |i: usize| {
                let at = i * s + ch.offset;
                i32::from_le_bytes([
                    self.bytes[at],
                    self.bytes[at + 1],
                    self.bytes[at + 2],
                    self.bytes[at + 3],
                ]) as i64
            };
            let lo = partition_point(n, |i| key(i) < from);
            let hi = partition_point(n, |i| key(i) <= to);
            return (lo, hi.max(lo));
        }
        let key = |i: usize| ch.ty.read(&self.bytes[i * s + ch.offset..]);
        let lo = partition_point(n, |i| key(i).cmp_num(Value::Int(from)).is_lt());
        let hi = partition_point(n, |i| key(i).cmp_num(Value::Int(to)).is_le());
        (lo, hi.max(lo))
    }

    /// The elements as a typed slice: borrowed when aligned, copied otherwise.
    ///
    /// # Errors
    /// [`Error::WrongType`] if `T` does not match the layout.
    pub fn as_slice<T: Element>(&self) -> Result<Cow<'_, [T]>> {
        if self.layout.spec() != T::SPEC {
            return Err(Error::WrongType {
                sid: self.sid,
                stored: Box::new(self.layout.clone()),
                requested: T::SPEC,
            });
        }
        cast::elements(Cow::Borrowed(&self.bytes[..]), self.pid, self.sid)
    }
}

/// The error of [`Signal::new`] for bytes that are not whole elements: out of line, so that
/// the constructor itself inlines into the by-name lookup.
#[cold]
#[inline(never)]
fn partial_elements(len: usize, size: usize) -> Error {
    Error::corrupt(
        "<memory>",
        0,
        DecodeError::Size {
            size: len as u64,
            header: 0,
            element: size as u64,
        },
    )
}

/// `(len / size, len % size)`: by shifts or a constant divisor for the element sizes of the
/// common layouts (4, 8, 12, 16 bytes), a division otherwise (`size` ≥ 1: a layout has a
/// channel).
#[inline(always)]
fn div_rem(len: usize, size: usize) -> (usize, usize) {
    match size {
        8 => (len / 8, len % 8),
        4 => (len / 4, len % 4),
        16 => (len / 16, len % 16),
        12 => (len / 12, len % 12),
        _ => (len / size.max(1), len % size.max(1)),
    }
}

/// [`Signal::iter`]: the elements front to back, counted down from the signal's length (no
/// division per iterator, unlike `chunks_exact`).
struct Elements<'a> {
    rest: &'a [u8],
    left: usize,
    size: usize,
    layout: &'a Layout,
}

impl<'a> Iterator for Elements<'a> {
    type Item = ElementRef<'a>;

    #[inline]
    fn next(&mut self) -> Option<ElementRef<'a>> {
        // `rest` holds exactly `left` elements (whole elements, checked by `Signal::new`), so
        // its length is the one test per element; `left` only answers `size_hint`.
        let (bytes, rest) = self.rest.split_at_checked(self.size)?;
        self.rest = rest;
        self.left = self.left.saturating_sub(1);
        Some(ElementRef {
            bytes,
            layout: self.layout,
        })
    }

    #[inline]
    fn size_hint(&self) -> (usize, Option<usize>) {
        (self.left, Some(self.left))
    }
}

impl ExactSizeIterator for Elements<'_> {}

/// [`Signal::range_bounds`] for an `i32` time channel at byte `off` of `S`-byte elements.
fn i32_bounds<const S: usize>(bytes: &[u8], off: usize, from: i64, to: i64) -> (usize, usize) {
    let whole = bytes.len() / S * S;
    let elements: &[[u8; S]] = bytemuck::cast_slice(&bytes[..whole]);
    let key = |e: &[u8; S]| {
        let k: [u8; 4] = e[off..off + 4].try_into().expect("4 bytes");
        i32::from_le_bytes(k) as i64
    };
    let lo = elements.partition_point(|e| key(e) < from);
    let hi = lo + elements[lo..].partition_point(|e| key(e) <= to);
    (lo, hi)
}

fn partition_point(n: usize, pred: impl Fn(usize) -> bool) -> usize {
    let (mut lo, mut hi) = (0, n);
    while lo < hi {
        let mid = lo + (hi - lo) / 2;
        if pred(mid) {
            lo = mid + 1;
        } else {
            hi = mid;
        }
    }
    lo
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::element::{DateInt, DateVal};

    /// The fixed-size fast paths (4, 8, 12, 16 bytes) and the generic ones agree with a plain
    /// filter, on sorted vectors with ties, empty vectors and windows outside the data.
    #[test]
    fn range_bounds_match_a_filter_for_every_element_size() {
        let mut state = 0x2545_f491_4f6c_dd1du64;
        let mut next = |m: u64| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state % m
        };
        for spec in [
            "T(i)",
            "T(i),V(f)",
            "T(i),V(i,f)",
            "T(i,i),V(i,i)",
            "T(i),V(s)",
            "T(l),V(f)",
        ] {
            let layout = Layout::parse(spec).unwrap();
            let ch = layout.time_channels()[0];
            for _ in 0..300 {
                let n = next(40) as usize;
                let mut times: Vec<i64> = (0..n).map(|_| next(30) as i64 - 5).collect();
                times.sort_unstable();
                let mut bytes = vec![0u8; n * layout.size()];
                for (i, t) in times.iter().enumerate() {
                    let at = i * layout.size() + ch.offset;
                    match ch.ty {
                        crate::layout::ChannelType::I64 => {
                            bytes[at..at + 8].copy_from_slice(&t.to_le_bytes())
                        }
                        _ => bytes[at..at + 4].copy_from_slice(&(*t as i32).to_le_bytes()),
                    }
                }
                let sig = Signal::new(Cow::Borrowed(&bytes[..]), &layout, Pid(1), Sid(1)).unwrap();
                let (from, to) = (next(40) as i64 - 10, next(40) as i64 - 10);
                let expect_lo = times.iter().filter(|&&t| t < from).count();
                let expect_n = times.iter().filter(|&&t| from <= t && t <= to).count();
                let (lo, hi) = sig.range_bounds(from, to);
                assert_eq!(
                    (lo, hi - lo),
                    (expect_lo, expect_n),
                    "{spec} {times:?} {from}..={to}"
                );
                assert_eq!(sig.range(from, to).len(), expect_n);
            }
        }
    }

    #[test]
    fn channels_range_and_typed_views() {
        let layout = Layout::parse("T(i),V(f)").unwrap();
        let mut bytes = vec![0u8; 3]; // force misalignment
        for (d, v) in [(20070327, 13.5f32), (20071017, 10.9), (20140728, 13.8)] {
            bytes.extend_from_slice(&i32::to_le_bytes(d));
            bytes.extend_from_slice(&f32::to_le_bytes(v));
        }
        let s = Signal::new(Cow::Borrowed(&bytes[3..]), &layout, Pid(1), Sid(1000)).unwrap();
        assert_eq!(s.len(), 3);
        assert_eq!(s.time(1, 0), Value::Int(20071017));
        assert_eq!(s.value(2, 0), Value::F32(13.8));
        assert_eq!(s.range(20070400, 20141231).len(), 2);
        assert_eq!(s.range(20070327, 20070327).len(), 1);
        assert_eq!(s.range(20150101, 20160101).len(), 0);
        assert_eq!(s.range(20160101, 20150101).len(), 0);
        let typed = s.as_slice::<DateVal>().unwrap();
        assert_eq!(
            typed[2],
            DateVal {
                date: 20140728,
                val: 13.8
            }
        );
        assert!(matches!(
            s.as_slice::<DateInt>(),
            Err(Error::WrongType { .. })
        ));
        assert_eq!(
            s.iter().map(|e| e.time(0).as_i64()).collect::<Vec<_>>(),
            [20070327, 20071017, 20140728]
        );
        assert!(Signal::new(Cow::Borrowed(&bytes[..5]), &layout, Pid(1), Sid(1)).is_err());
    }
}
