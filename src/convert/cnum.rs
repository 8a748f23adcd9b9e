//! C++ number parsing (`std::stoi` / `stoll` / `stoull` / `stof` / `stod`) as the original
//! loader reads its fields: leading white space, the longest valid prefix, an error when there
//! are no digits or the value is out of range; with fast paths for the usual plain texts.

fn skip_space(s: &[u8]) -> &[u8] {
    let n = s
        .iter()
        .take_while(|&&b| matches!(b, b' ' | b'\t' | b'\n' | b'\r' | 0x0b | 0x0c))
        .count();
    &s[n..]
}

/// The integer prefix of `s` as `strtoll` reads it (base 10): `None` without digits or on overflow.
fn int_prefix(s: &str) -> Option<i128> {
    let b = skip_space(s.as_bytes());
    let (neg, b) = match b.first() {
        Some(b'-') => (true, &b[1..]),
        Some(b'+') => (false, &b[1..]),
        _ => (false, b),
    };
    let digits = b.iter().take_while(|c| c.is_ascii_digit()).count();
    if digits == 0 {
        return None;
    }
    if digits <= 18 {
        // Cannot overflow a u64 (nor pass the limit below): no checked 128-bit steps.
        let v = b[..digits]
            .iter()
            .fold(0u64, |v, &c| v * 10 + (c - b'0') as u64) as i128;
        return Some(if neg { -v } else { v });
    }
    let mut v: i128 = 0;
    for &c in &b[..digits] {
        v = v.checked_mul(10)?.checked_add((c - b'0') as i128)?;
        if v > u64::MAX as i128 + 1 {
            return None;
        }
    }
    Some(if neg { -v } else { v })
}

/// `std::stoi`: the integer prefix, which must fit an `int`.
#[inline]
pub(crate) fn c_stoi(s: &str) -> Option<i32> {
    let b = s.as_bytes();
    // The usual text (a pid, a code): at most 9 plain digits, which always fit an `int`.
    if (1..=9).contains(&b.len()) && b.iter().all(u8::is_ascii_digit) {
        return Some(b.iter().fold(0i32, |v, &c| v * 10 + (c - b'0') as i32));
    }
    int_prefix(s).and_then(|v| i32::try_from(v).ok())
}

/// `std::stoll`.
pub(crate) fn c_stoll(s: &str) -> Option<i64> {
    int_prefix(s).and_then(|v| i64::try_from(v).ok())
}

/// `std::stoull` restricted to non-negative values (a negative text is an error here, where
/// C++ would wrap it).
pub(crate) fn c_stoull(s: &str) -> Option<u64> {
    int_prefix(s).and_then(|v| u64::try_from(v).ok())
}

/// The floating-point prefix of `s` as `strtod` reads it (decimal, `inf`, `infinity`, `nan`).
fn float_prefix(s: &str) -> Option<&str> {
    let t = std::str::from_utf8(skip_space(s.as_bytes())).ok()?;
    let b = t.as_bytes();
    let mut i = 0;
    if matches!(b.first(), Some(b'+' | b'-')) {
        i = 1;
    }
    let rest = &t[i..];
    for word in ["infinity", "inf", "nan"] {
        // Compared as bytes: `rest` may begin with a multi-byte character, where slicing the
        // str at `word.len()` would panic (a fuzz finding, tests/fuzz_regressions.rs).
        if rest
            .as_bytes()
            .get(..word.len())
            .is_some_and(|w| w.eq_ignore_ascii_case(word.as_bytes()))
        {
            return Some(&t[..i + word.len()]);
        }
    }
    let int_digits = b[i..].iter().take_while(|c| c.is_ascii_digit()).count();
    i += int_digits;
    let mut frac_digits = 0;
    if b.get(i) == Some(&b'.') {
        frac_digits = b[i + 1..].iter().take_while(|c| c.is_ascii_digit()).count();
        if int_digits + frac_digits > 0 {
            i += 1 + frac_digits;
        }
    }
    if int_digits + frac_digits == 0 {
        return None;
    }
    if matches!(b.get(i), Some(b'e' | b'E')) {
        let mut j = i + 1;
        if matches!(b.get(j), Some(b'+' | b'-')) {
            j += 1;
        }
        let exp_digits = b[j..].iter().take_while(|c| c.is_ascii_digit()).count();
        if exp_digits > 0 {
            i = j + exp_digits;
        }
    }
    Some(&t[..i])
}

fn has_nonzero_digit(p: &str) -> bool {
    p.bytes()
        .take_while(|&c| c != b'e' && c != b'E')
        .any(|c| (b'1'..=b'9').contains(&c))
}

/// Exact powers of ten as `f32` (10^10 is the last one an `f32` holds exactly).
const POW10_F32: [f32; 11] = [1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10];
/// Exact powers of ten as `f64` (10^22 is the last one an `f64` holds exactly).
const POW10_F64: [f64; 23] = [
    1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11, 1e12, 1e13, 1e14, 1e15, 1e16,
    1e17, 1e18, 1e19, 1e20, 1e21, 1e22,
];

/// A whole text of the plain form `[+-]digits[.digits]` (or `[+-].digits`) as
/// `(negative, digits as an integer, number of fraction digits)`; `None` for anything else
/// (exponents, leading space, trailing text, more than 19 digits): those take the general path.
#[inline(always)]
fn plain_decimal(s: &str) -> Option<(bool, u64, usize)> {
    let b = s.as_bytes();
    let (neg, b) = match b.first() {
        Some(b'-') => (true, &b[1..]),
        Some(b'+') => (false, &b[1..]),
        _ => (false, b),
    };
    let mut m: u64 = 0;
    let mut digits = 0;
    let mut frac: Option<usize> = None;
    for &c in b {
        match c {
            b'0'..=b'9' => {
                if digits == 19 {
                    return None;
                }
                m = m * 10 + (c - b'0') as u64;
                digits += 1;
                if let Some(f) = frac.as_mut() {
                    *f += 1;
                }
            }
            b'.' if frac.is_none() => frac = Some(0),
            _ => return None,
        }
    }
    (digits > 0).then_some((neg, m, frac.unwrap_or(0)))
}

/// [`c_stof`]'s fast path (Clinger's), small enough to inline into the converter's line loop:
/// a plain decimal ([`plain_decimal`]) of at most 24 bits of digits divided by an exact power
/// of ten is one correctly rounded IEEE division, the value `str::parse` gives, and never out
/// of range. `None`: any other text (which [`c_stof`] then reads the general way).
#[inline(always)]
pub(crate) fn c_stof_plain(s: &str) -> Option<f32> {
    let (neg, m, k) = plain_decimal(s)?;
    if m <= 1 << 24 && k < POW10_F32.len() {
        let v = m as f32 / POW10_F32[k];
        return Some(if neg { -v } else { v });
    }
    None
}

/// `std::stof`: the float prefix; out of range (overflow, or underflow to a subnormal or zero)
/// is an error, as `strtof`'s `ERANGE` is for `std::stof`.
pub(crate) fn c_stof(s: &str) -> Option<f32> {
    if let Some(v) = c_stof_plain(s) {
        return Some(v);
    }
    let p = float_prefix(s)?;
    let v: f32 = p.parse().ok()?;
    let literal_inf = p.bytes().any(|c| c == b'i' || c == b'I');
    if (v.is_infinite() && !literal_inf)
        || ((v == 0.0 || v.is_subnormal()) && has_nonzero_digit(p) && !v.is_nan())
    {
        return None;
    }
    Some(v)
}

/// `std::stod`, with the same range rules as [`c_stof`].
pub(crate) fn c_stod(s: &str) -> Option<f64> {
    // The same fast path as `c_stof`'s, with 53 bits and 10^22.
    if let Some((neg, m, k)) = plain_decimal(s) {
        if m <= 1 << 53 && k < POW10_F64.len() {
            let v = m as f64 / POW10_F64[k];
            return Some(if neg { -v } else { v });
        }
    }
    let p = float_prefix(s)?;
    let v: f64 = p.parse().ok()?;
    let literal_inf = p.bytes().any(|c| c == b'i' || c == b'I');
    if (v.is_infinite() && !literal_inf)
        || ((v == 0.0 || v.is_subnormal()) && has_nonzero_digit(p) && !v.is_nan())
    {
        return None;
    }
    Some(v)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn c_number_parsing() {
        assert_eq!(c_stoi("12.7"), Some(12));
        assert_eq!(c_stoi(" -5x"), Some(-5));
        assert_eq!(c_stoi("1e2"), Some(1));
        assert_eq!(c_stoi("abc"), None);
        assert_eq!(c_stoi("-"), None);
        assert_eq!(c_stoi("2147483648"), None);
        assert_eq!(c_stoi("-2147483648"), Some(i32::MIN));
        assert_eq!(c_stof("1e2"), Some(100.0));
        assert_eq!(c_stof("7.75abc"), Some(7.75));
        assert_eq!(c_stof(".5"), Some(0.5));
        assert_eq!(c_stof("5."), Some(5.0));
        assert_eq!(c_stof("1e"), Some(1.0));
        assert_eq!(c_stof("-inf"), Some(f32::NEG_INFINITY));
        assert!(c_stof("nan").unwrap().is_nan());
        assert_eq!(c_stof("abc"), None);
        // A value starting with a multi-byte character (8-bit input read as Latin-1) is not
        // a number, and no panic (fuzz/regressions/tsv_lines/float-prefix-multibyte).
        assert_eq!(c_stof("\u{ce}\u{cf}"), None);
        assert_eq!(c_stod("-\u{f5}nf"), None);
        assert_eq!(c_stof("i\u{f5}"), None);
        assert_eq!(c_stof("."), None);
        assert_eq!(c_stof("1e39"), None, "overflow is out_of_range");
        assert_eq!(c_stof("1e-40"), None, "underflow is out_of_range");
        assert_eq!(c_stof("0.0"), Some(0.0));
        assert_eq!(c_stod("1e39"), Some(1e39));
        assert_eq!(c_stoull("-1"), None);
        assert_eq!(c_stoll("9223372036854775807"), Some(i64::MAX));
    }

    proptest::proptest! {
        /// `c_stoi`'s plain-digits shortcut gives what the general prefix parse gives.
        #[test]
        fn stoi_fast_path_is_prefix(text in "[0-9]{1,12}|[0-9 +-]{0,4}[0-9a]{0,10}") {
            proptest::prop_assert_eq!(
                c_stoi(&text),
                int_prefix(&text).and_then(|v| i32::try_from(v).ok())
            );
        }

        /// `plain_decimal` takes exactly `[+-]digits[.digits]` or `[+-].digits` of 1–19
        /// digits, as the digits' integer and the fraction's length.
        #[test]
        fn plain_decimal_is_the_plain_form(text in "[+-]?[0-9]{0,12}[.]?[0-9]{0,12}|[+-.0-9e ]{0,8}") {
            let body = text.strip_prefix(['+', '-']).unwrap_or(&text);
            let (int, frac) = match body.split_once('.') {
                Some((i, f)) => (i, Some(f)),
                None => (body, None),
            };
            let digits = format!("{int}{}", frac.unwrap_or(""));
            let plain = digits.bytes().all(|c| c.is_ascii_digit()) && (1..=19).contains(&digits.len());
            let want = plain.then(|| {
                (text.starts_with('-'), digits.parse::<u64>().unwrap(), frac.map_or(0, str::len))
            });
            proptest::prop_assert_eq!(plain_decimal(&text), want, "{}", text);
        }

        /// The plain-decimal fast paths of `c_stof` / `c_stod` give what `str::parse` (the
        /// general path's correctly rounded parse) gives.
        #[test]
        fn float_fast_path_is_parse(
            neg in proptest::bool::ANY,
            int in 0u64..100_000_000,
            frac in "[0-9]{0,12}",
        ) {
            let text = format!("{}{int}.{frac}", if neg { "-" } else { "" });
            proptest::prop_assert_eq!(
                c_stof(&text).map(f32::to_bits),
                Some(text.parse::<f32>().unwrap().to_bits())
            );
            proptest::prop_assert_eq!(
                c_stod(&text).map(f64::to_bits),
                Some(text.parse::<f64>().unwrap().to_bits())
            );
        }
    }
}
