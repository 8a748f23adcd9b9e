//! `export --to parquet|arrow`: files read back with the parquet / arrow-ipc crates and
//! compared to the element accessors; row-group statistics and sort order; the target rule.
#![cfg(feature = "arrow")]

use std::fs::File;
use std::path::Path;
use std::process::Command;

use arrow_array::cast::AsArray;
use arrow_array::types::{Date32Type, Int32Type};
use arrow_array::{Array, RecordBatch};
use arrow_schema::DataType;
use inframed::arrow::days_to_date;
use inframed::arrow::export::{export_ipc, export_parquet, TableLayout, TableOptions};
use inframed::text::config::fixed_signal_name;
use inframed::{Error, Repository, SignalStore, Value};
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use parquet::file::statistics::Statistics;

const REPO: &str = "testdata/inframed/small/repo/small.repository";

fn read_parquet(path: &Path) -> Vec<RecordBatch> {
    let b = ParquetRecordBatchReaderBuilder::try_new(File::open(path).unwrap()).unwrap();
    b.build().unwrap().map(|b| b.unwrap()).collect()
}

fn as_f64(c: &dyn Array, i: usize) -> f64 {
    use arrow_array::types::*;
    match c.data_type() {
        DataType::Int16 => c.as_primitive::<Int16Type>().value(i) as f64,
        DataType::Int32 => c.as_primitive::<Int32Type>().value(i) as f64,
        DataType::Int64 => c.as_primitive::<Int64Type>().value(i) as f64,
        DataType::Float32 => c.as_primitive::<Float32Type>().value(i) as f64,
        DataType::Float64 => c.as_primitive::<Float64Type>().value(i),
        t => panic!("unexpected column type {t}"),
    }
}

#[test]
fn wide_parquet_reads_back_as_the_accessors_give_it() {
    let repo = Repository::open(REPO).unwrap();
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("pq");
    let options = TableOptions {
        row_group_rows: 50,
        ..Default::default()
    };
    let files = export_parquet(&repo, &out, &options).unwrap();
    assert_eq!(files.len(), repo.catalog().signals().len());
    let mut dates = 0;
    for info in repo.catalog().signals() {
        let path = out.join(format!("{}.parquet", fixed_signal_name(&info.name)));
        assert!(files.contains(&path), "{}", path.display());
        let batches = read_parquet(&path);
        let mut rows = Vec::new();
        for b in &batches {
            for i in 0..b.num_rows() {
                rows.push((b.clone(), i));
            }
        }
        let mut k = 0;
        for &pid in repo.pids() {
            let s = repo.signal(pid, &info.name).unwrap();
            for e in s.iter() {
                let (b, i) = &rows[k];
                k += 1;
                let p = b.column(0).as_primitive::<Int32Type>().value(*i);
                assert_eq!(p as u32, pid.0, "{}", info.name);
                if !info.layout.time_channels().is_empty() {
                    let c = b.column_by_name("time0").unwrap();
                    if let DataType::Date32 = c.data_type() {
                        let raw = e.time(0).as_i64();
                        let got = (!c.is_null(*i)).then(|| {
                            days_to_date(c.as_primitive::<Date32Type>().value(*i) as i64).unwrap()
                        });
                        let want = inframed::time::is_valid_date(raw).then_some(raw);
                        assert_eq!(got, want, "{} time0", info.name);
                        dates += 1;
                    }
                }
                for v in 0..info.layout.value_channels().len() {
                    let c = b.column_by_name(&format!("value{v}")).unwrap();
                    if let DataType::Dictionary(..) = c.data_type() {
                        let names = c.as_any_dictionary().values().as_string::<i32>();
                        let section = repo.section(&info.name).unwrap();
                        let want = section.name(e.value(v).as_i64() as i32);
                        assert_eq!(dict_key(c.as_ref(), *i).map(|k| names.value(k)), want);
                        continue;
                    }
                    let got = as_f64(c, *i);
                    match e.value(v) {
                        Value::F32(x) if x.is_nan() => assert!(got.is_nan()),
                        w => assert_eq!(got, w.as_f64(), "{} value{v}", info.name),
                    }
                }
            }
        }
        assert_eq!(k, rows.len(), "{}: extra rows", info.name);
    }
    assert!(dates > 100);
}

#[test]
fn row_groups_carry_pid_statistics_and_the_sort_order() {
    let repo = Repository::open(REPO).unwrap();
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("pq");
    let options = TableOptions {
        row_group_rows: 20,
        signals: Some(vec!["Hemoglobin".into()]),
        ..Default::default()
    };
    export_parquet(&repo, &out, &options).unwrap();
    let f = File::open(out.join("Hemoglobin.parquet")).unwrap();
    let b = ParquetRecordBatchReaderBuilder::try_new(f).unwrap();
    let meta = b.metadata();
    assert!(meta.num_row_groups() > 3);
    let mut last_max = i32::MIN;
    for rg in meta.row_groups() {
        assert!(rg.num_rows() <= 20);
        let sorting = rg.sorting_columns().expect("sorting_columns");
        assert_eq!(sorting[0].column_idx, 0);
        match rg.column(0).statistics().expect("pid statistics") {
            Statistics::Int32(s) => {
                let (min, max) = (*s.min_opt().unwrap(), *s.max_opt().unwrap());
                assert!(min <= max && min >= last_max, "pid ranges ascend");
                last_max = max;
            }
            s => panic!("pid statistics of type {s:?}"),
        }
        assert!(rg.column(1).statistics().is_some(), "time statistics");
    }
}

#[test]
fn long_layout_and_arrow_ipc() {
    let repo = Repository::open(REPO).unwrap();
    let total: usize = repo
        .catalog()
        .signals()
        .iter()
        .map(|s| {
            repo.pids()
                .iter()
                .map(|&p| repo.signal(p, &s.name).unwrap().len())
                .sum::<usize>()
        })
        .sum();
    let tmp = tempfile::tempdir().unwrap();
    let long = TableOptions {
        layout: TableLayout::Long,
        ..Default::default()
    };
    let files = export_parquet(&repo, &tmp.path().join("long"), &long).unwrap();
    let batches = read_parquet(&files[0]);
    let rows: usize = batches.iter().map(|b| b.num_rows()).sum();
    assert_eq!(rows, total);
    let mut last = 0;
    for b in &batches {
        for &p in b.column(0).as_primitive::<Int32Type>().values() {
            assert!(p >= last, "sorted by pid");
            last = p;
        }
    }
    let files = export_ipc(&repo, &tmp.path().join("ipc"), &TableOptions::default()).unwrap();
    let hgb = files
        .iter()
        .find(|f| f.ends_with("Hemoglobin.arrow"))
        .unwrap();
    let r = arrow_ipc::reader::FileReader::try_new(File::open(hgb).unwrap(), None).unwrap();
    let rows: usize = r.map(|b| b.unwrap().num_rows()).sum();
    let want: usize = repo
        .pids()
        .iter()
        .map(|&p| repo.signal(p, "Hemoglobin").unwrap().len())
        .sum();
    assert_eq!(rows, want);
}

#[test]
fn the_target_rule_applies() {
    let repo = Repository::open(REPO).unwrap();
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("pq");
    std::fs::create_dir(&out).unwrap();
    std::fs::write(out.join("notes.txt"), b"mine").unwrap();
    let o = TableOptions {
        signals: Some(vec!["GENDER".into()]),
        ..Default::default()
    };
    let e = export_parquet(&repo, &out, &o).unwrap_err();
    assert!(matches!(e, Error::Occupied { .. }), "{e}");
    assert!(e.to_string().contains("notes.txt"), "{e}");
    assert_eq!(std::fs::read(out.join("notes.txt")).unwrap(), b"mine");
    std::fs::remove_file(out.join("notes.txt")).unwrap();
    export_parquet(&repo, &out, &o).unwrap();
    // Our own output is replaced; an added foreign file is refused again, unless forced.
    export_parquet(&repo, &out, &o).unwrap();
    std::fs::write(out.join("notes.txt"), b"mine").unwrap();
    assert!(export_parquet(&repo, &out, &o).is_err());
    let forced = TableOptions { force: true, ..o };
    export_parquet(&repo, &out, &forced).unwrap();
    assert!(!out.join("notes.txt").exists());
}

#[test]
fn the_command_line_writes_parquet_arrow_and_meds() {
    let tmp = tempfile::tempdir().unwrap();
    let bin = env!("CARGO_BIN_EXE_inframed");
    let run = |args: &[&str]| {
        let o = Command::new(bin).args(args).output().unwrap();
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        String::from_utf8(o.stdout).unwrap()
    };
    let p = |n: &str| tmp.path().join(n).display().to_string();
    let out = run(&[
        "export",
        REPO,
        &p("long"),
        "--to",
        "parquet",
        "--layout",
        "long",
    ]);
    assert!(out.trim().ends_with("events.parquet"), "{out}");
    let out = run(&["export", REPO, &p("ipc"), "--to", "arrow"]);
    assert!(out.contains("Hemoglobin.arrow"), "{out}");
    std::fs::write(
        tmp.path().join("splits.tsv"),
        "1025\ttrain\n1030\theld_out\n",
    )
    .unwrap();
    let out = run(&[
        "export",
        REPO,
        &p("meds"),
        "--to",
        "meds",
        "--splits",
        &p("splits.tsv"),
    ]);
    assert!(out.contains("events"), "{out}");
    assert!(tmp
        .path()
        .join("meds/metadata/subject_splits.parquet")
        .is_file());
    let o = Command::new(bin)
        .args([
            "export",
            REPO,
            &p("x"),
            "--to",
            "parquet",
            "--layout",
            "tall",
        ])
        .output()
        .unwrap();
    assert!(!o.status.success());
    assert!(String::from_utf8_lossy(&o.stderr).contains("--layout tall"));
}

/// The dictionary key of row `i` of a dictionary column (`int16` or `int32` keys).
fn dict_key(c: &dyn arrow_array::Array, i: usize) -> Option<usize> {
    match c.data_type() {
        DataType::Dictionary(k, _) if **k == DataType::Int16 => {
            c.as_dictionary::<arrow_array::types::Int16Type>().key(i)
        }
        _ => c.as_dictionary::<Int32Type>().key(i),
    }
}
