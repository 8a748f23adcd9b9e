//! `verify` and `info` on containers other tools wrote (#14 item 4): an `.iac` pack from the
//! original writer, TRX zips and folders from trx-python, WebDataset shards from `ShardWriter`
//! and Python `tarfile`, a GNZ from the Python writer (fixtures: each folder's
//! make_fixtures.py). `verify` checks the container itself (CRCs, offsets, sizes, tar header
//! checksums); a damaged copy fails naming the byte offset.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use inframed::backend::{describe_container, verify_container};

fn inframed(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_inframed"))
        .args(args)
        .output()
        .unwrap()
}

/// The `.iac` fixture `name`, decompressed into `dir`.
fn iac_fixture(dir: &Path, name: &str) -> PathBuf {
    let z = std::fs::read(common::testdata(&format!("iac/{name}.iac.zst"))).unwrap();
    let p = dir.join(format!("{name}.iac"));
    std::fs::write(&p, zstd::decode_all(&z[..]).unwrap()).unwrap();
    p
}

/// A copy of `from` in `dir` with byte `at` flipped.
fn damaged(dir: &Path, from: &Path, at: usize) -> PathBuf {
    let mut b = std::fs::read(from).unwrap();
    b[at] ^= 0x5a;
    let p = dir.join(format!(
        "bad_{}",
        from.file_name().unwrap().to_string_lossy()
    ));
    std::fs::write(&p, b).unwrap();
    p
}

/// A byte inside the positions member of a stored TRX zip (found by content).
fn positions_byte(trx: &Path) -> usize {
    let file = inframed::backend::trx::TrxFile::open(trx).unwrap();
    let data = file.bytes(file.array("positions").unwrap()).unwrap();
    let probe = &data[..data.len().min(64)];
    let raw = std::fs::read(trx).unwrap();
    raw.windows(probe.len()).position(|w| w == probe).unwrap() + 1
}

#[test]
fn foreign_containers_verify_and_describe() {
    let d = tempfile::tempdir().unwrap();
    let cases: Vec<(PathBuf, &str, &str)> = vec![
        (
            common::testdata("trx/a_stored.trx"),
            "trx stored zip",
            "positions",
        ),
        (
            common::testdata("trx/a_deflate.trx"),
            "trx deflate zip",
            "offsets",
        ),
        (common::testdata("trx/a_dir"), "trx directory", "positions"),
        (
            common::testdata("wds/dash"),
            "tar dataset",
            "train-000001.tar",
        ),
        (
            common::testdata("wds/pax/pax.tar"),
            "tar dataset",
            "pax.tar",
        ),
        (iac_fixture(d.path(), "brotli"), "iac pack", "brotli"),
        (iac_fixture(d.path(), "zstd"), "iac pack", "zstd"),
        (common::testdata("gnz/dtypes.gnz"), "gnz", "f8"),
    ];
    for (path, kind, member) in &cases {
        let summary =
            verify_container(path, None).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        assert!(summary.starts_with(kind), "{}: {summary}", path.display());
        let mut out = Vec::new();
        describe_container(path, None, &mut out).unwrap();
        let text = String::from_utf8(out).unwrap();
        assert!(text.starts_with("container\t"), "{text}");
        assert!(text.contains(member), "{}: {text}", path.display());
    }
}

#[test]
fn damaged_foreign_containers_fail_verify_naming_the_byte() {
    let d = tempfile::tempdir().unwrap();
    // A stored TRX: a byte of the positions member (after header.json), caught by its CRC.
    let trx = common::testdata("trx/a_stored.trx");
    let bad = damaged(d.path(), &trx, positions_byte(&trx));
    let e = common::error_chain(&verify_container(&bad, None).unwrap_err());
    assert!(e.contains("positions") && e.contains("byte"), "{e}");
    assert!(e.to_lowercase().contains("crc"), "{e}");
    // A tar shard: a byte of the first header's name breaks its checksum (at byte 148).
    let tar = common::testdata("wds/pax/pax.tar");
    let bad = damaged(d.path(), &tar, 3);
    let e = common::error_chain(&verify_container(&bad, None).unwrap_err());
    assert!(e.contains("byte 148"), "{e}");
    // An .iac pack: a byte of the first record, caught by its CRC-32.
    let iac = iac_fixture(d.path(), "brotli");
    let pack = inframed::backend::iac::Pack::open(&iac).unwrap();
    let data = pack.layout().data_offset as usize;
    drop(pack);
    let bad = damaged(d.path(), &iac, data + 1);
    let e = common::error_chain(&verify_container(&bad, None).unwrap_err());
    assert!(e.contains("row 0") && e.contains("byte"), "{e}");
}

#[test]
fn cli_verify_and_info_on_a_foreign_trx() {
    let trx = common::testdata("trx/a_stored.trx");
    let trx = trx.to_str().unwrap();
    let out = inframed(&["verify", trx]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.starts_with("ok\ttrx stored zip"), "{stdout}");
    let out = inframed(&["info", trx]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.starts_with("container\ttrx stored zip"), "{stdout}");
    assert!(stdout.contains("positions"), "{stdout}");
    // Damaged: exit 1 naming the byte.
    let d = tempfile::tempdir().unwrap();
    let bad = damaged(d.path(), Path::new(trx), positions_byte(Path::new(trx)));
    let out = inframed(&["verify", bad.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("error"));
}

#[test]
fn cli_verify_and_info_on_a_foreign_webdataset() {
    let ds = common::testdata("wds/dash");
    let out = inframed(&["verify", ds.to_str().unwrap()]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.starts_with("ok\ttar dataset"), "{stdout}");
    let out = inframed(&["info", ds.to_str().unwrap()]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains("shard\t"), "{stdout}");
}

#[test]
fn gzip_shards_are_refused_saying_how_to_decompress() {
    let d = tempfile::tempdir().unwrap();
    let tar = std::fs::read(common::testdata("wds/pax/pax.tar")).unwrap();
    // A gzip member header (RFC 1952) is all the reader needs to see to refuse it.
    let mut gz = vec![0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 3];
    gz.extend(&tar[..512]);
    let p = d.path().join("train-000000.tar.gz");
    std::fs::write(&p, gz).unwrap();
    let e = common::error_chain(&inframed::backend::ls(&p, &mut Vec::new()).unwrap_err());
    assert!(
        e.contains("no random access") && e.contains("gzip -dc"),
        "{e}"
    );
}

#[test]
fn an_image_codec_pack_is_listed_with_its_codec_and_cat_says_unsupported() {
    use inframed::backend::iac::{build_pack, Pack};
    let d = tempfile::tempdir().unwrap();
    let src = Pack::open(iac_fixture(d.path(), "brotli")).unwrap();
    let mut header = src.header().clone();
    for k in [
        "format",
        "version",
        "header_bytes",
        "slide_table_offset",
        "slide_table_length",
        "index_table_offset",
        "index_table_length",
        "data_offset",
        "data_length",
        "num_slides",
        "num_records",
        "codec_params",
    ] {
        header.remove(k);
    }
    header.insert("codec".into(), "jpeg".into());
    // JPEG-looking payloads (SOI marker), one per record.
    let payloads: Vec<Vec<u8>> = (0..src.num_records())
        .map(|i| [b"\xff\xd8\xff\xe0".as_slice(), &[i as u8; 32]].concat())
        .collect();
    let p = d.path().join("tiles.iac");
    build_pack(
        &p,
        &header,
        src.slide_table(),
        src.index_table(),
        &payloads,
        false,
    )
    .unwrap();
    // verify checks the CRCs (decoding is out of scope); info names the codec.
    let summary = verify_container(&p, None).unwrap();
    assert!(summary.contains("codec jpeg"), "{summary}");
    let out = inframed(&["info", p.to_str().unwrap()]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains("codec\tjpeg"), "{stdout}");
    let out = inframed(&["cat", p.to_str().unwrap(), "0"]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("codec jpeg") && stderr.contains("not supported"),
        "{stderr}"
    );
}
