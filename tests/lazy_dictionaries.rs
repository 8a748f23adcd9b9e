//! Dictionaries are mapped at open and parsed on first use (issue 20 item 5): an invalid
//! dictionary no longer fails the open, but every use of the dictionaries (and `verify`, and
//! the CLI's `verify`) gives the error an eager parse gives, naming `file:line`; numeric
//! reads never need them. Their warnings come with the parse.

mod common;

use std::path::Path;

use inframed::text::dict::Dictionaries;
use inframed::{Repository, SignalStore};

use common::{copy_dir, golden_repo_path, inframed};

const BIN: &str = env!("CARGO_BIN_EXE_inframed");

/// A private copy of the golden repository with `line` appended to `dicts/<file>`.
fn with_line(dir: &Path, file: &str, line: &str) -> std::path::PathBuf {
    let src = golden_repo_path();
    copy_dir(src.parent().unwrap(), dir);
    let p = dir.join("dicts").join(file);
    let mut text = std::fs::read_to_string(&p).unwrap();
    if !text.ends_with('\n') {
        text.push('\n');
    }
    text.push_str(line);
    text.push('\n');
    std::fs::write(&p, text).unwrap();
    dir.join("small.repository")
}

/// The error of an eager parse of `file` by itself (the parser the open used to run).
fn eager_error(file: &Path) -> String {
    let text = std::fs::read_to_string(file).unwrap();
    let mut d = Dictionaries::default();
    d.load(file, &text).unwrap_err().to_string()
}

#[test]
fn an_invalid_dictionary_fails_at_first_use_with_the_eager_error_not_at_open() {
    let dir = tempfile::tempdir().unwrap();
    let config = with_line(dir.path(), "dict.gender", "DEF\tnot-a-number\tOther");
    let file = dir.path().join("dicts/dict.gender");
    let expected = eager_error(&file);
    assert!(expected.contains("dict.gender:"), "{expected}");

    let repo = Repository::open(&config).unwrap();
    // Numeric reads need no dictionary.
    let golden = Repository::open(golden_repo_path()).unwrap();
    let pid = golden.pids()[0];
    assert_eq!(
        repo.get_bytes(pid, golden.catalog().signal("Hemoglobin").unwrap().sid)
            .unwrap(),
        golden
            .get_bytes(pid, golden.catalog().signal("Hemoglobin").unwrap().sid)
            .unwrap()
    );
    // Every use of the dictionaries: the same error, each time.
    for _ in 0..2 {
        assert_eq!(repo.dictionaries().unwrap_err().to_string(), expected);
    }
    assert_eq!(repo.section("GENDER").unwrap_err().to_string(), expected);
    assert_eq!(repo.verify().unwrap_err().to_string(), expected);

    // The CLI: `verify` fails naming the line; a numeric `get` works.
    let out = inframed(BIN, &[&"verify", &config]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains(&expected), "{err}");
    let out = inframed(BIN, &[&"get", &config, &pid.0.to_string(), &"Hemoglobin"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let out = inframed(BIN, &[&"get", &config, &pid.0.to_string(), &"GENDER"]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains(&expected));
}

#[test]
fn a_missing_dictionary_is_still_an_open_error() {
    let dir = tempfile::tempdir().unwrap();
    let config = with_line(dir.path(), "dict.gender", "");
    std::fs::remove_file(dir.path().join("dicts/dict.gender")).unwrap();
    let e = Repository::open(&config).unwrap_err().to_string();
    assert!(e.contains("dict.gender"), "{e}");
}

#[test]
fn dropped_set_lines_are_warnings_of_the_parse_not_of_the_open() {
    let dir = tempfile::tempdir().unwrap();
    let config = with_line(
        dir.path(),
        "dict.sets_DIAGNOSIS_Fromclient",
        "SET\tE11\tNO_SUCH_CODE",
    );
    let repo = Repository::open(&config).unwrap();
    let golden = Repository::open(golden_repo_path()).unwrap();
    assert_eq!(repo.warnings(), golden.warnings());
    let w: Vec<String> = repo
        .catalog()
        .dictionary_warnings()
        .unwrap()
        .iter()
        .map(|w| w.to_string())
        .collect();
    assert_eq!(w.len(), 1, "{w:?}");
    assert!(
        w[0].contains("dict.sets_DIAGNOSIS_Fromclient:") && w[0].contains("NO_SUCH_CODE"),
        "{w:?}"
    );
    // `inframed verify` prints them.
    let out = inframed(BIN, &[&"verify", &config]);
    assert!(out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("NO_SUCH_CODE"));
    // Codes and names are those of the golden repository.
    let (a, b) = (
        repo.section("DIAGNOSIS").unwrap(),
        golden.section("DIAGNOSIS").unwrap(),
    );
    assert_eq!(a.codes(), b.codes());
    assert!(a.codes().iter().all(|&c| a.names_of(c) == b.names_of(c)));
}
