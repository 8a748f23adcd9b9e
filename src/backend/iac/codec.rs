//! Per-record payload codecs: `none`, `brotli`, `zstd` (the byte codecs of the original).

use std::io::{self, Read, Write};

use serde_json::{Map, Value};

use super::error::IacError;

/// Brotli quality the original uses by default.
pub const BROTLI_DEFAULT_QUALITY: u32 = 11;
/// Brotli window (log2) the original uses by default (24, not brotli's usual 22).
pub const BROTLI_DEFAULT_LGWIN: u32 = 24;
/// zstd level the original uses by default.
pub const ZSTD_DEFAULT_LEVEL: i32 = 19;

/// Largest known decoded size decoded one-shot (larger ones stream, not pre-allocating).
const ZSTD_ONE_SHOT_MAX: u64 = 64 << 20;

/// The codec of a pack's records, from the header's `codec` and `codec_params`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Codec {
    /// Stored bytes are the payload (also when the header has no `codec`).
    None,
    /// One brotli stream per record.
    Brotli {
        /// 0..=11.
        quality: u32,
        /// 10..=24.
        lgwin: u32,
    },
    /// One zstd frame per record.
    Zstd {
        /// Compression level.
        level: i32,
    },
    /// A codec inframed does not implement (`jxl`, `jpeg`, a user codec…): stored bytes can
    /// be read, not decoded.
    Other(String),
}

impl Codec {
    /// Brotli with the original's defaults (quality 11, lgwin 24).
    pub fn brotli() -> Codec {
        Codec::Brotli {
            quality: BROTLI_DEFAULT_QUALITY,
            lgwin: BROTLI_DEFAULT_LGWIN,
        }
    }

    /// zstd with the original's default level 19.
    pub fn zstd() -> Codec {
        Codec::Zstd {
            level: ZSTD_DEFAULT_LEVEL,
        }
    }

    /// The header's codec: `codec` absent ⇒ none; parameters from `codec_params` (defaults as
    /// the original's when absent).
    pub fn from_header(header: &Map<String, Value>) -> Codec {
        let params = header.get("codec_params").and_then(Value::as_object);
        let param = |k: &str| params.and_then(|p| p.get(k)).and_then(Value::as_i64);
        match header.get("codec").and_then(Value::as_str) {
            None | Some("none") => Codec::None,
            Some("brotli") => Codec::Brotli {
                quality: param("quality").map_or(BROTLI_DEFAULT_QUALITY, |q| q as u32),
                lgwin: param("lgwin").map_or(BROTLI_DEFAULT_LGWIN, |w| w as u32),
            },
            Some("zstd") => Codec::Zstd {
                level: param("level").map_or(ZSTD_DEFAULT_LEVEL, |l| l as i32),
            },
            Some(other) => Codec::Other(other.to_string()),
        }
    }

    /// Parses a command-line codec: `none`, `brotli`, `brotli:Q`, `brotli:Q:LGWIN`, `zstd`,
    /// `zstd:LEVEL`.
    ///
    /// # Errors
    /// [`IacError::Codec`] for anything else or parameters out of range.
    pub fn parse(text: &str) -> Result<Codec, IacError> {
        let bad = || IacError::Codec(text.to_string());
        let mut parts = text.split(':');
        let name = parts.next().unwrap_or_default();
        let nums: Vec<i64> = parts
            .map(|p| p.parse::<i64>().map_err(|_| bad()))
            .collect::<Result<_, _>>()?;
        let codec = match (name, nums.as_slice()) {
            ("none", []) => Codec::None,
            ("brotli", []) => Codec::brotli(),
            ("brotli", [q]) => Codec::Brotli {
                quality: u32::try_from(*q).map_err(|_| bad())?,
                lgwin: BROTLI_DEFAULT_LGWIN,
            },
            ("brotli", [q, w]) => Codec::Brotli {
                quality: u32::try_from(*q).map_err(|_| bad())?,
                lgwin: u32::try_from(*w).map_err(|_| bad())?,
            },
            ("zstd", []) => Codec::zstd(),
            ("zstd", [l]) => Codec::Zstd {
                level: i32::try_from(*l).map_err(|_| bad())?,
            },
            _ => return Err(bad()),
        };
        codec.check()?;
        Ok(codec)
    }

    fn check(&self) -> Result<(), IacError> {
        match self {
            Codec::Brotli { quality, lgwin } if *quality > 11 || !(10..=24).contains(lgwin) => {
                Err(IacError::Codec(format!(
                    "brotli quality {quality} lgwin {lgwin} (quality 0..=11, lgwin 10..=24)"
                )))
            }
            Codec::Zstd { level } if !zstd::compression_level_range().contains(level) => {
                Err(IacError::Codec(format!("zstd level {level}")))
            }
            _ => Ok(()),
        }
    }

    /// The header name.
    pub fn name(&self) -> &str {
        match self {
            Codec::None => "none",
            Codec::Brotli { .. } => "brotli",
            Codec::Zstd { .. } => "zstd",
            Codec::Other(n) => n,
        }
    }

    /// The header keys the original writes for this codec: `codec`, and `codec_params` when
    /// the codec has parameters.
    pub fn header_keys(&self) -> Map<String, Value> {
        let mut m = Map::new();
        m.insert("codec".into(), Value::from(self.name()));
        let params = match self {
            Codec::Brotli { quality, lgwin } => Some(serde_json::json!({
                "lgwin": lgwin, "quality": quality
            })),
            Codec::Zstd { level } => Some(serde_json::json!({ "level": level })),
            _ => None,
        };
        if let Some(p) = params {
            m.insert("codec_params".into(), p);
        }
        m
    }

    /// Whether stored bytes are the payload (zero-copy reads).
    pub fn is_identity(&self) -> bool {
        matches!(self, Codec::None)
    }

    /// Encodes one record.
    ///
    /// # Errors
    /// [`IacError::Codec`] for [`Codec::Other`] or invalid parameters.
    pub fn encode(&self, payload: &[u8]) -> Result<Vec<u8>, IacError> {
        self.check()?;
        let io_err = |e: io::Error| IacError::Codec(format!("{}: {e}", self.name()));
        match self {
            Codec::None => Ok(payload.to_vec()),
            Codec::Brotli { quality, lgwin } => {
                // As the original: write, then finish the stream (no flush: a flush would add
                // an empty metablock the original does not write).
                let mut w = brotli::CompressorWriter::new(Vec::new(), 4096, *quality, *lgwin);
                w.write_all(payload).map_err(io_err)?;
                Ok(w.into_inner())
            }
            Codec::Zstd { level } => {
                // One frame without content size or checksum, as the original's `encode_all`;
                // one-shot, so zstd sizes its window and tables to the record (the streaming
                // encoder with an unknown size sets up level 19's 8 MiB window per record).
                let mut c = zstd::bulk::Compressor::new(*level).map_err(io_err)?;
                c.set_parameter(zstd::zstd_safe::CParameter::ContentSizeFlag(false))
                    .map_err(io_err)?;
                c.compress(payload).map_err(io_err)
            }
            Codec::Other(n) => Err(IacError::Codec(n.clone())),
        }
    }

    /// Decodes one stored record. `limit`, when known (a patient pack knows each record's
    /// size), bounds the output: a stream decoding to more is an error, not a large allocation.
    ///
    /// # Errors
    /// `io::Error` from the decoder (`InvalidData` for a damaged stream, or when `limit` is
    /// exceeded); `Unsupported` for [`Codec::Other`].
    pub fn decode(&self, stored: &[u8], limit: Option<u64>) -> io::Result<Vec<u8>> {
        // Pre-allocate no more than the stored bytes can plausibly justify: a record declaring a
        // huge size grows its buffer only as decoded bytes actually arrive.
        let plausible = (stored.len() as u64)
            .saturating_mul(64)
            .saturating_add(1 << 16);
        let mut out = Vec::with_capacity(limit.unwrap_or(0).min(plausible).min(1 << 30) as usize);
        let cap = limit.map_or(u64::MAX, |l| l.saturating_add(1));
        match self {
            Codec::None => out.extend_from_slice(stored),
            Codec::Brotli { .. } => {
                brotli::Decompressor::new(stored, 4096)
                    .take(cap)
                    .read_to_end(&mut out)?;
            }
            Codec::Zstd { .. } => match limit {
                // Known size: one-shot into a buffer of exactly that capacity (a larger output
                // is an error); every frame of the record, like the original's `decode_all`.
                Some(l) if l <= ZSTD_ONE_SHOT_MAX && l <= plausible => {
                    out = zstd::bulk::decompress(stored, l as usize)?;
                }
                _ => {
                    zstd::stream::read::Decoder::with_buffer(stored)?
                        .take(cap)
                        .read_to_end(&mut out)?;
                }
            },
            Codec::Other(n) => {
                return Err(io::Error::new(
                    io::ErrorKind::Unsupported,
                    format!("codec {n} is not supported by inframed"),
                ))
            }
        }
        if let Some(l) = limit {
            if out.len() as u64 > l {
                return Err(io::Error::new(
                    io::ErrorKind::InvalidData,
                    format!("decodes to more than the {l} bytes expected"),
                ));
            }
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_and_damage() {
        let data: Vec<u8> = (0..5000u32).flat_map(|i| (i % 251).to_le_bytes()).collect();
        for c in [
            Codec::None,
            Codec::brotli(),
            Codec::Brotli {
                quality: 5,
                lgwin: 18,
            },
            Codec::zstd(),
            Codec::Zstd { level: 3 },
        ] {
            let enc = c.encode(&data).unwrap();
            assert_eq!(c.decode(&enc, None).unwrap(), data, "{c:?}");
            assert_eq!(c.decode(&enc, Some(data.len() as u64)).unwrap(), data);
            if !c.is_identity() {
                assert!(enc.len() < data.len());
                assert!(
                    c.decode(&enc, Some(data.len() as u64 - 1)).is_err(),
                    "{c:?}"
                );
                assert!(c.decode(&enc[..enc.len() / 2], None).is_err(), "{c:?}");
                assert!(c.decode(b"\xff\xfe garbage", None).is_err(), "{c:?}");
                assert_eq!(c.decode(&c.encode(b"").unwrap(), None).unwrap(), b"");
            }
        }
        // Empty input at brotli q5 is the single byte 0x3f (formats/iac.md §4).
        let c = Codec::Brotli {
            quality: 5,
            lgwin: 24,
        };
        assert_eq!(c.encode(b"").unwrap(), vec![0x3f]);
    }

    #[test]
    fn from_header_and_parse() {
        let h = |j: serde_json::Value| Codec::from_header(j.as_object().unwrap());
        assert_eq!(h(serde_json::json!({})), Codec::None);
        assert_eq!(h(serde_json::json!({"codec": "brotli"})), Codec::brotli());
        assert_eq!(
            h(serde_json::json!({"codec": "zstd", "codec_params": {"level": 3}})),
            Codec::Zstd { level: 3 }
        );
        assert_eq!(
            h(serde_json::json!({"codec": "jxl"})),
            Codec::Other("jxl".into())
        );
        assert_eq!(
            Codec::parse("brotli:5").unwrap(),
            Codec::Brotli {
                quality: 5,
                lgwin: 24
            }
        );
        assert_eq!(Codec::parse("zstd:3").unwrap(), Codec::Zstd { level: 3 });
        for bad in ["gzip", "brotli:12", "brotli:5:9", "zstd:x", "none:1", ""] {
            assert!(Codec::parse(bad).is_err(), "{bad}");
        }
        assert!(Codec::brotli().header_keys().contains_key("codec_params"));
        assert!(!Codec::None.header_keys().contains_key("codec_params"));
    }
}
