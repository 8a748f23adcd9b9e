//! Readers during writes (issue #16 item 4): while one writer, in a loop, reloads two signals
//! of a live repository with a `LOAD_ONLY` convert (a staged directory swapped in by
//! `renameat2(RENAME_EXCHANGE)`), adds a signal with `add_signal` (files renamed into place
//! one by one) and rebuilds the by-pid transpose (`inframed index`), 8 reader threads — and,
//! in a second test, 4 reader processes — open the repository, `get` random vectors, scan
//! whole signals and read whole patient records. Every read must equal one complete
//! generation of the repository, the same generation for every read made through one open
//! `Repository`, and no read may fail.
//!
//! The models are computed from the rows the test generates (never by reading the store):
//! each generation is "Alpha and Beta at version v, Gamma at version 0, Extra absent or at
//! version w". The writer's schedule only ever publishes the generations in [`STATES`];
//! a reader that sees, say, Alpha from version 1 with Extra from version 1, or Alpha at one
//! version and Beta at the other, has seen a mix.
#![cfg(unix)]

use std::borrow::Cow;
use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Barrier;

use inframed::convert::{convert, ConvertOptions};
use inframed::native::write::{add_signal, build_transpose, NewSignal};
use inframed::{Pid, Repository, Sid, Signal, SignalStore};

/// Patients of the repository (every one has elements in every signal of every version).
const PATIENTS: u32 = 300;
/// The signals the convert writes: name, sid.
const BASE: [(&str, u32); 3] = [("Alpha", 1000), ("Beta", 1001), ("Gamma", 1002)];
/// The signal `add_signal` adds.
const EXTRA: (&str, u32) = ("Extra", 2000);
/// Writer rounds (each: a LOAD_ONLY convert, an add_signal, a transpose build).
const ROUNDS: u32 = 16;

/// One generation: the version of Alpha and Beta, and Extra's (`None`: no such signal).
#[derive(Clone, Copy, Debug, PartialEq)]
struct State {
    v: u32,
    extra: Option<u32>,
}

/// Every generation the writer's schedule publishes (see [`write_loop`]): the initial load
/// (0, none); in round r the convert publishes (v, none) with v = (r + 1) % 2, then
/// add_signal publishes (v, r % 2). So (1, Some(1)) and (0, Some(0)) never exist.
const STATES: [State; 4] = [
    State { v: 0, extra: None },
    State { v: 1, extra: None },
    State {
        v: 1,
        extra: Some(0),
    },
    State {
        v: 0,
        extra: Some(1),
    },
];

fn pid_of(i: u32) -> u32 {
    1000 + 3 * i
}

fn mix(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// The rows of signal `sid` at `version` for `pid`: (YYYYMMDD date, value), dates ascending
/// and distinct (one per year), values exact in f32; the versions differ in every value.
fn rows(sid: u32, version: u32, pid: u32) -> Vec<(i64, f64)> {
    let h = mix(((sid as u64) << 40) ^ ((version as u64) << 32) ^ pid as u64);
    let n = 1 + h % 5;
    (0..n)
        .map(|k| {
            let hk = mix(h.wrapping_add(k + 1));
            let date = (2000 + k as i64) * 10000
                + (1 + (hk % 12) as i64) * 100
                + 1
                + ((hk >> 8) % 28) as i64;
            let value = ((hk >> 16) % 4000) as f64 * 0.5 + 10000.0 * version as f64;
            (date, value)
        })
        .collect()
}

/// What `name` holds for `pid` in `state` (`None`: the signal does not exist there).
fn expected(state: State, name: &str, pid: u32) -> Option<Vec<(i64, f64)>> {
    let known = (0..PATIENTS).any(|i| pid_of(i) == pid);
    let version = match name {
        "Alpha" | "Beta" => state.v,
        "Gamma" => 0,
        "Extra" => state.extra?,
        _ => return None,
    };
    let sid = if name == EXTRA.0 {
        EXTRA.1
    } else {
        BASE.iter().find(|(n, _)| *n == name)?.1
    };
    Some(if known {
        rows(sid, version, pid)
    } else {
        Vec::new()
    })
}

/// The export of `version` (every base signal) as one TSV, pids ascending.
fn export(version: u32) -> String {
    let mut s = String::new();
    for i in 0..PATIENTS {
        let pid = pid_of(i);
        for (name, sid) in BASE {
            for (date, value) in rows(sid, version, pid) {
                s.push_str(&format!("{pid}\t{name}\t{date}\t{value}\n"));
            }
        }
    }
    s
}

/// The raw export and convert configs under `dir/src`: `full.convert_config` (version 0, every
/// signal) and `reload<v>.convert_config` (version v, `LOAD_ONLY Alpha,Beta`).
fn write_inputs(dir: &Path) -> PathBuf {
    let src = dir.join("src");
    fs::create_dir_all(src.join("data")).unwrap();
    let mut signals = String::from("GENERIC_SIGNAL_TYPE\tSDV\tT(i),V(f)\n");
    for (name, sid) in BASE {
        signals.push_str(&format!("SIGNAL\t{name}\t{sid}\t16:SDV\ttest\t0\t\n"));
    }
    fs::write(src.join("rw.signals"), signals).unwrap();
    for v in 0..2 {
        fs::write(src.join(format!("data/v{v}.tsv")), export(v)).unwrap();
    }
    let head = "MODE\t3\nRELATIVE\t1\nPREFIX\tdata/rw\nCONFIG\trw.repository\nSIGNAL\trw.signals\nDIR\t.\nOUTDIR\t../out\n";
    fs::write(
        src.join("full.convert_config"),
        format!("{head}DATA\tdata/v0.tsv\n"),
    )
    .unwrap();
    for v in 0..2 {
        fs::write(
            src.join(format!("reload{v}.convert_config")),
            format!("{head}DATA\tdata/v{v}.tsv\nLOAD_ONLY\tAlpha,Beta\n"),
        )
        .unwrap();
    }
    src
}

fn run_convert(config: &Path, out: &Path) -> Vec<String> {
    let options = ConvertOptions {
        outdir: Some(out.to_path_buf()),
        ..ConvertOptions::default()
    };
    convert(config, &options)
        .unwrap_or_else(|e| panic!("convert {}: {e}", config.display()))
        .warnings
}

/// Extra's elements at version `w`, as `add_signal` takes them: `T(i),V(f)` = i32 + f32, LE.
fn extra_elements(w: u32) -> Vec<(Pid, Vec<u8>)> {
    (0..PATIENTS)
        .map(|i| {
            let pid = pid_of(i);
            let mut b = Vec::new();
            for (date, value) in rows(EXTRA.1, w, pid) {
                b.extend_from_slice(&(date as i32).to_le_bytes());
                b.extend_from_slice(&(value as f32).to_le_bytes());
            }
            (Pid(pid), b)
        })
        .collect()
}

/// Builds the first generation (0, none) with its transpose; returns the config path.
fn setup(dir: &Path) -> PathBuf {
    let src = write_inputs(dir);
    let out = dir.join("out");
    run_convert(&src.join("full.convert_config"), &out);
    let config = out.join("rw.repository");
    build_transpose(&config).unwrap();
    config
}

/// The writer: `ROUNDS` rounds of LOAD_ONLY convert, add_signal, transpose build.
fn write_loop(dir: &Path) {
    let (src, out) = (dir.join("src"), dir.join("out"));
    let config = out.join("rw.repository");
    for r in 0..ROUNDS {
        let v = (r + 1) % 2;
        let warnings = run_convert(&src.join(format!("reload{v}.convert_config")), &out);
        // From round 1 the reload keeps Extra's files, which its signals file drops: named.
        let kept: Vec<&String> = warnings.iter().filter(|w| w.contains("_Extra.")).collect();
        assert_eq!(
            kept.len(),
            if r > 0 { 2 } else { 0 },
            "round {r}: {warnings:?}"
        );
        let mut extra = NewSignal::new(EXTRA.0, Sid(EXTRA.1), "16:T(i),V(f)");
        if r > 0 {
            // The convert's signals file dropped Extra, whose files stay: add_signal refuses
            // to replace them unasked, and replaces them with `force`.
            match add_signal(&config, &extra, extra_elements(r % 2)) {
                Err(inframed::Error::Occupied { path, .. }) => {
                    assert!(path.ends_with("rw_Extra.data"), "{}", path.display())
                }
                other => panic!("round {r}: add_signal over Extra's files: {other:?}"),
            }
            extra = extra.forced();
        }
        add_signal(&config, &extra, extra_elements(r % 2))
            .unwrap_or_else(|e| panic!("round {r}: add_signal: {e}"));
        build_transpose(&config).unwrap_or_else(|e| panic!("round {r}: index: {e}"));
    }
}

/// The generation after the last round.
fn last_state() -> State {
    let r = ROUNDS - 1;
    State {
        v: (r + 1) % 2,
        extra: Some(r % 2),
    }
}

/// The generations still possible for one open `Repository`, narrowed by each read.
struct View {
    cands: Vec<State>,
    reads: u64,
}

fn decode(bytes: &[u8], repo: &Repository, name: &str, pid: u32) -> Vec<(i64, f64)> {
    let info = repo.catalog().signal(name).unwrap();
    let s = Signal::new(Cow::Borrowed(bytes), &info.layout, Pid(pid), info.sid)
        .unwrap_or_else(|e| panic!("{name} of pid {pid}: {e}"));
    (0..s.len())
        .map(|i| (s.time(i, 0).as_i64(), s.value(i, 0).as_f64()))
        .collect()
}

impl View {
    /// A fresh open: its signal list and pid list must be those of some generation.
    fn open(repo: &Repository, candidates: &[State]) -> View {
        let names: Vec<&str> = repo
            .catalog()
            .signals()
            .iter()
            .map(|s| s.name.as_str())
            .collect();
        let has_extra = names.contains(&EXTRA.0);
        let mut want: Vec<&str> = BASE.iter().map(|(n, _)| *n).collect();
        if has_extra {
            want.push(EXTRA.0);
        }
        let mut sorted = names.clone();
        sorted.sort_unstable();
        want.sort_unstable();
        assert_eq!(sorted, want, "signal list of an open repository");
        let pids: Vec<u32> = repo.pids().iter().map(|p| p.0).collect();
        let model: Vec<u32> = (0..PATIENTS).map(pid_of).collect();
        assert_eq!(pids, model, "pid list of an open repository");
        let cands: Vec<State> = candidates
            .iter()
            .copied()
            .filter(|s| s.extra.is_some() == has_extra)
            .collect();
        assert!(!cands.is_empty(), "signal list {names:?} of no generation");
        View { cands, reads: 0 }
    }

    fn see(&mut self, how: &str, name: &str, pid: u32, got: &[(i64, f64)]) {
        let before = self.cands.clone();
        self.cands
            .retain(|&s| expected(s, name, pid).as_deref() == Some(got));
        self.reads += 1;
        assert!(
            !self.cands.is_empty(),
            "{how} {name} of pid {pid} gave {got:?}: not what any generation still possible \
             for this open ({before:?}) holds (after {} consistent reads)",
            self.reads - 1
        );
    }
}

/// A small xorshift generator (readers pick pids and signals with it).
struct Rng(u64);
impl Rng {
    fn below(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0 % n
    }
}

/// Reads of one round through one open repository: random gets, one full scan, a few
/// whole patient records.
fn read_round(repo: &Repository, view: &mut View, rng: &mut Rng) {
    let names: Vec<String> = repo
        .catalog()
        .signals()
        .iter()
        .map(|s| s.name.clone())
        .collect();
    for _ in 0..20 {
        let name = &names[rng.below(names.len() as u64) as usize];
        // One in ten a pid that is not in the repository (an empty vector in every generation).
        let pid = if rng.below(10) == 0 {
            pid_of(PATIENTS) + 1
        } else {
            pid_of(rng.below(PATIENTS as u64) as u32)
        };
        let s = repo
            .signal(Pid(pid), name)
            .unwrap_or_else(|e| panic!("get {name} of pid {pid}: {e}"));
        let got = decode(s.bytes(), repo, name, pid);
        view.see("get", name, pid, &got);
    }
    let name = &names[rng.below(names.len() as u64) as usize];
    let sid = repo.catalog().signal(name).unwrap().sid;
    let mut seen: Vec<(u32, Vec<u8>)> = Vec::new();
    repo.scan(sid, &mut |pid, bytes| seen.push((pid.0, bytes.to_vec())))
        .unwrap_or_else(|e| panic!("scan {name}: {e}"));
    let mut at = 0;
    for i in 0..PATIENTS {
        let pid = pid_of(i);
        let got = match seen.get(at) {
            Some((p, b)) if *p == pid => {
                at += 1;
                decode(b, repo, name, pid)
            }
            _ => Vec::new(),
        };
        view.see("scan", name, pid, &got);
    }
    assert_eq!(
        at,
        seen.len(),
        "scan {name} visited pids outside the pid list"
    );
    for _ in 0..3 {
        let pid = pid_of(rng.below(PATIENTS as u64) as u32);
        let rec = repo
            .patient(Pid(pid))
            .unwrap_or_else(|e| panic!("patient {pid}: {e}"));
        for name in &names {
            let sid = repo.catalog().signal(name).unwrap().sid;
            let got = decode(rec.get(sid), repo, name, pid);
            view.see("patient record", name, pid, &got);
        }
    }
}

/// A reader: until `stop`, opens `config` (each round when `reopen`, else every 8th round)
/// and reads a round through the open repository. Returns (opens, reads).
fn reader(config: &Path, seed: u64, reopen: bool, stop: &dyn Fn() -> bool) -> (u64, u64) {
    let mut rng = Rng(mix(seed) | 1);
    let (mut opens, mut reads) = (0u64, 0u64);
    let mut current: Option<(Repository, View)> = None;
    let mut round = 0u64;
    // At least one round after `stop` turns true: every reader reads the last generation too.
    let mut last = false;
    loop {
        if current.is_none() || reopen || round % 8 == 0 {
            if let Some((_, v)) = current.take() {
                reads += v.reads;
            }
            let repo = Repository::open(config)
                .unwrap_or_else(|e| panic!("open {}: {e}", config.display()));
            let view = View::open(&repo, &STATES);
            current = Some((repo, view));
            opens += 1;
        }
        let (repo, view) = current.as_mut().expect("opened");
        read_round(repo, view, &mut rng);
        round += 1;
        if last {
            break;
        }
        last = stop();
    }
    if let Some((_, v)) = current {
        reads += v.reads;
    }
    (opens, reads)
}

/// Every read of a whole open repository, against one state only (the model check).
fn check_whole(config: &Path, state: State) {
    let repo = Repository::open(config).unwrap();
    let mut view = View::open(&repo, &[state]);
    for (name, _) in BASE.iter().copied().chain(state.extra.map(|_| EXTRA)) {
        for i in 0..PATIENTS {
            let pid = pid_of(i);
            let got = decode(
                repo.signal(Pid(pid), name).unwrap().bytes(),
                &repo,
                name,
                pid,
            );
            view.see("get", name, pid, &got);
            let rec = repo.patient(Pid(pid)).unwrap();
            let sid = repo.catalog().signal(name).unwrap().sid;
            view.see(
                "patient record",
                name,
                pid,
                &decode(rec.get(sid), &repo, name, pid),
            );
        }
    }
}

#[test]
fn reader_threads_see_one_generation_while_writers_run() {
    let dir = tempfile::tempdir().unwrap();
    let config = setup(dir.path());
    // The model check first, with no concurrency: the first generation read back whole.
    check_whole(&config, STATES[0]);
    let done = AtomicBool::new(false);
    let (opens, reads) = (AtomicU64::new(0), AtomicU64::new(0));
    let start = Barrier::new(9);
    std::thread::scope(|s| {
        for t in 0..8u64 {
            let (config, done, start) = (&config, &done, &start);
            let (opens, reads) = (&opens, &reads);
            s.spawn(move || {
                start.wait();
                let (o, r) = reader(config, t, t % 2 == 0, &|| done.load(Ordering::Acquire));
                opens.fetch_add(o, Ordering::Relaxed);
                reads.fetch_add(r, Ordering::Relaxed);
            });
        }
        start.wait();
        // A panic here must still stop the readers (or the scope never ends).
        let r = std::panic::catch_unwind(|| write_loop(dir.path()));
        done.store(true, Ordering::Release);
        if let Err(e) = r {
            std::panic::resume_unwind(e);
        }
    });
    eprintln!(
        "{ROUNDS} writer rounds; 8 reader threads: {} opens, {} checked reads",
        opens.load(Ordering::Relaxed),
        reads.load(Ordering::Relaxed)
    );
    check_whole(&config, last_state());
}

/// The environment variable that makes [`reader_process`] a reader: `<config>\t<stop file>\t<seed>`.
const CHILD: &str = "INFRAMED_RELIABILITY_READER";

/// Not a test of its own: the body of a reader process (re-executed test binary) of
/// [`reader_processes_see_one_generation_while_writers_run`]; returns at once otherwise.
#[test]
fn reader_process() {
    let Ok(spec) = std::env::var(CHILD) else {
        return;
    };
    let mut parts = spec.split('\t');
    let config = PathBuf::from(parts.next().unwrap());
    let stop = PathBuf::from(parts.next().unwrap());
    let seed: u64 = parts.next().unwrap().parse().unwrap();
    // Tell the parent this process is reading (it starts writing when all are).
    fs::write(stop.with_extension(format!("ready{seed}")), b"").unwrap();
    let (opens, reads) = reader(&config, seed, seed % 2 == 0, &|| stop.exists());
    let mut out = std::io::stdout();
    writeln!(out, "READER {opens} {reads}").unwrap();
}

#[test]
fn reader_processes_see_one_generation_while_writers_run() {
    let dir = tempfile::tempdir().unwrap();
    let config = setup(dir.path());
    check_whole(&config, STATES[0]);
    let stop = dir.path().join("stop");
    let mut children: Vec<_> = (0..4u64)
        .map(|k| {
            Command::new(std::env::current_exe().unwrap())
                .args([
                    "reader_process",
                    "--exact",
                    "--nocapture",
                    "--test-threads=1",
                ])
                .env(
                    CHILD,
                    format!("{}\t{}\t{}", config.display(), stop.display(), 100 + k),
                )
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .unwrap()
        })
        .collect();
    // Wait until every reader has started (a reader that died already is reported below).
    for (k, c) in children.iter_mut().enumerate() {
        let ready = stop.with_extension(format!("ready{}", 100 + k));
        while !ready.exists() {
            if c.try_wait().unwrap().is_some() {
                break;
            }
            std::thread::sleep(std::time::Duration::from_millis(5));
        }
    }
    let r = std::panic::catch_unwind(|| write_loop(dir.path()));
    fs::write(&stop, b"").unwrap();
    let (mut opens, mut reads) = (0u64, 0u64);
    for c in children {
        let out = c.wait_with_output().unwrap();
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success(),
            "reader process failed ({}):\n{stdout}\n{}",
            out.status,
            String::from_utf8_lossy(&out.stderr)
        );
        let line = stdout
            .lines()
            .find_map(|l| l.split("READER ").nth(1))
            .unwrap_or_else(|| panic!("reader process did not report:\n{stdout}"));
        let mut f = line.split(' ').map(|x| x.parse::<u64>().unwrap());
        opens += f.next().unwrap();
        reads += f.next().unwrap();
    }
    if let Err(e) = r {
        std::panic::resume_unwind(e);
    }
    eprintln!("{ROUNDS} writer rounds; 4 reader processes: {opens} opens, {reads} checked reads");
    check_whole(&config, last_state());
}
