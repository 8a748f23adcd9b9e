//! Typed elements: one `#[repr(C)]` struct per common signal layout, sealed.

use bytemuck::{Pod, Zeroable};

mod private {
    pub trait Sealed {}
}

/// A Rust struct with exactly the bytes of one element of a layout. Sealed: implemented for
/// the structs of this module only (their sizes and specs are checked by tests).
pub trait Element: Pod + private::Sealed {
    /// The canonical generic spec this struct matches, e.g. `T(i),V(f)`.
    const SPEC: &'static str;
}

macro_rules! element {
    ($(#[$doc:meta])* $name:ident, $spec:literal, $size:literal, { $($(#[$fdoc:meta])* $f:ident : $t:ty),* $(,)? }) => {
        $(#[$doc])*
        #[repr(C)]
        #[derive(Clone, Copy, Debug, Default, PartialEq, Pod, Zeroable)]
        pub struct $name { $($(#[$fdoc])* pub $f: $t),* }
        const _: () = assert!(size_of::<$name>() == $size);
        impl private::Sealed for $name {}
        impl Element for $name { const SPEC: &'static str = $spec; }
    };
}

element!(/// `V(f)`: legacy SVal.
    Val, "V(f)", 4, { /// value
    val: f32 });
element!(/// `V(i)`: GENDER, BDATE, DEATH in ETL repositories.
    Int, "V(i)", 4, { /// value
    val: i32 });
element!(/// `T(i),V(f)`: a date and a value (labs; legacy SDateVal).
    DateVal, "T(i),V(f)", 8, { /// `YYYYMMDD`
    date: i32, /// value
    val: f32 });
element!(/// `T(i),V(i)`: a date and an int or code (DIAGNOSIS, Drug).
    DateInt, "T(i),V(i)", 8, { /// `YYYYMMDD`
    date: i32, /// value or code
    val: i32 });
element!(/// `T(i,i)`: a date range (MEMBERSHIP).
    DateRange, "T(i,i)", 8, { /// start
    start: i32, /// end
    end: i32 });
element!(/// `T(i,i),V(f)`: legacy SDateRangeVal.
    DateRangeVal, "T(i,i),V(f)", 12, { /// start
    start: i32, /// end
    end: i32, /// value
    val: f32 });
element!(/// `T(i,i),V(i,i)`: a date range and two ints or codes (ADMISSION).
    DateRangeInt2, "T(i,i),V(i,i)", 16, { /// start
    start: i32, /// end
    end: i32, /// first value
    val0: i32, /// second value
    val1: i32 });
element!(/// `T(i),V(s,s)`: a date and two shorts (BP; legacy DateShort2).
    DateShort2, "T(i),V(s,s)", 8, { /// `YYYYMMDD`
    date: i32, /// first value
    val0: i16, /// second value
    val1: i16 });
element!(/// `T(i),V(f,f)`: legacy DateFloat2.
    DateFloat2, "T(i),V(f,f)", 12, { /// `YYYYMMDD`
    date: i32, /// first value
    val0: f32, /// second value
    val1: f32 });
element!(/// `T(l),V(f),p,p,p,p`: legacy STimeVal (time in minutes, 4 padding bytes).
    TimeVal, "T(l),V(f),p,p,p,p", 16, { /// time
    time: i64, /// value
    val: f32, /// padding
    _pad: [u8; 4] });
element!(/// `T(l)`: legacy TimeStamp.
    TimeStamp, "T(l)", 8, { /// time
    time: i64 });

#[cfg(test)]
mod tests {
    use super::*;
    use crate::layout::Layout;

    fn check<T: Element>() {
        let l = Layout::parse(T::SPEC).unwrap();
        assert_eq!(l.spec(), T::SPEC, "spec must be canonical");
        assert_eq!(l.size(), size_of::<T>(), "{}", T::SPEC);
    }

    #[test]
    fn specs_are_canonical_and_sizes_match() {
        check::<Val>();
        check::<Int>();
        check::<DateVal>();
        check::<DateInt>();
        check::<DateRange>();
        check::<DateRangeVal>();
        check::<DateRangeInt2>();
        check::<DateShort2>();
        check::<DateFloat2>();
        check::<TimeVal>();
        check::<TimeStamp>();
    }
}
