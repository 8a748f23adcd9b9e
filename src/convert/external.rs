//! `--sort`: an external merge sort of one input file by pid, in bounded memory. Lines of one
//! pid keep their file order (stable), and every output line carries its original line number
//! (`<line>\x1f<text>`) so that error messages still name the input's lines.

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::fs::File;
use std::io::{BufRead, BufReader, BufWriter, Write};
use std::path::{Path, PathBuf};

use crate::convert::tsv::{c_stoi, trim_line};
use crate::error::{Error, Result};

/// Separates the original line number from the line in a sorted file.
pub(crate) const NUMBER_SEP: u8 = 0x1f;

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> Error + '_ {
    move |source| Error::Io {
        path: path.into(),
        source,
    }
}

/// The sort key of a line: its pid, or -1 for a line without one (kept first, in file order).
fn key(line: &[u8]) -> i64 {
    let t = trim_line(line);
    let end = t
        .iter()
        .position(|&b| b == b'\t' || b == b' ')
        .unwrap_or(t.len());
    std::str::from_utf8(&t[..end])
        .ok()
        .and_then(c_stoi)
        .map_or(-1, i64::from)
}

struct Run {
    reader: BufReader<File>,
    path: PathBuf,
    next: Option<(i64, Vec<u8>)>,
}

impl Run {
    fn advance(&mut self) -> Result<()> {
        let mut buf = Vec::new();
        let n = self
            .reader
            .read_until(b'\n', &mut buf)
            .map_err(io(&self.path))?;
        self.next = if n == 0 {
            None
        } else {
            let sep = buf.iter().position(|&b| b == NUMBER_SEP).unwrap_or(0);
            Some((key(&buf[sep + 1..]), buf))
        };
        Ok(())
    }
}

/// Sorts `input` by pid into `output` (numbered lines); returns `output`.
///
/// # Errors
/// [`Error::Open`] / [`Error::Io`] naming the file.
pub(crate) fn sort_file(input: &Path, output: &Path, chunk_bytes: usize) -> Result<PathBuf> {
    let mut f = File::open(input).map_err(|source| Error::Open {
        path: input.into(),
        source,
    })?;
    crate::text::skip_bom(&mut f).map_err(|source| Error::Io {
        path: input.into(),
        source,
    })?;
    let mut reader = BufReader::with_capacity(1 << 20, f);
    let dir = output.parent().unwrap_or(Path::new("."));
    let mut runs: Vec<PathBuf> = Vec::new();
    let mut chunk: Vec<(i64, u64, Vec<u8>)> = Vec::new();
    let mut size = 0usize;
    let mut line_no = 0u64;
    let flush = |chunk: &mut Vec<(i64, u64, Vec<u8>)>, runs: &mut Vec<PathBuf>| -> Result<()> {
        chunk.sort_by_key(|(k, n, _)| (*k, *n));
        let path = dir.join(format!(
            "{}.run{}",
            output
                .file_name()
                .map(|s| s.to_string_lossy())
                .unwrap_or_default(),
            runs.len()
        ));
        let f = File::create(&path).map_err(|source| Error::Open {
            path: path.clone(),
            source,
        })?;
        let mut w = BufWriter::with_capacity(1 << 20, f);
        for (_, n, line) in chunk.drain(..) {
            w.write_all(n.to_string().as_bytes()).map_err(io(&path))?;
            w.write_all(&[NUMBER_SEP]).map_err(io(&path))?;
            w.write_all(&line).map_err(io(&path))?;
            w.write_all(b"\n").map_err(io(&path))?;
        }
        w.flush().map_err(io(&path))?;
        runs.push(path);
        Ok(())
    };
    loop {
        let mut buf = Vec::new();
        let n = reader.read_until(b'\n', &mut buf).map_err(io(input))?;
        if n == 0 {
            break;
        }
        line_no += 1;
        while matches!(buf.last(), Some(b'\n' | b'\r')) {
            buf.pop();
        }
        let t = trim_line(&buf);
        if t.is_empty() || t[0] == b'#' {
            continue;
        }
        size += buf.len() + 48;
        chunk.push((key(&buf), line_no, buf));
        if size >= chunk_bytes {
            flush(&mut chunk, &mut runs)?;
            size = 0;
        }
    }
    if !chunk.is_empty() || runs.is_empty() {
        flush(&mut chunk, &mut runs)?;
    }
    if runs.len() == 1 {
        std::fs::rename(&runs[0], output).map_err(io(output))?;
        return Ok(output.to_path_buf());
    }
    // k-way merge; ties by run index keep the file order.
    let mut readers = Vec::new();
    for p in &runs {
        let f = File::open(p).map_err(|source| Error::Open {
            path: p.clone(),
            source,
        })?;
        let mut r = Run {
            reader: BufReader::with_capacity(256 << 10, f),
            path: p.clone(),
            next: None,
        };
        r.advance()?;
        readers.push(r);
    }
    let f = File::create(output).map_err(|source| Error::Open {
        path: output.into(),
        source,
    })?;
    let mut w = BufWriter::with_capacity(1 << 20, f);
    let mut heap: BinaryHeap<Reverse<(i64, usize)>> = readers
        .iter()
        .enumerate()
        .filter_map(|(i, r)| r.next.as_ref().map(|(k, _)| Reverse((*k, i))))
        .collect();
    while let Some(Reverse((_, i))) = heap.pop() {
        if let Some((_, line)) = readers[i].next.take() {
            w.write_all(&line).map_err(io(output))?;
        }
        readers[i].advance()?;
        if let Some((k, _)) = &readers[i].next {
            heap.push(Reverse((*k, i)));
        }
    }
    w.flush().map_err(io(output))?;
    drop(readers);
    for p in &runs {
        let _ = std::fs::remove_file(p);
    }
    Ok(output.to_path_buf())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sorts_stably_with_line_numbers() {
        let d = tempfile::tempdir().unwrap();
        let input = d.path().join("in.tsv");
        std::fs::write(
            &input,
            "3\tA\t1\n1\tA\t1\n# c\n\n3\tA\t2\nx\tB\n1\tA\t2\r\n2\tA\t9\n",
        )
        .unwrap();
        for chunk in [1usize, 1 << 20] {
            let out = sort_file(&input, &d.path().join(format!("o{chunk}")), chunk).unwrap();
            let text = std::fs::read_to_string(out).unwrap();
            let lines: Vec<&str> = text.lines().collect();
            assert_eq!(
                lines,
                [
                    "6\u{1f}x\tB",
                    "2\u{1f}1\tA\t1",
                    "7\u{1f}1\tA\t2",
                    "8\u{1f}2\tA\t9",
                    "1\u{1f}3\tA\t1",
                    "5\u{1f}3\tA\t2"
                ],
                "chunk {chunk}"
            );
        }
    }
}
