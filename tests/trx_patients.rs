//! The patient mapping: the golden repository (written by the original tools) exported to TRX
//! in each form, read back through `Repository::open`, must pass the conformance suite; plus the
//! CLI (`export --to trx`, `ls`, `cat`, `get`, `verify`) on the built binary.
#![cfg(feature = "trx")]

mod common;

use std::path::Path;
use std::process::Command;

use inframed::backend::trx::{self, group_name_for, TrxFile, TrxStore};
use inframed::backend::ExportOptions;
use inframed::{Repository, SignalStore};

fn export(dir: &Path, name: &str, options: ExportOptions) -> std::path::PathBuf {
    let golden = common::golden_repo();
    let out = dir.join(name);
    trx::export(&golden, &out, &options).unwrap();
    out
}

fn forms() -> [(&'static str, ExportOptions); 3] {
    [
        ("stored.trx", ExportOptions::default()),
        (
            "deflate.trx",
            ExportOptions {
                deflate: true,
                ..Default::default()
            },
        ),
        (
            "folder.trx",
            ExportOptions {
                dir: true,
                ..Default::default()
            },
        ),
    ]
}

#[test]
fn golden_repository_round_trips_in_every_form() {
    let golden = common::golden_repo();
    let dir = tempfile::tempdir().unwrap();
    for (name, options) in forms() {
        let out = export(dir.path(), name, options.clone());
        assert_eq!(out.is_dir(), options.dir, "{name}");
        let repo = Repository::open(&out).unwrap();
        common::conformance(&repo, &golden);
    }
}

#[test]
fn mapping_layout_is_what_the_design_says() {
    let golden = common::golden_repo();
    let dir = tempfile::tempdir().unwrap();
    let out = export(dir.path(), "m.trx", ExportOptions::default());
    let trx = TrxFile::open(&out).unwrap();
    let positions = trx.array("positions").unwrap();
    assert_eq!(positions.member, "positions.3.float64");
    // One streamline per non-empty (pid, sid) series, sorted by pid then catalog order.
    let mut expected_series = Vec::new();
    for &pid in golden.pids() {
        for info in golden.catalog().signals() {
            let n = golden.get_bytes(pid, info.sid).unwrap().len() / info.layout.size();
            if n > 0 {
                expected_series.push((pid.0 as f64, info.sid.0 as f64, n as u64, info));
            }
        }
    }
    assert_eq!(trx.nb_streamlines(), expected_series.len() as u64);
    let patient = trx.dps("patient").unwrap().to_f64();
    let signal = trx.dps("signal").unwrap().to_f64();
    let lengths = trx.lengths().unwrap();
    for (i, (p, s, n, info)) in expected_series.iter().enumerate() {
        assert_eq!(
            (patient[i], signal[i], lengths[i]),
            (*p, *s, *n),
            "series {i}"
        );
        // positions column 0 = time channel 0, column 1 = value channel 0 (NaN if none).
        let rows = trx.streamline(i as u64).unwrap();
        let sig = golden.signal(inframed::Pid(*p as u32), &info.name).unwrap();
        for (r, e) in sig.iter().enumerate() {
            let t = if info.layout.time_channels().is_empty() {
                f64::NAN
            } else {
                e.time(0).as_f64()
            };
            let got = rows.get_f64(r, 0).unwrap();
            assert!(
                got == t || (got.is_nan() && t.is_nan()),
                "{} row {r}",
                info.name
            );
            if !info.layout.value_channels().is_empty() {
                assert_eq!(rows.get_f64(r, 1).unwrap(), e.value(0).as_f64());
            }
        }
    }
    // groups/<escaped signal name> lists that signal's series; the empty signal has an empty group.
    for info in golden.catalog().signals() {
        let members = trx.group(&group_name_for(&info.name)).unwrap();
        let want: Vec<u64> = expected_series
            .iter()
            .enumerate()
            .filter(|(_, s)| s.1 == info.sid.0 as f64)
            .map(|(i, _)| i as u64)
            .collect();
        assert_eq!(members, want, "{}", info.name);
    }
    assert_eq!(group_name_for("Urine/Creatinine"), "Urine%2FCreatinine");
    assert_eq!(group_name_for("Eosinophils%"), "Eosinophils%25");
    assert_eq!(group_name_for("a.b"), "a%2Eb");
    // Stored zip: get_bytes lends from the map (no copy).
    let store = TrxStore::open(&out).unwrap();
    let pid = golden.pids()[0];
    let sid = golden.catalog().signal("Hemoglobin").unwrap().sid;
    assert!(matches!(
        store.get_bytes(pid, sid).unwrap(),
        std::borrow::Cow::Borrowed(_)
    ));
}

#[test]
fn a_plain_trx_is_not_a_patient_file() {
    // A TRX written by trx-python (no INFRAMED header key) is refused with a clear error.
    let err = TrxStore::open(common::testdata("trx/a_stored.trx")).unwrap_err();
    let msg = format!("{err}: {}", std::error::Error::source(&err).unwrap());
    assert!(msg.contains("INFRAMED"), "{msg}");
}

fn bin() -> Command {
    Command::new(env!("CARGO_BIN_EXE_inframed"))
}

fn run(args: &[&str]) -> (i32, String, String) {
    let o = bin().args(args).output().unwrap();
    (
        o.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&o.stdout).into_owned(),
        String::from_utf8_lossy(&o.stderr).into_owned(),
    )
}

#[test]
fn cli_export_ls_cat_get_verify() {
    let dir = tempfile::tempdir().unwrap();
    let golden = common::golden_repo_path();
    let golden_s = golden.to_str().unwrap();
    for (name, flag) in [
        ("c.trx", None),
        ("cd.trx", Some("--deflate")),
        ("cf.trx", Some("--dir")),
    ] {
        let out = dir.path().join(name);
        let out_s = out.to_str().unwrap();
        let mut args = vec!["export", golden_s, out_s, "--to", "trx"];
        args.extend(flag);
        let (code, _, err) = run(&args);
        assert_eq!(code, 0, "{err}");

        let (code, ls, err) = run(&["ls", out_s]);
        assert_eq!(code, 0, "{err}");
        assert!(ls.contains("positions\tfloat64\t("), "{ls}");
        assert!(ls.contains("offsets\tuint32\t("), "{ls}");
        assert!(ls.contains("dps/patient\tuint32"), "{ls}");
        assert!(ls.contains("groups/Urine%2FCreatinine\tuint32"), "{ls}");
        if flag == Some("--deflate") {
            assert!(ls.contains("\tdeflated"), "{ls}");
        }

        // cat: bytes as stored, equal to what the container reader lends.
        let trx = TrxFile::open(&out).unwrap();
        for key in ["positions", "offsets", "dps/patient", "groups/Hemoglobin"] {
            let o = bin().args(["cat", out_s, key]).output().unwrap();
            assert!(o.status.success());
            let a = trx.array(key).unwrap();
            assert_eq!(o.stdout, trx.bytes(a).unwrap(), "{key}");
            assert_eq!(o.stdout.len() as u64, a.size, "{key}");
        }
        let (code, _, err) = run(&["cat", out_s, "dps/nope"]);
        assert_eq!(code, 2);
        assert!(err.contains("no array"), "{err}");

        // get: same lines as on the original repository.
        let (code, want, _) = run(&["get", golden_s, "1025", "Hemoglobin"]);
        assert_eq!(code, 0);
        let (code, got, err) = run(&["get", out_s, "1025", "Hemoglobin"]);
        assert_eq!(code, 0, "{err}");
        assert_eq!(got, want);
        assert!(!got.is_empty());
        let (_, want, _) = run(&["get", golden_s, "1025", "ADMISSION"]);
        let (_, got, _) = run(&["get", out_s, "1025", "ADMISSION"]);
        assert_eq!(got, want);

        let (code, _, err) = run(&["verify", out_s]);
        assert_eq!(code, 0, "{err}");
    }
}

#[test]
fn cli_verify_fails_on_damage() {
    let dir = tempfile::tempdir().unwrap();
    let out = export(dir.path(), "v.trx", ExportOptions::default());
    let trx = TrxFile::open(&out).unwrap();
    // Flip one byte inside the element bytes of a stored member: open still works (no per-element
    // work at open) but verify reports the CRC mismatch, naming the member.
    let a = trx
        .arrays()
        .iter()
        .find(|a| a.member.starts_with("dpv/element_8"))
        .unwrap();
    let at = a.data_offset as usize + 3;
    drop(trx);
    let mut bytes = std::fs::read(&out).unwrap();
    bytes[at] ^= 0x40;
    let damaged = dir.path().join("damaged.trx");
    std::fs::write(&damaged, &bytes).unwrap();
    let (code, _, err) = run(&["verify", damaged.to_str().unwrap()]);
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("dpv/element_8"), "{err}");
    assert!(err.contains("crc32"), "{err}");
    let (code, _, _) = run(&["verify", out.to_str().unwrap()]);
    assert_eq!(code, 0);
}
