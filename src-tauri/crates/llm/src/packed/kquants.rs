//! Q4_K and Q6_K matrices packed for the same AVX-512 VNNI tiles as Q8_0 (see the parent
//! module), at (almost) their stored size.
//!
//! A k-quant superblock is 256 values: Q4_K has 8 sub-blocks of 32 with a 6-bit scale and a
//! 6-bit minimum each, under an f16 scale and an f16 minimum for the superblock (144 bytes);
//! Q6_K has 16 groups of 16 with a signed 8-bit scale each, under one f16 scale (210 bytes).
//! Their activations are quantized per superblock as llama.cpp does for its k-quant products
//! (`Q8_K`: one f32 scale per 256 values, with the sums of every 16).
//!
//! Layout, per tile of 16 rows and per superblock, each sub-block of 32 columns in 4 lines of
//! 64 bytes: line `g` holds, for each row, columns `4g..4g+4` in the low nibbles and columns
//! `16+4g..16+4g+4` in the high ones, so one load gives two `vpdpbusd` operands after a mask and
//! a shift. Q6_K adds 2 lines a sub-block for the top 2 bits: line `h` holds, in bits `2p` of
//! byte `j` of each row, column `16h+4p+j`, so a shift by `p` lines them up with nibble line `p`.
//! The scales sit beside as bytes per sub-block (or group) and row, the superblock scales as f16
//! bits per row: Q4_K takes 148 bytes per row-superblock (the file's 144, its 12 bytes of packed
//! 6-bit scales spread to 16), Q6_K exactly the file's 210.
#![allow(unsafe_code)]

use super::{Line, ROWS};
use half::f16;
use rayon::prelude::*;

/// Values per superblock.
pub(super) const QK_K: usize = 256;
/// Sub-blocks of 32 per superblock.
const SUBS: usize = QK_K / 32;
/// Nibble lines per sub-block.
const GROUPS: usize = 4;
const Q4K_BYTES: usize = 144;
const Q6K_BYTES: usize = 210;

/// One superblock of 256 activations, quantized as llama.cpp's `quantize_row_q8_K` does.
#[derive(Clone, Copy)]
#[repr(C)]
pub(super) struct AK {
    pub(super) qs: [i8; QK_K],
    pub(super) d: f32,
    /// `32 · Σ` of each 16 values: what Q6_K's offset of 32 adds to each group's integer sum.
    pub(super) off16: [i32; 16],
    /// `Σ` of each 32 values: what Q4_K's minimum multiplies, per sub-block.
    pub(super) sum32: [i32; SUBS],
}

pub(super) const ZERO_AK: AK = AK { qs: [0; QK_K], d: 0.0, off16: [0; 16], sum32: [0; SUBS] };

/// The largest magnitude (keeping its sign) becomes -127, values round half to even.
pub(super) fn quantize_block(x: &[f32], out: &mut AK) {
    let (mut max, mut amax) = (0.0f32, 0.0f32);
    for &v in x {
        if v.abs() > amax {
            amax = v.abs();
            max = v;
        }
    }
    if amax == 0.0 {
        *out = ZERO_AK;
        return;
    }
    let iscale = -127.0 / max;
    for (q, v) in out.qs.iter_mut().zip(x) {
        *q = (iscale * v).round_ties_even().clamp(-128.0, 127.0) as i8;
    }
    for (g, q) in out.qs.chunks_exact(16).enumerate() {
        let sum: i32 = q.iter().map(|&v| i32::from(v)).sum();
        out.off16[g] = 32 * sum;
    }
    for (s, sum) in out.sum32.iter_mut().enumerate() {
        *sum = (out.off16[2 * s] + out.off16[2 * s + 1]) / 32;
    }
    out.d = 1.0 / iscale;
}

/// The 6-bit scale and minimum of Q4_K sub-block `j` from the superblock's 12 packed bytes.
fn scale_min_k4(j: usize, s: &[u8]) -> (u8, u8) {
    if j < 4 {
        (s[j] & 63, s[j + 4] & 63)
    } else {
        ((s[j + 4] & 0x0F) | ((s[j - 4] >> 6) << 4), (s[j + 4] >> 4) | ((s[j] >> 6) << 4))
    }
}

/// A stored Q4_K superblock as `(d, dmin, scales, mins, values 0..16)`.
fn q4k_values(b: &[u8]) -> (u16, u16, [u8; SUBS], [u8; SUBS], [u8; QK_K]) {
    let (d, dmin) = (u16::from_le_bytes([b[0], b[1]]), u16::from_le_bytes([b[2], b[3]]));
    let (scales, qs) = (&b[4..16], &b[16..Q4K_BYTES]);
    let (mut sc, mut mn, mut q) = ([0; SUBS], [0; SUBS], [0; QK_K]);
    for s in 0..SUBS {
        (sc[s], mn[s]) = scale_min_k4(s, scales);
    }
    for (j, bytes) in qs.chunks_exact(32).enumerate() {
        for (l, &v) in bytes.iter().enumerate() {
            q[64 * j + l] = v & 0x0F;
            q[64 * j + 32 + l] = v >> 4;
        }
    }
    (d, dmin, sc, mn, q)
}

/// A stored Q6_K superblock as `(d, scales of each 16, values 0..64)` (a value means `q - 32`).
fn q6k_values(b: &[u8]) -> (u16, [i8; 16], [u8; QK_K]) {
    let (ql, qh) = (&b[..128], &b[128..192]);
    let mut sc = [0i8; 16];
    for (s, &v) in sc.iter_mut().zip(&b[192..208]) {
        *s = v as i8;
    }
    let d = u16::from_le_bytes([b[208], b[209]]);
    let mut q = [0u8; QK_K];
    for half in 0..2 {
        let (ql, qh, q) = (&ql[64 * half..], &qh[32 * half..], &mut q[128 * half..]);
        for l in 0..32 {
            q[l] = (ql[l] & 0x0F) | ((qh[l] & 3) << 4);
            q[l + 32] = (ql[l + 32] & 0x0F) | (((qh[l] >> 2) & 3) << 4);
            q[l + 64] = (ql[l] >> 4) | (((qh[l] >> 4) & 3) << 4);
            q[l + 96] = (ql[l + 32] >> 4) | (((qh[l] >> 6) & 3) << 4);
        }
    }
    (d, sc, q)
}

/// Writes the low 4 bits of row `r`'s sub-block `q` (32 values) into its 4 nibble lines.
fn put_nibbles(lines: &mut [Line], r: usize, q: &[u8]) {
    for (g, line) in lines.iter_mut().enumerate().take(GROUPS) {
        for j in 0..4 {
            line.0[r * 4 + j] = (q[4 * g + j] & 0x0F) | ((q[16 + 4 * g + j] & 0x0F) << 4);
        }
    }
}

/// The value of column `c` (< 32) of row `r` in a sub-block's nibble lines.
fn nibble(lines: &[Line], r: usize, c: usize) -> u8 {
    let (g, j) = ((c % 16) / 4, c % 4);
    let byte = lines[g].0[r * 4 + j];
    if c < 16 { byte & 0x0F } else { byte >> 4 }
}

/// A Q4_K matrix `[n, k]`, packed.
pub(crate) struct PackedQ4K {
    pub(super) n: usize,
    pub(super) k: usize,
    /// `[row tile][superblock][sub-block][line]`.
    pub(super) qs: Vec<Line>,
    /// `[row tile][superblock][sub-block][row]`.
    pub(super) sc: Vec<u8>,
    pub(super) mn: Vec<u8>,
    /// `[row tile][superblock][row]`, f16 bits.
    pub(super) d: Vec<u16>,
    pub(super) dmin: Vec<u16>,
}

impl PackedQ4K {
    /// From the stored superblocks, row after row; `n` whole tiles, `k` whole superblocks.
    pub(super) fn from_blocks(data: &[u8], n: usize, k: usize) -> Self {
        let kb = k / QK_K;
        debug_assert_eq!(data.len(), n * kb * Q4K_BYTES);
        let tiles = n / ROWS;
        let mut qs = vec![Line([0; 64]); tiles * kb * SUBS * GROUPS];
        let (mut sc, mut mn) = (vec![0u8; n * kb * SUBS], vec![0u8; n * kb * SUBS]);
        let (mut d, mut dmin) = (vec![0u16; n * kb], vec![0u16; n * kb]);
        qs.par_chunks_exact_mut(kb * SUBS * GROUPS)
            .zip(sc.par_chunks_exact_mut(kb * SUBS * ROWS))
            .zip(mn.par_chunks_exact_mut(kb * SUBS * ROWS))
            .zip(d.par_chunks_exact_mut(kb * ROWS))
            .zip(dmin.par_chunks_exact_mut(kb * ROWS))
            .zip(data.par_chunks_exact(ROWS * kb * Q4K_BYTES))
            .for_each(|(((((qs, sc), mn), d), dmin), rows)| {
                for (r, row) in rows.chunks_exact(kb * Q4K_BYTES).enumerate() {
                    for (b, block) in row.chunks_exact(Q4K_BYTES).enumerate() {
                        let (bd, bdmin, bsc, bmn, q) = q4k_values(block);
                        d[b * ROWS + r] = bd;
                        dmin[b * ROWS + r] = bdmin;
                        for s in 0..SUBS {
                            sc[(b * SUBS + s) * ROWS + r] = bsc[s];
                            mn[(b * SUBS + s) * ROWS + r] = bmn[s];
                            let lines = &mut qs[(b * SUBS + s) * GROUPS..][..GROUPS];
                            put_nibbles(lines, r, &q[32 * s..32 * s + 32]);
                        }
                    }
                }
            });
        Self { n, k, qs, sc, mn, d, dmin }
    }

    /// Row `r`, dequantized as candle dequantizes Q4_K (`d·sc·q - dmin·m`).
    pub(super) fn row(&self, r: usize) -> Vec<f32> {
        let (kb, t, rr) = (self.k / QK_K, r / ROWS, r % ROWS);
        let mut out = Vec::with_capacity(self.k);
        for b in 0..kb {
            let tb = t * kb + b;
            let d = f16::from_bits(self.d[tb * ROWS + rr]).to_f32();
            let dmin = f16::from_bits(self.dmin[tb * ROWS + rr]).to_f32();
            for s in 0..SUBS {
                let scale = d * f32::from(self.sc[(tb * SUBS + s) * ROWS + rr]);
                let min = dmin * f32::from(self.mn[(tb * SUBS + s) * ROWS + rr]);
                let lines = &self.qs[(tb * SUBS + s) * GROUPS..][..GROUPS];
                out.extend((0..32).map(|c| scale * f32::from(nibble(lines, rr, c)) - min));
            }
        }
        out
    }
}

/// A Q6_K matrix `[n, k]`, packed.
pub(crate) struct PackedQ6K {
    pub(super) n: usize,
    pub(super) k: usize,
    /// Low 4 bits, `[row tile][superblock][sub-block][line]`.
    pub(super) qs: Vec<Line>,
    /// Top 2 bits, `[row tile][superblock][sub-block][2 lines]`.
    pub(super) qh: Vec<Line>,
    /// `[row tile][superblock][group of 16][row]`.
    pub(super) sc: Vec<i8>,
    /// `[row tile][superblock][row]`, f16 bits.
    pub(super) d: Vec<u16>,
}

impl PackedQ6K {
    /// From the stored superblocks, row after row; `n` whole tiles, `k` whole superblocks.
    pub(super) fn from_blocks(data: &[u8], n: usize, k: usize) -> Self {
        let kb = k / QK_K;
        debug_assert_eq!(data.len(), n * kb * Q6K_BYTES);
        let tiles = n / ROWS;
        let mut qs = vec![Line([0; 64]); tiles * kb * SUBS * GROUPS];
        let mut qh = vec![Line([0; 64]); tiles * kb * SUBS * 2];
        let mut sc = vec![0i8; n * kb * 16];
        let mut d = vec![0u16; n * kb];
        qs.par_chunks_exact_mut(kb * SUBS * GROUPS)
            .zip(qh.par_chunks_exact_mut(kb * SUBS * 2))
            .zip(sc.par_chunks_exact_mut(kb * 16 * ROWS))
            .zip(d.par_chunks_exact_mut(kb * ROWS))
            .zip(data.par_chunks_exact(ROWS * kb * Q6K_BYTES))
            .for_each(|((((qs, qh), sc), d), rows)| {
                for (r, row) in rows.chunks_exact(kb * Q6K_BYTES).enumerate() {
                    for (b, block) in row.chunks_exact(Q6K_BYTES).enumerate() {
                        let (bd, bsc, q) = q6k_values(block);
                        d[b * ROWS + r] = bd;
                        for (g, &s) in bsc.iter().enumerate() {
                            sc[(b * 16 + g) * ROWS + r] = s;
                        }
                        for s in 0..SUBS {
                            let q = &q[32 * s..32 * s + 32];
                            put_nibbles(&mut qs[(b * SUBS + s) * GROUPS..][..GROUPS], r, q);
                            let high = &mut qh[(b * SUBS + s) * 2..][..2];
                            for (h, line) in high.iter_mut().enumerate() {
                                for j in 0..4 {
                                    line.0[r * 4 + j] = (0..4)
                                        .map(|p| (q[16 * h + 4 * p + j] >> 4) << (2 * p))
                                        .fold(0, |a, v| a | v);
                                }
                            }
                        }
                    }
                }
            });
        Self { n, k, qs, qh, sc, d }
    }

    /// Row `r`, dequantized as candle dequantizes Q6_K (`d·sc·(q - 32)`).
    pub(super) fn row(&self, r: usize) -> Vec<f32> {
        let (kb, t, rr) = (self.k / QK_K, r / ROWS, r % ROWS);
        let mut out = Vec::with_capacity(self.k);
        for b in 0..kb {
            let tb = t * kb + b;
            let d = f16::from_bits(self.d[tb * ROWS + rr]).to_f32();
            for s in 0..SUBS {
                let lines = &self.qs[(tb * SUBS + s) * GROUPS..][..GROUPS];
                let high = &self.qh[(tb * SUBS + s) * 2..][..2];
                for c in 0..32 {
                    let (h, p, j) = (c / 16, (c % 16) / 4, c % 4);
                    let top = (high[h].0[rr * 4 + j] >> (2 * p)) & 3;
                    let q = (nibble(lines, rr, c) | (top << 4)) as i8 - 32;
                    let scale = f32::from(self.sc[(tb * 16 + 2 * s + c / 16) * ROWS + rr]);
                    out.push(d * scale * f32::from(q));
                }
            }
        }
        out
    }
}

#[cfg(target_arch = "x86_64")]
pub(super) mod kernel {
    use super::super::{MT, ROWS};
    use super::{AK, GROUPS, PackedQ4K, PackedQ6K, QK_K, SUBS};
    use core::arch::x86_64::*;

    #[inline(always)]
    unsafe fn bcast4(qs: &[i8; QK_K], at: usize) -> __m512i {
        // SAFETY (caller): at + 4 <= 256.
        unsafe { _mm512_set1_epi32(std::ptr::read_unaligned(qs.as_ptr().add(at) as *const i32)) }
    }

    #[inline(always)]
    unsafe fn line(l: &super::Line) -> __m512i {
        // SAFETY: a `Line` is 64 bytes, 64-byte aligned.
        unsafe { _mm512_load_si512(l.0.as_ptr() as *const _) }
    }

    /// 16 bytes as 16 lanes, zero- or sign-extended.
    #[inline(always)]
    unsafe fn u8x16(b: &[u8]) -> __m512i {
        // SAFETY (caller): `b` has at least 16 bytes.
        unsafe { _mm512_cvtepu8_epi32(_mm_loadu_si128(b.as_ptr() as *const _)) }
    }

    #[inline(always)]
    unsafe fn i8x16(b: &[i8]) -> __m512i {
        // SAFETY (caller): `b` has at least 16 bytes.
        unsafe { _mm512_cvtepi8_epi32(_mm_loadu_si128(b.as_ptr() as *const _)) }
    }

    #[inline(always)]
    unsafe fn f16x16(b: &[u16]) -> __m512 {
        // SAFETY (caller): `b` has at least 16 values.
        unsafe { _mm512_cvtph_ps(_mm256_loadu_si256(b.as_ptr() as *const _)) }
    }

    /// Row tile `t` of a Q4_K matrix against the first `N` of `rows`, into `out[..N]`.
    ///
    /// # Safety
    /// The CPU has AVX-512 F, BW and VNNI; `t` < `w.n / 16`; each row has `w.k / 256` blocks.
    #[target_feature(enable = "avx512f,avx512bw,avx512vnni")]
    #[expect(clippy::needless_range_loop, reason = "`b` indexes the weights and every row alike")]
    pub(in super::super) unsafe fn q4k<const N: usize>(
        w: &PackedQ4K,
        t: usize,
        rows: &[&[AK]; MT],
        out: &mut [[f32; ROWS]; MT],
    ) {
        let kb = w.k / QK_K;
        // SAFETY: every index stays inside the tile's part of each array (sizes fixed by
        // `from_blocks`), every activation read inside a block; the features are the caller's.
        unsafe {
            let low = _mm512_set1_epi8(0x0F);
            let mut acc = [_mm512_setzero_ps(); N];
            for b in 0..kb {
                let tb = t * kb + b;
                let lines = &w.qs[tb * SUBS * GROUPS..][..SUBS * GROUPS];
                let mut isum = [_mm512_setzero_si512(); N];
                let mut imin = [_mm512_setzero_si512(); N];
                for s in 0..SUBS {
                    let mut ia = [_mm512_setzero_si512(); N];
                    let mut ib = [_mm512_setzero_si512(); N];
                    for g in 0..GROUPS {
                        let v = line(&lines[s * GROUPS + g]);
                        let lo = _mm512_and_si512(v, low);
                        let hi = _mm512_and_si512(_mm512_srli_epi16(v, 4), low);
                        for j in 0..N {
                            let a = &rows[j][b].qs;
                            ia[j] = _mm512_dpbusd_epi32(ia[j], lo, bcast4(a, 32 * s + 4 * g));
                            ib[j] = _mm512_dpbusd_epi32(ib[j], hi, bcast4(a, 32 * s + 16 + 4 * g));
                        }
                    }
                    let sc = u8x16(&w.sc[(tb * SUBS + s) * ROWS..]);
                    let mn = u8x16(&w.mn[(tb * SUBS + s) * ROWS..]);
                    for j in 0..N {
                        let sum = _mm512_add_epi32(ia[j], ib[j]);
                        isum[j] = _mm512_add_epi32(isum[j], _mm512_mullo_epi32(sum, sc));
                        let m = _mm512_mullo_epi32(mn, _mm512_set1_epi32(rows[j][b].sum32[s]));
                        imin[j] = _mm512_add_epi32(imin[j], m);
                    }
                }
                let d = f16x16(&w.d[tb * ROWS..]);
                let dmin = f16x16(&w.dmin[tb * ROWS..]);
                for j in 0..N {
                    let da = _mm512_set1_ps(rows[j][b].d);
                    let s = _mm512_cvtepi32_ps(isum[j]);
                    acc[j] = _mm512_fmadd_ps(s, _mm512_mul_ps(d, da), acc[j]);
                    let m = _mm512_cvtepi32_ps(imin[j]);
                    acc[j] = _mm512_fnmadd_ps(m, _mm512_mul_ps(dmin, da), acc[j]);
                }
            }
            for j in 0..N {
                _mm512_storeu_ps(out[j].as_mut_ptr(), acc[j]);
            }
        }
    }

    /// The top 2 bits of nibble line `g`'s columns, moved to bits 4–5 of each byte.
    #[inline(always)]
    unsafe fn top(h: __m512i, g: usize) -> __m512i {
        // SAFETY: plain AVX-512 BW arithmetic (the caller's features).
        unsafe {
            let v = match g {
                0 => _mm512_slli_epi16(h, 4),
                1 => _mm512_slli_epi16(h, 2),
                2 => h,
                _ => _mm512_srli_epi16(h, 2),
            };
            _mm512_and_si512(v, _mm512_set1_epi8(0x30))
        }
    }

    /// Row tile `t` of a Q6_K matrix against the first `N` of `rows`, into `out[..N]`.
    ///
    /// # Safety
    /// As [`q4k`].
    #[target_feature(enable = "avx512f,avx512bw,avx512vnni")]
    #[expect(clippy::needless_range_loop, reason = "`b` indexes the weights and every row alike")]
    pub(in super::super) unsafe fn q6k<const N: usize>(
        w: &PackedQ6K,
        t: usize,
        rows: &[&[AK]; MT],
        out: &mut [[f32; ROWS]; MT],
    ) {
        let kb = w.k / QK_K;
        // SAFETY: as in `q4k`.
        unsafe {
            let low = _mm512_set1_epi8(0x0F);
            let mut acc = [_mm512_setzero_ps(); N];
            for b in 0..kb {
                let tb = t * kb + b;
                let lines = &w.qs[tb * SUBS * GROUPS..][..SUBS * GROUPS];
                let high = &w.qh[tb * SUBS * 2..][..SUBS * 2];
                let mut isum = [_mm512_setzero_si512(); N];
                for s in 0..SUBS {
                    let (h0, h1) = (line(&high[2 * s]), line(&high[2 * s + 1]));
                    let mut ia = [_mm512_setzero_si512(); N];
                    let mut ib = [_mm512_setzero_si512(); N];
                    for g in 0..GROUPS {
                        let v = line(&lines[s * GROUPS + g]);
                        let lo = _mm512_or_si512(_mm512_and_si512(v, low), top(h0, g));
                        let hi = _mm512_or_si512(
                            _mm512_and_si512(_mm512_srli_epi16(v, 4), low),
                            top(h1, g),
                        );
                        for j in 0..N {
                            let a = &rows[j][b].qs;
                            ia[j] = _mm512_dpbusd_epi32(ia[j], lo, bcast4(a, 32 * s + 4 * g));
                            ib[j] = _mm512_dpbusd_epi32(ib[j], hi, bcast4(a, 32 * s + 16 + 4 * g));
                        }
                    }
                    let sa = i8x16(&w.sc[(tb * 16 + 2 * s) * ROWS..]);
                    let sb = i8x16(&w.sc[(tb * 16 + 2 * s + 1) * ROWS..]);
                    for j in 0..N {
                        let off = &rows[j][b].off16;
                        let a = _mm512_sub_epi32(ia[j], _mm512_set1_epi32(off[2 * s]));
                        let c = _mm512_sub_epi32(ib[j], _mm512_set1_epi32(off[2 * s + 1]));
                        isum[j] = _mm512_add_epi32(isum[j], _mm512_mullo_epi32(a, sa));
                        isum[j] = _mm512_add_epi32(isum[j], _mm512_mullo_epi32(c, sb));
                    }
                }
                let d = f16x16(&w.d[tb * ROWS..]);
                for j in 0..N {
                    let s = _mm512_cvtepi32_ps(isum[j]);
                    acc[j] =
                        _mm512_fmadd_ps(s, _mm512_mul_ps(d, _mm512_set1_ps(rows[j][b].d)), acc[j]);
                }
            }
            for j in 0..N {
                _mm512_storeu_ps(out[j].as_mut_ptr(), acc[j]);
            }
        }
    }
}

#[cfg(not(target_arch = "x86_64"))]
pub(super) mod kernel {
    use super::super::{MT, ROWS};
    use super::{AK, PackedQ4K, PackedQ6K};

    /// Never called: nothing is packed off x86-64.
    pub(in super::super) unsafe fn q4k<const N: usize>(
        _: &PackedQ4K,
        _: usize,
        _: &[&[AK]; MT],
        _: &mut [[f32; ROWS]; MT],
    ) {
        unreachable!("packed matrices exist only on x86-64 with AVX-512 VNNI")
    }

    /// Never called: nothing is packed off x86-64.
    pub(in super::super) unsafe fn q6k<const N: usize>(
        _: &PackedQ6K,
        _: usize,
        _: &[&[AK]; MT],
        _: &mut [[f32; ROWS]; MT],
    ) {
        unreachable!("packed matrices exist only on x86-64 with AVX-512 VNNI")
    }
}
