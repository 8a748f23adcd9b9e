//! The built binary on `.iac` packs: export, ls, cat, get, dump, info, verify (exit 1 on
//! damage), and container errors on corrupted packs.
#![cfg(feature = "iac")]

mod common;

use std::path::Path;
use std::process::{Command, Output};

use inframed::SignalStore;

fn run(args: &[&dyn AsRef<std::ffi::OsStr>]) -> Output {
    let mut c = Command::new(env!("CARGO_BIN_EXE_inframed"));
    for a in args {
        c.arg(a.as_ref());
    }
    c.output().expect("run inframed")
}

fn stdout(o: &Output) -> String {
    String::from_utf8(o.stdout.clone()).unwrap()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

fn export(dir: &Path, codec: Option<&str>) -> std::path::PathBuf {
    let out = dir.join(format!("small-{}.iac", codec.unwrap_or("none")));
    let repo = common::golden_repo_path();
    let o = match codec {
        None => run(&[&"export", &repo, &out, &"--to", &"iac"]),
        Some(c) => run(&[&"export", &repo, &out, &"--to", &"iac", &"--codec", &c]),
    };
    assert!(o.status.success(), "export: {}", stderr(&o));
    out
}

#[test]
fn export_ls_cat_get_dump_info_verify() {
    let dir = tempfile::tempdir().unwrap();
    let golden = common::golden_repo();
    let repo = common::golden_repo_path();
    for codec in [None, Some("brotli"), Some("zstd")] {
        let out = export(dir.path(), codec);

        // ls: a header line, then one line per record in (pid, catalog order) order.
        let o = run(&[&"ls", &out]);
        assert!(o.status.success(), "{}", stderr(&o));
        let text = stdout(&o);
        let mut lines = text.lines();
        assert_eq!(
            lines.next().unwrap(),
            "#row\tpid\tsid\tn\toffset\tlength\tcrc32"
        );
        let mut expected_rows = Vec::new();
        for &pid in golden.pids() {
            for s in golden.catalog().signals() {
                let b = golden.get_bytes(pid, s.sid).unwrap();
                if !b.is_empty() {
                    expected_rows.push((pid, s.sid, b.len() / s.layout.size(), b.into_owned()));
                }
            }
        }
        let rows: Vec<&str> = lines.collect();
        assert_eq!(rows.len(), expected_rows.len());
        for (i, (line, (pid, sid, n, _))) in rows.iter().zip(&expected_rows).enumerate() {
            let f: Vec<&str> = line.split('\t').collect();
            assert_eq!(
                &f[..4],
                &[
                    i.to_string(),
                    pid.to_string(),
                    sid.to_string(),
                    n.to_string()
                ]
            );
        }

        // cat ROW: the decoded payload = the original repository's element bytes.
        for row in [0usize, 7, expected_rows.len() - 1] {
            let o = run(&[&"cat", &out, &row.to_string()]);
            assert!(o.status.success(), "{}", stderr(&o));
            assert_eq!(o.stdout, expected_rows[row].3, "row {row}");
        }
        let o = run(&[&"cat", &out, &"--", &"-1"]); // clap needs `--` before a negative row
        assert_eq!(o.stdout, expected_rows.last().unwrap().3);
        let o = run(&[&"cat", &out, &"100000"]);
        assert!(!o.status.success());
        assert!(stderr(&o).contains("out of range"), "{}", stderr(&o));
        assert!(o.stdout.is_empty());

        // get and dump print what they print for the original repository.
        for (pid, name) in [
            ("1025", "Hemoglobin"),
            ("1025", "DIAGNOSIS"),
            ("1026", "ADMISSION"),
            ("40", "GENDER"),
        ] {
            let a = run(&[&"get", &out, &pid, &name]);
            let b = run(&[&"get", &repo, &pid, &name]);
            // Pid 40 is no patient: both exit 3 (unknown pid), the others succeed.
            let code = if pid == "40" { 3 } else { 0 };
            assert_eq!(a.status.code(), Some(code), "{}", stderr(&a));
            assert_eq!(b.status.code(), Some(code), "{}", stderr(&b));
            assert_eq!(stdout(&a), stdout(&b), "get {pid} {name}");
        }
        let a = run(&[&"dump", &out]);
        let b = run(&[&"dump", &repo]);
        assert!(a.status.success());
        assert!(!stdout(&a).is_empty());
        assert_eq!(stdout(&a), stdout(&b), "dump");

        let o = run(&[&"info", &out]);
        assert!(o.status.success(), "{}", stderr(&o));
        assert!(stdout(&o).contains("IatroCache"));

        let o = run(&[&"verify", &out]);
        assert!(o.status.success(), "{}", stderr(&o));
        assert!(stdout(&o).starts_with(&format!("ok\t{} patients", golden.pids().len())));
    }
}

#[test]
fn verify_exits_1_naming_the_damage() {
    let dir = tempfile::tempdir().unwrap();
    let out = export(dir.path(), Some("brotli"));
    let sound = std::fs::read(&out).unwrap();
    let pack = inframed::backend::iac::Pack::open(&out).unwrap();
    let data = pack.layout().data_offset as usize;
    let (off3, len3) = pack.record_span(3).unwrap();
    let (slide_off, index_off) = (65536usize, pack.layout().index_table_offset as usize);
    drop(pack);

    let cases: Vec<(&str, Vec<u8>, &str)> = vec![
        (
            "truncated",
            sound[..sound.len() - 10].to_vec(),
            "data segment outside file bounds",
        ),
        ("short", sound[..1000].to_vec(), "file too small"),
        (
            "magic",
            {
                let mut b = sound.clone();
                b[0] = b'X';
                b
            },
            "bad magic",
        ),
        (
            "version",
            {
                let mut b = sound.clone();
                b[12] = 3;
                b
            },
            "unsupported IatroCache version 3",
        ),
        (
            "header length",
            {
                let mut b = sound.clone();
                b[8..12].copy_from_slice(&70000u32.to_le_bytes());
                b
            },
            "invalid IatroCache header length 70000",
        ),
        (
            "header length past json",
            {
                let mut b = sound.clone();
                let n = u32::from_le_bytes(b[8..12].try_into().unwrap()) + 3;
                b[8..12].copy_from_slice(&n.to_le_bytes());
                b
            },
            "invalid IatroCache header JSON",
        ),
        (
            "payload byte",
            {
                let mut b = sound.clone();
                b[data + off3 as usize + len3 as usize / 2] ^= 1;
                b
            },
            "crc32 mismatch at row 3",
        ),
        (
            "arrow bytes",
            {
                let mut b = sound.clone();
                b[index_off + 4] = 0x7f;
                b
            },
            "index table",
        ),
        (
            "slide arrow bytes",
            {
                let mut b = sound.clone();
                b[slide_off] = 0;
                b
            },
            "slide table",
        ),
    ];
    for (what, bytes, needle) in cases {
        let bad = dir
            .path()
            .join(format!("bad-{}.iac", what.replace(' ', "_")));
        std::fs::write(&bad, bytes).unwrap();
        let o = run(&[&"verify", &bad]);
        assert_eq!(o.status.code(), Some(1), "{what}: {}", stderr(&o));
        let err = stderr(&o);
        assert!(err.contains(needle), "{what}: {err}");
        assert!(
            err.contains(&*bad.to_string_lossy()),
            "{what} names the file: {err}"
        );
        assert!(o.stdout.is_empty(), "{what}");
    }

    // A bad brotli stream whose CRC matches (a writer bug, not bit rot): verify decodes.
    let dir2 = tempfile::tempdir().unwrap();
    let src = inframed::backend::iac::Pack::open(&out).unwrap();
    let mut payloads: Vec<Vec<u8>> = (0..src.num_records())
        .map(|r| src.read_stored(r).unwrap().to_vec())
        .collect();
    payloads[2] = b"\xff\xff not brotli".to_vec();
    let bad = dir2.path().join("badbrotli.iac");
    inframed::backend::iac::build_pack(
        &bad,
        src.header(),
        src.slide_table(),
        src.index_table(),
        &payloads,
        false,
    )
    .unwrap();
    let o = run(&[&"verify", &bad]);
    assert_eq!(o.status.code(), Some(1));
    assert!(
        stderr(&o).contains("cannot decode row 2 with codec brotli"),
        "{}",
        stderr(&o)
    );
    let o = run(&[&"cat", &bad, &"2"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(o.stdout.is_empty());
}

#[test]
fn ls_and_cat_on_packs_of_the_original_writer() {
    let dir = tempfile::tempdir().unwrap();
    for name in ["none_extras", "brotli", "fixed", "empty"] {
        let z = std::fs::read(common::testdata(&format!("iac/{name}.iac.zst"))).unwrap();
        let path = dir.path().join(format!("{name}.iac"));
        std::fs::write(&path, zstd::decode_all(&z[..]).unwrap()).unwrap();
        let o = run(&[&"ls", &path]);
        assert!(o.status.success(), "{name}: {}", stderr(&o));
        let text = stdout(&o);
        let exp: serde_json::Value = serde_json::from_str(
            &std::fs::read_to_string(common::testdata("iac/expected.json")).unwrap(),
        )
        .unwrap();
        let rows = exp[name]["index_table"]["rows"].as_array().unwrap();
        assert_eq!(text.lines().count(), 1 + rows.len(), "{name}");
        if name == "none_extras" {
            let second: Vec<&str> = text.lines().nth(2).unwrap().split('\t').collect();
            // row 1: key null, score null, flag false, blob null, ..., i8 127, offset 5, length 0
            assert_eq!(second[0], "1");
            assert_eq!(&second[1..4], &["null", "null", "false"]);
            assert_eq!(second[6], "127");
            let fifth: Vec<&str> = text.lines().nth(5).unwrap().split('\t').collect();
            assert_eq!(fifth[1], "tab\\tnl\\n", "escaped");
        }
        if let Some(decoded) = exp[name].get("decoded") {
            for (row, d) in decoded.as_array().unwrap().iter().enumerate() {
                let o = run(&[&"cat", &path, &row.to_string()]);
                assert!(o.status.success());
                let hex: String = o.stdout.iter().map(|b| format!("{b:02x}")).collect();
                assert_eq!(hex, d.as_str().unwrap(), "{name} row {row}");
            }
        }
        if name == "fixed" {
            let o = run(&[&"cat", &path, &"1"]);
            let want: Vec<u8> = [4f32, 5., 6., 7.]
                .iter()
                .flat_map(|f| f.to_le_bytes())
                .collect();
            assert_eq!(o.stdout, want);
        }
        // Container-level verify works on any pack (it opens as an empty repository).
        let o = run(&[&"verify", &path]);
        assert!(o.status.success(), "{name}: {}", stderr(&o));
    }
}
