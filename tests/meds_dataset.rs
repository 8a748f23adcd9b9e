//! MEDS export and import: the export read back with the parquet crate against the
//! accessors; the import of testdata/meds/small (made with pyarrow and the `meds` schema)
//! against meds_reader's view of it; bad rows; malformed Parquet; both round trips.
#![cfg(feature = "arrow")]

use std::collections::BTreeMap;
use std::fs::File;
use std::path::Path;

use arrow_array::cast::AsArray;
use arrow_array::types::{Float32Type, Int64Type, TimestampMicrosecondType};
use arrow_array::Array;
use arrow_schema::{DataType, TimeUnit as ArrowTimeUnit};
use inframed::meds::{export_meds, import_meds, MedsExportOptions, MedsImportOptions};
use inframed::{Error, Pid, Repository, SignalStore, TimeUnit};
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;

const REPO: &str = "testdata/inframed/small/repo/small.repository";
const SMALL: &str = "testdata/meds/small";

/// One event as MEDS has it: time (µs since 1970, None for static), code, numeric value.
type Ev = (Option<i64>, String, Option<f32>);

/// Every event of a MEDS folder's data files, per subject, in file order.
fn events(dir: &Path) -> BTreeMap<i64, Vec<Ev>> {
    let mut files = Vec::new();
    for e in walk(&dir.join("data")) {
        files.push(e);
    }
    files.sort();
    let mut out: BTreeMap<i64, Vec<Ev>> = BTreeMap::new();
    for f in files {
        let b = ParquetRecordBatchReaderBuilder::try_new(File::open(&f).unwrap()).unwrap();
        for batch in b.build().unwrap() {
            let batch = batch.unwrap();
            let s = batch.column_by_name("subject_id").unwrap();
            let s = s.as_primitive::<Int64Type>();
            let t = batch.column_by_name("time").unwrap();
            let t = t.as_primitive::<TimestampMicrosecondType>();
            let c = batch.column_by_name("code").unwrap();
            let c = c.as_string::<i32>();
            let v = batch.column_by_name("numeric_value").unwrap();
            let v = v.as_primitive::<Float32Type>();
            for i in 0..batch.num_rows() {
                out.entry(s.value(i)).or_default().push((
                    (!t.is_null(i)).then(|| t.value(i)),
                    c.value(i).to_string(),
                    (!v.is_null(i)).then(|| v.value(i)),
                ));
            }
        }
    }
    out
}

fn walk(d: &Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(d).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            out.extend(walk(&p));
        } else if p.extension().is_some_and(|x| x == "parquet") {
            out.push(p);
        }
    }
    out
}

/// meds_reader 0.2.0's events of testdata/meds/small (testdata/meds/make_fixture.py).
fn meds_reader_view() -> BTreeMap<i64, Vec<Ev>> {
    let text = std::fs::read_to_string("testdata/meds/small_meds_reader.json").unwrap();
    type JsonEv = (Option<String>, String, Option<f64>);
    let json: BTreeMap<String, Vec<JsonEv>> = serde_json::from_str(&text).unwrap();
    json.into_iter()
        .map(|(s, evs)| {
            let evs = evs
                .into_iter()
                .map(|(t, c, v)| {
                    let t = t.map(|t| {
                        chrono::NaiveDateTime::parse_from_str(&t, "%Y-%m-%dT%H:%M:%S")
                            .unwrap()
                            .and_utc()
                            .timestamp_micros()
                    });
                    (t, c, v.map(|v| v as f32))
                })
                .collect();
            (s.parse().unwrap(), evs)
        })
        .collect()
}

/// Events per subject as a sorted multiset (the order of events at one time is free).
fn sorted(mut m: BTreeMap<i64, Vec<Ev>>) -> BTreeMap<i64, Vec<Ev>> {
    for v in m.values_mut() {
        v.sort_by(|a, b| {
            (a.0, &a.1)
                .cmp(&(b.0, &b.1))
                .then(a.2.partial_cmp(&b.2).unwrap())
        });
    }
    m
}

#[test]
fn export_is_meds_sorted_and_matches_the_accessors() {
    let repo = Repository::open(REPO).unwrap();
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("meds");
    let options = MedsExportOptions {
        subjects_per_file: 7,
        row_group_rows: 64,
        splits: Some(vec![(Pid(1025), "train".into())]),
        ..Default::default()
    };
    let summary = export_meds(&repo, &out, &options).unwrap();
    assert_eq!(summary.data_files.len(), repo.pids().len().div_ceil(7));
    // The MEDS schema.
    let f = File::open(&summary.data_files[0]).unwrap();
    let b = ParquetRecordBatchReaderBuilder::try_new(f).unwrap();
    let schema = b.schema();
    let types: Vec<(&str, &DataType)> = schema
        .fields()
        .iter()
        .take(4)
        .map(|f| (f.name().as_str(), f.data_type()))
        .collect();
    let us = DataType::Timestamp(ArrowTimeUnit::Microsecond, None);
    assert_eq!(
        types,
        [
            ("subject_id", &DataType::Int64),
            ("time", &us),
            ("code", &DataType::Utf8),
            ("numeric_value", &DataType::Float32)
        ]
    );
    let ev = events(&out);
    assert_eq!(ev.len(), repo.pids().len());
    let mut subjects: Vec<i64> = Vec::new();
    for (s, evs) in &ev {
        subjects.push(*s);
        // Sorted by time, static rows first.
        assert!(evs.windows(2).all(|w| w[0].0 <= w[1].0), "subject {s}");
    }
    // Per code: the count and the sum of numeric values equal the repository's own.
    let mut by_code: BTreeMap<&str, (usize, f64)> = BTreeMap::new();
    for evs in ev.values() {
        for (_, c, v) in evs {
            let e = by_code.entry(c.as_str()).or_default();
            e.0 += 1;
            e.1 += v.map_or(0.0, |v| v as f64);
        }
    }
    for name in ["Hemoglobin", "Glucose", "Weight", "BDATE"] {
        let (mut n, mut sum) = (0usize, 0f64);
        for &p in repo.pids() {
            let s = repo.signal(p, name).unwrap();
            for e in s.iter() {
                n += 1;
                sum += e.value(0).as_f64() as f32 as f64;
            }
        }
        let got = by_code[name];
        assert_eq!(got.0, n, "{name}");
        assert!((got.1 - sum).abs() < 1e-6 * sum.abs().max(1.0), "{name}");
    }
    // Categorical values: SIGNAL//name with the dictionary's name.
    let g = repo.signal(Pid(1025), "GENDER").unwrap();
    let name = repo
        .section("GENDER")
        .unwrap()
        .name(g.value(0, 0).as_i64() as i32)
        .unwrap()
        .to_string();
    assert!(ev[&1025].contains(&(None, format!("GENDER//{name}"), None)));
    assert!(by_code.keys().any(|c| c.starts_with("DIAGNOSIS//")));
    // Metadata.
    let ds: serde_json::Value =
        serde_json::from_slice(&std::fs::read(out.join("metadata/dataset.json")).unwrap()).unwrap();
    assert_eq!(ds["meds_version"], "0.4.0");
    let f = File::open(out.join("metadata/codes.parquet")).unwrap();
    let codes: usize = ParquetRecordBatchReaderBuilder::try_new(f)
        .unwrap()
        .build()
        .unwrap()
        .map(|b| b.unwrap().num_rows())
        .sum();
    assert_eq!(codes, by_code.len());
    assert_eq!(summary.codes, by_code.len());
    assert!(out.join("metadata/subject_splits.parquet").is_file());
}

#[test]
fn import_matches_meds_reader_and_exports_the_same_events() {
    let tmp = tempfile::tempdir().unwrap();
    let repo_dir = tmp.path().join("fixture");
    let s = import_meds(Path::new(SMALL), &repo_dir, &MedsImportOptions::default()).unwrap();
    assert_eq!(s.bad_rows, 0);
    assert_eq!(s.subjects, 6);
    assert!(s.rounded.is_empty());
    let repo = Repository::open(&s.config).unwrap();
    let c = repo.catalog();
    // The default rule: numeric codes, vocabulary groups, time units.
    assert_eq!(c.signal("Glucose").unwrap().time_unit, TimeUnit::Minutes);
    assert_eq!(c.signal("LOINC/718-7").unwrap().time_unit, TimeUnit::Date);
    assert!(c.signal("ICD10CM").unwrap().is_categorical(0));
    assert!(c
        .signal("GENDER")
        .unwrap()
        .layout
        .time_channels()
        .is_empty());
    let hgb = repo.signal(Pid(3), "LOINC/718-7").unwrap();
    assert_eq!(hgb.len(), 4);
    assert_eq!(hgb.value(0, 0).as_f64(), 10.75);
    // MEDS → repository → MEDS: the same events as meds_reader reads from the fixture.
    let back = tmp.path().join("back");
    export_meds(&repo, &back, &MedsExportOptions::default()).unwrap();
    assert_eq!(sorted(events(&back)), sorted(meds_reader_view()));
}

#[test]
fn repository_to_meds_to_repository_keeps_the_elements() {
    let repo = Repository::open(REPO).unwrap();
    let tmp = tempfile::tempdir().unwrap();
    let a = tmp.path().join("a");
    let sa = export_meds(&repo, &a, &MedsExportOptions::default()).unwrap();
    let back = tmp.path().join("back");
    let s = import_meds(&a, &back, &MedsImportOptions::default()).unwrap();
    // The one element whose date is not a real date went out as a static row and is dropped.
    assert_eq!(s.bad_rows, sa.untimed);
    let again = Repository::open(&s.config).unwrap();
    assert_eq!(again.pids(), repo.pids());
    // Numeric signals: same times and values (as float32).
    for name in ["Hemoglobin", "Glucose", "Weight"] {
        for &p in repo.pids() {
            let want: Vec<(i64, f32)> = repo
                .signal(p, name)
                .unwrap()
                .iter()
                .filter(|e| inframed::time::is_valid_date(e.time(0).as_i64()))
                .map(|e| (e.time(0).as_i64(), e.value(0).as_f64() as f32))
                .collect();
            let got: Vec<(i64, f32)> = again
                .signal(p, name)
                .unwrap()
                .iter()
                .map(|e| (e.time(0).as_i64(), e.value(0).as_f64() as f32))
                .collect();
            assert_eq!(got, want, "{name} of {p}");
        }
    }
    // Categorical: the same dictionary names.
    let name = |r: &Repository, p: Pid, sig: &str| -> Vec<String> {
        let v = r.signal(p, sig).unwrap();
        let section = r.section(sig).unwrap();
        v.iter()
            .map(|e| {
                section
                    .name(e.value(0).as_i64() as i32)
                    .unwrap()
                    .to_string()
            })
            .collect()
    };
    for &p in repo.pids() {
        assert_eq!(name(&again, p, "GENDER"), name(&repo, p, "GENDER"));
        assert_eq!(name(&again, p, "DIAGNOSIS"), name(&repo, p, "DIAGNOSIS"));
    }
    // And MEDS → repository → MEDS gives the same events.
    let b = tmp.path().join("b");
    export_meds(&again, &b, &MedsExportOptions::default()).unwrap();
    let mut ea = sorted(events(&a));
    for v in ea.values_mut() {
        v.retain(|e| e.0.is_some() || !e.1.starts_with("Hemoglobin"));
    }
    let eb = sorted(events(&b));
    for (s, evs) in &ea {
        let got = &eb[s];
        let diff: Vec<_> = evs.iter().filter(|e| !got.contains(e)).collect();
        let extra: Vec<_> = got.iter().filter(|e| !evs.contains(e)).collect();
        assert!(
            diff.is_empty() && extra.is_empty(),
            "{s}: lost {diff:?}, new {extra:?}"
        );
    }
    assert_eq!(eb, ea);
}

/// An error and its sources, as one text.
fn chain(e: &dyn std::error::Error) -> String {
    let mut m = e.to_string();
    let mut s = e.source();
    while let Some(x) = s {
        m.push_str(": ");
        m.push_str(&x.to_string());
        s = x.source();
    }
    m
}

#[test]
fn bad_rows_go_to_the_error_file_and_count_against_the_threshold() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("bad");
    let s = import_meds(
        Path::new("testdata/meds/bad"),
        &out,
        &MedsImportOptions::default(),
    )
    .unwrap();
    assert_eq!(s.bad_rows, 3);
    assert_eq!(s.events, 2);
    assert_eq!(s.warnings.len(), 1, "a small file over the ratio warns");
    let errors = std::fs::read_to_string(out.join("meds.convert_errors")).unwrap();
    assert_eq!(errors.lines().count(), 3);
    assert!(errors.contains("data/0.parquet\trow group 0\trow 1\tno numeric_value"));
    assert!(errors.contains("null subject_id"));
    assert!(errors.contains("null time"));
    // With the threshold over every file, the import fails and writes nothing.
    let mut o = MedsImportOptions::default();
    o.thresholds.ratio_min_lines = 0;
    let strict = tmp.path().join("strict");
    let e = import_meds(Path::new("testdata/meds/bad"), &strict, &o).unwrap_err();
    let m = chain(&e);
    assert!(
        m.contains("max_bad_line_ratio") && m.contains("0.parquet"),
        "{m}"
    );
    assert!(!strict.exists());
}

fn import_err(dir: &Path) -> Error {
    let tmp = tempfile::tempdir().unwrap();
    import_meds(dir, &tmp.path().join("x"), &MedsImportOptions::default()).unwrap_err()
}

#[test]
fn malformed_parquet_is_a_clear_error() {
    let e = import_err(Path::new("testdata/meds/malformed/wrong_schema"));
    let m = e.to_string();
    assert!(
        m.contains("wrong_schema/data/0.parquet") && m.contains("no column code"),
        "{m}"
    );
    let e = import_err(Path::new("testdata/meds/malformed/wrong_types"));
    let m = e.to_string();
    assert!(
        m.contains("wrong_types/data/0.parquet") && m.contains("column time"),
        "{m}"
    );
    // Truncated: the footer is gone.
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path().join("trunc");
    std::fs::create_dir_all(d.join("data")).unwrap();
    let bytes = std::fs::read(format!("{SMALL}/data/train/0.parquet")).unwrap();
    std::fs::write(d.join("data/0.parquet"), &bytes[..bytes.len() / 2]).unwrap();
    let m = import_err(&d).to_string();
    assert!(
        m.contains("trunc/data/0.parquet") && m.contains("footer"),
        "{m}"
    );
    // Damaged pages: the error names the row group.
    let mut bad = bytes.clone();
    let n = bad.len();
    assert!(n > 200);
    for b in &mut bad[4..n.min(200)] {
        *b = 0xA5;
    }
    std::fs::write(d.join("data/0.parquet"), &bad).unwrap();
    let m = chain(&import_err(&d));
    assert!(
        m.contains("trunc/data/0.parquet") && m.contains("row group 0"),
        "{m}"
    );
    // Not a MEDS folder.
    let m = import_err(tmp.path()).to_string();
    assert!(m.contains("no .parquet files") || m.contains("data"), "{m}");
}
