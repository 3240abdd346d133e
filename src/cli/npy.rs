//! Writing float32 matrices as NumPy `.npy` (format version 1.0).

use std::io::Write;

/// Writes `rows` (all of equal length) as a little-endian float32 array `[rows, cols]`.
pub fn write_f32_matrix(mut w: impl Write, rows: &[Vec<f32>]) -> std::io::Result<()> {
    let cols = rows.first().map_or(0, Vec::len);
    let mut header = format!(
        "{{'descr': '<f4', 'fortran_order': False, 'shape': ({}, {}), }}",
        rows.len(),
        cols
    );
    // Magic (6) + version (2) + length (2) + header + '\n' is a multiple of 64.
    let unpadded = 10 + header.len() + 1;
    header.push_str(&" ".repeat(unpadded.next_multiple_of(64) - unpadded));
    header.push('\n');
    w.write_all(b"\x93NUMPY\x01\x00")?;
    w.write_all(&(header.len() as u16).to_le_bytes())?;
    w.write_all(header.as_bytes())?;
    for row in rows {
        for v in row {
            w.write_all(&v.to_le_bytes())?;
        }
    }
    w.flush()
}
