//! PASETO pre-authentication encoding (PAE).

/// `LE64(n)`: little-endian u64 with the most significant bit cleared, as PASETO defines it.
fn le64(n: usize) -> [u8; 8] {
    // usize fits u64 on every supported target.
    let n = u64::try_from(n).unwrap_or(u64::MAX) & (u64::MAX >> 1);
    n.to_le_bytes()
}

/// `PAE(pieces) = LE64(count) || for each piece: LE64(len) || piece`.
pub fn pae(pieces: &[&[u8]]) -> Vec<u8> {
    let total = 8 + pieces.iter().map(|p| 8 + p.len()).sum::<usize>();
    let mut out = Vec::with_capacity(total);
    out.extend_from_slice(&le64(pieces.len()));
    for piece in pieces {
        out.extend_from_slice(&le64(piece.len()));
        out.extend_from_slice(piece);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::pae;

    // Test vectors from the PASETO specification (docs/01-Protocol-Versions/Common.md).
    #[test]
    fn spec_vectors() {
        assert_eq!(pae(&[]), b"\x00\x00\x00\x00\x00\x00\x00\x00");
        assert_eq!(
            pae(&[b""]),
            b"\x01\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00"
        );
        assert_eq!(
            pae(&[b"test"]),
            b"\x01\x00\x00\x00\x00\x00\x00\x00\x04\x00\x00\x00\x00\x00\x00\x00test"
        );
    }
}
