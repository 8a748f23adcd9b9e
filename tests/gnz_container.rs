//! The GNZ1 container against fixtures written by numpy following the original writer's
//! algorithm (testdata/gnz/make_fixtures.py; values in expected.json are what numpy's memmap
//! reads back at the recorded offsets). No Python needed.
#![cfg(feature = "gnz")]

mod common;

use std::borrow::Cow;

use inframed::backend::gnz::{self, GnzError, GnzFile, GnzWriter, Order, Scalar};
use inframed::{Error, FormatError};
use serde_json::Value as Json;

fn expected() -> Json {
    let text = std::fs::read_to_string(common::testdata("gnz/expected.json")).unwrap();
    serde_json::from_str(&text).unwrap()
}

fn fixture(name: &str) -> std::path::PathBuf {
    common::testdata(&format!("gnz/{name}"))
}

const VALID: [&str; 6] = [
    "dtypes.gnz",
    "nan_metadata.gnz",
    "spill.gnz",
    "streaming.gnz",
    "bigendian.gnz",
    "cut.gnz",
];

/// Floats are stored as Python `repr` text (`"-0.0"`, `"1e+300"`, `"nan"`, `"inf"`) and parsed
/// here with Rust's correctly rounded parser, so the comparison is bit-exact.
fn same_float(got: f64, want: &Json) -> bool {
    let w: f64 = want.as_str().unwrap().parse().unwrap();
    (w.is_nan() && got.is_nan()) || w.to_bits() == got.to_bits()
}

fn check_ints<T: Scalar + Into<i128>>(v: Cow<'_, [T]>, want: &[Json], what: &str) {
    assert_eq!(v.len(), want.len(), "{what}");
    for (i, (g, w)) in v.iter().zip(want).enumerate() {
        let w = w
            .as_i64()
            .map(i128::from)
            .or(w.as_u64().map(i128::from))
            .unwrap();
        assert_eq!((*g).into(), w, "{what}[{i}]");
    }
}

/// Compares the typed, logical-order values of one array with numpy's.
fn check_values(f: &GnzFile, name: &str, want: &[Json]) {
    let a = f.info(name).unwrap();
    let what = format!("{} {name}", f.path().display());
    match (a.dtype.kind(), a.dtype.itemsize()) {
        ('b', 1) => {
            let v = f.array_c_order::<u8>(name).unwrap();
            let w: Vec<u8> = want.iter().map(|x| x.as_bool().unwrap() as u8).collect();
            assert_eq!(&v[..], &w[..], "{what}");
        }
        ('i', 1) => check_ints(f.array_c_order::<i8>(name).unwrap(), want, &what),
        ('i', 2) => check_ints(f.array_c_order::<i16>(name).unwrap(), want, &what),
        ('i', 4) => check_ints(f.array_c_order::<i32>(name).unwrap(), want, &what),
        ('i', 8) => check_ints(f.array_c_order::<i64>(name).unwrap(), want, &what),
        ('u', 1) => check_ints(f.array_c_order::<u8>(name).unwrap(), want, &what),
        ('u', 2) => check_ints(f.array_c_order::<u16>(name).unwrap(), want, &what),
        ('u', 4) => check_ints(f.array_c_order::<u32>(name).unwrap(), want, &what),
        ('u', 8) => check_ints(f.array_c_order::<u64>(name).unwrap(), want, &what),
        ('f', 4) => {
            let v = f.array_c_order::<f32>(name).unwrap();
            assert_eq!(v.len(), want.len(), "{what}");
            for (i, (g, w)) in v.iter().zip(want).enumerate() {
                assert!(same_float(*g as f64, w), "{what}[{i}]: {g} vs {w}");
            }
        }
        ('f', 8) => {
            let v = f.array_c_order::<f64>(name).unwrap();
            assert_eq!(v.len(), want.len(), "{what}");
            for (i, (g, w)) in v.iter().zip(want).enumerate() {
                assert!(same_float(*g, w), "{what}[{i}]: {g} vs {w}");
            }
        }
        other => panic!("{what}: expected values for untyped dtype {other:?}"),
    }
}

fn check_file(f: &GnzFile, exp: &Json) {
    assert_eq!(f.bytes().len() as u64, exp["file_size"].as_u64().unwrap());
    assert_eq!(f.header_len(), exp["header_len"].as_u64().unwrap());
    assert_eq!(f.data_start(), exp["data_start"].as_u64().unwrap());
    assert_eq!(f.version(), &exp["version"]);
    assert_eq!(&Json::Object(f.metadata().clone()), &exp["metadata"]);
    let arrays = exp["arrays"].as_object().unwrap();
    assert_eq!(f.arrays().len(), arrays.len());
    // On-disk order: ascending offsets.
    assert!(f.arrays().windows(2).all(|w| w[0].offset <= w[1].offset));
    for (name, e) in arrays {
        let a = f.info(name).unwrap();
        let shape: Vec<u64> = e["shape"]
            .as_array()
            .unwrap()
            .iter()
            .map(|d| d.as_u64().unwrap())
            .collect();
        assert_eq!(a.dtype.as_str(), e["dtype"].as_str().unwrap(), "{name}");
        assert_eq!(a.shape, shape, "{name}");
        assert_eq!(a.order.as_str(), e["order"].as_str().unwrap(), "{name}");
        assert_eq!(a.offset, e["offset"].as_u64().unwrap(), "{name}");
        assert_eq!(a.nbytes, e["nbytes"].as_u64().unwrap(), "{name}");
        let raw = f.raw(name).unwrap();
        assert_eq!(
            crc32fast::hash(raw) as u64,
            e["crc32"].as_u64().unwrap(),
            "{name} bytes"
        );
        if let Some(values) = e["values"].as_array() {
            check_values(f, name, values);
        }
    }
}

#[test]
fn fixtures_read_as_numpy_reads_them() {
    let exp = expected();
    for name in VALID {
        let f = GnzFile::open(fixture(name)).unwrap_or_else(|e| panic!("{name}: {e}"));
        check_file(&f, &exp[name]);
        // The same from memory (the buffer may not be 4096-aligned: typed access copies).
        let mem = GnzFile::from_bytes(std::fs::read(fixture(name)).unwrap()).unwrap();
        check_file(&mem, &exp[name]);
    }
}

#[test]
fn typed_access_is_zero_copy_where_possible_and_checked() {
    let f = GnzFile::open(fixture("dtypes.gnz")).unwrap();
    assert!(matches!(f.array::<i32>("z_i4").unwrap(), Cow::Borrowed(_)));
    assert!(matches!(f.array::<f64>("f8").unwrap(), Cow::Borrowed(_)));
    // A 2-D F-order array in memory order is borrowed; in logical order it is re-laid.
    assert!(matches!(f.array::<f32>("mat_f").unwrap(), Cow::Borrowed(_)));
    assert_eq!(
        &f.array::<f32>("mat_f").unwrap()[..],
        &[0.0, 4.5, 1.5, 6.0, 3.0, 7.5]
    );
    assert_eq!(
        &f.array_c_order::<f32>("mat_f").unwrap()[..],
        &[0.0, 1.5, 3.0, 4.5, 6.0, 7.5]
    );
    let be = GnzFile::open(fixture("bigendian.gnz")).unwrap();
    assert!(matches!(be.array::<i32>("be_i4").unwrap(), Cow::Owned(_)));
    assert_eq!(&be.array::<i32>("be_i4").unwrap()[..], &[1, -2, 305419896]);
    for (name, ask) in [("z_i4", "f32"), ("f8", "i64"), ("v8", "u8"), ("f2", "u16")] {
        let e = match ask {
            "f32" => f.array::<f32>(name).map(|_| ()),
            "i64" => f.array::<i64>(name).map(|_| ()),
            "u8" => f.array::<u8>(name).map(|_| ()),
            _ => f.array::<u16>(name).map(|_| ()),
        }
        .unwrap_err();
        assert!(
            matches!(gnz_error(&e), GnzError::TypeMismatch { requested, .. } if *requested == ask),
            "{name}: {e}"
        );
    }
    assert!(matches!(
        gnz_error(&f.raw("nope").unwrap_err()),
        GnzError::NoSuchArray(n) if n == "nope"
    ));
}

fn gnz_error(e: &Error) -> &GnzError {
    match e.format_error() {
        Some(FormatError::Gnz(e)) => e,
        _ => panic!("not a Gnz error: {e:?}"),
    }
}

fn variant(e: &GnzError) -> &'static str {
    match e {
        GnzError::TruncatedPreamble { .. } => "TruncatedPreamble",
        GnzError::BadMagic { .. } => "BadMagic",
        GnzError::HeaderBeyondEof { .. } => "HeaderBeyondEof",
        GnzError::Json(_) => "Json",
        GnzError::MissingKey(_) => "MissingKey",
        GnzError::WrongType { .. } => "WrongType",
        GnzError::Version(_) => "Version",
        GnzError::UnsupportedDtype(_) => "UnsupportedDtype",
        GnzError::BadOrder(_) => "BadOrder",
        GnzError::Misaligned { .. } => "Misaligned",
        GnzError::OffsetInHeader { .. } => "OffsetInHeader",
        GnzError::BeyondEof { .. } => "BeyondEof",
        GnzError::Overlap { .. } => "Overlap",
        _ => "other",
    }
}

#[test]
fn broken_files_give_errors_naming_file_and_place() {
    let exp = expected();
    let invalid = exp["invalid"].as_object().unwrap();
    assert!(invalid.len() >= 14);
    for (name, want) in invalid {
        let path = fixture(&format!("invalid/{name}"));
        let e = GnzFile::open(&path).expect_err(name);
        let Error::Format {
            path: p, context, ..
        } = &e
        else {
            panic!("{name}: {e}")
        };
        assert_eq!(p, &path, "{name}");
        assert_eq!(
            variant(gnz_error(&e)),
            want["error"].as_str().unwrap(),
            "{name}: {e}"
        );
        if let Some(c) = want["context"].as_str() {
            assert_eq!(context, c, "{name}");
        }
        let message = format!("{e}");
        assert!(message.contains(name.as_str()), "{message}");
    }
    // Specific values of some errors.
    let e = GnzFile::open(fixture("invalid/truncated_preamble.gnz")).unwrap_err();
    assert_eq!(gnz_error(&e), &GnzError::TruncatedPreamble { len: 6 });
    let e = GnzFile::open(fixture("invalid/offset_in_header.gnz")).unwrap_err();
    assert_eq!(
        gnz_error(&e),
        &GnzError::OffsetInHeader {
            offset: 0,
            data_start: 4096
        }
    );
    let e = GnzFile::open(fixture("invalid/bad_json.gnz")).unwrap_err();
    let Error::Format {
        context, offset, ..
    } = &e
    else {
        unreachable!()
    };
    let text = std::fs::read(fixture("invalid/bad_json.gnz")).unwrap();
    // The damaged byte: the `{` of metadata became `]` (Python's json reports the same place).
    let at = text.windows(2).position(|w| w == b"]\"").unwrap();
    assert_eq!(context, &format!("byte {at}"), "JSON error offset");
    assert_eq!(*offset, Some(at as u64), "JSON error offset, typed");
    assert_eq!(e.offset(), Some(at as u64));
    let e = GnzFile::open(fixture("invalid/array_beyond_eof.gnz")).unwrap_err();
    assert_eq!(
        gnz_error(&e),
        &GnzError::BeyondEof {
            offset: 4096,
            nbytes: 16,
            file_len: 4111
        }
    );
}

#[test]
fn truncations_and_bit_flips_never_panic() {
    let good = std::fs::read(fixture("dtypes.gnz")).unwrap();
    let exp = expected();
    let header_end = 8 + exp["dtypes.gnz"]["header_len"].as_u64().unwrap() as usize;
    let last_end = good.len(); // the last non-empty array ends at the file end minus padding
    let mut cuts: Vec<usize> = (0..header_end + 2).step_by(7).collect();
    cuts.extend([header_end - 1, header_end, 4096, 12288, 12289, last_end - 1]);
    for cut in cuts {
        let r = GnzFile::from_bytes(good[..cut].to_vec());
        if cut < header_end {
            assert!(r.is_err(), "cut at {cut} must fail");
        }
        if let Ok(f) = r {
            for a in f.arrays() {
                assert!(a.offset + a.nbytes <= cut as u64);
            }
        }
    }
    let mut opened = 0;
    for i in 0..header_end {
        for flip in [0x01u8, 0x20, 0x80] {
            let mut b = good.clone();
            b[i] ^= flip;
            match GnzFile::from_bytes(b) {
                Ok(f) => {
                    opened += 1;
                    for a in f.arrays() {
                        let _ = f.raw(&a.name).unwrap();
                        let _ = f.c_order_bytes(a);
                    }
                }
                Err(Error::Format { .. }) => {}
                Err(e) => panic!("byte {i}: unexpected error kind {e}"),
            }
        }
    }
    // Flips inside string values (metadata text, some names) still parse.
    assert!(opened > 0);
}

#[test]
fn writer_reproduces_the_reference_files_byte_for_byte() {
    let exp = expected();
    for name in ["dtypes.gnz", "spill.gnz", "streaming.gnz", "bigendian.gnz"] {
        let e = &exp[name];
        let f = GnzFile::open(fixture(name)).unwrap();
        let filled = e["filled"].as_object();
        let mut w = GnzWriter::new();
        w.set_metadata(f.metadata().clone());
        for n in e["insertion_order"].as_array().unwrap() {
            let n = n.as_str().unwrap();
            let a = f.info(n).unwrap();
            if filled.is_some_and(|m| m.contains_key(n)) {
                w.reserve(n, a.dtype.as_str(), &a.shape, a.order).unwrap();
            } else {
                w.add_array(n, a.dtype.as_str(), &a.shape, a.order, f.raw(n).unwrap())
                    .unwrap();
            }
        }
        let theirs = std::fs::read(fixture(name)).unwrap();
        if filled.is_none() {
            assert!(
                w.to_bytes().unwrap() == theirs,
                "{name}: in-memory bytes differ"
            );
        }
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join(name);
        let mut fw = w.create(&out).unwrap();
        for (n, rows) in filled.into_iter().flatten() {
            // Fill the rows numpy filled, along the slowest axis of the memory order, in
            // chunks of up to 100 elements, as a streaming producer would.
            let a = f.info(n).unwrap();
            let slow = match a.order {
                Order::C => a.shape[0],
                Order::F => *a.shape.last().unwrap(),
            };
            let bytes = (a.nbytes / slow * rows.as_u64().unwrap()) as usize;
            let raw = &f.raw(n).unwrap()[..bytes];
            let chunk = 100 * a.dtype.itemsize();
            for (k, part) in raw.chunks(chunk).enumerate() {
                fw.fill(n, (k * chunk) as u64, part).unwrap();
            }
        }
        fw.commit().unwrap();
        let ours = std::fs::read(&out).unwrap();
        assert_eq!(ours.len(), theirs.len(), "{name} size");
        assert!(ours == theirs, "{name}: bytes differ");
        assert_eq!(
            std::fs::read_dir(dir.path()).unwrap().count(),
            1,
            "no temp file left"
        );
    }
}

#[test]
fn ls_and_cat() {
    let path = fixture("dtypes.gnz");
    let mut out = Vec::new();
    gnz::ls(&path, &mut out).unwrap();
    let text = String::from_utf8(out).unwrap();
    let f = GnzFile::open(&path).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), f.arrays().len());
    let exp = expected();
    for line in &lines {
        let cols: Vec<&str> = line.split('\t').collect();
        assert_eq!(cols.len(), 5, "{line}");
        let e = &exp["dtypes.gnz"]["arrays"][cols[0]];
        assert_eq!(cols[1], e["dtype"].as_str().unwrap());
        assert_eq!(cols[3], e["offset"].to_string());
        assert_eq!(cols[4], e["order"].as_str().unwrap());
    }
    assert!(lines.iter().any(|l| l.starts_with("mat_c\t<i4\t(2, 3)\t")));
    assert!(lines.iter().any(|l| l.starts_with("scalar\t<f8\t()\t")));
    assert!(lines.iter().any(|l| l.starts_with("u2\t<u2\t(3,)\t")));
    for name in ["rec", "be_i4"] {
        let p = if name == "rec" {
            path.clone()
        } else {
            fixture("bigendian.gnz")
        };
        let file = if name == "rec" {
            "dtypes.gnz"
        } else {
            "bigendian.gnz"
        };
        let mut out = Vec::new();
        gnz::cat(&p, name, &mut out).unwrap();
        assert_eq!(
            crc32fast::hash(&out) as u64,
            exp[file]["arrays"][name]["crc32"].as_u64().unwrap()
        );
    }
    let e = gnz::cat(&path, "missing", &mut Vec::new()).unwrap_err();
    assert!(format!("{e}").contains("missing"));
}
