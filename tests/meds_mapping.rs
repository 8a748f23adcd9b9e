//! `convert --from-meds --mapping FILE`: one test per mapping rule on testdata/meds/small
//! (codes GENDER//F, MEDS_BIRTH, LOINC/718-7, ICD10CM/…, Glucose), and file:line errors.
#![cfg(feature = "arrow")]

use std::path::Path;

use inframed::meds::{import_meds, Mapping, MedsImportOptions, MedsImportSummary};
use inframed::Error;

const SMALL: &str = "testdata/meds/small";

fn import(map: &str) -> (tempfile::TempDir, inframed::Result<MedsImportSummary>) {
    let tmp = tempfile::tempdir().unwrap();
    let m = Mapping::parse(Path::new("map.txt"), map).unwrap();
    let o = MedsImportOptions {
        mapping: Some(m),
        ..Default::default()
    };
    let r = import_meds(Path::new(SMALL), &tmp.path().join("out"), &o);
    (tmp, r)
}

fn names(s: &MedsImportSummary) -> Vec<String> {
    s.signals.iter().map(|(n, _)| n.clone()).collect()
}

/// Imports with `map` and checks that the signals `present` are made and `absent` are not.
fn signals_after(map: &str, present: &[&str], absent: &[&str]) {
    let (_t, r) = import(map);
    let n = names(&r.unwrap());
    for p in present {
        assert!(n.iter().any(|x| x == p), "{map:?}: no {p} in {n:?}");
    }
    for a in absent {
        assert!(!n.iter().any(|x| x == a), "{map:?}: {a} in {n:?}");
    }
}

#[test]
fn exact_numeric_rule_renames_a_signal() {
    signals_after(
        "LOINC/718-7\tHemoglobin numeric\n",
        &["Hemoglobin"],
        &["LOINC/718-7"],
    );
}

#[test]
fn prefix_category_rule_groups_codes() {
    signals_after(
        "ICD10CM/*  DIAGNOSIS  category\n",
        &["DIAGNOSIS"],
        &["ICD10CM"],
    );
}

#[test]
fn auto_kind_follows_the_values() {
    signals_after(
        "Glucose GLU\nMEDS_BIRTH BIRTH_EVENTS\n",
        &["GLU", "BIRTH_EVENTS"],
        &["Glucose", "MEDS_BIRTH"],
    );
}

#[test]
fn dash_drops_and_counts() {
    let (_t, plain) = import("");
    let plain = plain.unwrap();
    let (_t2, r) = import("Glucose -\n");
    let s = r.unwrap();
    let glucose = plain
        .signals
        .iter()
        .find(|(n, _)| n == "Glucose")
        .unwrap()
        .1;
    assert!(glucose > 0);
    assert_eq!(s.dropped_rows, glucose);
    assert_eq!(s.events + glucose, plain.events);
    assert!(!names(&s).contains(&"Glucose".to_string()));
}

#[test]
fn unused_line_is_a_warning() {
    let (_t, r) = import("NOPE/* X\n");
    let s = r.unwrap();
    assert!(s.warnings.iter().any(|w| w.contains("map.txt:1")));
}

#[test]
fn numeric_without_values_names_the_line() {
    let (_t, r) = import("# comment\nMEDS_BIRTH B numeric\n");
    let e = r.unwrap_err();
    assert!(matches!(e, Error::Parse { line: 2, .. }), "{e}");
    let e = chain(&e);
    assert!(e.contains("map.txt:2") && e.contains("MEDS_BIRTH"), "{e}");
}

#[test]
fn numeric_into_a_category_names_the_line() {
    let (_t, r) = import("ICD10CM/* DX\nGlucose DX numeric\n");
    let e = chain(&r.unwrap_err());
    assert!(e.contains("map.txt:2"), "{e}");
}

#[test]
fn bad_lines_name_file_and_line() {
    for (text, want) in [
        ("onlyone\n", "map.txt:1"),
        ("a b c d\n", "map.txt:1"),
        ("\na b weird\n", "map.txt:2"),
        ("a*b X\n", "map.txt:1"),
        ("a - numeric\n", "map.txt:1"),
        ("a X//Y\n", "map.txt:1"),
        ("a X\na Y\n", "map.txt:2"),
    ] {
        let e = Mapping::parse(Path::new("map.txt"), text).unwrap_err();
        assert!(matches!(e, Error::Parse { .. }), "{text:?}: {e}");
        assert!(e.to_string().contains(want), "{text:?}: {e}");
    }
}

/// The error and its sources, as the command line prints them.
fn chain(e: &Error) -> String {
    let mut s = e.to_string();
    let mut cur = std::error::Error::source(e);
    while let Some(c) = cur {
        s.push_str(": ");
        s.push_str(&c.to_string());
        cur = c.source();
    }
    s
}
