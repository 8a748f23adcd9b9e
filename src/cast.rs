//! The only bytes → typed slice code: `bytemuck::try_cast_slice` when aligned, a copy otherwise.

use std::borrow::Cow;

use crate::element::Element;
use crate::error::{Error, Result};
use crate::ids::{Pid, Sid};

#[cfg(target_endian = "big")]
compile_error!(
    "inframed reads little-endian files by casting; big-endian targets are not supported"
);

/// Views element bytes as `[T]`: borrowed when the bytes are aligned for `T`, copied otherwise.
///
/// # Errors
/// [`Error::Cast`] if the length is not a multiple of `size_of::<T>()`.
pub(crate) fn elements<T: Element>(
    bytes: Cow<'_, [u8]>,
    pid: Pid,
    sid: Sid,
) -> Result<Cow<'_, [T]>> {
    let size = size_of::<T>();
    if bytes.len() % size != 0 {
        return Err(Error::Cast { pid, sid });
    }
    match bytes {
        Cow::Borrowed(b) => match bytemuck::try_cast_slice::<u8, T>(b) {
            Ok(s) => Ok(Cow::Borrowed(s)),
            Err(_) => Ok(Cow::Owned(bytemuck::pod_collect_to_vec(b))),
        },
        Cow::Owned(b) => Ok(Cow::Owned(bytemuck::pod_collect_to_vec(&b))),
    }
}
