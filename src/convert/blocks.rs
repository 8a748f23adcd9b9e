//! Reading an input file block by block, each block parsed in parallel pieces, and the
//! merge's cursor over the blocks of one file.

use std::fs::File;
use std::io::Read;
use std::path::Path;
use std::sync::mpsc::Receiver;
use std::sync::Arc;

use rayon::prelude::*;

use crate::convert::config::InputKind;
use crate::convert::output::io_err;
use crate::convert::parse::{parse_piece, Block, Ctx, LineOut, Piece, Recycle};
use crate::convert::FileStats;
use crate::error::{Error, Result};

const PIECE_BYTES: usize = 256 << 10;

/// Reads `path` block by block, parses each block in parallel (into pieces from `recycle`)
/// and sends it.
#[allow(clippy::too_many_arguments)]
pub(super) fn produce(
    ctx: &Ctx<'_>,
    pool: &rayon::ThreadPool,
    kind: InputKind,
    path: &Path,
    numbered: bool,
    block_bytes: usize,
    recycle: &Recycle,
    tx: std::sync::mpsc::SyncSender<Result<Block>>,
) {
    let run = || -> Result<()> {
        let mut file = File::open(path).map_err(|source| Error::Open {
            path: path.into(),
            source,
        })?;
        crate::text::skip_bom(&mut file).map_err(io_err(path))?;
        // One buffer for the whole file: a block's unfinished last line moves to its front.
        let mut buf: Vec<u8> = Vec::new();
        let mut next_line: u64 = 1;
        let mut eof = false;
        while !eof {
            let want = buf.len() + block_bytes;
            buf.reserve(block_bytes);
            while buf.len() < want {
                let n = (&mut file)
                    .take((want - buf.len()) as u64)
                    .read_to_end(&mut buf)
                    .map_err(io_err(path))?;
                if n == 0 {
                    eof = true;
                    break;
                }
            }
            let cut = if eof {
                buf.len()
            } else {
                match buf.iter().rposition(|&b| b == b'\n') {
                    Some(p) => p + 1,
                    None => continue, // a line longer than a block: read on
                }
            };
            // Pieces at line boundaries, each with its first line number.
            let mut ranges = Vec::new();
            let mut at = 0;
            while at < cut {
                let mut end = (at + PIECE_BYTES).min(cut);
                if end < cut {
                    end = buf[end..cut]
                        .iter()
                        .position(|&b| b == b'\n')
                        .map_or(cut, |p| end + p + 1);
                }
                ranges.push(at..end);
                at = end;
            }
            let pieces: Vec<Piece> = pool.install(|| {
                let counts: Vec<u64> = ranges
                    .par_iter()
                    .map(|r| memchr::memchr_iter(b'\n', &buf[r.clone()]).count() as u64)
                    .collect();
                let mut bases = Vec::with_capacity(ranges.len());
                for c in &counts {
                    bases.push(next_line);
                    next_line += c;
                }
                ranges
                    .par_iter()
                    .zip(bases.par_iter())
                    .map(|(r, &base)| {
                        let text = &buf[r.clone()];
                        parse_piece(ctx, kind, recycle.get(), text, base, numbered)
                    })
                    .collect()
            });
            buf.drain(..cut);
            if tx
                .send(Ok(Block {
                    pieces,
                    bytes: cut as u64,
                }))
                .is_err()
            {
                return Ok(()); // the merge stopped
            }
        }
        Ok(())
    };
    if let Err(e) = run() {
        let _ = tx.send(Err(e));
    }
}

pub(super) struct Cursor {
    pub(super) rx: Receiver<Result<Block>>,
    pub(super) block: Option<Block>,
    pub(super) piece: usize,
    pub(super) pos: usize,
    /// The first run of the piece not consumed whole (`runs[run].first >= pos`, or none left).
    pub(super) run: usize,
    pub(super) done: bool,
    /// The pid of the next line with a pid (the original's `pid_in_file`).
    pub(super) fpid: Option<u32>,
    pub(super) stats: FileStats,
    /// Where consumed blocks' pieces go back to the parsers.
    pub(super) recycle: Arc<Recycle>,
}

impl Cursor {
    /// Makes sure a line is available; `false` at the end of the file.
    pub(super) fn ready(&mut self, bytes_read: &mut u64) -> Result<bool> {
        loop {
            if let Some(b) = &self.block {
                while self.piece < b.pieces.len() {
                    if self.pos < b.pieces[self.piece].lines.len() {
                        return Ok(true);
                    }
                    self.piece += 1;
                    self.pos = 0;
                    self.run = 0;
                }
            }
            if self.done {
                return Ok(false);
            }
            match self.rx.recv() {
                Ok(Ok(b)) => {
                    *bytes_read += b.bytes;
                    if let Some(old) = self.block.replace(b) {
                        self.recycle.put(old.pieces);
                    }
                    self.piece = 0;
                    self.pos = 0;
                    self.run = 0;
                }
                Ok(Err(e)) => return Err(e),
                Err(_) => {
                    self.done = true;
                    self.block = None;
                }
            }
        }
    }

    pub(super) fn current(&self) -> (&Piece, &LineOut) {
        let b = self.block.as_ref().expect("ready");
        let p = &b.pieces[self.piece];
        (p, &p.lines[self.pos])
    }
}
