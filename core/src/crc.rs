//! CRC32 (IEEE) of v2 payloads: crc32fast by default; with `compact-crc`, a slice-by-8 CRC whose
//! 8 KiB of tables are built at first use in zeroed memory, so that they cost no bytes in the
//! binary (crc32fast stores 16 KiB of tables, which is most of a browser's `.wasm`).

/// The CRC32 of `bytes`.
pub(crate) fn hash(bytes: &[u8]) -> u32 {
    update(0, bytes)
}

/// The CRC32 of what `crc` is the CRC32 of, followed by `bytes`: a payload checked as its
/// pieces arrive.
#[cfg(not(feature = "compact-crc"))]
pub(crate) fn update(crc: u32, bytes: &[u8]) -> u32 {
    let mut hasher = crc32fast::Hasher::new_with_initial(crc);
    hasher.update(bytes);
    hasher.finalize()
}

#[cfg(feature = "compact-crc")]
pub(crate) use compact::update;

#[cfg(feature = "compact-crc")]
mod compact {
    use core::sync::atomic::{AtomicBool, AtomicU32, Ordering};

    const SLICES: usize = 8;

    /// `TABLES[0]` is the byte-at-a-time table; `TABLES[k][b]` is `TABLES[0][b]` followed by `k`
    /// zero bytes. Atomics make the lazy fill safe code; reading one without contention is a
    /// plain load.
    #[allow(clippy::declare_interior_mutable_const)]
    static TABLES: [[AtomicU32; 256]; SLICES] = {
        const ZERO: AtomicU32 = AtomicU32::new(0);
        const ROW: [AtomicU32; 256] = [ZERO; 256];
        [ROW; SLICES]
    };
    static READY: AtomicBool = AtomicBool::new(false);

    /// Fills the tables; threads that race here write the same values.
    #[cold]
    fn fill() {
        for n in 0..256u32 {
            let mut c = n;
            for _ in 0..8 {
                c = if c & 1 == 1 {
                    0xedb8_8320 ^ (c >> 1)
                } else {
                    c >> 1
                };
            }
            TABLES[0][n as usize].store(c, Ordering::Relaxed);
        }
        for pair in TABLES.windows(2) {
            for (prev, next) in pair[0].iter().zip(&pair[1]) {
                let prev = prev.load(Ordering::Relaxed);
                next.store((prev >> 8) ^ t(0, prev), Ordering::Relaxed);
            }
        }
        READY.store(true, Ordering::Release);
    }

    /// `TABLES[slice]` at the low byte of `index`.
    #[inline(always)]
    fn t(slice: usize, index: u32) -> u32 {
        TABLES[slice][(index & 0xff) as usize].load(Ordering::Relaxed)
    }

    pub(crate) fn update(crc: u32, bytes: &[u8]) -> u32 {
        if !READY.load(Ordering::Acquire) {
            fill();
        }
        let mut crc = !crc;
        let mut words = bytes.chunks_exact(8);
        for w in &mut words {
            let x = crc ^ u32::from_le_bytes([w[0], w[1], w[2], w[3]]);
            let y = u32::from_le_bytes([w[4], w[5], w[6], w[7]]);
            crc = t(7, x)
                ^ t(6, x >> 8)
                ^ t(5, x >> 16)
                ^ t(4, x >> 24)
                ^ t(3, y)
                ^ t(2, y >> 8)
                ^ t(1, y >> 16)
                ^ t(0, y >> 24);
        }
        for &b in words.remainder() {
            crc = t(0, crc ^ u32::from(b)) ^ (crc >> 8);
        }
        !crc
    }
}

#[cfg(all(test, feature = "compact-crc"))]
mod tests {
    #[test]
    fn matches_crc32fast_at_every_length_and_alignment() {
        let data: alloc::vec::Vec<u8> = (0..300u32).map(|i| (i * 7 + 3) as u8).collect();
        for start in 0..8 {
            for end in start..data.len() {
                let bytes = &data[start..end];
                assert_eq!(super::hash(bytes), crc32fast::hash(bytes), "{start}..{end}");
                let (a, b) = bytes.split_at(bytes.len() / 3);
                assert_eq!(super::update(super::hash(a), b), crc32fast::hash(bytes));
            }
        }
    }
}
