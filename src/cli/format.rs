//! Text output of elements, one element a line: `pid⇥signal⇥time channels⇥value channels`
//! (`--format tsv`, the default), the same fields comma-separated (`csv`, quoted where a field
//! holds a comma, quote or line break), or one JSON object a line (`jsonl`:
//! `{"pid":…,"signal":…,"time":[…],"value":[…]}`, non-finite floats as `null`).

use std::fmt::Write as _;

use inframed::{Catalog, Pid, Signal, SignalInfo, Value};

/// The `--format` of `get` and `dump`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, clap::ValueEnum)]
pub(crate) enum OutFormat {
    /// Tab-separated: pid, signal, time channels, value channels.
    #[default]
    Tsv,
    /// Comma-separated, the same fields (RFC 4180 quoting).
    Csv,
    /// One JSON object a line: pid, signal, time (array), value (array).
    Jsonl,
}

/// One printed field: a number or a dictionary name.
enum Field<'a> {
    Num(Value),
    Name(&'a str),
}

/// Appends one line per element of `sig` to `out` as tab-separated text (see
/// [`write_signal_as`]).
pub(crate) fn write_signal(
    out: &mut String,
    catalog: &Catalog,
    info: &SignalInfo,
    pid: Pid,
    sig: &Signal<'_>,
    raw: bool,
) -> inframed::Result<()> {
    write_signal_as(out, OutFormat::Tsv, catalog, info, pid, sig, raw)
}

/// Appends one line per element of `sig` to `out` in `format`. Categorical value channels are
/// printed as their dictionary name (code→name, last DEF) unless `raw`, or when the code has
/// no name. The dictionaries are parsed (on first use) only for a signal with a categorical
/// channel.
///
/// # Errors
/// An invalid dictionary ([`Catalog::dictionaries`]).
pub(crate) fn write_signal_as(
    out: &mut String,
    format: OutFormat,
    catalog: &Catalog,
    info: &SignalInfo,
    pid: Pid,
    sig: &Signal<'_>,
    raw: bool,
) -> inframed::Result<()> {
    let nt = sig.layout().time_channels().len();
    let nv = sig.layout().value_channels().len();
    let section = if raw || !(0..nv).any(|c| info.is_categorical(c)) {
        None
    } else {
        catalog.section_of(&info.name)?
    };
    let mut values: Vec<Field<'_>> = Vec::with_capacity(nv);
    for e in sig.iter() {
        values.clear();
        for c in 0..nv {
            let v = e.value(c);
            let name = match (section, info.is_categorical(c)) {
                (Some(s), true) => i32::try_from(v.as_i64()).ok().and_then(|code| s.name(code)),
                _ => None,
            };
            values.push(name.map_or(Field::Num(v), Field::Name));
        }
        let times = (0..nt).map(|c| e.time(c));
        match format {
            OutFormat::Tsv => {
                let _ = write!(out, "{pid}\t{}", info.name);
                for t in times {
                    let _ = write!(out, "\t{t}");
                }
                for v in &values {
                    match v {
                        Field::Num(v) => {
                            let _ = write!(out, "\t{v}");
                        }
                        Field::Name(n) => {
                            let _ = write!(out, "\t{n}");
                        }
                    }
                }
            }
            OutFormat::Csv => {
                let _ = write!(out, "{pid},");
                csv_field(out, &info.name);
                for t in times {
                    let _ = write!(out, ",{t}");
                }
                for v in &values {
                    out.push(',');
                    match v {
                        Field::Num(v) => {
                            let _ = write!(out, "{v}");
                        }
                        Field::Name(n) => csv_field(out, n),
                    }
                }
            }
            OutFormat::Jsonl => {
                let _ = write!(out, "{{\"pid\":{pid},\"signal\":");
                json_string(out, &info.name);
                out.push_str(",\"time\":[");
                for (i, t) in times.enumerate() {
                    if i > 0 {
                        out.push(',');
                    }
                    json_number(out, t);
                }
                out.push_str("],\"value\":[");
                for (i, v) in values.iter().enumerate() {
                    if i > 0 {
                        out.push(',');
                    }
                    match v {
                        Field::Num(v) => json_number(out, *v),
                        Field::Name(n) => json_string(out, n),
                    }
                }
                out.push_str("]}");
            }
        }
        out.push('\n');
    }
    Ok(())
}

/// A CSV field, quoted (quotes doubled) when it holds a comma, quote or line break.
fn csv_field(out: &mut String, s: &str) {
    if s.contains([',', '"', '\n', '\r']) {
        out.push('"');
        out.push_str(&s.replace('"', "\"\""));
        out.push('"');
    } else {
        out.push_str(s);
    }
}

fn json_string(out: &mut String, s: &str) {
    out.push_str(&serde_json::Value::from(s).to_string());
}

/// A JSON number; NaN and infinities (which JSON cannot write) as `null`.
fn json_number(out: &mut String, v: Value) {
    let finite = match v {
        Value::F32(x) => x.is_finite(),
        Value::F64(x) => x.is_finite(),
        Value::Int(_) | Value::UInt(_) => true,
    };
    if finite {
        let _ = write!(out, "{v}");
    } else {
        out.push_str("null");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csv_quotes_only_where_needed_and_json_has_no_nan() {
        let mut s = String::new();
        csv_field(&mut s, "plain");
        s.push('|');
        csv_field(&mut s, "a,b \"c\"");
        assert_eq!(s, "plain|\"a,b \"\"c\"\"\"");
        let mut j = String::new();
        json_number(&mut j, Value::F32(f32::NAN));
        json_number(&mut j, Value::F64(1.5));
        json_string(&mut j, "x\"y");
        assert_eq!(j, "null1.5\"x\\\"y\"");
    }
}
