//! Two independent paths to one repository: the synthetic raw export loaded by the converter,
//! and the same events written directly by `RepositoryWriter` (`synth::write_repository`),
//! must hold the same elements for every (pid, signal). Equal-time elements may be ordered
//! differently (the converter reproduces the original's sort, the writer keeps input order),
//! so vectors are compared within each equal-time run as sorted sets: the converter also
//! removes exact duplicate elements (as the original's `std::unique`), the writer does not.

mod common;

use inframed::convert::{convert, ConvertOptions};
use inframed::synth::{self, SynthOptions};
use inframed::{Repository, SignalStore};

fn runs(bytes: &[u8], layout: &inframed::Layout) -> Vec<Vec<Vec<u8>>> {
    let mut out: Vec<Vec<Vec<u8>>> = Vec::new();
    let elems: Vec<&[u8]> = bytes.chunks_exact(layout.size()).collect();
    for (i, e) in elems.iter().enumerate() {
        if i > 0 && layout.cmp_time(elems[i - 1], e).is_eq() {
            out.last_mut().unwrap().push(e.to_vec());
        } else {
            out.push(vec![e.to_vec()]);
        }
    }
    for r in &mut out {
        r.sort();
        r.dedup();
    }
    out
}

#[test]
fn converted_export_equals_direct_repository() {
    let dir = tempfile::tempdir().unwrap();
    let o = SynthOptions {
        patients: 300,
        seed: 11,
        mean_events: 120,
    };
    let direct = synth::write_repository(&dir.path().join("direct"), &o).unwrap();
    let config = synth::write_export(&dir.path().join("raw"), &o).unwrap();
    let report = convert(&config, &ConvertOptions::default()).unwrap();
    assert_eq!(report.error_lines, 0);
    let a = Repository::open(&direct).unwrap();
    let b = Repository::open(report.config.unwrap()).unwrap();
    assert_eq!(a.pids(), b.pids());
    assert_eq!(a.pids().len(), 300);
    let mut elements = 0;
    for s in a.catalog().signals() {
        let sb = b.catalog().signal(&s.name).unwrap();
        assert_eq!((sb.sid, sb.layout.spec()), (s.sid, s.layout.spec()));
        for &pid in a.pids() {
            let (x, y) = (
                a.get_bytes(pid, s.sid).unwrap(),
                b.get_bytes(pid, s.sid).unwrap(),
            );
            assert_eq!(
                runs(&x, &s.layout),
                runs(&y, &s.layout),
                "pid {pid} {}",
                s.name
            );
            elements += x.len() / s.layout.size();
        }
    }
    assert!(elements > 300 * 60, "{elements}");
    b.verify().unwrap();
}
