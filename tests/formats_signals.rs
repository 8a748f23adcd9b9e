//! Repository configs with several SIGNAL lines, signals lines the original rejects, and `.data`
//! files whose format word is neither full (0) nor stripped (1). Fixtures:
//! testdata/signals/make_fixtures.py.

mod common;

use std::path::Path;

use inframed::text::signals::SignalsFile;
use inframed::{Error, Repository, SignalStore, TimeUnit};

#[test]
fn two_signal_lines_read_both_files() {
    let path = common::testdata("signals/two_files/two.repository");
    let repo = Repository::open(&path).unwrap();
    // Every signal of the golden repository, from the two files together, reading the same.
    let golden = common::golden_repo();
    assert_eq!(signal_names(&repo), signal_names(&golden));
    common::conformance(&repo, &golden);
}

#[test]
fn a_bare_name_line_is_an_error_naming_file_and_line() {
    let path = common::testdata("signals/bare_name/bare.repository");
    let e = Repository::open(&path).unwrap_err();
    assert!(matches!(e, Error::Parse { line: 14, .. }), "{e:?}");
    let msg = e.to_string();
    assert!(msg.contains("bare.signals:14"), "{msg}");
}

fn parse(files: &[(&str, &str)]) -> inframed::Result<SignalsFile> {
    let files: Vec<(&Path, &str)> = files.iter().map(|(p, t)| (Path::new(*p), *t)).collect();
    SignalsFile::parse_files(&files, TimeUnit::Date)
}

#[test]
fn signals_lines_follow_the_original_matching_rule() {
    // Prefix matching, as the C++ `compare(0, n, KEYWORD)`.
    let s = parse(&[(
        "a.signals",
        "GENERIC_SIGNAL_TYPEx\tt\tV(i)\nSIGNALS\tA\t1\t16:t\n",
    )])
    .unwrap();
    assert_eq!(s.signals[0].name, "A");
    assert_eq!(s.signals[0].layout.spec(), "V(i)");
    for (text, line) in [
        ("SIGNAL\tA\t1\t1\nHemoglobin\n", 2), // bare name
        ("SIGNAL\tA\t1\n", 1),                // missing type
        ("\nFOO\tbar\tbaz\tqux\n", 2),        // unknown keyword
        ("GENERIC_SIGNAL_TYPE\tonly\n", 1),   // alias without spec
        ("SIG\tA\t1\t1\n", 1),                // a shorter word is no prefix match
    ] {
        let e = parse(&[("a.signals", text)]).unwrap_err().to_string();
        assert!(
            e.starts_with(&format!("a.signals:{line}:")),
            "{text:?}: {e}"
        );
    }
}

#[test]
fn redefinitions_across_files() {
    let a = "SIGNAL\tA\t1\t1\tlab\t0\tg\n";
    // The same definition again (even with the type written another way) is kept once.
    let s = parse(&[
        ("a.signals", a),
        (
            "b.signals",
            "SIGNAL\tA\t1\tT(i),V(f)\tlab\t0\tg\nSIGNAL\tB\t2\t1\n",
        ),
    ])
    .unwrap();
    assert_eq!(s.signals.len(), 2);
    // Aliases are local to their file.
    let e = parse(&[
        (
            "a.signals",
            "GENERIC_SIGNAL_TYPE\tt\tV(i)\nSIGNAL\tA\t1\t16:t\n",
        ),
        ("b.signals", "SIGNAL\tB\t2\t16:t\n"),
    ])
    .unwrap_err()
    .to_string();
    assert!(e.starts_with("b.signals:1:"), "{e}");
    // A different definition of a name or a sid names both lines.
    for b in [
        "\nSIGNAL\tA\t7\t1\n",
        "\nSIGNAL\tZ\t1\t1\n",
        "\nSIGNAL\tA\t1\t0\n",
    ] {
        let e = common::error_chain(&parse(&[("a.signals", a), ("b.signals", b)]).unwrap_err());
        assert!(
            e.starts_with("b.signals:2:") && e.contains("a.signals:1"),
            "{b:?}: {e}"
        );
    }
}

#[test]
fn a_data_file_with_an_unknown_format_word_is_refused_on_first_use() {
    let t = tempfile::tempdir().unwrap();
    let dir = t.path().join("repo");
    common::copy_dir(common::golden_repo_path().parent().unwrap(), &dir);
    let data = dir.join("data/small_rep_Hemoglobin.data");
    let mut bytes = std::fs::read(&data).unwrap();
    bytes[..4].copy_from_slice(&7i32.to_le_bytes());
    std::fs::write(&data, &bytes).unwrap();
    // The open only opens the files; the signal's first read maps and checks them, and
    // every read of it reports the error. Other signals read.
    let repo = Repository::open(dir.join("small.repository")).unwrap();
    let pid = repo.pids()[0];
    for _ in 0..2 {
        let e = repo.signal(pid, "Hemoglobin").unwrap_err();
        assert!(
            matches!(&e, Error::Corrupt { path, offset: 0, .. } if path.ends_with("small_rep_Hemoglobin.data")),
            "{e:?}"
        );
        assert!(e.to_string().contains("small_rep_Hemoglobin.data"), "{e}");
    }
    assert_eq!(
        repo.signal(pid, "Glucose").unwrap().len(),
        common::golden_repo().signal(pid, "Glucose").unwrap().len()
    );
    let e = repo.verify().unwrap_err();
    assert!(e.to_string().contains("small_rep_Hemoglobin.data"), "{e}");
    drop(repo);
    // Format word 0 (full) is read as the original reads it: by index positions.
    bytes[..4].copy_from_slice(&0i32.to_le_bytes());
    std::fs::write(&data, &bytes).unwrap();
    let repo = Repository::open(dir.join("small.repository")).unwrap();
    assert_eq!(repo.pids(), common::golden_repo().pids());
}

/// The catalog's signal names, sorted.
fn signal_names(r: &Repository) -> Vec<String> {
    let mut v: Vec<String> = r
        .catalog()
        .signals()
        .iter()
        .map(|s| s.name.clone())
        .collect();
    v.sort();
    v
}

/// `two.repository` exported to MODE 3 with its own texts: (temp dir, written config).
fn export_two_files() -> (tempfile::TempDir, std::path::PathBuf) {
    use inframed::native::writer::{write_mode3, Mode3Options};
    use inframed::text::config::RepositoryConfig;
    let path = common::testdata("signals/two_files/two.repository");
    let repo = Repository::open(&path).unwrap();
    let options = Mode3Options::from_config(&RepositoryConfig::read(&path).unwrap()).unwrap();
    let out = tempfile::tempdir().unwrap();
    let config = write_mode3(&repo, &out.path().join("copy"), &options).unwrap();
    (out, config)
}

#[test]
fn export_of_two_signal_lines_keeps_both_files() {
    let (_out, config) = export_two_files();
    // The written config names both files, in order, and both are there byte for byte.
    let text = std::fs::read_to_string(&config).unwrap();
    let signal_lines: Vec<&str> = text.lines().filter(|l| l.starts_with("SIGNAL")).collect();
    assert_eq!(
        signal_lines,
        ["SIGNAL\tdemo.signals", "SIGNAL\tlabs.signals"],
        "{text}"
    );
    let dir = config.parent().unwrap();
    for f in ["demo.signals", "labs.signals"] {
        assert_eq!(
            std::fs::read(dir.join(f)).unwrap(),
            std::fs::read(common::testdata(&format!("signals/two_files/{f}"))).unwrap(),
            "{f}"
        );
    }
    // Reopened: the catalog every SIGNAL line defines (the golden repository's, from which
    // the two files were split), and the same data.
    let copy = Repository::open(&config).unwrap();
    let golden = common::golden_repo();
    assert_eq!(signal_names(&copy), signal_names(&golden));
    assert!(copy.catalog().signal("GENDER").is_ok());
    assert!(copy.catalog().signal("Hemoglobin").is_ok());
    common::conformance(&copy, &golden);
}

#[test]
fn add_signal_with_two_signal_files_appends_to_the_last_and_refuses_clashes() {
    use inframed::native::writer::add_signal;
    use inframed::native::NewSignal;
    use inframed::Sid;
    let (_out, config) = export_two_files();
    let dir = config.parent().unwrap().to_path_buf();
    let demo_before = std::fs::read(dir.join("demo.signals")).unwrap();
    // GENDER is defined in the first file only: its name (or its sid) is taken.
    for (name, sid) in [("GENDER", 7001), ("NEWSIG", 100)] {
        let s = NewSignal::new(name, Sid(sid), "16:V(i)");
        let e = add_signal(&config, &s, Vec::new()).unwrap_err();
        assert!(
            matches!(
                &e,
                Error::InvalidInput {
                    source: inframed::InputError::SignalClash { existing, .. }
                } if existing == "GENDER"
            ),
            "{name}: {e:?}"
        );
    }
    let s = NewSignal::new("NEWSIG", Sid(7001), "16:V(i)");
    add_signal(&config, &s, Vec::new()).unwrap();
    assert_eq!(
        std::fs::read(dir.join("demo.signals")).unwrap(),
        demo_before
    );
    let labs = std::fs::read_to_string(dir.join("labs.signals")).unwrap();
    assert!(labs
        .lines()
        .last()
        .unwrap()
        .starts_with("SIGNAL\tNEWSIG\t7001\t"));
    let repo = Repository::open(&config).unwrap();
    let mut want = signal_names(&common::golden_repo());
    want.push("NEWSIG".into());
    want.sort();
    assert_eq!(signal_names(&repo), want);
    assert!(repo.catalog().signal("GENDER").is_ok());
}
