//! Arrow views against the element accessors, on the golden repository.
#![cfg(feature = "arrow")]

use arrow_array::cast::AsArray;
use arrow_array::types::{Date32Type, Int32Type, TimestampMicrosecondType};
use arrow_array::{Array, RecordBatch, RecordBatchReader};
use arrow_schema::DataType;
use inframed::arrow::{
    days_to_date, long_batches, patient_batches, signal_batch, signal_batches, ArrowOptions,
};
use inframed::{Pid, Repository, SignalStore, Value};

const REPO: &str = "testdata/inframed/small/repo/small.repository";

/// The value of row `i` of column `c` as a [`Value`]-comparable f64 (nulls as None).
fn num(c: &dyn Array, i: usize) -> Option<f64> {
    if c.is_null(i) {
        return None;
    }
    use arrow_array::types::*;
    Some(match c.data_type() {
        DataType::Int8 => c.as_primitive::<Int8Type>().value(i) as f64,
        DataType::Int16 => c.as_primitive::<Int16Type>().value(i) as f64,
        DataType::Int32 => c.as_primitive::<Int32Type>().value(i) as f64,
        DataType::Int64 => c.as_primitive::<Int64Type>().value(i) as f64,
        DataType::UInt8 => c.as_primitive::<UInt8Type>().value(i) as f64,
        DataType::UInt16 => c.as_primitive::<UInt16Type>().value(i) as f64,
        DataType::UInt32 => c.as_primitive::<UInt32Type>().value(i) as f64,
        DataType::UInt64 => c.as_primitive::<UInt64Type>().value(i) as f64,
        DataType::Float32 => c.as_primitive::<Float32Type>().value(i) as f64,
        DataType::Float64 => c.as_primitive::<Float64Type>().value(i),
        t => panic!("not a number column: {t}"),
    })
}

#[test]
fn every_signal_matches_the_accessors_in_small_batches() {
    let repo = Repository::open(REPO).unwrap();
    let options = ArrowOptions::default().with_batch_rows(7).with_raw(true);
    let mut checked_dates = 0;
    let mut checked_names = 0;
    for info in repo.catalog().signals() {
        let batches: Vec<RecordBatch> = signal_batches(&repo, &info.name, None, &options)
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap();
        // The expected rows, from the element accessors.
        let mut expected = Vec::new();
        for &pid in repo.pids() {
            let s = repo.signal(pid, &info.name).unwrap();
            for e in s.iter() {
                let t: Vec<Value> = (0..info.layout.time_channels().len())
                    .map(|c| e.time(c))
                    .collect();
                let v: Vec<Value> = (0..info.layout.value_channels().len())
                    .map(|c| e.value(c))
                    .collect();
                expected.push((pid, t, v));
            }
        }
        let total: usize = batches.iter().map(|b| b.num_rows()).sum();
        assert_eq!(total, expected.len(), "{}", info.name);
        let mut row = 0;
        for b in &batches {
            assert!(b.num_rows() <= 7 && b.num_rows() > 0);
            let schema = b.schema();
            let pid = b.column(0).as_primitive::<Int32Type>();
            for i in 0..b.num_rows() {
                let (epid, et, ev) = &expected[row];
                assert_eq!(pid.value(i) as u32, epid.0);
                for (t, _) in info.layout.time_channels().iter().enumerate() {
                    let raw = et[t].as_i64();
                    let col = b.column_by_name(&format!("time{t}")).unwrap();
                    match col.data_type() {
                        DataType::Date32 => {
                            let got = (!col.is_null(i)).then(|| {
                                days_to_date(col.as_primitive::<Date32Type>().value(i) as i64)
                                    .unwrap()
                            });
                            let want = inframed::time::is_valid_date(raw).then_some(raw);
                            assert_eq!(got, want, "{} time{t}", info.name);
                            let r = b.column_by_name(&format!("time{t}_raw")).unwrap();
                            assert_eq!(num(r, i), Some(raw as f64));
                            checked_dates += 1;
                        }
                        DataType::Timestamp(..) => {
                            let _ = col.as_primitive::<TimestampMicrosecondType>();
                        }
                        _ => assert_eq!(num(col, i), Some(raw as f64)),
                    }
                }
                for (v, _) in info.layout.value_channels().iter().enumerate() {
                    let col = b.column_by_name(&format!("value{v}")).unwrap();
                    let stored = ev[v];
                    if let DataType::Dictionary(..) = col.data_type() {
                        let names = col.as_any_dictionary().values().as_string::<i32>();
                        let section = repo.section(&info.name).unwrap();
                        let want = section.name(stored.as_i64() as i32);
                        let got = dict_key(col.as_ref(), i).map(|k| names.value(k));
                        assert_eq!(got, want, "{} value{v}", info.name);
                        let r = b.column_by_name(&format!("value{v}_raw")).unwrap();
                        assert_eq!(num(r, i), Some(stored.as_f64()));
                        checked_names += 1;
                    } else {
                        let got = num(col, i).unwrap();
                        match stored {
                            Value::F32(x) if x.is_nan() => assert!(got.is_nan()),
                            _ => assert_eq!(got, stored.as_f64(), "{} value{v}", info.name),
                        }
                    }
                }
                assert_eq!(schema.metadata().get("inframed.signal"), Some(&info.name));
                row += 1;
            }
        }
    }
    assert!(checked_dates > 100 && checked_names > 10);
}

#[test]
fn a_pid_list_a_patient_and_the_reader() {
    let repo = std::sync::Arc::new(Repository::open(REPO).unwrap());
    let pids: Vec<Pid> = repo.pids().iter().copied().step_by(3).collect();
    let options = ArrowOptions::default();
    let stream = signal_batches(repo.clone(), "Hemoglobin", Some(pids.clone()), &options).unwrap();
    // A 'static, Send reader for the Arrow C stream interface.
    let reader: Box<dyn RecordBatchReader + Send> = Box::new(stream.into_reader());
    assert_eq!(reader.schema().field(0).name(), "pid");
    let rows: usize = reader.map(|b| b.unwrap().num_rows()).sum();
    let want: usize = pids
        .iter()
        .map(|&p| repo.signal(p, "Hemoglobin").unwrap().len())
        .sum();
    assert_eq!(rows, want);

    let pid = Pid(1025);
    let whole = patient_batches(&*repo, pid, &options).unwrap();
    assert!(whole.len() > 3);
    for (name, b) in &whole {
        assert_eq!(b.num_rows(), repo.signal(pid, name).unwrap().len());
        let one = signal_batch(&*repo, pid, name, &options).unwrap();
        assert_eq!(&one, b);
    }
    // Not ascending.
    assert!(signal_batches(&*repo, "Hemoglobin", Some(vec![Pid(5), Pid(2)]), &options).is_err());
    assert!(signal_batches(&*repo, "NoSuchSignal", None, &options).is_err());
}

#[test]
fn long_layout_holds_every_element_sorted_by_pid_then_time() {
    let repo = Repository::open(REPO).unwrap();
    let options = ArrowOptions::default().with_batch_rows(50);
    let mut rows = 0;
    let mut last: Option<(i32, Option<i64>)> = None;
    for b in long_batches(&repo, None, &options).unwrap() {
        let b = b.unwrap();
        assert!(b.num_rows() <= 50);
        let pid = b.column(0).as_primitive::<Int32Type>();
        let t = b.column_by_name("time0").unwrap();
        let t = t.as_primitive::<TimestampMicrosecondType>();
        for i in 0..b.num_rows() {
            let key = (pid.value(i), (!t.is_null(i)).then(|| t.value(i)));
            if let Some(prev) = last {
                assert!(prev <= key, "{prev:?} then {key:?}");
            }
            last = Some(key);
        }
        rows += b.num_rows();
    }
    let mut want = 0;
    for info in repo.catalog().signals() {
        for &p in repo.pids() {
            want += repo.signal(p, &info.name).unwrap().len();
        }
    }
    assert_eq!(rows, want);
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
