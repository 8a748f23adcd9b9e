//! The indexed-tar container level against fixtures written by Python's `tarfile` with `.taridx`
//! files written by glzn's rules (testdata/itar/make_fixture.py): every member's offset, size,
//! key hash and sha256 as Python saw them; glzn's parse-path index of an edge tar; a crash table;
//! duplicate members; and damaged copies.
#![cfg(feature = "itar")]

mod common;

use std::path::{Path, PathBuf};

use inframed::backend::itar::{self, Fold, ItarError, TarIndex};
use inframed::{Error, FormatError};
use serde_json::Value as Json;

fn fixture(rel: &str) -> PathBuf {
    common::testdata(&format!("itar/{rel}"))
}

fn expected() -> Json {
    serde_json::from_str(&std::fs::read_to_string(fixture("expected.json")).unwrap()).unwrap()
}

/// SHA-256 (FIPS 180-4), to compare payloads with the hashes Python wrote.
// SHA-256 is big-endian by definition (FIPS 180-4): the one place big-endian words are right.
#[allow(clippy::big_endian_bytes)]
fn sha256(data: &[u8]) -> String {
    const K: [u32; 64] = [
        0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4,
        0xab1c5ed5, 0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe,
        0x9bdc06a7, 0xc19bf174, 0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f,
        0x4a7484aa, 0x5cb0a9dc, 0x76f988da, 0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7,
        0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967, 0x27b70a85, 0x2e1b2138, 0x4d2c6dfc,
        0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85, 0xa2bfe8a1, 0xa81a664b,
        0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070, 0x19a4c116,
        0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
        0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7,
        0xc67178f2,
    ];
    let mut h: [u32; 8] = [
        0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a, 0x510e527f, 0x9b05688c, 0x1f83d9ab,
        0x5be0cd19,
    ];
    let mut msg = data.to_vec();
    msg.push(0x80);
    while msg.len() % 64 != 56 {
        msg.push(0);
    }
    msg.extend_from_slice(&((data.len() as u64) * 8).to_be_bytes());
    for block in msg.chunks(64) {
        let mut w = [0u32; 64];
        for i in 0..16 {
            w[i] = u32::from_be_bytes(block[4 * i..4 * i + 4].try_into().unwrap());
        }
        for i in 16..64 {
            let s0 = w[i - 15].rotate_right(7) ^ w[i - 15].rotate_right(18) ^ (w[i - 15] >> 3);
            let s1 = w[i - 2].rotate_right(17) ^ w[i - 2].rotate_right(19) ^ (w[i - 2] >> 10);
            w[i] = w[i - 16]
                .wrapping_add(s0)
                .wrapping_add(w[i - 7])
                .wrapping_add(s1);
        }
        let mut v = h;
        for i in 0..64 {
            let s1 = v[4].rotate_right(6) ^ v[4].rotate_right(11) ^ v[4].rotate_right(25);
            let ch = (v[4] & v[5]) ^ (!v[4] & v[6]);
            let t1 = v[7]
                .wrapping_add(s1)
                .wrapping_add(ch)
                .wrapping_add(K[i])
                .wrapping_add(w[i]);
            let s0 = v[0].rotate_right(2) ^ v[0].rotate_right(13) ^ v[0].rotate_right(22);
            let maj = (v[0] & v[1]) ^ (v[0] & v[2]) ^ (v[1] & v[2]);
            let t2 = s0.wrapping_add(maj);
            v = [
                t1.wrapping_add(t2),
                v[0],
                v[1],
                v[2],
                v[3].wrapping_add(t1),
                v[4],
                v[5],
                v[6],
            ];
        }
        for (a, b) in h.iter_mut().zip(v) {
            *a = a.wrapping_add(b);
        }
    }
    h.iter().map(|x| format!("{x:08x}")).collect()
}

fn itar_error(e: &Error) -> &ItarError {
    match e.format_error() {
        Some(FormatError::Itar(e)) => e,
        _ => panic!("not a Itar error: {e:?}"),
    }
}

#[test]
fn sha256_known_answer() {
    assert_eq!(
        sha256(b"abc"),
        "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
    );
}

/// Every member Python listed is found by (stem, ext) with the same offset, size and sha256.
fn check_members(fold: &Fold, members: &Json, skip_long: bool) {
    let mut found = 0;
    for m in members.as_array().unwrap() {
        let (stem, ext) = (m["stem"].as_str().unwrap(), m["ext"].as_str().unwrap());
        // glzn's parse path hashes the 100-byte name field, not the long name; the member that
        // follows a long-name header is keyed by its full name at open, so it is found too.
        let long = skip_long && m["name"].as_str().unwrap().len() > 100;
        let got = fold
            .find(stem, ext)
            .unwrap()
            .unwrap_or_else(|| panic!("{stem}.{ext} not found"));
        assert_eq!(got.entry.offset + 512, m["data_offset"].as_u64().unwrap());
        assert_eq!(got.entry.size, m["size"].as_u64().unwrap(), "{stem}.{ext}");
        if !long {
            // (a long name's row keeps the hash of the truncated name field glzn read)
            assert_eq!(got.entry.keyhash, m["keyhash"].as_u64().unwrap());
        }
        assert_eq!(
            sha256(got.data),
            m["sha256"].as_str().unwrap(),
            "{stem}.{ext}"
        );
        assert_eq!(
            got.shard.file_name().unwrap().to_str().unwrap(),
            m["shard"].as_str().unwrap()
        );
        found += 1;
    }
    assert!(found > 0);
}

fn check_index(fold: &Fold, want: &Json) {
    let idx = fold.index();
    assert_eq!(idx.n_stems, want["n_stems"].as_u64().unwrap());
    assert_eq!(u64::from(idx.flags), want["flags"].as_u64().unwrap());
    let strings = |v: &Json| -> Vec<String> {
        v.as_array()
            .unwrap()
            .iter()
            .map(|s| s.as_str().unwrap().to_owned())
            .collect()
    };
    assert_eq!(idx.extensions, strings(&want["extensions"]));
    assert_eq!(idx.crash_stems, strings(&want["crash_stems"]));
    let rows: Vec<Vec<u64>> = idx
        .rows
        .iter()
        .map(|r| {
            vec![
                r.fid.into(),
                r.offset,
                r.size,
                r.extid.into(),
                r.crashid.into(),
                r.keyhash,
            ]
        })
        .collect();
    let want_rows: Vec<Vec<u64>> = want["rows"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            r.as_array()
                .unwrap()
                .iter()
                .map(|x| x.as_u64().unwrap())
                .collect()
        })
        .collect();
    assert_eq!(rows, want_rows);
}

#[test]
fn glzn_writer_folds_read_as_python_wrote_them() {
    let exp = expected();
    for fold_name in ["train", "val"] {
        let want = &exp[format!("glzn/{fold_name}")];
        let fold = Fold::open(&fixture(&format!("glzn/{fold_name}.taridx"))).unwrap();
        check_index(&fold, &want["index"]);
        check_members(&fold, &want["members"], false);
        fold.verify().unwrap();
        // Same fold found from the folder, and rebuilt identically by scanning the shards.
        let scanned = Fold::scan(&fixture("glzn"), fold_name).unwrap();
        assert_eq!(scanned.index(), fold.index());
        // The encoder writes the bytes Python wrote.
        let bytes = std::fs::read(fixture(&format!("glzn/{fold_name}.taridx"))).unwrap();
        assert_eq!(fold.index().to_bytes(), bytes);
    }
    // Upper-case extension asked for: found lowercased; the key is case-sensitive.
    let fold = Fold::open(&fixture("glzn/train.taridx")).unwrap();
    assert!(fold.find("sample001", "JPG").unwrap().is_some());
    assert!(fold.find("SAMPLE001", "jpg").unwrap().is_none());
    assert!(fold.find("sample001", "seg.png").unwrap().is_none());
    assert!(fold.find("sample002", "seg.png").unwrap().is_some());
}

#[test]
fn webdataset_samples_match_the_index() {
    // What webdataset 1.0.2 yielded when streaming the shards: every (key, ext) is a member
    // with that payload (flat names, so webdataset's key is glzn's stem).
    let exp = expected();
    for (ds, fold) in [
        ("glzn/train", "glzn/train.taridx"),
        ("glzn/val", "glzn/val.taridx"),
    ] {
        let fold = Fold::open(&fixture(fold)).unwrap();
        let samples = exp[ds]["webdataset"].as_array().unwrap();
        assert_eq!(samples.len() as u64, fold.index().n_stems);
        for s in samples {
            let key = s["key"].as_str().unwrap();
            for (ext, hash) in s["exts"].as_object().unwrap() {
                let m = fold.find(key, ext).unwrap().unwrap();
                assert_eq!(sha256(m.data), hash.as_str().unwrap(), "{key}.{ext}");
            }
        }
    }
}

#[test]
fn edge_tar_glzn_parse_index_and_our_scan() {
    let exp = expected();
    let want = &exp["edge/edge"];
    // glzn's parse path: every header is a row (directory, long-name and pax headers included).
    let fold = Fold::open(&fixture("edge/edge.taridx")).unwrap();
    check_index(&fold, &want["index"]);
    assert!(fold.index().extensions.contains(&String::new()));
    assert_eq!(fold.index().flags & 1, 0, "interleaved key a");
    check_members(&fold, &want["members"], true);
    fold.verify().unwrap();

    // Our scan: regular files only, long names resolved.
    let scanned = Fold::scan(&fixture("edge"), "edge").unwrap();
    check_members(&scanned, &want["members"], false);
    assert_eq!(
        scanned.index().rows.len(),
        want["members"].as_array().unwrap().len()
    );
    scanned.verify().unwrap();
    let unicode = scanned.find("ünï", "txt").unwrap().unwrap();
    assert_eq!(unicode.data, b"unicode");
    assert_eq!(scanned.find("noext", "").unwrap().unwrap().data, b"no ext");
    assert_eq!(scanned.find("empty", "bin").unwrap().unwrap().data, b"");
    assert_eq!(
        scanned.find("multi", "dot.name.txt").unwrap().unwrap().data,
        b"multi"
    );
    // `dir/y.txt` is key `y` by glzn's basename rule.
    assert_eq!(scanned.find("y", "txt").unwrap().unwrap().data, b"in dir");

    // Written and read back, the scanned index is the same.
    let d = tempfile::tempdir().unwrap();
    for f in ["edge_0000.tar", "edge_0001.tar"] {
        std::fs::copy(fixture(&format!("edge/{f}")), d.path().join(f)).unwrap();
    }
    Fold::scan(d.path(), "edge").unwrap().write_index().unwrap();
    let reread = Fold::open(&d.path().join("edge.taridx")).unwrap();
    assert_eq!(reread.index(), scanned.index());
}

#[test]
fn crash_table_identity_is_hash_and_crash_id() {
    let exp = expected();
    let fold = Fold::open(&fixture("crash/crash.taridx")).unwrap();
    check_index(&fold, &exp["crash/crash"]["index"]);
    check_members(&fold, &exp["crash/crash"]["members"], false);
    assert_eq!(fold.index().crash_stems, ["beta"]);
    let beta = fold.find("beta", "json").unwrap().unwrap();
    assert_eq!(beta.entry.crashid, 1);
    assert_eq!(beta.data, b"[]");
    assert_eq!(fold.find("alpha", "txt").unwrap().unwrap().entry.crashid, 0);
    fold.verify().unwrap();
}

#[test]
fn duplicate_key_and_extension_is_a_warning_and_the_later_member_wins() {
    // As tar extraction: the later of two members with one identity is read; the others stay
    // readable; the duplicate is reported.
    for fold in [
        Fold::open(&fixture("dup/dup.taridx")).unwrap(),
        Fold::scan(&fixture("dup"), "dup").unwrap(),
    ] {
        let w: Vec<String> = fold.warnings().iter().map(|w| w.to_string()).collect();
        let w = w.join("\n");
        assert!(w.contains("x.txt") && w.contains("rows 0 and 1"), "{w}");
        let m = fold.find("x", "txt").unwrap().unwrap();
        assert_eq!(m.row, 1);
    }
}

#[test]
fn ls_and_cat_on_a_folder_of_folds() {
    let exp = expected();
    let mut out = Vec::new();
    itar::ls(&fixture("glzn"), &mut out).unwrap();
    let text = String::from_utf8(out).unwrap();
    let mut want = String::from("#key\text\tshard\tsize\n");
    for ds in ["glzn/train", "glzn/val"] {
        for m in exp[ds]["members"].as_array().unwrap() {
            want.push_str(&format!(
                "{}\t{}\t{}\t{}\n",
                m["stem"].as_str().unwrap(),
                m["ext"].as_str().unwrap(),
                m["shard"].as_str().unwrap(),
                m["size"]
            ));
        }
    }
    assert_eq!(text, want);
    let mut out = Vec::new();
    itar::cat(&fixture("glzn/val.taridx"), "v0.json", &mut out).unwrap();
    assert_eq!(out, br#"{"label": 1}"#);
    let e = itar::cat(&fixture("glzn"), "v0.png", &mut Vec::new()).unwrap_err();
    assert!(matches!(itar_error(&e), ItarError::NoMember { .. }));
    // The same member in two folds of one folder is ambiguous.
    let d = copy("glzn");
    let mut w = itar::DatasetWriter::create(d.path(), itar::WriterOptions::default()).unwrap();
    w.fold("other")
        .unwrap()
        .write("v0", &[("json", b"{}")])
        .unwrap();
    w.finish().unwrap();
    let e = itar::cat(d.path(), "v0.json", &mut Vec::new()).unwrap_err();
    assert!(
        matches!(itar_error(&e), ItarError::Ambiguous { folds, .. } if folds == &["other", "val"]),
        "{e}"
    );
    let mut out = Vec::new();
    itar::cat(&d.path().join("other.taridx"), "v0.json", &mut out).unwrap();
    assert_eq!(out, b"{}");
}

/// A private copy of a fixture folder.
fn copy(rel: &str) -> tempfile::TempDir {
    let d = tempfile::tempdir().unwrap();
    common::copy_dir(&fixture(rel), d.path());
    d
}

fn edit(path: &Path, f: impl FnOnce(&mut Vec<u8>)) {
    let mut b = std::fs::read(path).unwrap();
    f(&mut b);
    std::fs::write(path, b).unwrap();
}

/// An edit of a file's bytes.
type Edit = Box<dyn Fn(&mut Vec<u8>)>;

#[test]
fn damaged_index_files_name_file_and_offset() {
    let cases: Vec<(&str, Edit, &str)> = vec![
        ("magic", Box::new(|b| b[0] = b'X'), "byte 0"),
        ("version", Box::new(|b| b[8] = 2), "byte 8"),
        ("truncated header", Box::new(|b| b.truncate(50)), "byte 50"),
        (
            "truncated rows",
            Box::new(|b| b.truncate(b.len() - 5)),
            "byte",
        ),
        // Row 0's size (bytes 10..18 of the row) past the end of its shard.
        (
            "row past end",
            Box::new(|b| {
                let at = TarIndex::parse(b).unwrap().row_offset(0) as usize + 10;
                b[at..at + 8].copy_from_slice(&1_000_000u64.to_le_bytes());
            }),
            "row 0",
        ),
        (
            "row fid",
            Box::new(|b| {
                let at = TarIndex::parse(b).unwrap().row_offset(2) as usize;
                b[at] = 9;
            }),
            "row 2",
        ),
        (
            "row offset",
            Box::new(|b| {
                let at = TarIndex::parse(b).unwrap().row_offset(1) as usize + 2;
                b[at] = 7;
            }),
            "row 1",
        ),
    ];
    for (what, f, context) in cases {
        let d = copy("glzn");
        let idx = d.path().join("train.taridx");
        edit(&idx, f);
        let e = Fold::open(&idx).unwrap_err();
        let msg = e.to_string();
        assert!(
            msg.contains("train.taridx") && msg.contains(context),
            "{what}: {msg}"
        );
        match what {
            "magic" => assert!(matches!(itar_error(&e), ItarError::Magic { .. })),
            "version" => assert!(matches!(
                itar_error(&e),
                ItarError::Version { major: 2, .. }
            )),
            "truncated header" => assert!(matches!(
                e,
                Error::Corrupt {
                    offset: 50,
                    source: inframed::DecodeError::UnexpectedEof,
                    ..
                }
            )),
            "row past end" => assert!(matches!(itar_error(&e), ItarError::PastEnd { .. })),
            "row fid" => assert!(matches!(
                itar_error(&e),
                ItarError::ShardId {
                    fid: 9,
                    n_shards: 3
                }
            )),
            "row offset" => assert!(matches!(itar_error(&e), ItarError::Unaligned { .. })),
            _ => {}
        }
    }
}

#[test]
fn damaged_shards_are_found_at_open_or_by_verify() {
    // Truncated inside the last member: its rows point past the end.
    let d = copy("glzn");
    edit(&d.path().join("train_0002.tar"), |b| b.truncate(700));
    let e = Fold::open(&d.path().join("train.taridx")).unwrap_err();
    assert!(matches!(itar_error(&e), ItarError::PastEnd { .. }), "{e}");
    assert!(Fold::scan(d.path(), "train").is_err());

    // A flipped bit in a member header: open is fine (headers are not read at open), verify
    // names the shard and the checksum field's offset.
    let d = copy("glzn");
    edit(&d.path().join("train_0001.tar"), |b| b[3] ^= 1);
    let fold = Fold::open(&d.path().join("train.taridx")).unwrap();
    let e = fold.verify().unwrap_err();
    let msg = e.to_string();
    assert!(
        msg.contains("train_0001.tar") && msg.contains("byte 148"),
        "{msg}"
    );
    assert!(matches!(itar_error(&e), ItarError::Checksum { .. }));

    // A member added to a shard without re-indexing is reported by verify.
    let d = copy("glzn");
    let val = d.path().join("val_0000.tar");
    {
        let bytes = std::fs::read(&val).unwrap();
        let mut ar = tar::Archive::new(&bytes[..]);
        let mut b = tar::Builder::new(Vec::new());
        for e in ar.entries().unwrap() {
            let mut e = e.unwrap();
            let h = e.header().clone();
            let mut data = Vec::new();
            std::io::Read::read_to_end(&mut e, &mut data).unwrap();
            b.append(&h, &data[..]).unwrap();
        }
        let mut h = tar::Header::new_ustar();
        h.set_path("v1.txt").unwrap();
        h.set_size(1);
        h.set_cksum();
        b.append(&h, &b"!"[..]).unwrap();
        std::fs::write(&val, b.into_inner().unwrap()).unwrap();
    }
    let fold = Fold::open(&d.path().join("val.taridx")).unwrap();
    let e = fold.verify().unwrap_err();
    assert!(
        matches!(itar_error(&e), ItarError::Unindexed { name, .. } if name == "v1.txt"),
        "{e}"
    );

    // Short reads: every prefix of a shard either scans or errors, never panics.
    let bytes = std::fs::read(fixture("edge/edge_0000.tar")).unwrap();
    for cut in (0..bytes.len()).step_by(97) {
        let _ = Fold::from_bytes("edge", None, vec![bytes[..cut].to_vec()]);
    }
}

#[test]
fn folder_without_dataset_is_an_error() {
    let d = tempfile::tempdir().unwrap();
    let e = itar::ls(d.path(), &mut Vec::new()).unwrap_err();
    assert!(matches!(itar_error(&e), ItarError::NotADataset));
    let e = itar::open_store(&fixture("glzn")).unwrap_err();
    assert!(matches!(itar_error(&e), ItarError::SeveralFolds { .. }));
    // A dataset that is not a patient repository.
    let e = itar::open_store(&fixture("glzn/val.taridx")).unwrap_err();
    assert!(
        matches!(itar_error(&e), ItarError::NotPatientDataset),
        "{e}"
    );
}
