//! The Arrow schema of a signal: which column each channel becomes.

use std::collections::HashMap;
use std::sync::Arc;

use arrow_array::types::{Int16Type, Int32Type};
use arrow_array::{ArrayRef, DictionaryArray, Int16Array, Int32Array, StringArray};
use arrow_buffer::{NullBuffer, ScalarBuffer};
use arrow_schema::ArrowError;
use arrow_schema::{DataType, Field, Schema, SchemaRef, TimeUnit as ArrowTimeUnit};

use crate::catalog::{Catalog, SignalInfo};
use crate::error::Result;
use crate::layout::{Channel, ChannelType};
use crate::time::TimeUnit;

use super::{ArrowNaming, ArrowOptions};

/// How one channel is turned into a column.
#[derive(Clone, Debug)]
pub(crate) enum ColumnKind {
    /// The stored number in the channel's own type.
    Plain,
    /// `YYYYMMDD` → `date32` (invalid dates null).
    Date,
    /// Days since 1900-01-01 → `date32`.
    Days,
    /// Minutes or hours since 1900-01-01 → `timestamp[us]`; the factor is µs per unit.
    Timestamp(i64),
    /// A categorical code → its dictionary name.
    Category(Arc<Categories>),
}

/// The dictionary of one categorical signal as Arrow dictionary values: every defined code
/// once, ascending, with its name.
#[derive(Debug)]
pub(crate) struct Categories {
    /// The names, in key order.
    pub(crate) values: ArrayRef,
    /// code → key, looked up once per element.
    keys: CodeKeys,
}

/// code → dictionary key: a table indexed by `code - min` where the codes are dense enough
/// (the usual dictionary), a hash map otherwise. A SipHash map probe per element was the
/// largest cost of a categorical column (benches/arrow.rs).
#[derive(Debug)]
enum CodeKeys {
    /// `table[code - min]`, -1 where the code has no name, and one more -1 at the end: the
    /// entry every code outside `min..min + span` reads ([`Categories::keys_in_place`]).
    Dense {
        min: i64,
        table: KeyTable,
    },
    Sparse(hashbrown::HashMap<i64, i32>),
}

/// The entries of a dense table: `i16` while every key fits (dictionaries of fewer than
/// 32,768 names, i.e. nearly all: half the cache lines, 966 → 998 MiB/s for the synthetic
/// DIAGNOSIS's 10,004 entries), `i32` otherwise.
#[derive(Debug)]
enum KeyTable {
    Narrow(Vec<i16>),
    Wide(Vec<i32>),
}

impl KeyTable {
    fn new(span: usize, pairs: &[(i64, i32)], min: i64, keys: usize) -> KeyTable {
        fn fill<T: Copy>(
            span: usize,
            pairs: &[(i64, i32)],
            min: i64,
            none: T,
            key: impl Fn(i32) -> T,
        ) -> Vec<T> {
            let mut table = vec![none; span + 1];
            for &(code, k) in pairs {
                table[(code - min) as usize] = key(k);
            }
            table
        }
        if keys <= i16::MAX as usize {
            KeyTable::Narrow(fill(span, pairs, min, -1i16, |k| k as i16))
        } else {
            KeyTable::Wide(fill(span, pairs, min, -1i32, |k| k))
        }
    }

    /// The entry at `i`, `None` past the end.
    #[inline]
    fn get(&self, i: usize) -> Option<i32> {
        match self {
            KeyTable::Narrow(t) => t.get(i).map(|&k| i32::from(k)),
            KeyTable::Wide(t) => t.get(i).copied(),
        }
    }
}

/// [`Categories::keys_in_place`] over one table type. Branch-free: a code outside the table
/// reads the sentinel -1 at its end (a `min` instead of a bounds test per element).
fn keys_by_table<T: Copy + Into<i32>>(table: &[T], min: i64, codes: &mut [i32]) -> bool {
    let last = table.len() - 1;
    let mut all = true;
    for c in codes.iter_mut() {
        let i = (i64::from(*c).wrapping_sub(min) as u64).min(last as u64) as usize;
        let k: i32 = table[i].into();
        all &= k >= 0;
        *c = k & !(k >> 31);
    }
    all
}

impl Categories {
    pub(crate) fn of(catalog: &Catalog, info: &SignalInfo) -> Result<Categories> {
        let mut names = Vec::new();
        let mut pairs = Vec::new();
        if let Some(section) = catalog.section_of(&info.name)? {
            for code in section.codes() {
                if let Some(name) = section.name(code) {
                    pairs.push((code as i64, names.len() as i32));
                    names.push(name.to_string());
                }
            }
        }
        let (min, max) = pairs
            .iter()
            .fold((i64::MAX, i64::MIN), |(a, b), &(c, _)| (a.min(c), b.max(c)));
        // Dense when the table costs at most ~4 entries per code (or 1 Mi entries in all).
        let span = max.saturating_sub(min).saturating_add(1);
        let keys = if !pairs.is_empty() && (span <= 1 << 20 || span <= 4 * pairs.len() as i64) {
            let table = KeyTable::new(span as usize, &pairs, min, names.len());
            CodeKeys::Dense { min, table }
        } else {
            CodeKeys::Sparse(pairs.into_iter().collect())
        };
        Ok(Categories {
            values: Arc::new(StringArray::from(names)),
            keys,
        })
    }

    /// Maps `codes` to keys in place with the dense table (0 where a code has no name);
    /// returns whether every code had one, or `None` (nothing changed) for a sparse map.
    pub(crate) fn keys_in_place(&self, codes: &mut [i32]) -> Option<bool> {
        let CodeKeys::Dense { min, table } = &self.keys else {
            return None;
        };
        Some(match table {
            KeyTable::Narrow(t) => keys_by_table(t, *min, codes),
            KeyTable::Wide(t) => keys_by_table(t, *min, codes),
        })
    }

    /// Whether the dictionary's keys are `i16` (fewer than 32,768 names, i.e. nearly every
    /// dictionary: half the bytes of `i32` keys to write and to check) rather than `i32`.
    pub(crate) fn narrow(&self) -> bool {
        self.values.len() <= i16::MAX as usize
    }

    /// The Arrow type of the dictionary column: `dictionary<int16|int32, utf8>`.
    pub(crate) fn data_type(&self) -> DataType {
        let key = if self.narrow() {
            DataType::Int16
        } else {
            DataType::Int32
        };
        DataType::Dictionary(Box::new(key), Box::new(DataType::Utf8))
    }

    /// The dense `i16` table and its first code, when the dictionary has one.
    pub(crate) fn narrow_table(&self) -> Option<(i64, &[i16])> {
        match &self.keys {
            CodeKeys::Dense {
                min,
                table: KeyTable::Narrow(t),
            } => Some((*min, t)),
            _ => None,
        }
    }

    /// The dictionary column of `i16` keys (entries of [`Categories::narrow_table`]: -1 for
    /// a code without a name). The nulls are the negative entries, which become key 0.
    pub(crate) fn column_of_narrow(&self, mut keys: Vec<i16>) -> Result<ArrayRef, ArrowError> {
        // A reduction without early exit: vectorized, unlike a search for the first -1.
        let all = keys.iter().fold(true, |a, &k| a & (k >= 0));
        let nulls = (!all).then(|| {
            let nulls = NullBuffer::from_iter(keys.iter().map(|&k| k >= 0));
            for k in &mut keys {
                *k &= !(*k >> 15);
            }
            nulls
        });
        let keys = Int16Array::new(ScalarBuffer::from(keys), nulls);
        Ok(Arc::new(DictionaryArray::<Int16Type>::try_new(
            keys,
            self.values.clone(),
        )?))
    }

    /// The dictionary column of `keys` (from [`Categories::keys_in_place`] or
    /// [`Categories::key`], 0 under a null), in the key type of [`Categories::data_type`].
    pub(crate) fn column(
        &self,
        keys: Vec<i32>,
        nulls: Option<NullBuffer>,
    ) -> Result<ArrayRef, ArrowError> {
        if self.narrow() {
            // Every key is below the number of names, which fits i16.
            let keys: Vec<i16> = keys.into_iter().map(|k| k as i16).collect();
            let keys = Int16Array::new(ScalarBuffer::from(keys), nulls);
            return Ok(Arc::new(DictionaryArray::<Int16Type>::try_new(
                keys,
                self.values.clone(),
            )?));
        }
        let keys = Int32Array::new(ScalarBuffer::from(keys), nulls);
        Ok(Arc::new(DictionaryArray::<Int32Type>::try_new(
            keys,
            self.values.clone(),
        )?))
    }

    /// The dictionary key of `code`, `None` if the code has no name.
    #[inline]
    pub(crate) fn key(&self, code: i64) -> Option<i32> {
        match &self.keys {
            CodeKeys::Dense { min, table } => {
                let k = table.get(usize::try_from(code.wrapping_sub(*min)).ok()?)?;
                (k >= 0).then_some(k)
            }
            CodeKeys::Sparse(map) => map.get(&code).copied(),
        }
    }
}

/// One output column.
#[derive(Clone, Debug)]
pub(crate) struct ColumnSpec {
    pub(crate) channel: Channel,
    pub(crate) kind: ColumnKind,
}

/// The columns of a signal after `pid`, in schema order.
///
/// # Errors
/// An invalid dictionary, for a signal with a categorical channel ([`Catalog::dictionaries`]).
pub(crate) fn column_specs(
    catalog: &Catalog,
    info: &SignalInfo,
    options: &ArrowOptions,
) -> Result<(Vec<ColumnSpec>, Vec<Field>)> {
    let mut specs = Vec::new();
    let mut fields = Vec::new();
    if options.naming == ArrowNaming::Medpython {
        let layout = &info.layout;
        let chans = layout.time_channels().iter().chain(layout.value_channels());
        for (name, ch) in medpython_names(info).into_iter().zip(chans) {
            push(
                &mut specs,
                &mut fields,
                &name,
                *ch,
                ColumnKind::Plain,
                false,
            );
        }
        return Ok((specs, fields));
    }
    for (i, ch) in info.layout.time_channels().iter().enumerate() {
        let kind = time_kind(info.time_unit, ch.ty);
        let name = format!("time{i}");
        push(&mut specs, &mut fields, &name, *ch, kind, options.raw);
    }
    let mut categories: Option<Arc<Categories>> = None;
    for (i, ch) in info.layout.value_channels().iter().enumerate() {
        let kind = if info.is_categorical(i) && !ch.ty.is_float() {
            let c = match &categories {
                Some(c) => c.clone(),
                None => categories
                    .insert(Arc::new(Categories::of(catalog, info)?))
                    .clone(),
            };
            ColumnKind::Category(c)
        } else {
            ColumnKind::Plain
        };
        let name = format!("value{i}");
        push(&mut specs, &mut fields, &name, *ch, kind, options.raw);
    }
    Ok((specs, fields))
}

/// medpython's column names of a signal (`get_sig`, `uget` fields): `time0…`, `val0…` for
/// generic signals; for legacy type numbers 1 and 3 the names medpython 1.2.1 shows (`date`,
/// `val`; `date_start`, `date_end`, `val`). Other legacy numbers keep the generic names
/// (their medpython names are not established by a fixture). Time channels first.
///
/// # Examples
/// ```
/// use inframed::{Repository, SignalStore};
/// let repo = Repository::open("testdata/inframed/small/repo/small.repository")?;
/// let info = repo.catalog().signal("Hemoglobin")?;
/// assert_eq!(inframed::arrow::medpython_names(info), ["time0", "val0"]);
/// # Ok::<_, inframed::Error>(())
/// ```
pub fn medpython_names(info: &SignalInfo) -> Vec<String> {
    let n_time = info.layout.time_channels().len();
    let n_val = info.layout.value_channels().len();
    let legacy: Option<&[&str]> = match info.type_text.trim() {
        "1" => Some(&["date", "val"]),
        "3" => Some(&["date_start", "date_end", "val"]),
        _ => None,
    };
    if let Some(names) = legacy {
        if names.len() == n_time + n_val {
            return names.iter().map(|s| s.to_string()).collect();
        }
    }
    (0..n_time)
        .map(|i| format!("time{i}"))
        .chain((0..n_val).map(|i| format!("val{i}")))
        .collect()
}

fn push(
    specs: &mut Vec<ColumnSpec>,
    fields: &mut Vec<Field>,
    name: &str,
    channel: Channel,
    kind: ColumnKind,
    raw: bool,
) {
    let converted = !matches!(kind, ColumnKind::Plain);
    fields.push(Field::new(name, data_type(&kind, channel.ty), converted));
    specs.push(ColumnSpec { channel, kind });
    if raw && converted {
        fields.push(Field::new(
            format!("{name}_raw"),
            plain_type(channel.ty),
            false,
        ));
        specs.push(ColumnSpec {
            channel,
            kind: ColumnKind::Plain,
        });
    }
}

fn time_kind(unit: TimeUnit, ty: ChannelType) -> ColumnKind {
    if ty.is_float() {
        return ColumnKind::Plain;
    }
    match unit {
        TimeUnit::Date => ColumnKind::Date,
        TimeUnit::Days => ColumnKind::Days,
        TimeUnit::Minutes => ColumnKind::Timestamp(60_000_000),
        TimeUnit::Hours => ColumnKind::Timestamp(3_600_000_000),
        _ => ColumnKind::Plain,
    }
}

pub(crate) fn data_type(kind: &ColumnKind, ty: ChannelType) -> DataType {
    match kind {
        ColumnKind::Plain => plain_type(ty),
        ColumnKind::Date | ColumnKind::Days => DataType::Date32,
        ColumnKind::Timestamp(_) => DataType::Timestamp(ArrowTimeUnit::Microsecond, None),
        ColumnKind::Category(c) => c.data_type(),
    }
}

/// The Arrow type of a channel's stored numbers.
pub(crate) fn plain_type(ty: ChannelType) -> DataType {
    match ty {
        ChannelType::I8 => DataType::Int8,
        ChannelType::I16 => DataType::Int16,
        ChannelType::I32 => DataType::Int32,
        ChannelType::I64 => DataType::Int64,
        ChannelType::U8 => DataType::UInt8,
        ChannelType::U16 => DataType::UInt16,
        ChannelType::U32 => DataType::UInt32,
        ChannelType::U64 => DataType::UInt64,
        ChannelType::F32 => DataType::Float32,
        ChannelType::F64 => DataType::Float64,
    }
}

/// The schema of a signal's Arrow view: `pid`, then the channel columns (see the module
/// docs). The schema metadata carries `inframed.signal`, `inframed.layout` and
/// `inframed.time_unit`.
///
/// # Errors
/// An invalid dictionary, for a signal with a categorical channel (its names are the
/// categories: [`Catalog::dictionaries`]).
pub fn signal_schema(
    catalog: &Catalog,
    info: &SignalInfo,
    options: &ArrowOptions,
) -> Result<SchemaRef> {
    let (_, fields) = column_specs(catalog, info, options)?;
    Ok(schema_of(info, fields))
}

pub(crate) fn schema_of(info: &SignalInfo, fields: Vec<Field>) -> SchemaRef {
    let mut all = Vec::with_capacity(fields.len() + 1);
    all.push(Field::new("pid", DataType::Int32, false));
    all.extend(fields);
    let metadata = HashMap::from([
        ("inframed.signal".to_string(), info.name.clone()),
        (
            "inframed.layout".to_string(),
            info.layout.spec().to_string(),
        ),
        (
            "inframed.time_unit".to_string(),
            info.time_unit.code().to_string(),
        ),
    ]);
    Arc::new(Schema::new_with_metadata(all, metadata))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn categories(pairs: &[(i64, i32)], names: usize) -> Categories {
        let min = pairs.iter().map(|p| p.0).min().unwrap();
        let span = pairs.iter().map(|p| p.0).max().unwrap() - min + 1;
        Categories {
            values: Arc::new(StringArray::from(vec!["x"; names])),
            keys: CodeKeys::Dense {
                min,
                table: KeyTable::new(span as usize, pairs, min, names),
            },
        }
    }

    /// The branch-free in-place lookup gives what `key` gives for every code, in both table
    /// widths: codes below, inside (gaps included), at the ends and past the table.
    #[test]
    fn keys_in_place_equals_key_per_code() {
        let pairs = [(10_000, 0), (10_002, 1), (10_003, 2), (20_002, 3)];
        for names in [4, 40_000] {
            let c = categories(&pairs, names);
            assert!(matches!(
                (&c.keys, names),
                (
                    CodeKeys::Dense {
                        table: KeyTable::Narrow(_),
                        ..
                    },
                    4
                ) | (
                    CodeKeys::Dense {
                        table: KeyTable::Wide(_),
                        ..
                    },
                    40_000
                )
            ));
            let codes = [
                i32::MIN,
                -1,
                0,
                9_999,
                10_000,
                10_001,
                10_002,
                10_003,
                15_000,
                20_002,
                20_003,
                i32::MAX,
            ];
            let mut keys = codes.to_vec();
            let all = c.keys_in_place(&mut keys).unwrap();
            assert!(!all);
            for (code, k) in codes.iter().zip(&keys) {
                assert_eq!(*k, c.key(i64::from(*code)).unwrap_or(0), "code {code}");
            }
            let mut defined = vec![10_000, 10_002, 10_003, 20_002];
            assert!(c.keys_in_place(&mut defined).unwrap());
            assert_eq!(defined, [0, 1, 2, 3]);
        }
    }
}
