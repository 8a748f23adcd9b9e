//! The one de-interleaving copy: packed element bytes → one Arrow buffer per column.

use std::sync::Arc;

use arrow_array::types::{
    Date32Type, Float32Type, Float64Type, Int16Type, Int32Type, Int64Type, Int8Type,
    TimestampMicrosecondType, UInt16Type, UInt32Type, UInt64Type, UInt8Type,
};
use arrow_array::{ArrayRef, ArrowPrimitiveType, DictionaryArray, PrimitiveArray};
use arrow_buffer::{NullBuffer, ScalarBuffer};
use chrono::NaiveDate;

use crate::layout::ChannelType;
use crate::time::TimeUnit;

use super::schema::{ColumnKind, ColumnSpec};

/// Days from 1900-01-01 to 1970-01-01.
const DAYS_1900_TO_1970: i64 = 25_567;

/// Reads channel `ty` at `off` of every element of `segs` as `N`.
#[inline]
fn gather<N: Copy>(
    segs: &[&[u8]],
    size: usize,
    off: usize,
    n: usize,
    read: impl Fn(&[u8]) -> N,
) -> Vec<N> {
    let mut out = Vec::with_capacity(n);
    for seg in segs {
        out.extend(seg.chunks_exact(size).map(|e| read(&e[off..])));
    }
    out
}

macro_rules! le {
    ($t:ty) => {
        |b: &[u8]| {
            let (head, _) = b
                .split_first_chunk::<{ size_of::<$t>() }>()
                .expect("channel inside element");
            <$t>::from_le_bytes(*head)
        }
    };
}

fn primitive<T: ArrowPrimitiveType>(values: Vec<T::Native>, nulls: Option<NullBuffer>) -> ArrayRef {
    Arc::new(PrimitiveArray::<T>::new(ScalarBuffer::from(values), nulls))
}

/// The stored numbers of one channel, as the channel's own Arrow type.
fn plain(segs: &[&[u8]], size: usize, off: usize, ty: ChannelType, n: usize) -> ArrayRef {
    match ty {
        ChannelType::I8 => primitive::<Int8Type>(gather(segs, size, off, n, le!(i8)), None),
        ChannelType::I16 => primitive::<Int16Type>(gather(segs, size, off, n, le!(i16)), None),
        ChannelType::I32 => primitive::<Int32Type>(gather(segs, size, off, n, le!(i32)), None),
        ChannelType::I64 => primitive::<Int64Type>(gather(segs, size, off, n, le!(i64)), None),
        ChannelType::U8 => primitive::<UInt8Type>(gather(segs, size, off, n, le!(u8)), None),
        ChannelType::U16 => primitive::<UInt16Type>(gather(segs, size, off, n, le!(u16)), None),
        ChannelType::U32 => primitive::<UInt32Type>(gather(segs, size, off, n, le!(u32)), None),
        ChannelType::U64 => primitive::<UInt64Type>(gather(segs, size, off, n, le!(u64)), None),
        ChannelType::F32 => primitive::<Float32Type>(gather(segs, size, off, n, le!(f32)), None),
        ChannelType::F64 => primitive::<Float64Type>(gather(segs, size, off, n, le!(f64)), None),
    }
}

/// Reads an integer channel as i64 (u64 saturating).
#[inline]
pub(crate) fn read_int(ty: ChannelType, bytes: &[u8]) -> i64 {
    ty.read(bytes).as_i64()
}

/// Applies `f` to every element's channel; `None` becomes null (value 0 underneath).
fn converted<T: ArrowPrimitiveType>(
    segs: &[&[u8]],
    size: usize,
    off: usize,
    ty: ChannelType,
    n: usize,
    f: impl Fn(i64) -> Option<T::Native>,
) -> ArrayRef {
    let mut valid: Option<Vec<bool>> = None;
    let mut out = Vec::with_capacity(n);
    for seg in segs {
        for e in seg.chunks_exact(size) {
            match f(read_int(ty, &e[off..])) {
                Some(x) => {
                    out.push(x);
                    if let Some(v) = &mut valid {
                        v.push(true);
                    }
                }
                None => {
                    let v = valid.get_or_insert_with(|| {
                        let mut v = Vec::with_capacity(n);
                        v.resize(out.len(), true);
                        v
                    });
                    v.push(false);
                    out.push(T::Native::default());
                }
            }
        }
    }
    primitive::<T>(out, valid.map(NullBuffer::from))
}

/// Builds one column of a batch from the elements `segs` (`n` elements in all).
pub(crate) fn column(spec: &ColumnSpec, segs: &[&[u8]], size: usize, n: usize) -> ArrayRef {
    let off = spec.channel.offset;
    let ty = spec.channel.ty;
    match &spec.kind {
        ColumnKind::Plain => plain(segs, size, off, ty, n),
        ColumnKind::Date => {
            // Consecutive elements often share a date: convert each run once.
            let last = std::cell::Cell::new((i64::MIN, None));
            converted::<Date32Type>(segs, size, off, ty, n, |d| {
                let (prev, days) = last.get();
                if prev == d {
                    return days;
                }
                let days = date_to_days(d);
                last.set((d, days));
                days
            })
        }
        ColumnKind::Days => converted::<Date32Type>(segs, size, off, ty, n, |d| {
            i32::try_from(d - DAYS_1900_TO_1970).ok()
        }),
        ColumnKind::Timestamp(us) => {
            let us = *us;
            converted::<TimestampMicrosecondType>(segs, size, off, ty, n, move |t| {
                t.checked_sub(DAYS_1900_TO_1970 * 86_400_000_000 / us)?
                    .checked_mul(us)
            })
        }
        ColumnKind::Category(c) => {
            let mut valid = Vec::with_capacity(n);
            let mut all = true;
            let keys = gather(segs, size, off, n, |b| read_int(ty, b));
            let keys: Vec<i32> = keys
                .into_iter()
                .map(|code| match c.keys.get(&code) {
                    Some(&k) => {
                        valid.push(true);
                        k
                    }
                    None => {
                        valid.push(false);
                        all = false;
                        0
                    }
                })
                .collect();
            let nulls = if all {
                None
            } else {
                Some(NullBuffer::from(valid))
            };
            let keys = PrimitiveArray::<Int32Type>::new(ScalarBuffer::from(keys), nulls);
            // Every key is an index into `values` (built from the same map).
            Arc::new(DictionaryArray::<Int32Type>::new(keys, c.values.clone()))
        }
    }
}

/// A `YYYYMMDD` integer as days since 1970-01-01 (`date32`); `None` if not a real date.
///
/// # Examples
/// ```
/// assert_eq!(inframed::arrow::date_to_days(19700102), Some(1));
/// assert_eq!(inframed::arrow::date_to_days(20230231), None);
/// ```
pub fn date_to_days(yyyymmdd: i64) -> Option<i32> {
    if !(0..=99_991_231).contains(&yyyymmdd) {
        return None;
    }
    let d = NaiveDate::from_ymd_opt(
        (yyyymmdd / 10000) as i32,
        ((yyyymmdd / 100) % 100) as u32,
        (yyyymmdd % 100) as u32,
    )?;
    let epoch = NaiveDate::from_ymd_opt(1970, 1, 1).expect("valid");
    i32::try_from((d - epoch).num_days()).ok()
}

/// Days since 1970-01-01 as a `YYYYMMDD` integer.
pub fn days_to_date(days: i64) -> Option<i64> {
    use chrono::Datelike;
    let epoch = NaiveDate::from_ymd_opt(1970, 1, 1).expect("valid");
    let d = epoch.checked_add_signed(chrono::TimeDelta::try_days(days)?)?;
    Some(d.year() as i64 * 10000 + d.month() as i64 * 100 + d.day() as i64)
}

/// A stored time in `unit` as microseconds since 1970-01-01 (what MEDS and the long layout
/// use): a date is its midnight. `None` for an invalid date and for units without a calendar
/// meaning (undefined, years and months are mapped to their first day).
pub fn time_to_micros(unit: TimeUnit, t: i64) -> Option<i64> {
    const DAY: i64 = 86_400_000_000;
    let days = match unit {
        TimeUnit::Date | TimeUnit::DateTimeString => date_to_days(t)? as i64,
        TimeUnit::Days => t - DAYS_1900_TO_1970,
        TimeUnit::Hours => return (t - DAYS_1900_TO_1970 * 24).checked_mul(3_600_000_000),
        TimeUnit::Minutes => return (t - DAYS_1900_TO_1970 * 1440).checked_mul(60_000_000),
        TimeUnit::Years => date_to_days((1900 + t) * 10000 + 101)? as i64,
        TimeUnit::Months => {
            let y = 1900 + t.div_euclid(12);
            let m = t.rem_euclid(12) + 1;
            date_to_days(y * 10000 + m * 100 + 1)? as i64
        }
        TimeUnit::Undefined => return None,
    };
    days.checked_mul(DAY)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_and_times() {
        assert_eq!(date_to_days(19700101), Some(0));
        assert_eq!(date_to_days(19691231), Some(-1));
        assert_eq!(date_to_days(0), None);
        assert_eq!(days_to_date(0), Some(19700101));
        assert_eq!(
            days_to_date(date_to_days(20240229).unwrap() as i64),
            Some(20240229)
        );
        // 1970-01-01 00:01 is 36 816 481 minutes after 1900-01-01.
        assert_eq!(
            time_to_micros(TimeUnit::Minutes, 25_567 * 1440 + 1),
            Some(60_000_000)
        );
        assert_eq!(
            time_to_micros(TimeUnit::Date, 19700102),
            Some(86_400_000_000)
        );
        assert_eq!(time_to_micros(TimeUnit::Months, 70 * 12), Some(0));
        assert_eq!(time_to_micros(TimeUnit::Years, 70), Some(0));
    }
}
