//! Damaged packs: every kind of damage gives a matchable `IacError` naming the place, never a
//! panic; byte-flip sweeps over the header JSON and both Arrow tables of real fixtures.
#![cfg(feature = "iac")]

mod common;

use inframed::backend::iac::{iac_error, IacError, Pack};
use inframed::Error;

fn fixture(name: &str) -> Vec<u8> {
    let z = std::fs::read(common::testdata(&format!("iac/{name}.iac.zst"))).unwrap();
    zstd::decode_all(&z[..]).unwrap()
}

fn err(bytes: Vec<u8>) -> Error {
    Pack::from_bytes(bytes).unwrap_err()
}

fn kind(e: &Error) -> &IacError {
    iac_error(e).unwrap_or_else(|| panic!("not an IacError: {e:?}"))
}

fn context(e: &Error) -> String {
    match e {
        Error::Format { context, .. } => context.clone(),
        other => panic!("{other:?}"),
    }
}

#[test]
fn each_kind_of_damage_is_a_matchable_error() {
    let sound = fixture("none_extras");
    let pack = Pack::from_bytes(sound.clone()).unwrap();
    let layout = *pack.layout();
    let hlen = u32::from_le_bytes(sound[8..12].try_into().unwrap());

    let e = err(sound[..65535].to_vec());
    assert!(matches!(kind(&e), IacError::TooSmall { len: 65535 }));

    let mut b = sound.clone();
    b[6] = 1;
    let e = err(b);
    assert!(matches!(kind(&e), IacError::Magic(m) if m == b"IATROC\x01\x02"));
    assert_eq!(context(&e), "header, byte 0");

    let mut b = sound.clone();
    b[12] = 1;
    assert!(matches!(kind(&err(b)), IacError::Version(1)));

    let mut b = sound.clone();
    b[8..12].copy_from_slice(&(hlen + 1).to_le_bytes());
    let e = err(b);
    assert!(matches!(kind(&e), IacError::HeaderJson(_)));
    assert!(
        format!("{:?}", std::error::Error::source(&e)).contains("trailing"),
        "{e:?}"
    );

    let mut b = sound.clone();
    b[8..12].copy_from_slice(&(hlen - 1).to_le_bytes());
    assert!(matches!(kind(&err(b)), IacError::HeaderJson(_)));

    // Truncated anywhere past the header: the data (or table) segment leaves the file.
    for cut in [
        sound.len() - 1,
        layout.data_offset as usize,
        layout.index_table_offset as usize + 3,
        65537,
    ] {
        let e = err(sound[..cut].to_vec());
        assert!(
            matches!(kind(&e), IacError::SegmentOutOfBounds { file_size, .. } if *file_size == cut as u64),
            "cut {cut}: {e:?}"
        );
    }
    // Trailing bytes are accepted (as the original).
    let mut b = sound.clone();
    b.extend_from_slice(b"trailing");
    assert!(Pack::from_bytes(b).is_ok());

    // Bad Arrow bytes: the continuation marker of the index table's first message.
    let mut b = sound.clone();
    b[layout.index_table_offset as usize + 5] = 0x7f;
    let e = err(b);
    assert!(matches!(kind(&e), IacError::Arrow(_)), "{e:?}");
    assert!(
        context(&e).starts_with("index table (bytes 66136.."),
        "{}",
        context(&e)
    );

    // A payload byte flipped: reads return it (the original never checks), the CRC does not.
    let (off, len) = pack.record_span(3).unwrap();
    let mut b = sound.clone();
    let at = (layout.data_offset + off + len as u64 - 1) as usize;
    b[at] ^= 0x80;
    let damaged = Pack::from_bytes(b).unwrap();
    assert_ne!(
        damaged.read_payload(3).unwrap(),
        pack.read_payload(3).unwrap()
    );
    let e = damaged.check_crc(3).unwrap_err();
    assert!(matches!(kind(&e), IacError::Crc { row: 3, .. }));
    assert_eq!(
        context(&e),
        format!("row 3, byte {}", layout.data_offset + off)
    );
    assert!(matches!(
        kind(&damaged.verify().unwrap_err()),
        IacError::Crc { row: 3, .. }
    ));
    assert!(damaged.check_crc(2).is_ok());
}

#[test]
fn bad_brotli_and_zstd_streams_are_decode_errors_naming_the_row() {
    for name in ["brotli", "zstd"] {
        let sound = fixture(name);
        let pack = Pack::from_bytes(sound.clone()).unwrap();
        let (off, len) = pack.record_span(2).unwrap();
        let start = (pack.layout().data_offset + off) as usize;
        let mut b = sound.clone();
        for x in &mut b[start + len as usize / 3..start + len as usize] {
            *x = 0xA5;
        }
        let damaged = Pack::from_bytes(b).unwrap();
        let e = damaged.read_payload(2).unwrap_err();
        assert!(
            matches!(kind(&e), IacError::Decode { row: 2, .. }),
            "{name}: {e:?}"
        );
        assert!(e.to_string().contains("row 2"));
        assert!(damaged.verify().is_err());
        assert_eq!(damaged.read_stored(2).unwrap().len(), len as usize);
    }
}

#[test]
fn layout_keys_and_spans_are_checked() {
    let sound = fixture("quickstart");
    let rewrite = |from: &str, to: &str| -> Vec<u8> {
        let hlen = u32::from_le_bytes(sound[8..12].try_into().unwrap()) as usize;
        let json = std::str::from_utf8(&sound[16..16 + hlen]).unwrap();
        assert!(json.contains(from), "{from}");
        let new = json.replace(from, to);
        let mut b = sound.clone();
        b[8..12].copy_from_slice(&(new.len() as u32).to_le_bytes());
        b[16..65536].fill(0);
        b[16..16 + new.len()].copy_from_slice(new.as_bytes());
        b
    };
    let e = err(rewrite("\"data_length\": 11", "\"data_length\": 11.0"));
    assert!(matches!(kind(&e), IacError::MissingField("data_length")));
    let e = err(rewrite("\"data_length\": 11", "\"data_length\": 12"));
    assert!(matches!(kind(&e), IacError::SegmentOutOfBounds { .. }));
    let e = err(rewrite("\"num_records\": 2", "\"num_records\": 3"));
    assert!(matches!(
        kind(&e),
        IacError::RowCount {
            key: "num_records",
            header: 3,
            table: 2
        }
    ));
    let e = err(rewrite("\"num_slides\": 1", "\"num_slides\": \"1\""));
    assert!(matches!(kind(&e), IacError::MissingField("num_slides")));
    let e = err(rewrite(
        "\"slide_table_offset\": 65536",
        "\"slide_table_offset\": 65544",
    ));
    assert!(matches!(
        kind(&e),
        IacError::LayoutField {
            field: "slide_table_offset",
            ..
        }
    ));
    let e = err(rewrite("\"data_offset\": 66744", "\"data_offset\": 66745"));
    assert!(matches!(
        kind(&e),
        IacError::LayoutField {
            field: "data_offset",
            ..
        }
    ));
    // A shorter data segment leaves record 1 outside it: caught at open, naming the row.
    let e = err(rewrite("\"data_length\": 11", "\"data_length\": 10"));
    assert!(
        matches!(kind(&e), IacError::PayloadOutOfBounds { row: 1, .. }),
        "{e:?}"
    );
    assert_eq!(context(&e), "row 1");
    // Layout keys that are fine but a different format string / JSON version: not checked.
    assert!(Pack::from_bytes(rewrite("\"format\": \"IatroCache\"", "\"format\": \"x\"")).is_ok());
}

#[test]
fn byte_flip_sweeps_never_panic() {
    // Every byte of the header JSON, the slide table and the index table of three fixtures,
    // flipped one at a time: open gives Ok or Err, never a panic; an Ok pack reads every row.
    let mut errors = 0usize;
    let mut oks = 0usize;
    let mut contained = 0usize;
    for name in [
        "none_extras",
        "brotli",
        "streaming_predeclared",
        "text_pair",
        "empty",
    ] {
        let sound = fixture(name);
        let pack = Pack::from_bytes(sound.clone()).unwrap();
        let hlen = u32::from_le_bytes(sound[8..12].try_into().unwrap()) as usize;
        let end = pack.layout().data_offset as usize;
        let positions = (0..16 + hlen).chain(65536..end);
        for at in positions {
            for mask in [0x01u8, 0x80, 0xff] {
                let mut b = sound.clone();
                b[at] ^= mask;
                match Pack::from_bytes(b) {
                    Ok(p) => {
                        oks += 1;
                        for row in 0..p.num_records() {
                            let _ = p.read_payload(row);
                        }
                        let _ = p.verify();
                    }
                    Err(e) => {
                        errors += 1;
                        assert!(e.to_string().contains("<memory>"), "{e}");
                        let msg = format!("{:?}", iac_error(&e));
                        contained += msg.contains("could not decode a malformed stream") as usize;
                    }
                }
            }
        }
    }
    assert!(errors > 1000 && oks > 0, "{errors} errors, {oks} oks");
    // The structural pre-checks stop every flip before arrow-ipc could panic (the
    // `catch_unwind` net is never needed on these).
    assert_eq!(contained, 0, "flips that reached an arrow-ipc panic");
}
