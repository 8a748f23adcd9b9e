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
    let (values, nulls) = mapped(segs, size, off, ty, n, f);
    primitive::<T>(values, nulls)
}

/// The values and nulls of [`converted`]: the null buffer is built only once a `None` shows.
fn mapped<N: Default>(
    segs: &[&[u8]],
    size: usize,
    off: usize,
    ty: ChannelType,
    n: usize,
    f: impl Fn(i64) -> Option<N>,
) -> (Vec<N>, Option<NullBuffer>) {
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
                    out.push(N::default());
                }
            }
        }
    }
    (out, valid.map(NullBuffer::from))
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
            let (keys, nulls) = mapped(segs, size, off, ty, n, |code| c.key(code));
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
    // Arithmetic and a table, not chrono: this runs once per element of every date column
    // (a profile of a whole-signal Arrow export put 40 % of its time in chrono's date
    // construction).
    if !(0..=99_991_231).contains(&yyyymmdd) {
        return None;
    }
    let (y, m, d) = (yyyymmdd / 10000, (yyyymmdd / 100) % 100, yyyymmdd % 100);
    if !(1..=12).contains(&m) || d < 1 {
        return None;
    }
    let (first, len) = match MONTHS.get(((y - TABLE_FIRST_YEAR) * 12 + m - 1) as usize) {
        Some(&e) if y >= TABLE_FIRST_YEAR => e,
        _ => month_start(y, m),
    };
    (d <= i64::from(len)).then(|| first + d as i32 - 1)
}

/// The first year of [`MONTHS`].
const TABLE_FIRST_YEAR: i64 = 1800;

/// `(days from 1970-01-01 to the month's first day, days in the month)` for every month of
/// the years 1800-2199, computed at compile time by [`month_start`].
static MONTHS: [(i32, u8); 400 * 12] = {
    let mut t = [(0, 0); 400 * 12];
    let mut i = 0;
    while i < t.len() {
        t[i] = month_start(TABLE_FIRST_YEAR + (i / 12) as i64, (i % 12) as i64 + 1);
        i += 1;
    }
    t
};

/// Days from 1970-01-01 to the first day of month `m` (1-12) of year `y` (0-9999,
/// proleptic Gregorian), and the month's length.
const fn month_start(y: i64, m: i64) -> (i32, u8) {
    let leap = y % 4 == 0 && (y % 100 != 0 || y % 400 == 0);
    const DAYS: [u8; 12] = [31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31];
    let len = DAYS[m as usize - 1] + (m == 2 && leap) as u8;
    // Days from civil, years counted from March so that the leap day ends a year; one
    // 400-year era added keeps `y` positive for year 0.
    let y = if m <= 2 { y - 1 } else { y } + 400;
    let (era, yoe) = (y / 400, y % 400);
    let doy = (153 * ((m + 9) % 12) + 2) / 5;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    ((era * 146_097 + doe - 719_468 - 146_097) as i32, len)
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

    /// The arithmetic conversion against chrono, for every real date of years 0-9999 and
    /// the invalid ones around each month's end.
    #[test]
    fn date_to_days_equals_chrono_over_the_whole_range() {
        let epoch = NaiveDate::from_ymd_opt(1970, 1, 1).unwrap();
        let mut d = NaiveDate::from_ymd_opt(0, 1, 1).unwrap();
        let last = NaiveDate::from_ymd_opt(9999, 12, 31).unwrap();
        loop {
            use chrono::Datelike;
            let ymd = d.year() as i64 * 10000 + d.month() as i64 * 100 + d.day() as i64;
            let want = i32::try_from((d - epoch).num_days()).unwrap();
            assert_eq!(date_to_days(ymd), Some(want), "{ymd}");
            if d == last {
                break;
            }
            d = d.succ_opt().unwrap();
        }
        for y in [0i64, 1, 1900, 1999, 2000, 2023, 2024, 2100, 9999] {
            for (m, day) in [(0, 1), (13, 1), (1, 0), (1, 32), (4, 31), (6, 31), (2, 30)] {
                assert_eq!(
                    date_to_days(y * 10000 + m * 100 + day),
                    None,
                    "{y} {m} {day}"
                );
            }
            let leap = NaiveDate::from_ymd_opt(y as i32, 2, 29).is_some();
            assert_eq!(date_to_days(y * 10000 + 229).is_some(), leap, "{y}0229");
        }
        assert_eq!(date_to_days(-1), None);
        assert_eq!(date_to_days(100_000_101), None);
    }
}
