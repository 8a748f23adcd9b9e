//! Deterministic synthetic patient data: a raw tab-separated export with its convert config
//! (input for `inframed convert`), or a MODE 3 repository written directly. Both carry the
//! same events for the same options, so benchmarks and converter tests share one generator.
//!
//! Per patient: GENDER, BDATE, DEATH (10%), ten numeric labs `T(i),V(f)` taken in visits, a
//! categorical DIAGNOSIS `T(i),V(i)` with a dictionary and sets, and an interval signal
//! ADMISSION `T(i,i),V(i,i)`. Pids are spread over ten times their count.

use std::fmt::Write as _;
use std::fs;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

use chrono::{Datelike, Days, NaiveDate};

use crate::catalog::Catalog;
use crate::error::{Error, Result};
use crate::ids::{Pid, Sid};
use crate::native::writer::RepositoryWriter;
use crate::text::dict::Dictionaries;
use crate::text::signals::SignalsFile;
use crate::time::TimeUnit;

/// What to generate.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SynthOptions {
    /// Number of patients.
    pub patients: u32,
    /// Random seed (same seed, same data).
    pub seed: u64,
    /// Mean number of elements per patient (labs dominate).
    pub mean_events: u32,
}

impl Default for SynthOptions {
    fn default() -> Self {
        SynthOptions {
            patients: 1000,
            seed: 1,
            mean_events: 200,
        }
    }
}

/// The ten lab signals: name, sid, mean value, spread (in tenths).
pub const LABS: [(&str, u32, u32, u32); 10] = [
    ("Hemoglobin", 1000, 135, 20),
    ("WBC", 1001, 70, 25),
    ("Platelets", 1002, 2500, 700),
    ("Glucose", 1090, 1000, 300),
    ("Creatinine", 1100, 9, 3),
    ("Sodium", 1110, 1400, 30),
    ("Potassium", 1111, 42, 5),
    ("Cholesterol", 1200, 1900, 350),
    ("HDL", 1201, 500, 120),
    ("LDL", 1202, 1150, 300),
];
const N_DIAGNOSES: u32 = 500;
const DEPARTMENTS: [&str; 4] = ["CARDIOLOGY", "INTERNAL", "SURGERY", "ONCOLOGY"];

/// The signals file of the synthetic repository.
pub fn signals_text() -> String {
    let mut s = String::from(
        "GENERIC_SIGNAL_TYPE\tmy_SInt\tV(i)\nGENERIC_SIGNAL_TYPE\tmy_SDateVal\tT(i),V(f)\n\
         GENERIC_SIGNAL_TYPE\tmy_SDateInt\tT(i),V(i)\nGENERIC_SIGNAL_TYPE\tmy_DateRangeInt2\tT(i,i),V(i,i)\n\
         SIGNAL\tGENDER\t100\t16:my_SInt\tdemographic,singleton\t1\t\n\
         SIGNAL\tBDATE\t102\t16:my_SInt\tdemographic,singleton,date\t0\tdate\n\
         SIGNAL\tDEATH\t104\t16:my_SInt\tdemographic,singleton,date\t0\tdate\n",
    );
    for (name, sid, _, _) in LABS {
        let _ = writeln!(s, "SIGNAL\t{name}\t{sid}\t16:my_SDateVal\tlabs\t0\t");
    }
    s.push_str("SIGNAL\tDIAGNOSIS\t2000\t16:my_SDateInt\tcategorical\t1\t\n");
    s.push_str("SIGNAL\tADMISSION\t2003\t16:my_DateRangeInt2\tcategorical\t11\t\n");
    s
}

/// The dictionaries: `(file name, text)`.
pub fn dictionary_texts() -> Vec<(String, String)> {
    let gender =
        "SECTION\tGENDER\nDEF\t1\tM\nDEF\t1\tMale\nDEF\t2\tF\nDEF\t2\tFemale\n".to_string();
    let mut dx = String::from("SECTION\tDIAGNOSIS\n");
    for c in 0..N_DIAGNOSES {
        let _ = writeln!(dx, "DEF\t{}\tD{c:03}", 10000 + c);
    }
    let _ = writeln!(
        dx,
        "DEF\t20000\tDIABETES\nDEF\t20001\tCARDIO\nDEF\t20002\tCHRONIC"
    );
    for c in 100..120 {
        let _ = writeln!(dx, "SET\tDIABETES\tD{c:03}");
    }
    for c in 200..240 {
        let _ = writeln!(dx, "SET\tCARDIO\tD{c:03}");
    }
    dx.push_str("SET\tCHRONIC\tDIABETES\nSET\tCHRONIC\tCARDIO\n");
    let mut adm = String::from("SECTION\tADMISSION\nDEF\t1\tELECTIVE\nDEF\t2\tEMERGENCY\n");
    for (i, d) in DEPARTMENTS.iter().enumerate() {
        let _ = writeln!(adm, "DEF\t{}\t{d}", 100 + i);
    }
    vec![
        ("dict.gender".into(), gender),
        ("dict.diagnosis".into(), dx),
        ("dict.admission".into(), adm),
    ]
}

/// The catalog (signals and dictionaries) of the synthetic repository.
///
/// # Errors
/// Only if the built-in texts were invalid (a bug).
pub fn catalog() -> Result<Catalog> {
    let origin = Path::new("<synth>");
    let signals = SignalsFile::parse(
        &origin.join("synth.signals"),
        &signals_text(),
        TimeUnit::Date,
    )?;
    let mut dicts = Dictionaries::default();
    dicts.load(&origin.join("synth.signals"), &signals_text())?;
    for (name, text) in dictionary_texts() {
        dicts.load(&origin.join(name), &text)?;
    }
    Catalog::new(signals, dicts, TimeUnit::Date)
}

/// splitmix64: small, fast, and good enough for synthetic data.
#[derive(Clone, Debug)]
pub struct Rng(u64);

impl Rng {
    /// A generator for `stream` under `seed` (independent streams per patient).
    pub fn new(seed: u64, stream: u64) -> Rng {
        Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ stream.wrapping_mul(0xD1B5_4A32_D192_ED03))
    }
    /// Next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    /// Uniform in `0..n` (`n > 0`).
    pub fn below(&mut self, n: u32) -> u32 {
        (((self.next_u64() >> 32) * n as u64) >> 32) as u32
    }
    /// True with probability `p` percent.
    pub fn percent(&mut self, p: u32) -> bool {
        self.below(100) < p
    }
}

/// One generated patient.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Patient {
    /// Patient id.
    pub pid: u32,
    /// 1 = M, 2 = F.
    pub gender: i32,
    /// `YYYYMMDD`.
    pub bdate: i32,
    /// `YYYYMMDD`, for 10% of patients.
    pub death: Option<i32>,
    /// `(lab index into LABS, date, value text)`, time-sorted.
    pub labs: Vec<(usize, i32, String)>,
    /// `(date, diagnosis code index 0..500)`, time-sorted.
    pub diagnoses: Vec<(i32, u32)>,
    /// `(start, end, type 1|2, department index)`, time-sorted.
    pub admissions: Vec<(i32, i32, i32, usize)>,
}

fn ymd(d: NaiveDate) -> i32 {
    d.year() * 10000 + d.month() as i32 * 100 + d.day() as i32
}

/// The pid of patient number `i` (ascending in `i`, spread over ten times the count).
pub fn pid_of(i: u32, seed: u64) -> u32 {
    1000 + i * 10 + Rng::new(seed, i as u64 ^ 0xABCD).below(10)
}

/// Generates patient number `i`.
pub fn patient(i: u32, o: &SynthOptions) -> Patient {
    let pid = pid_of(i, o.seed);
    let mut r = Rng::new(o.seed, pid as u64);
    let base = NaiveDate::from_ymd_opt(2000, 1, 1).expect("valid");
    let day = |r: &mut Rng, span: u32| base + Days::new(r.below(span) as u64);
    let birth =
        NaiveDate::from_ymd_opt(1930, 1, 1).expect("valid") + Days::new(r.below(70 * 365) as u64);
    let mut p = Patient {
        pid,
        gender: 1 + r.below(2) as i32,
        bdate: ymd(birth),
        ..Default::default()
    };
    let span = 24 * 365;
    let visits = (o.mean_events.max(6) as u64 * 2 * r.below(1000) as u64 / 1000 / 5) as u32;
    let mut days: Vec<NaiveDate> = (0..visits).map(|_| day(&mut r, span)).collect();
    days.sort();
    for d in days {
        let date = ymd(d);
        for (li, &(_, _, mean, spread)) in LABS.iter().enumerate() {
            if r.percent(45) {
                let tenths = (mean + r.below(2 * spread + 1)).saturating_sub(spread);
                p.labs
                    .push((li, date, format!("{}.{}", tenths / 10, tenths % 10)));
            }
        }
        if r.percent(30) {
            p.diagnoses.push((date, r.below(N_DIAGNOSES)));
        }
        if r.percent(2) {
            let end = ymd(d + Days::new(r.below(10) as u64));
            p.admissions.push((
                date,
                end,
                1 + r.below(2) as i32,
                r.below(DEPARTMENTS.len() as u32) as usize,
            ));
        }
    }
    if r.percent(10) {
        p.death = Some(ymd(day(&mut r, span + 365)));
    }
    p
}

/// Every `(pid, sid)` of `store` with at least one element, signals in catalog order (a full
/// pass over the store, which also warms the page cache).
///
/// # Errors
/// The store's read errors.
pub fn existing_pairs(store: &dyn crate::store::SignalStore) -> Result<Vec<(Pid, Sid)>> {
    let mut pairs = Vec::new();
    for info in store.catalog().signals() {
        for &pid in store.pids() {
            if !store.get_bytes(pid, info.sid)?.is_empty() {
                pairs.push((pid, info.sid));
            }
        }
    }
    Ok(pairs)
}

/// `n` benchmark keys: drawn from `pairs` (see [`existing_pairs`]), except about
/// `miss_percent`% misses (a random pid up to the store's largest, a random signal), in a
/// deterministic order for `seed`. Empty if there are no pairs.
pub fn sample_keys(
    store: &dyn crate::store::SignalStore,
    pairs: &[(Pid, Sid)],
    n: usize,
    seed: u64,
    miss_percent: u32,
) -> Vec<(Pid, Sid)> {
    if pairs.is_empty() {
        return Vec::new();
    }
    let mut rng = Rng::new(seed, 0);
    let max_pid = store.pids().last().map_or(1, |p| p.0.saturating_add(1));
    let sids: Vec<Sid> = store.catalog().signals().iter().map(|s| s.sid).collect();
    (0..n)
        .map(|_| {
            if rng.percent(miss_percent) {
                (
                    Pid(rng.below(max_pid)),
                    sids[rng.below(sids.len() as u32) as usize],
                )
            } else {
                pairs[(rng.next_u64() % pairs.len() as u64) as usize]
            }
        })
        .collect()
}

fn io_err(path: &Path) -> impl Fn(std::io::Error) -> Error + '_ {
    move |source| Error::Io {
        path: path.into(),
        source,
    }
}

/// Writes a raw export into `out_dir`: `signals`, `dicts/`, pid-sorted TSVs (`demographics.tsv`,
/// `labs.tsv`, `diagnosis.tsv`, `admission.tsv`) and `synth.convert_config` (output to
/// `out_dir/repo`). Returns the convert config path. Lines: `pid⇥signal⇥times⇥values`.
///
/// # Errors
/// [`Error::Open`] / [`Error::Io`] naming the file.
pub fn write_export(out_dir: &Path, o: &SynthOptions) -> Result<PathBuf> {
    fs::create_dir_all(out_dir.join("dicts")).map_err(io_err(out_dir))?;
    let write = |name: &str, text: &str| {
        fs::write(out_dir.join(name), text).map_err(io_err(&out_dir.join(name)))
    };
    write("synth.signals", &signals_text())?;
    let dicts = dictionary_texts();
    for (name, text) in &dicts {
        write(&format!("dicts/{name}"), text)?;
    }
    let names = [
        "demographics.tsv",
        "labs.tsv",
        "diagnosis.tsv",
        "admission.tsv",
    ];
    let mut files = Vec::new();
    for n in names {
        let path = out_dir.join(n);
        let f = fs::File::create(&path).map_err(|source| Error::Open {
            path: path.clone(),
            source,
        })?;
        files.push((path, BufWriter::with_capacity(1 << 20, f)));
    }
    let mut line = String::new();
    for i in 0..o.patients {
        let p = patient(i, o);
        let mut emit = |k: usize, line: &mut String| -> Result<()> {
            let (path, f) = &mut files[k];
            f.write_all(line.as_bytes()).map_err(io_err(path))?;
            line.clear();
            Ok(())
        };
        let _ = writeln!(
            line,
            "{}\tGENDER\t{}",
            p.pid,
            if p.gender == 1 { "M" } else { "F" }
        );
        let _ = writeln!(line, "{}\tBDATE\t{}", p.pid, p.bdate);
        if let Some(d) = p.death {
            let _ = writeln!(line, "{}\tDEATH\t{d}", p.pid);
        }
        emit(0, &mut line)?;
        for (li, date, v) in &p.labs {
            let _ = writeln!(line, "{}\t{}\t{date}\t{v}", p.pid, LABS[*li].0);
        }
        emit(1, &mut line)?;
        for (date, c) in &p.diagnoses {
            let _ = writeln!(line, "{}\tDIAGNOSIS\t{date}\tD{c:03}", p.pid);
        }
        emit(2, &mut line)?;
        for (s, e, t, d) in &p.admissions {
            let ty = if *t == 1 { "ELECTIVE" } else { "EMERGENCY" };
            let _ = writeln!(
                line,
                "{}\tADMISSION\t{s}\t{e}\t{ty}\t{}",
                p.pid, DEPARTMENTS[*d]
            );
        }
        emit(3, &mut line)?;
    }
    for (path, mut f) in files {
        f.flush().map_err(io_err(&path))?;
    }
    let mut cfg = String::from(
        "DESCRIPTION\tSYNTH\nRELATIVE\t1\nSAFE_MODE\t1\nMODE\t3\nPREFIX\tdata/synth\n",
    );
    cfg.push_str(
        "CONFIG\tsynth.repository\nSIGNAL\tsynth.signals\nFORCE_SIGNAL\tGENDER,BDATE\nDIR\t.\n",
    );
    let _ = writeln!(cfg, "OUTDIR\t{}", out_dir.join("repo").display());
    for (name, _) in &dicts {
        let _ = writeln!(cfg, "DICTIONARY\tdicts/{name}");
    }
    for n in names {
        let _ = writeln!(cfg, "DATA\t{n}");
    }
    write("synth.convert_config", &cfg)?;
    Ok(out_dir.join("synth.convert_config"))
}

fn elements(p: &Patient, cat: &Catalog) -> Result<Vec<(Sid, Vec<u8>)>> {
    let mut out: Vec<(Sid, Vec<u8>)> = Vec::new();
    let mut push = |sid: u32, bytes: Vec<u8>| out.push((Sid(sid), bytes));
    push(100, p.gender.to_le_bytes().to_vec());
    push(102, p.bdate.to_le_bytes().to_vec());
    if let Some(d) = p.death {
        push(104, d.to_le_bytes().to_vec());
    }
    for (li, &(_, sid, _, _)) in LABS.iter().enumerate() {
        let mut v = Vec::new();
        for (_, date, val) in p.labs.iter().filter(|l| l.0 == li) {
            let f: f32 = val.parse().map_err(|_| Error::Internal {
                what: "synthetic lab value",
                detail: val.clone(),
            })?;
            v.extend_from_slice(&date.to_le_bytes());
            v.extend_from_slice(&f.to_le_bytes());
        }
        push(sid, v);
    }
    let dx = cat
        .section_of("DIAGNOSIS")?
        .ok_or_else(|| Error::Internal {
            what: "synthetic catalog",
            detail: "no DIAGNOSIS section".into(),
        })?;
    let mut v = Vec::new();
    for (date, c) in &p.diagnoses {
        let code = dx.code(&format!("D{c:03}")).unwrap_or(0);
        v.extend_from_slice(&date.to_le_bytes());
        v.extend_from_slice(&code.to_le_bytes());
    }
    push(2000, v);
    let mut v = Vec::new();
    for (s, e, t, d) in &p.admissions {
        for x in [*s, *e, *t, 100 + *d as i32] {
            v.extend_from_slice(&x.to_le_bytes());
        }
    }
    push(2003, v);
    Ok(out)
}

/// Writes the same data as [`write_export`] directly as a MODE 3 repository in `out_dir`
/// (`synth.repository`), without the converter. Returns the config path.
///
/// # Errors
/// As [`RepositoryWriter::write`].
pub fn write_repository(out_dir: &Path, o: &SynthOptions) -> Result<PathBuf> {
    let cat = catalog()?;
    let mut w = RepositoryWriter::new("synth", cat.clone())?;
    for i in 0..o.patients {
        let p = patient(i, o);
        w.add_pid(Pid(p.pid))?;
        for (sid, bytes) in elements(&p, &cat)? {
            if !bytes.is_empty() {
                w.add(Pid(p.pid), sid, &bytes)?;
            }
        }
    }
    w.write(out_dir)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deterministic_and_sorted() {
        let o = SynthOptions {
            patients: 50,
            seed: 7,
            mean_events: 100,
        };
        let a: Vec<Patient> = (0..50).map(|i| patient(i, &o)).collect();
        let b: Vec<Patient> = (0..50).map(|i| patient(i, &o)).collect();
        assert_eq!(a, b);
        assert!(a.windows(2).all(|w| w[0].pid < w[1].pid));
        let total: usize = a
            .iter()
            .map(|p| p.labs.len() + p.diagnoses.len() + p.admissions.len() + 2)
            .sum();
        assert!((50 * 60..50 * 160).contains(&total), "{total}");
        for p in &a {
            assert!(p.labs.windows(2).all(|w| w[0].1 <= w[1].1));
            assert!(crate::time::is_valid_date(p.bdate as i64));
        }
        catalog().unwrap();
    }
}
