//! The checks made at open: every array against the header counts (dimension, element count,
//! dtype), the essential arrays present, offsets (first 0, non-decreasing, last
//! `NB_VERTICES`) and group indices (in range).

use super::{backend_error, Offsets, TrxFile};
use crate::backend::trx::dtype::{Dtype, Role};
use crate::backend::trx::TrxError;
use crate::error::Result;

impl TrxFile {
    /// Checks every array against the header counts, then offsets and groups.
    pub(super) fn finish(&mut self) -> Result<()> {
        let (nv, ns) = (self.header.nb_vertices, self.header.nb_streamlines);
        // Essential arrays first (positions, offsets), then dps, dpv, groups, dpg: the first
        // error reported is the most telling one, whatever the member order.
        let mut order: Vec<usize> = (0..self.arrays.len()).collect();
        order.sort_by(|&a, &b| self.arrays[a].name.role.cmp(&self.arrays[b].name.role));
        for i in order {
            let a = &self.arrays[i];
            let (dim, len, dtype) = (a.name.dim, a.len, a.name.dtype);
            let expect = |expected: Option<u64>, need_dim: Option<u64>| -> Option<TrxError> {
                if let Some(d) = need_dim {
                    if dim != d {
                        return Some(TrxError::Dim {
                            found: dim,
                            expected: d,
                        });
                    }
                }
                match expected {
                    Some(e) if e != len => Some(TrxError::Count {
                        found: len,
                        expected: e,
                    }),
                    _ => None,
                }
            };
            let problem = match &a.name.role {
                Role::Positions => expect(nv.checked_mul(3), Some(3)),
                Role::Offsets => {
                    if !dtype.is_integer() || dtype == Dtype::Bool {
                        Some(TrxError::WrongDtype {
                            dtype: dtype.name(),
                            want: "an integer type (uint32 or uint64)",
                        })
                    } else {
                        expect(ns.checked_add(1), Some(1))
                    }
                }
                Role::Dps => expect(ns.checked_mul(dim), None),
                Role::Dpv => expect(nv.checked_mul(dim), None),
                Role::Group => {
                    if !dtype.is_integer() || dtype == Dtype::Bool {
                        Some(TrxError::WrongDtype {
                            dtype: dtype.name(),
                            want: "an integer type (uint32)",
                        })
                    } else {
                        expect(None, Some(1))
                    }
                }
                Role::Dpg(g) => {
                    if !self.by_key.contains_key(&format!("groups/{g}")) {
                        Some(TrxError::UndeclaredGroup(g.clone()))
                    } else {
                        expect(Some(dim), None)
                    }
                }
            };
            if let Some(e) = problem {
                let (m, d) = (a.member.clone(), a.data_offset);
                return Err(self.member_error(&m, d, 0, e));
            }
            match a.name.role {
                Role::Positions => {
                    if !dtype.is_decodable() {
                        let (m, d) = (a.member.clone(), a.data_offset);
                        return Err(self.member_error(
                            &m,
                            d,
                            0,
                            TrxError::WrongDtype {
                                dtype: dtype.name(),
                                want: "a real number type",
                            },
                        ));
                    }
                    self.positions = Some(i)
                }
                Role::Offsets => self.offsets = Some(Offsets { array: i, dtype }),
                _ => {}
            }
        }
        let needs_arrays = ns > 0 || nv > 0;
        if needs_arrays && self.offsets.is_none() {
            return Err(backend_error(
                &self.path,
                "offsets".into(),
                TrxError::Missing("offsets"),
            ));
        }
        if nv > 0 && self.positions.is_none() {
            return Err(backend_error(
                &self.path,
                "positions".into(),
                TrxError::Missing("positions"),
            ));
        }
        self.check_offsets()?;
        self.check_groups()?;
        Ok(())
    }

    fn check_offsets(&self) -> Result<()> {
        let Some(o) = self.offsets else {
            return Ok(());
        };
        let a = &self.arrays[o.array];
        let bytes = self.bytes(a)?;
        let isz = o.dtype.itemsize() as u64;
        let err = |i: u64, e| self.member_error(&a.member, a.data_offset, i * isz, e);
        let mut prev: i128 = 0;
        for i in 0..a.len {
            let v = o.dtype.read_int(bytes, i as usize).unwrap_or(-1);
            if i == 0 && v != 0 {
                return Err(err(0, TrxError::FirstOffset(v)));
            }
            if v < prev {
                return Err(err(
                    i,
                    TrxError::OffsetsNotMonotone {
                        index: i,
                        prev,
                        next: v,
                    },
                ));
            }
            prev = v;
        }
        if a.len > 0 && prev != self.header.nb_vertices as i128 {
            return Err(err(
                a.len - 1,
                TrxError::LastOffset {
                    found: prev,
                    expected: self.header.nb_vertices,
                },
            ));
        }
        Ok(())
    }

    fn check_groups(&self) -> Result<()> {
        let ns = self.header.nb_streamlines as i128;
        for a in self.arrays.iter().filter(|a| a.name.role == Role::Group) {
            let bytes = self.bytes(a)?;
            let dtype = a.name.dtype;
            for i in 0..a.len {
                let v = dtype.read_int(bytes, i as usize).unwrap_or(-1);
                if v < 0 || v >= ns {
                    return Err(self.member_error(
                        &a.member,
                        a.data_offset,
                        i * dtype.itemsize() as u64,
                        TrxError::GroupIndex {
                            entry: i,
                            value: v,
                            nb_streamlines: self.header.nb_streamlines,
                        },
                    ));
                }
            }
        }
        Ok(())
    }
}
