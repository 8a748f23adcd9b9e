//! `header.json` of a TRX: the counts and the keys trx-python requires.

use serde_json::{Map, Value as Json};

use crate::backend::trx::TrxError;

/// The parsed `header.json`: the counts are authoritative (as in trx-python); every other key
/// is kept in [`Header::json`].
#[derive(Clone, Debug, PartialEq)]
pub struct Header {
    /// `NB_VERTICES`.
    pub nb_vertices: u64,
    /// `NB_STREAMLINES`.
    pub nb_streamlines: u64,
    /// The whole JSON object, in file order.
    pub json: Map<String, Json>,
}

impl Header {
    /// Parses `header.json`: an object with `VOXEL_TO_RASMM` (16 numbers, flat or 4×4),
    /// `DIMENSIONS` (numbers), `NB_VERTICES` and `NB_STREAMLINES` (non-negative integers).
    ///
    /// # Errors
    /// [`TrxError::HeaderJson`], [`TrxError::HeaderKey`].
    pub fn parse(text: &[u8]) -> std::result::Result<Header, TrxError> {
        let json: Json =
            serde_json::from_slice(text).map_err(|e| TrxError::HeaderJson(e.to_string()))?;
        let Json::Object(json) = json else {
            return Err(TrxError::HeaderJson("not a JSON object".into()));
        };
        let key = |k: &'static str| {
            json.get(k).ok_or(TrxError::HeaderKey {
                key: k,
                what: "missing".into(),
            })
        };
        let count = |k: &'static str| {
            key(k)?.as_u64().ok_or_else(|| TrxError::HeaderKey {
                key: k,
                what: format!(
                    "{} is not a non-negative integer",
                    key(k).unwrap_or(&Json::Null)
                ),
            })
        };
        let nb_vertices = count("NB_VERTICES")?;
        let nb_streamlines = count("NB_STREAMLINES")?;
        let mut numbers = Vec::new();
        flatten_numbers(key("VOXEL_TO_RASMM")?, &mut numbers).map_err(|what| {
            TrxError::HeaderKey {
                key: "VOXEL_TO_RASMM",
                what,
            }
        })?;
        if numbers.len() != 16 {
            return Err(TrxError::HeaderKey {
                key: "VOXEL_TO_RASMM",
                what: format!("{} numbers, expected 16 (a 4×4 matrix)", numbers.len()),
            });
        }
        let mut dims = Vec::new();
        flatten_numbers(key("DIMENSIONS")?, &mut dims).map_err(|what| TrxError::HeaderKey {
            key: "DIMENSIONS",
            what,
        })?;
        Ok(Header {
            nb_vertices,
            nb_streamlines,
            json,
        })
    }
}

fn flatten_numbers(v: &Json, out: &mut Vec<f64>) -> std::result::Result<(), String> {
    match v {
        Json::Number(n) => {
            out.push(n.as_f64().unwrap_or(f64::NAN));
            Ok(())
        }
        Json::Array(items) => items.iter().try_for_each(|x| flatten_numbers(x, out)),
        other => Err(format!("{other} is not a number")),
    }
}
