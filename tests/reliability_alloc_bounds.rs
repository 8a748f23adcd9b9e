//! No allocation the input does not justify (#16 item 3): a length field announcing far more
//! than the bytes that follow is an error *before* the allocation. A counting global allocator
//! measures the peak heap growth of each open/read; every case asserts it stays below a small
//! multiple of the input's size (8 × input + 2 MiB), where trusting the field would allocate
//! gigabytes.

// A global allocator is an `unsafe impl` by definition; each block below passes the caller's
// contract on to `System` (SAFETY notes inline). The crate denies `unsafe_code` elsewhere.
#![allow(unsafe_code)]

mod common;

use std::alloc::{GlobalAlloc, Layout, System};
use std::io::Write;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;

/// The system allocator, counting live bytes and their peak.
struct Counting;

static LIVE: AtomicUsize = AtomicUsize::new(0);
static PEAK: AtomicUsize = AtomicUsize::new(0);

// SAFETY: forwards every call to `System` unchanged; only counts sizes.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        // SAFETY: the caller's contract, passed on.
        let p = unsafe { System.alloc(layout) };
        if !p.is_null() {
            let now = LIVE.fetch_add(layout.size(), Ordering::SeqCst) + layout.size();
            PEAK.fetch_max(now, Ordering::SeqCst);
        }
        p
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: the caller's contract, passed on.
        unsafe { System.dealloc(ptr, layout) };
        LIVE.fetch_sub(layout.size(), Ordering::SeqCst);
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        // SAFETY: the caller's contract, passed on.
        let p = unsafe { System.realloc(ptr, layout, new_size) };
        if !p.is_null() {
            if new_size >= layout.size() {
                let grow = new_size - layout.size();
                let now = LIVE.fetch_add(grow, Ordering::SeqCst) + grow;
                PEAK.fetch_max(now, Ordering::SeqCst);
            } else {
                LIVE.fetch_sub(layout.size() - new_size, Ordering::SeqCst);
            }
        }
        p
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

/// One measurement at a time (the counters are global).
static SERIAL: Mutex<()> = Mutex::new(());

/// Runs `f`, returning its result and the peak heap growth above the live bytes at the start.
fn peak_of<T>(f: impl FnOnce() -> T) -> (T, usize) {
    let start = LIVE.load(Ordering::SeqCst);
    PEAK.store(start, Ordering::SeqCst);
    let out = f();
    let peak = PEAK.load(Ordering::SeqCst).saturating_sub(start);
    (out, peak)
}

/// The bound every case must meet for an input of `input` bytes.
fn bound(input: usize) -> usize {
    8 * input + (2 << 20)
}

fn assert_bounded(what: &str, input: usize, peak: usize) {
    assert!(
        peak < bound(input),
        "{what}: peak allocation {peak} bytes for {input} bytes of input (bound {})",
        bound(input)
    );
}

/// A deflate zip of `members`, with the uncompressed size of `patch` set to `declared` in
/// both its local header and its central directory entry.
fn zip_with_declared_size(members: &[(&str, Vec<u8>)], patch: &str, declared: u32) -> Vec<u8> {
    let mut w = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    let opts = zip::write::SimpleFileOptions::default()
        .compression_method(zip::CompressionMethod::Deflated);
    for (name, data) in members {
        w.start_file(*name, opts).unwrap();
        w.write_all(data).unwrap();
    }
    let mut z = w.finish().unwrap().into_inner();
    let mut patched = 0;
    // Local headers (PK\3\4: size at +22, name length at +26, name at +30) and central
    // directory entries (PK\1\2: size at +24, name length at +28, name at +46).
    for (sig, size_at, len_at, name_at) in
        [(b"PK\x03\x04", 22, 26, 30), (b"PK\x01\x02", 24, 28, 46)]
    {
        let mut i = 0;
        while let Some(p) = z[i..].windows(4).position(|w| w == sig) {
            let at = i + p;
            let n = u16::from_le_bytes([z[at + len_at], z[at + len_at + 1]]) as usize;
            if z.get(at + name_at..at + name_at + n) == Some(patch.as_bytes()) {
                z[at + size_at..at + size_at + 4].copy_from_slice(&declared.to_le_bytes());
                patched += 1;
            }
            i = at + 4;
        }
    }
    assert_eq!(patched, 2, "{patch}: local header and directory entry");
    z
}

fn trx_members(header: Vec<u8>) -> Vec<(&'static str, Vec<u8>)> {
    vec![
        ("header.json", header),
        ("positions.3.float32", vec![0u8; 12]),
        (
            "offsets.uint64",
            [0u64, 1].iter().flat_map(|v| v.to_le_bytes()).collect(),
        ),
    ]
}

const TRX_HEADER: &str = r#"{"DIMENSIONS":[1,1,1],"VOXEL_TO_RASMM":[[1,0,0,0],[0,1,0,0],[0,0,1,0],[0,0,0,1]],"NB_VERTICES":1,"NB_STREAMLINES":1}"#;

#[test]
fn trx_member_announcing_gigabytes_is_refused_before_inflating() {
    let _g = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    // Sanity: the same zip with honest sizes opens.
    let honest = zip_with_declared_size(
        &trx_members(TRX_HEADER.into()),
        "header.json",
        TRX_HEADER.len() as u32,
    );
    inframed::backend::trx::TrxFile::from_zip_bytes("honest.trx", honest).unwrap();
    let z = zip_with_declared_size(&trx_members(TRX_HEADER.into()), "header.json", u32::MAX - 1);
    let input = z.len();
    let (r, peak) = peak_of(|| inframed::backend::trx::TrxFile::from_zip_bytes("bomb.trx", z));
    let e = common::error_chain(&r.unwrap_err());
    assert!(e.contains("header.json") && e.contains("4294967294"), "{e}");
    assert_bounded("trx declared size", input, peak);
}

#[test]
fn trx_member_inflating_past_its_declared_size_stops_there() {
    let _g = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    // header.json followed by 32 MiB of spaces (valid JSON whitespace), declared as only the
    // JSON's length: inflating stops one byte past it.
    let mut header = TRX_HEADER.as_bytes().to_vec();
    header.resize(header.len() + (32 << 20), b' ');
    let z = zip_with_declared_size(&trx_members(header), "header.json", TRX_HEADER.len() as u32);
    let input = z.len();
    assert!(input < 1 << 20, "deflated to {input}");
    let (r, peak) = peak_of(|| inframed::backend::trx::TrxFile::from_zip_bytes("bomb.trx", z));
    let e = common::error_chain(&r.unwrap_err());
    // Our bound, or the zip reader's own (it stops at the declared size too).
    assert!(
        e.contains("inflates to more than") || e.contains("larger than its declared"),
        "{e}"
    );
    assert_bounded("trx inflating past its size", input, peak);
}

#[test]
fn gnz_header_length_near_4_gib_is_refused() {
    let _g = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let mut b = b"GNZ1".to_vec();
    b.extend((u32::MAX - 7).to_le_bytes());
    b.extend(br#"{"version": 1, "arrays": []}"#);
    b.resize(8192, b' ');
    let input = b.len();
    let (r, peak) = peak_of(|| inframed::backend::gnz::GnzFile::from_bytes(b));
    let e = common::error_chain(&r.unwrap_err());
    assert!(e.contains("byte 4"), "{e}");
    assert_bounded("gnz header length", input, peak);
}

#[test]
fn iac_header_length_near_4_gib_is_refused() {
    use inframed::backend::iac::{Pack, FORMAT_VERSION, HEADER_BYTES, MAGIC};
    let _g = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let mut b = MAGIC.to_vec();
    b.extend((u32::MAX - 15).to_le_bytes());
    b.extend(FORMAT_VERSION.to_le_bytes());
    b.extend(b"{}");
    b.resize(HEADER_BYTES as usize + 1024, 0);
    let input = b.len();
    let (r, peak) = peak_of(|| Pack::from_bytes(b));
    let e = common::error_chain(&r.unwrap_err());
    assert!(e.contains("byte 8"), "{e}");
    assert_bounded("iac header length", input, peak);
}

/// A ustar header for `name` with `size` in its size field (checksum right).
fn tar_header(name: &str, size: u64) -> [u8; 512] {
    let mut h = [0u8; 512];
    h[..name.len()].copy_from_slice(name.as_bytes());
    h[100..108].copy_from_slice(b"0000644\0");
    h[108..116].copy_from_slice(b"0000000\0");
    h[116..124].copy_from_slice(b"0000000\0");
    h[124..136].copy_from_slice(format!("{size:011o}\0").as_bytes());
    h[136..148].copy_from_slice(b"00000000000\0");
    h[156] = b'0';
    h[257..263].copy_from_slice(b"ustar\0");
    h[263..265].copy_from_slice(b"00");
    h[148..156].copy_from_slice(b"        ");
    let sum: u32 = h.iter().map(|&b| b as u32).sum();
    h[148..156].copy_from_slice(format!("{sum:06o}\0 ").as_bytes());
    h
}

#[test]
fn tar_member_size_beyond_the_shard_is_refused() {
    use inframed::backend::itar::Fold;
    let _g = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let mut shard = tar_header("a.txt", 3).to_vec();
    shard.extend(b"abc");
    shard.resize(1024, 0);
    // 1 GiB announced, 512 bytes present.
    shard.extend(tar_header("b.bin", 1 << 30));
    shard.resize(2048, 0);
    let input = shard.len();
    let (r, peak) = peak_of(|| Fold::from_bytes::<Vec<u8>>("x", None, vec![shard]));
    let e = common::error_chain(&r.unwrap_err());
    assert!(e.contains("byte 1024"), "{e}");
    assert_bounded("tar member size", input, peak);
}

#[test]
fn npy_header_length_near_4_gib_is_refused() {
    use inframed::backend::{export, open_container, Container, ExportOptions};
    use inframed::SignalStoreExt;
    let _g = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let golden = common::golden_repo();
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("ds");
    export(Container::Itar, &golden, &out, &ExportOptions::default()).unwrap();
    // Every .npy member becomes version 2 with a header length of 4 GiB - 16.
    let mut patched = 0;
    let mut input = 0;
    for e in std::fs::read_dir(&out).unwrap() {
        let p = e.unwrap().path();
        if p.extension().is_some_and(|x| x == "tar") {
            let mut b = std::fs::read(&p).unwrap();
            let mut i = 0;
            while let Some(at) = b[i..].windows(6).position(|w| w == b"\x93NUMPY") {
                let at = i + at;
                b[at + 6] = 2;
                b[at + 8..at + 12].copy_from_slice(&(u32::MAX - 15).to_le_bytes());
                patched += 1;
                i = at + 6;
            }
            input += b.len();
            std::fs::write(&p, b).unwrap();
        }
    }
    assert!(patched > 0);
    let (errors, peak) = peak_of(|| {
        let store = match open_container(Container::Itar, &out) {
            Ok(s) => s,
            Err(e) => return vec![common::error_chain(&e)],
        };
        let mut errors = Vec::new();
        for &pid in store.pids() {
            for s in store.catalog().signals() {
                if let Err(e) = store.signal(pid, s.sid) {
                    errors.push(common::error_chain(&e));
                }
            }
        }
        errors
    });
    assert!(!errors.is_empty());
    assert!(errors.iter().all(|e| e.contains("header")), "{errors:?}");
    assert_bounded("npy header length", input, peak);
}

#[test]
fn iac_arrow_table_declaring_huge_buffers_is_refused() {
    use arrow_array::{ArrayRef, RecordBatch, UInt64Array};
    use arrow_ipc::writer::{IpcWriteOptions, StreamWriter};
    use inframed::backend::iac::IpcTable;
    use std::sync::Arc;
    let _g = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    // A zstd-compressed IPC stream of one u64 column of 1000 rows (8000 bytes declared).
    let col: ArrayRef = Arc::new(UInt64Array::from_iter_values(0..1000));
    let batch = RecordBatch::try_from_iter([("n", col)]).unwrap();
    let opts = IpcWriteOptions::default()
        .try_with_compression(Some(arrow_ipc::CompressionType::ZSTD))
        .unwrap();
    let mut w = StreamWriter::try_new_with_options(Vec::new(), &batch.schema(), opts).unwrap();
    w.write(&batch).unwrap();
    w.finish().unwrap();
    let mut stream = w.into_inner().unwrap();
    assert_eq!(IpcTable::from_ipc_stream(&stream).unwrap().num_rows(), 1000);
    // The values buffer's 8-byte uncompressed-length prefix: 8000 → 1 GiB - 1.
    let at = stream
        .windows(8)
        .rposition(|w| w == 8000i64.to_le_bytes())
        .unwrap();
    stream[at..at + 8].copy_from_slice(&((1i64 << 30) - 1).to_le_bytes());
    let input = stream.len();
    let (r, peak) = peak_of(|| IpcTable::from_ipc_stream(&stream));
    let e = common::error_chain(&r.unwrap_err());
    assert!(e.contains("declare"), "{e}");
    assert_bounded("iac arrow declared lengths", input, peak);
}
