//! Damaged repositories: truncated, bit-flipped and inconsistent files give an `Err` naming the
//! file and the byte offset or line (never a panic), and `inframed verify` exits 1.

mod common;

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

use inframed::repository::read_catalog;
use inframed::text::config::RepositoryConfig;
use inframed::{Error, NativeStore, Repository, SignalStore};

fn private_copy() -> (tempfile::TempDir, PathBuf) {
    let d = tempfile::tempdir().unwrap();
    common::copy_dir(&common::testdata("inframed/small/repo"), d.path());
    let cfg = d.path().join("small.repository");
    (d, cfg)
}

/// Opens and fully verifies; any error is fine, a panic is not.
fn open_and_verify(cfg: &Path) -> Result<(), Error> {
    let repo = Repository::open(cfg)?;
    verify_all(&repo)
}

fn verify_all(repo: &dyn SignalStore) -> Result<(), Error> {
    repo.verify()?;
    // Touch every (pid, sid) too: lookups must not panic on damage that verify missed.
    for s in repo.catalog().signals() {
        for &p in repo.pids() {
            let _ = repo.get_bytes(p, s.sid);
        }
        let _ = repo.scan(s.sid, &mut |_, _| {});
    }
    Ok(())
}

fn binary_files(dir: &Path) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = fs::read_dir(dir.join("data"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| {
            p.extension()
                .is_some_and(|e| e == "data" || e == "idx" || e == "list")
        })
        .collect();
    v.sort();
    v
}

#[test]
fn every_truncation_of_every_binary_file_is_an_error_naming_the_file() {
    let (d, cfg) = private_copy();
    for file in binary_files(d.path()) {
        let original = fs::read(&file).unwrap();
        let name = file.file_name().unwrap().to_string_lossy().into_owned();
        let mut cuts: Vec<usize> = (0..original.len().min(100)).collect();
        cuts.extend((100..original.len()).step_by(37));
        cuts.push(original.len() - 1);
        for cut in cuts {
            // A .data file cut at a whole element is a valid shorter file for the data alone,
            // but the index then points past it.
            fs::write(&file, &original[..cut]).unwrap();
            let err = open_and_verify(&cfg).expect_err(&format!("{name} cut at {cut}"));
            let msg = err.to_string();
            assert!(msg.contains(&name), "{name} cut at {cut}: {msg}");
        }
        fs::write(&file, &original).unwrap();
    }
    open_and_verify(&cfg).unwrap();
}

#[test]
fn header_bit_flips_are_errors_with_offsets_and_no_flip_panics() {
    let (d, cfg) = private_copy();
    // Parse the text files once; each flip reopens only the binary files.
    let config = RepositoryConfig::read(&cfg).unwrap();
    let (catalog, _) = read_catalog(&config).unwrap();
    let open = || {
        NativeStore::open(catalog.clone(), &config.prefix_path(), vec![])
            .and_then(|s| verify_all(&s))
    };
    let mut detected = 0;
    let mut total = 0;
    for file in binary_files(d.path()) {
        let original = fs::read(&file).unwrap();
        let header = if file.extension().unwrap() == "idx" {
            68
        } else {
            4
        };
        // Every header byte, then a sample of the rest (each flip reopens the repository).
        let positions = (0..original.len().min(72)).chain((72..original.len()).step_by(41));
        for i in positions {
            for bit in [0x01u8, 0x80] {
                let mut b = original.clone();
                b[i] ^= bit;
                fs::write(&file, &b).unwrap();
                let r = open();
                let failed = r.is_err();
                if i < header.min(original.len()) {
                    let err = r.expect_err(&format!("{} byte {i} bit {bit:#x}", file.display()));
                    assert!(
                        matches!(err, Error::Corrupt { .. } | Error::Inconsistent { .. }),
                        "{}: {err}",
                        file.display()
                    );
                }
                total += 1;
                detected += failed as usize;
            }
        }
        fs::write(&file, &original).unwrap();
    }
    // Flips inside float or int values are undetectable without checksums (the format has
    // none); everything structural is. Keep the ratio visible.
    eprintln!("bit flips detected: {detected} of {total}");
    assert!(detected * 3 > total, "{detected} of {total}");
}

#[test]
fn damage_reports_the_byte_offset() {
    let (d, cfg) = private_copy();
    let idx = d.path().join("data/small_rep_Hemoglobin.idx");
    let mut b = fs::read(&idx).unwrap();
    b[28] ^= 0xff; // sparse magic
    fs::write(&idx, &b).unwrap();
    // Reported by the signal's first read (the open only opens its files).
    let repo = Repository::open(&cfg).unwrap();
    let err = repo.signal(repo.pids()[0], "Hemoglobin").unwrap_err();
    assert_eq!(
        err.to_string(),
        format!("{}: corrupt at byte 28", idx.display())
    );
    let src = std::error::Error::source(&err).unwrap().to_string();
    assert!(src.starts_with("bad magic number"), "{src}");
}

#[test]
fn unsorted_times_and_pids_are_found_by_verify() {
    let (d, cfg) = private_copy();
    // Swap the first two Hemoglobin elements of pid 1025 (dates 20100101 then 20100202 later).
    let data = d.path().join("data/small_rep_Hemoglobin.data");
    let mut b = fs::read(&data).unwrap();
    let (first, last) = (b[4..12].to_vec(), b[4 + 8 * 10..4 + 8 * 11].to_vec());
    b[4..12].copy_from_slice(&last);
    b[4 + 8 * 10..4 + 8 * 11].copy_from_slice(&first);
    fs::write(&data, &b).unwrap();
    let repo = Repository::open(&cfg).unwrap();
    let err = repo.verify().unwrap_err();
    assert!(
        err.to_string()
            .contains("small_rep_Hemoglobin.data: corrupt at byte"),
        "{err}"
    );
    // Typed: element 1 is now earlier than element 0 (which holds element 10's date).
    let hgb = repo.catalog().signal("Hemoglobin").unwrap().sid.0;
    assert!(
        matches!(
            err,
            inframed::Error::Corrupt {
                offset: 12,
                source: inframed::DecodeError::TimeOrder { pid: 1025, sid, element: 1 },
                ..
            } if sid == hgb
        ),
        "{err:?}"
    );
    fs::write(
        &data,
        fs::read(common::testdata(
            "inframed/small/repo/data/small_rep_Hemoglobin.data",
        ))
        .unwrap(),
    )
    .unwrap();

    let list = d.path().join("data/small_rep_all_pids.list");
    let mut b = fs::read(&list).unwrap();
    b.swap(4, 8); // pid 1025 → 1026-ish: no longer ascending or unknown
    b.swap(5, 9);
    fs::write(&list, &b).unwrap();
    let err = Repository::open(&cfg).unwrap().verify().unwrap_err();
    assert!(
        err.to_string()
            .contains("small_rep_all_pids.list: corrupt at byte 8"),
        "{err}"
    );
}

#[test]
fn missing_companion_file_is_inconsistent() {
    let (d, cfg) = private_copy();
    fs::remove_file(d.path().join("data/small_rep_Glucose.idx")).unwrap();
    let err = Repository::open(&cfg).unwrap_err();
    assert!(matches!(err, Error::Inconsistent { .. }), "{err}");
    assert!(err.to_string().contains("small_rep_Glucose.data"), "{err}");
    // Both files absent: an empty signal, like the original reader.
    fs::remove_file(d.path().join("data/small_rep_Glucose.data")).unwrap();
    let repo = Repository::open(&cfg).unwrap();
    assert!(repo
        .pids()
        .iter()
        .all(|&p| repo.signal(p, "Glucose").unwrap().is_empty()));
}

#[test]
fn element_size_mismatch_is_caught_at_first_use() {
    let (d, cfg) = private_copy();
    let signals = d.path().join("small.signals");
    let text = fs::read_to_string(&signals).unwrap().replace(
        "SIGNAL\tGlucose\t1090\t16:my_SDateVal",
        "SIGNAL\tGlucose\t1090\t16:my_DateRangeInt2",
    );
    fs::write(&signals, text).unwrap();
    let repo = Repository::open(&cfg).unwrap();
    let err = repo.signal(repo.pids()[0], "Glucose").unwrap_err();
    let src = std::error::Error::source(&err).unwrap().to_string();
    assert!(
        err.to_string()
            .contains("small_rep_Glucose.idx: corrupt at byte 16"),
        "{err}"
    );
    assert_eq!(src, "field factor (element size) is 8, expected 16");
}

#[test]
fn text_damage_names_file_and_line() {
    let cases: [(&str, &str, &str, &str); 5] = [
        (
            "small.signals",
            "SIGNAL\tDEATH\t104\t16:my_SInt",
            "SIGNAL\tDEATH\tx104\t16:my_SInt",
            "small.signals:14: invalid signal id",
        ),
        (
            "small.signals",
            "SIGNAL\tBP\t500\t16:my_DateShort2",
            "SIGNAL\tBP\t500\t16:my_Nope",
            "small.signals:15: invalid signal type",
        ),
        (
            "small.repository",
            "MODE\t3",
            "MODE\tthree",
            "small.repository:11: invalid MODE",
        ),
        (
            "dicts/dict.gender",
            "DEF\t2\tFemale",
            "DEF\ttwo\tFemale",
            "dicts/dict.gender:5: invalid DEF code",
        ),
        (
            "small.repository",
            "DICTIONARY\tdicts/dict.gender",
            "DICTIONARY\tdicts/dict.nope",
            "cannot open",
        ),
    ];
    for (file, from, to, want) in cases {
        let (d, cfg) = private_copy();
        let path = d.path().join(file);
        let text = fs::read_to_string(&path).unwrap();
        assert!(text.contains(from), "{file}: {from}");
        fs::write(&path, text.replacen(from, to, 1)).unwrap();
        let err = if file.starts_with("dicts/") {
            // Dictionaries are parsed on first use: the open succeeds, the first use fails.
            let repo = Repository::open(&cfg).unwrap();
            repo.dictionaries().unwrap_err().to_string()
        } else {
            Repository::open(&cfg).unwrap_err().to_string()
        };
        assert!(err.contains(want), "{file}: got {err:?}, want {want:?}");
    }
}

#[test]
fn verify_command_exits_1_on_damage_and_0_when_sound() {
    let bin = env!("CARGO_BIN_EXE_inframed");
    let (d, cfg) = private_copy();
    let ok = Command::new(bin).arg("verify").arg(&cfg).output().unwrap();
    assert_eq!(
        ok.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&ok.stderr)
    );
    type Damage = Box<dyn Fn(&mut Vec<u8>)>;
    let cases: Vec<(&str, Damage)> = vec![
        (
            "data/small_rep_BP.idx",
            Box::new(|b: &mut Vec<u8>| b.truncate(b.len() - 3)),
        ),
        (
            "data/small_rep_BP.idx",
            Box::new(|b: &mut Vec<u8>| b[60 + 4] ^= 1),
        ), // counts[1]
        (
            "data/small_rep_BP.data",
            Box::new(|b: &mut Vec<u8>| b.truncate(b.len() - 8)),
        ),
        (
            "data/small_rep_BP.data",
            Box::new(|b: &mut Vec<u8>| b[0] = 0),
        ), // format word
        (
            "data/small_rep_all_pids.list",
            Box::new(|b: &mut Vec<u8>| b[0] ^= 1),
        ),
    ];
    for (file, damage) in cases {
        let path = d.path().join(file);
        let original = fs::read(&path).unwrap();
        let mut b = original.clone();
        damage(&mut b);
        fs::write(&path, &b).unwrap();
        let out = Command::new(bin).arg("verify").arg(&cfg).output().unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{file}: {stderr}");
        assert!(
            stderr.starts_with("error: ") && stderr.contains(file.rsplit('/').next().unwrap()),
            "{file}: {stderr}"
        );
        assert!(out.stdout.is_empty());
        fs::write(&path, &original).unwrap();
    }
}

/// A signal's files are mapped on its first read, but the open holds them: a signal first
/// read after its files were replaced (renamed over) or removed reads the files the open
/// found, as a map made at open would.
#[test]
fn a_signal_first_read_after_its_files_changed_reads_the_opened_ones() {
    let (d, cfg) = private_copy();
    let golden = common::golden_repo();
    let repo = Repository::open(&cfg).unwrap();
    let data = d.path().join("data");
    // The `.idx` renamed over by a damaged one, the `.data` removed.
    let idx = data.join("small_rep_Hemoglobin.idx");
    let mut bytes = fs::read(&idx).unwrap();
    bytes[28] ^= 0xff;
    let tmp = data.join("small_rep_Hemoglobin.idx.tmp");
    fs::write(&tmp, &bytes).unwrap();
    fs::rename(&tmp, &idx).unwrap();
    fs::remove_file(data.join("small_rep_Hemoglobin.data")).unwrap();
    let mut read = 0;
    for &pid in golden.pids() {
        let (a, b) = (
            repo.signal(pid, "Hemoglobin").unwrap(),
            golden.signal(pid, "Hemoglobin").unwrap(),
        );
        assert_eq!(a.bytes(), b.bytes(), "pid {pid:?}");
        read += a.len();
    }
    assert!(read > 0);
    repo.verify().unwrap();
    // A new open sees the change.
    assert!(Repository::open(&cfg).is_err());
}
