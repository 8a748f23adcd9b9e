//! The header text exactly as Python's `json.dumps(obj, sort_keys=True)` writes it (default
//! separators `", "` / `": "`, `ensure_ascii=True`, float `repr`), and a tolerant parse.

use serde_json::{Map, Number, Value};

/// `json.dumps(value, sort_keys=True)`.
pub(crate) fn dumps_sorted(value: &Value) -> String {
    let mut out = String::new();
    write_value(value, &mut out);
    out
}

fn write_value(value: &Value, out: &mut String) {
    match value {
        Value::Null => out.push_str("null"),
        Value::Bool(true) => out.push_str("true"),
        Value::Bool(false) => out.push_str("false"),
        Value::Number(n) => write_number(n, out),
        Value::String(s) => write_string(s, out),
        Value::Array(items) => {
            out.push('[');
            for (i, v) in items.iter().enumerate() {
                if i > 0 {
                    out.push_str(", ");
                }
                write_value(v, out);
            }
            out.push(']');
        }
        Value::Object(map) => write_object(map, out),
    }
}

fn write_object(map: &Map<String, Value>, out: &mut String) {
    // Python's `sorted` on str compares code points; UTF-8 byte order is the same order.
    let mut keys: Vec<&String> = map.keys().collect();
    keys.sort();
    out.push('{');
    for (i, k) in keys.into_iter().enumerate() {
        if i > 0 {
            out.push_str(", ");
        }
        write_string(k, out);
        out.push_str(": ");
        if let Some(v) = map.get(k) {
            write_value(v, out);
        }
    }
    out.push('}');
}

fn write_number(n: &Number, out: &mut String) {
    if let Some(i) = n.as_i64() {
        out.push_str(&i.to_string());
    } else if let Some(u) = n.as_u64() {
        out.push_str(&u.to_string());
    } else if let Some(f) = n.as_f64() {
        out.push_str(&python_float_repr(f));
    }
}

/// Python's `repr(float)`: the shortest round-trip digits, positional for decimal exponents
/// -4..=15 (with `.0` if integral), else `d.ddde±XX`.
pub(crate) fn python_float_repr(x: f64) -> String {
    if x.is_nan() {
        return "NaN".into();
    }
    if x.is_infinite() {
        return if x > 0.0 { "Infinity" } else { "-Infinity" }.into();
    }
    let sci = format!("{x:e}"); // shortest round-trip digits, e.g. "-1.2345e-7"
    let (neg, body) = match sci.strip_prefix('-') {
        Some(b) => (true, b),
        None => (false, sci.as_str()),
    };
    let (mantissa, exp) = body.split_once('e').unwrap_or((body, "0"));
    let exp: i32 = exp.parse().unwrap_or(0);
    let digits: String = mantissa.chars().filter(|c| *c != '.').collect();
    let digits = if digits.trim_end_matches('0').is_empty() {
        "0".to_string()
    } else {
        digits.trim_end_matches('0').to_string()
    };
    let mut out = String::new();
    if neg {
        out.push('-');
    }
    let decpt = exp + 1;
    let n = digits.len() as i32;
    if !(-4 < decpt && decpt <= 16) {
        out.push_str(&digits[..1]);
        if n > 1 {
            out.push('.');
            out.push_str(&digits[1..]);
        }
        out.push('e');
        out.push(if exp < 0 { '-' } else { '+' });
        out.push_str(&format!("{:02}", exp.unsigned_abs()));
    } else if decpt <= 0 {
        out.push_str("0.");
        out.push_str(&"0".repeat((-decpt) as usize));
        out.push_str(&digits);
    } else if decpt < n {
        out.push_str(&digits[..decpt as usize]);
        out.push('.');
        out.push_str(&digits[decpt as usize..]);
    } else {
        out.push_str(&digits);
        out.push_str(&"0".repeat((decpt - n) as usize));
        out.push_str(".0");
    }
    out
}

fn write_string(s: &str, out: &mut String) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\u{8}' => out.push_str("\\b"),
            '\u{c}' => out.push_str("\\f"),
            ' '..='~' => out.push(c),
            _ => {
                let mut units = [0u16; 2];
                for u in c.encode_utf16(&mut units) {
                    out.push_str(&format!("\\u{u:04x}"));
                }
            }
        }
    }
    out.push('"');
}

/// Python's `json.dumps` writes `NaN`, `Infinity` and `-Infinity` for non-finite floats, which
/// strict JSON (and `serde_json`) rejects. Returns the text with those tokens, outside
/// strings, replaced by `null`, or `None` if there are none. (`NaN` becomes one byte longer:
/// positions after it shift by one in errors of the second parse.)
pub(crate) fn replace_python_constants(text: &[u8]) -> Option<Vec<u8>> {
    let mut out = Vec::with_capacity(text.len() + 8);
    let mut changed = false;
    let mut i = 0;
    let mut in_string = false;
    while let Some(&b) = text.get(i) {
        if in_string {
            match b {
                b'\\' => {
                    out.push(b);
                    i += 1;
                    if let Some(&next) = text.get(i) {
                        out.push(next);
                    }
                }
                b'"' => {
                    in_string = false;
                    out.push(b);
                }
                _ => out.push(b),
            }
            i += 1;
            continue;
        }
        let rest = &text[i..];
        let token: &[u8] = if rest.starts_with(b"-Infinity") {
            b"-Infinity"
        } else if rest.starts_with(b"Infinity") {
            b"Infinity"
        } else if rest.starts_with(b"NaN") {
            b"NaN"
        } else {
            in_string = b == b'"';
            out.push(b);
            i += 1;
            continue;
        };
        out.extend_from_slice(b"null");
        changed = true;
        i += token.len();
    }
    changed.then_some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn float_repr_matches_python() {
        // Values and the text Python 3.11's repr() gives for them.
        for (x, want) in [
            (0.0, "0.0"),
            (-0.0, "-0.0"),
            (1.0, "1.0"),
            (0.1, "0.1"),
            (1e300, "1e+300"),
            (1e-300, "1e-300"),
            (1e16, "1e+16"),
            (1e15, "1000000000000000.0"),
            (1234567890123456.0, "1234567890123456.0"),
            (12345678901234567.0, "1.2345678901234568e+16"),
            (0.0001, "0.0001"),
            (0.00001, "1e-05"),
            (1.5e-7, "1.5e-07"),
            (123.456, "123.456"),
            (-2.5, "-2.5"),
            (f64::MAX, "1.7976931348623157e+308"),
            (5e-324, "5e-324"),
            (f64::NAN, "NaN"),
            (f64::NEG_INFINITY, "-Infinity"),
        ] {
            assert_eq!(python_float_repr(x), want, "{x:e}");
        }
    }

    #[test]
    fn dumps_sorts_and_escapes_like_python() {
        let v: Value = serde_json::from_str(
            r#"{"b": [1, -2, 3.5, true, null], "a": {"z": "é\u0001\"\\\n\t€😀\u007f", "y": {}}, "": []}"#,
        )
        .unwrap();
        assert_eq!(
            dumps_sorted(&v),
            r#"{"": [], "a": {"y": {}, "z": "\u00e9\u0001\"\\\n\t\u20ac\ud83d\ude00\u007f"}, "b": [1, -2, 3.5, true, null]}"#
        );
    }

    #[test]
    fn python_constants_become_null_outside_strings() {
        let t = br#"{"a": NaN, "b": [Infinity, -Infinity], "c": "NaN"}"#;
        let fixed = replace_python_constants(t).unwrap();
        let v: Value = serde_json::from_slice(&fixed).unwrap();
        assert_eq!(v["a"], Value::Null);
        assert_eq!(v["b"][1], Value::Null);
        assert_eq!(v["c"], "NaN");
        assert!(replace_python_constants(br#"{"a": "x\"NaN"}"#).is_none());
    }
}
