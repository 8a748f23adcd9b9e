//! Text output of elements: `pid⇥signal⇥time channels⇥value channels`.

use std::fmt::Write as _;

use inframed::{Catalog, Pid, Signal, SignalInfo};

/// Appends one line per element of `sig` to `out`. Categorical value channels are printed as
/// their dictionary name (code→name, last DEF) unless `raw`, or when the code has no name.
pub(crate) fn write_signal(
    out: &mut String,
    catalog: &Catalog,
    info: &SignalInfo,
    pid: Pid,
    sig: &Signal<'_>,
    raw: bool,
) {
    let section = if raw {
        None
    } else {
        catalog.section_of(&info.name)
    };
    let nt = sig.layout().time_channels().len();
    let nv = sig.layout().value_channels().len();
    for e in sig.iter() {
        let _ = write!(out, "{pid}\t{}", info.name);
        for c in 0..nt {
            let _ = write!(out, "\t{}", e.time(c));
        }
        for c in 0..nv {
            let v = e.value(c);
            let name = match (section, info.is_categorical(c)) {
                (Some(s), true) => i32::try_from(v.as_i64()).ok().and_then(|code| s.name(code)),
                _ => None,
            };
            match name {
                Some(n) => {
                    let _ = write!(out, "\t{n}");
                }
                None => {
                    let _ = write!(out, "\t{v}");
                }
            }
        }
        out.push('\n');
    }
}
