//! MEDS `text_value` (the nullable `large_string` column of the real `meds.DataSchema`):
//! testdata/meds/text, written by testdata/meds/make_fixture.py with that schema, against
//! testdata/meds/text_expected.json (the script's rows and what docs/meds.md promises of
//! them): texts are counted, not stored; the rows' codes and numeric values are imported as
//! any other row, so a text-only row of a numeric code is a bad row.
#![cfg(feature = "arrow")]

use std::collections::BTreeMap;
use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::Command;

use arrow_array::cast::AsArray;
use arrow_array::types::{Float32Type, Int64Type, TimestampMicrosecondType};
use arrow_array::Array;
use inframed::meds::{export_meds, import_meds, MedsExportOptions, MedsImportOptions};
use inframed::{Pid, Repository};
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;

const TEXT: &str = "testdata/meds/text";

/// `(subject_id, time in µs, code, numeric_value)`.
type Ev = (i64, Option<i64>, String, Option<f32>);

/// A row of the script: subject_id, time (ISO), code, numeric_value, text_value.
type ScriptRow = (i64, Option<String>, String, Option<f64>, Option<String>);

#[derive(serde::Deserialize)]
struct Expected {
    rows: Vec<ScriptRow>,
    text_rows: u64,
    stored: Vec<(i64, Option<String>, String, Option<f64>)>,
    bad: Vec<(i64, Option<String>, String, String)>,
    signals: BTreeMap<String, u64>,
}

fn expected() -> Expected {
    let text = std::fs::read_to_string("testdata/meds/text_expected.json").unwrap();
    serde_json::from_str(&text).unwrap()
}

fn micros(t: &Option<String>) -> Option<i64> {
    t.as_ref().map(|t| {
        chrono::NaiveDateTime::parse_from_str(t, "%Y-%m-%dT%H:%M:%S")
            .unwrap()
            .and_utc()
            .timestamp_micros()
    })
}

/// Every event of a MEDS folder's `data/0.parquet`, sorted.
fn events(dir: &Path) -> Vec<Ev> {
    let f = File::open(dir.join("data/0.parquet")).unwrap();
    let mut out = Vec::new();
    for batch in ParquetRecordBatchReaderBuilder::try_new(f)
        .unwrap()
        .build()
        .unwrap()
    {
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
            out.push((
                s.value(i),
                (!t.is_null(i)).then(|| t.value(i)),
                c.value(i).to_string(),
                (!v.is_null(i)).then(|| v.value(i)),
            ));
        }
    }
    sort(&mut out);
    out
}

fn sort(v: &mut [Ev]) {
    v.sort_by(|a, b| {
        (a.0, a.1, &a.2)
            .cmp(&(b.0, b.1, &b.2))
            .then(a.3.partial_cmp(&b.3).unwrap())
    });
}

fn import(out: &Path) -> inframed::meds::MedsImportSummary {
    import_meds(Path::new(TEXT), out, &MedsImportOptions::default()).unwrap()
}

#[test]
fn the_fixture_has_the_real_text_value_column() {
    let f = File::open(Path::new(TEXT).join("data/0.parquet")).unwrap();
    let b = ParquetRecordBatchReaderBuilder::try_new(f).unwrap();
    let schema = b.schema();
    let names: Vec<&str> = schema.fields().iter().map(|f| f.name().as_str()).collect();
    assert_eq!(
        names,
        ["subject_id", "time", "code", "numeric_value", "text_value"]
    );
    assert_eq!(
        schema.field_with_name("text_value").unwrap().data_type(),
        &arrow_schema::DataType::LargeUtf8
    );
    assert!(b.metadata().num_row_groups() > 1);
    let e = expected();
    // Rows with a text only, with a number and a text, with neither.
    assert!(e.rows.iter().any(|r| r.3.is_none() && r.4.is_some()));
    assert!(e.rows.iter().any(|r| r.3.is_some() && r.4.is_some()));
    assert!(e.rows.iter().any(|r| r.3.is_none() && r.4.is_none()));
}

#[test]
fn texts_are_counted_not_stored_and_the_rest_is_imported() {
    let e = expected();
    let tmp = tempfile::tempdir().unwrap();
    let s = import(&tmp.path().join("text"));
    assert_eq!(s.text_values, e.text_rows);
    assert_eq!(s.bad_rows, e.bad.len() as u64);
    assert_eq!(s.events, e.stored.len() as u64);
    assert_eq!(s.subjects, 3);
    // No signal for the texts: exactly the script's signals, with its counts.
    let got: BTreeMap<String, u64> = s.signals.iter().cloned().collect();
    assert_eq!(got, e.signals);
    // The text-only row of a numeric code is in the error file, as docs/meds.md says.
    let errors = std::fs::read_to_string(tmp.path().join("text/meds.convert_errors")).unwrap();
    assert_eq!(errors.lines().count(), e.bad.len());
    for (subject, time, code, why) in &e.bad {
        let t = micros(time).unwrap();
        let line = errors
            .lines()
            .find(|l| l.contains(&format!("\t{subject}\t{t}\t{code}\t")))
            .unwrap_or_else(|| panic!("{subject} {code} not in {errors}"));
        assert!(line.contains(why.as_str()), "{line}");
    }
    // A row with a number and a text keeps its number.
    let repo = Repository::open(&s.config).unwrap();
    let k = repo.signal(Pid(1), "LAB/K").unwrap();
    let want: Vec<f32> = e
        .stored
        .iter()
        .filter(|r| r.0 == 1 && r.2 == "LAB/K")
        .map(|r| r.3.unwrap() as f32)
        .collect();
    let values: Vec<f32> = k.iter().map(|x| x.value(0).as_f64() as f32).collect();
    assert_eq!(values, want);
    // Text-only rows of a value-less code: the dictionary names of NOTE, in time order.
    let notes = repo.signal(Pid(2), "NOTE").unwrap();
    let section = repo.section("NOTE").unwrap();
    let names: Vec<&str> = notes
        .iter()
        .map(|x| section.name(x.value(0).as_i64() as i32).unwrap())
        .collect();
    let want: Vec<&str> = e
        .stored
        .iter()
        .filter(|r| r.0 == 2 && r.2.starts_with("NOTE/"))
        .map(|r| r.2.as_str())
        .collect();
    assert_eq!(names, want);
}

#[test]
fn exported_back_the_events_are_the_stored_rows() {
    let e = expected();
    let tmp = tempfile::tempdir().unwrap();
    let s = import(&tmp.path().join("text"));
    let repo = Repository::open(&s.config).unwrap();
    let back = tmp.path().join("back");
    export_meds(&repo, &back, &MedsExportOptions::default()).unwrap();
    let mut want: Vec<Ev> = e
        .stored
        .iter()
        .map(|(s, t, c, v)| (*s, micros(t), c.clone(), v.map(|v| v as f32)))
        .collect();
    sort(&mut want);
    assert_eq!(events(&back), want);
}

#[test]
fn the_cli_says_how_many_texts_it_did_not_store() {
    let e = expected();
    let tmp = tempfile::tempdir().unwrap();
    let out: PathBuf = tmp.path().join("text");
    let o = Command::new(env!("CARGO_BIN_EXE_inframed"))
        .args(["convert", "--from-meds", TEXT, "--outdir"])
        .arg(&out)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let stdout = String::from_utf8_lossy(&o.stdout);
    assert!(
        stdout.contains(&format!("{} text_value texts not stored", e.text_rows)),
        "{stdout}"
    );
    assert!(
        stdout.contains(&format!("{} rows dropped", e.bad.len())),
        "{stdout}"
    );
}
