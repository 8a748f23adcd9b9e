//! A whole signal as columns (`pid`, then one typed column per channel): what `get_sig`
//! hands to pandas (`to_arrow` streams the library's Arrow views instead).

use inframed::layout::ChannelType;
use inframed::{Pid, Repository, SignalStore};

use crate::arrays::SigType;

/// One channel's values, typed.
pub enum Column {
    /// `c`
    I8(Vec<i8>),
    /// `s`
    I16(Vec<i16>),
    /// `i`
    I32(Vec<i32>),
    /// `l`
    I64(Vec<i64>),
    /// `uc`
    U8(Vec<u8>),
    /// `us`
    U16(Vec<u16>),
    /// `ui`
    U32(Vec<u32>),
    /// `ul`
    U64(Vec<u64>),
    /// `f`
    F32(Vec<f32>),
    /// `d`
    F64(Vec<f64>),
}

macro_rules! extend {
    ($v:expr, $t:ty, $bytes:expr, $size:expr, $off:expr) => {{
        const N: usize = std::mem::size_of::<$t>();
        $v.extend($bytes.chunks_exact($size).map(|e| {
            let mut a = [0u8; N];
            a.copy_from_slice(&e[$off..$off + N]);
            <$t>::from_le_bytes(a)
        }))
    }};
}

impl Column {
    fn new(ty: ChannelType) -> Column {
        match ty {
            ChannelType::I8 => Column::I8(Vec::new()),
            ChannelType::I16 => Column::I16(Vec::new()),
            ChannelType::I32 => Column::I32(Vec::new()),
            ChannelType::I64 => Column::I64(Vec::new()),
            ChannelType::U8 => Column::U8(Vec::new()),
            ChannelType::U16 => Column::U16(Vec::new()),
            ChannelType::U32 => Column::U32(Vec::new()),
            ChannelType::U64 => Column::U64(Vec::new()),
            ChannelType::F32 => Column::F32(Vec::new()),
            ChannelType::F64 => Column::F64(Vec::new()),
        }
    }

    /// Appends the channel at byte `off` of every `size`-byte element of `bytes`.
    fn extend(&mut self, bytes: &[u8], size: usize, off: usize) {
        match self {
            Column::I8(v) => extend!(v, i8, bytes, size, off),
            Column::I16(v) => extend!(v, i16, bytes, size, off),
            Column::I32(v) => extend!(v, i32, bytes, size, off),
            Column::I64(v) => extend!(v, i64, bytes, size, off),
            Column::U8(v) => extend!(v, u8, bytes, size, off),
            Column::U16(v) => extend!(v, u16, bytes, size, off),
            Column::U32(v) => extend!(v, u32, bytes, size, off),
            Column::U64(v) => extend!(v, u64, bytes, size, off),
            Column::F32(v) => extend!(v, f32, bytes, size, off),
            Column::F64(v) => extend!(v, f64, bytes, size, off),
        }
    }

    /// The values as i64 (for dictionary codes).
    pub fn codes(&self) -> Vec<i64> {
        match self {
            Column::I8(v) => v.iter().map(|&x| x as i64).collect(),
            Column::I16(v) => v.iter().map(|&x| x as i64).collect(),
            Column::I32(v) => v.iter().map(|&x| x as i64).collect(),
            Column::I64(v) => v.clone(),
            Column::U8(v) => v.iter().map(|&x| x as i64).collect(),
            Column::U16(v) => v.iter().map(|&x| x as i64).collect(),
            Column::U32(v) => v.iter().map(|&x| x as i64).collect(),
            Column::U64(v) => v.iter().map(|&x| x as i64).collect(),
            Column::F32(v) => v.iter().map(|&x| x as i64).collect(),
            Column::F64(v) => v.iter().map(|&x| x as i64).collect(),
        }
    }
}

/// A signal's rows: pid column and channel columns (in [`SigType::fields`] order).
pub struct Table {
    /// One pid per row (int32, as medpython's `pid` column).
    pub pids: Vec<i32>,
    /// One column per channel.
    pub columns: Vec<Column>,
}

impl Table {
    fn new(st: &SigType) -> Table {
        Table {
            pids: Vec::new(),
            columns: st.types.iter().map(|t| Column::new(*t)).collect(),
        }
    }

    fn push(&mut self, st: &SigType, pid: Pid, bytes: &[u8]) {
        let n = bytes.len() / st.itemsize;
        self.pids.extend(std::iter::repeat(pid.0 as i32).take(n));
        for (c, &off) in self.columns.iter_mut().zip(&st.offsets) {
            c.extend(bytes, st.itemsize, off);
        }
    }

    /// Every row of the signal, pids ascending (a whole-signal scan), or the rows of `pids`
    /// in the order given.
    pub fn collect(
        repo: &Repository,
        st: &SigType,
        pids: Option<&[u32]>,
    ) -> inframed::Result<Table> {
        let mut t = Table::new(st);
        match pids {
            None => repo.scan(st.sid, &mut |pid, bytes| t.push(st, pid, bytes))?,
            Some(pids) => {
                for &p in pids {
                    let bytes = repo.get_bytes(Pid(p), st.sid)?;
                    t.push(st, Pid(p), &bytes);
                }
            }
        }
        Ok(t)
    }
}
