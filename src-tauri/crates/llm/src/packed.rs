//! Weight matrices packed for Closer's own AVX-512 VNNI kernels, at their stored size: Q8_0 at
//! any inner size that is whole Q8_0 blocks (here), Q4_K and Q6_K at whole 256-value
//! superblocks ([`kquants`]).
//!
//! Decode is bound by memory bandwidth, so what matters is reading each weight byte once, at
//! full speed. candle's repacked int8 kernels quantize the activations to Q8_K, one scale per 256
//! values, so they only take Q8_0 matrices whose inner size is whole 256-value superblocks.
//! Qwen2.5-0.5B's hidden size is 896 (3.5 superblocks): padding its matrices to 1,024 columns
//! made every decode step read 12 % more bytes than the file holds. Here the activations of a
//! Q8_0 product are quantized per 32 values with an f16 scale, as llama.cpp does for its Q8_0
//! dot products, so every Q8_0 matrix runs as stored: no padding, no second copy. The k-quant
//! matrices (a Q4_K_M file's `ffn_down`, for one) ran through candle at about 60 % of the
//! bandwidth the Q8_0 ones reach; they share the tiles and the parallel region here.
//!
//! Q8_0 layout: tiles of 16 rows × 32 columns (one Q8_0 block per row),
//! `[row tile][block][group of 4 columns][row][4 values]`, the values stored `+128` as bytes
//! (`vpdpbusd` multiplies unsigned bytes by signed ones; the `128 · Σa` it adds is taken off per
//! block). One 64-byte load is then 4 columns of 16 rows, and one `vpdpbusd` against 4 broadcast
//! activation bytes gives 16 partial sums. The scales are kept beside as f16 bits,
//! `[row tile][block][row]`, so the matrix takes exactly the bytes of the file (34 per 32 values).
//!
//! The one place in Closer that uses `unsafe` for speed (see the workspace lints): the intrinsics,
//! called only after the CPU was checked for them, and writes of disjoint output parts from the
//! compute threads (also lent to the decoder's attention, [`par_chunks_mut`]).
#![allow(unsafe_code)]

mod kquants;

use candle_core::quantized::{GgmlDType, QTensor};
use half::f16;
use kquants::{PackedQ4K, PackedQ6K, QK_K, ZERO_AK};
use rayon::prelude::*;

/// Rows per tile: one 512-bit vector of 32-bit sums.
pub(crate) const ROWS: usize = 16;
/// Values per Q8_0 block.
const QK: usize = 32;
/// Bytes per stored Q8_0 block: an f16 scale and 32 signed bytes.
const BLOCK_BYTES: usize = 34;
/// Groups of 4 columns per block: 64-byte lines per tile block.
const GROUPS: usize = QK / 4;
/// Activation rows computed against one weight tile while it is in L1 (prefill).
const MT: usize = 4;

/// One 64-byte line of a tile: 4 columns of 16 rows.
#[derive(Clone, Copy)]
#[repr(C, align(64))]
struct Line([u8; 64]);

/// Whether this CPU has what the kernel needs (AVX-512 F/BW and VNNI). `MISTRALRS_FORCE_AVX2=1`
/// says no, as it does for candle's own int8 kernels.
pub(crate) fn available() -> bool {
    #[cfg(target_arch = "x86_64")]
    {
        std::env::var("MISTRALRS_FORCE_AVX2").as_deref() != Ok("1")
            && std::arch::is_x86_feature_detected!("avx512f")
            && std::arch::is_x86_feature_detected!("avx512bw")
            && std::arch::is_x86_feature_detected!("avx512vnni")
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        false
    }
}

/// A matrix `[n, k]` packed for [`matmul`]: `y = x · wᵀ`.
#[derive(Debug)]
pub(crate) enum Packed {
    Q8_0(PackedQ8),
    Q4K(PackedQ4K),
    Q6K(PackedQ6K),
}

impl Packed {
    /// Packs `w` if it is a Q8_0 matrix of whole 16-row tiles and 32-value blocks, or a Q4_K or
    /// Q6_K one of whole tiles and 256-value superblocks, and this CPU runs the kernels; `None`
    /// leaves it to candle.
    pub(crate) fn pack(w: &QTensor) -> candle_core::Result<Option<Self>> {
        if !available() {
            return Ok(None);
        }
        let (n, k) = w.shape().dims2()?;
        if n == 0 || k == 0 || !n.is_multiple_of(ROWS) {
            return Ok(None);
        }
        Ok(match w.dtype() {
            GgmlDType::Q8_0 if k.is_multiple_of(QK) => {
                Some(Self::Q8_0(PackedQ8::from_blocks(&w.data()?, n, k)))
            }
            GgmlDType::Q4K if k.is_multiple_of(QK_K) => {
                Some(Self::Q4K(PackedQ4K::from_blocks(&w.data()?, n, k)))
            }
            GgmlDType::Q6K if k.is_multiple_of(QK_K) => {
                Some(Self::Q6K(PackedQ6K::from_blocks(&w.data()?, n, k)))
            }
            _ => None,
        })
    }

    /// `(rows, columns)`.
    pub(crate) fn dims(&self) -> (usize, usize) {
        match self {
            Self::Q8_0(w) => (w.n, w.k),
            Self::Q4K(w) => (w.n, w.k),
            Self::Q6K(w) => (w.n, w.k),
        }
    }

    /// Row `r`, dequantized as candle dequantizes the stored type (a lookup in a token embedding
    /// table that is also the output matrix).
    pub(crate) fn row(&self, r: usize) -> Vec<f32> {
        match self {
            Self::Q8_0(w) => w.row(r),
            Self::Q4K(w) => w.row(r),
            Self::Q6K(w) => w.row(r),
        }
    }
}

/// A Q8_0 matrix, packed.
pub(crate) struct PackedQ8 {
    n: usize,
    k: usize,
    qs: Vec<Line>,
    d: Vec<u16>,
}

impl std::fmt::Debug for PackedQ8 {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PackedQ8").field("n", &self.n).field("k", &self.k).finish_non_exhaustive()
    }
}

impl std::fmt::Debug for PackedQ4K {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PackedQ4K").field("n", &self.n).field("k", &self.k).finish_non_exhaustive()
    }
}

impl std::fmt::Debug for PackedQ6K {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PackedQ6K").field("n", &self.n).field("k", &self.k).finish_non_exhaustive()
    }
}

impl PackedQ8 {
    /// From the stored Q8_0 blocks, row after row.
    fn from_blocks(data: &[u8], n: usize, k: usize) -> Self {
        let kb = k / QK;
        debug_assert_eq!(data.len(), n * kb * BLOCK_BYTES);
        let mut qs = vec![Line([0; 64]); n / ROWS * kb * GROUPS];
        let mut d = vec![0u16; n * kb];
        let tile_rows = data.par_chunks_exact(ROWS * kb * BLOCK_BYTES);
        qs.par_chunks_exact_mut(kb * GROUPS)
            .zip(d.par_chunks_exact_mut(kb * ROWS))
            .zip(tile_rows)
            .for_each(|((qs, d), rows)| {
                for (r, row) in rows.chunks_exact(kb * BLOCK_BYTES).enumerate() {
                    for (b, block) in row.chunks_exact(BLOCK_BYTES).enumerate() {
                        d[b * ROWS + r] = u16::from_le_bytes([block[0], block[1]]);
                        for g in 0..GROUPS {
                            let line = &mut qs[b * GROUPS + g].0[r * 4..r * 4 + 4];
                            for (j, v) in line.iter_mut().enumerate() {
                                *v = (block[2 + g * 4 + j] as i8 as i16 + 128) as u8;
                            }
                        }
                    }
                }
            });
        Self { n, k, qs, d }
    }

    fn blocks(&self) -> usize {
        self.k / QK
    }

    /// Row `r`, dequantized.
    fn row(&self, r: usize) -> Vec<f32> {
        let (kb, t, rr) = (self.blocks(), r / ROWS, r % ROWS);
        let mut out = Vec::with_capacity(self.k);
        for b in 0..kb {
            let d = f16::from_bits(self.d[(t * kb + b) * ROWS + rr]).to_f32();
            for g in 0..GROUPS {
                let line = &self.qs[(t * kb + b) * GROUPS + g].0;
                out.extend(line[rr * 4..rr * 4 + 4].iter().map(|&q| d * (q as i16 - 128) as f32));
            }
        }
        out
    }
}

/// One block of 32 activations, quantized as llama.cpp quantizes them for its Q8_0 products.
#[derive(Clone, Copy)]
#[repr(C)]
struct ABlock {
    qs: [i8; QK],
    /// The scale, rounded through f16 as the stored block keeps it.
    d: f32,
    /// `128 · Σ qs`: what the `+128` of the weights adds to a block's integer sum.
    corr: f32,
}

const ZERO_BLOCK: ABlock = ABlock { qs: [0; QK], d: 0.0, corr: 0.0 };

/// As llama.cpp's x86 `quantize_row_q8_0` does it: `127 / max |x|` as the multiplier, rounding
/// half to even, so the two runtimes feed their dot products the same bytes.
fn quantize_block(x: &[f32], out: &mut ABlock) {
    let amax = x.iter().fold(0.0f32, |m, v| m.max(v.abs()));
    let d = amax / 127.0;
    let id = if amax == 0.0 { 0.0 } else { 127.0 / amax };
    let mut sum = 0i32;
    for (q, v) in out.qs.iter_mut().zip(x) {
        *q = (v * id).round_ties_even() as i8;
        sum += i32::from(*q);
    }
    out.d = f16::from_f32(d).to_f32();
    out.corr = 128.0 * sum as f32;
}

/// `m` rows of `k` values, quantized in blocks of `len` by `block` (from `zero`); rows in
/// parallel when there are several.
fn quantize<B: Copy + Send>(
    x: &[f32],
    (m, k): (usize, usize),
    (len, zero): (usize, B),
    block: impl Fn(&[f32], &mut B) + Sync,
) -> Vec<B> {
    let kb = k / len;
    let mut out = vec![zero; m * kb];
    let row = |(blocks, x): (&mut [B], &[f32])| {
        for (b, x) in blocks.iter_mut().zip(x.chunks_exact(len)) {
            block(x, b);
        }
    };
    if m == 1 {
        row((&mut out, x));
    } else {
        out.par_chunks_exact_mut(kb).zip(x.par_chunks_exact(k)).for_each(row);
    }
    out
}

/// A raw output pointer shared by the compute threads, each writing its own part.
#[derive(Clone, Copy)]
struct Out(*mut f32);
// SAFETY: every unit of work writes a distinct set of output elements (its row tile of its rows,
// or its chunk), and the buffers outlive the parallel region, which returns only when every unit
// is done.
unsafe impl Send for Out {}
unsafe impl Sync for Out {}

impl Out {
    /// The element `at` (a method, so closures capture the whole `Out`, which is `Sync`).
    fn at(self, at: usize) -> *mut f32 {
        self.0.wrapping_add(at)
    }
}

/// Runs `f(i, part)` for each `chunk`-sized part `i` of `out` (the last may be shorter) on
/// candle's compute threads, the ones the matrix products use.
pub(crate) fn par_chunks_mut(out: &mut [f32], chunk: usize, f: impl Fn(usize, &mut [f32]) + Sync) {
    let len = out.len();
    let ptr = Out(out.as_mut_ptr());
    candle_core::utils::barrier_pool().execute_chunked(len.div_ceil(chunk), |range| {
        for i in range {
            let (start, end) = (i * chunk, ((i + 1) * chunk).min(len));
            // SAFETY: the parts are disjoint and inside `out`, borrowed for the whole region.
            let part = unsafe { std::slice::from_raw_parts_mut(ptr.at(start), end - start) };
            f(i, part);
        }
    });
}

/// A read-only f32 matrix of `rows × cols` in `data`, element `(i, j)` at `i · rs + j · cs`.
#[derive(Debug, Clone, Copy)]
pub(crate) struct MatRef<'a> {
    pub(crate) data: &'a [f32],
    pub(crate) rows: usize,
    pub(crate) cols: usize,
    pub(crate) rs: usize,
    pub(crate) cs: usize,
}

impl MatRef<'_> {
    /// Whether every element is inside `data`.
    fn fits(&self) -> bool {
        self.rows == 0
            || self.cols == 0
            || (self.rows - 1) * self.rs + (self.cols - 1) * self.cs < self.data.len()
    }
}

/// `c = scale · a · b` into row-major `c` (`a.rows × b.cols`), on the calling thread, by the
/// `gemm` crate that candle's own f32 products use. For small products inside a parallel unit
/// (a decode step's attention): a dot product per score summed its 16 lanes one after another.
///
/// # Panics
/// If the shapes do not agree or an element lies outside its slice.
pub(crate) fn gemm_f32(c: &mut [f32], a: MatRef<'_>, b: MatRef<'_>, scale: f32) {
    assert_eq!(a.cols, b.rows, "inner sizes agree");
    assert_eq!(c.len(), a.rows * b.cols, "the product is a.rows × b.cols");
    assert!(a.fits() && b.fits(), "elements inside their slices");
    if c.is_empty() {
        return;
    }
    let s = |v: usize| v as isize;
    // SAFETY: the shapes agree and every element `gemm` reads or writes is inside its slice
    // (checked above); `c` is borrowed mutably and does not alias `a` or `b`.
    unsafe {
        gemm::gemm(
            a.rows,
            b.cols,
            a.cols,
            c.as_mut_ptr(),
            1,
            s(b.cols),
            false,
            a.data.as_ptr(),
            s(a.cs),
            s(a.rs),
            b.data.as_ptr(),
            s(b.cs),
            s(b.rs),
            0.0,
            scale,
            false,
            false,
            false,
            gemm::Parallelism::None,
        );
    }
}

/// Runs `f(u)` for every unit `u < total` on candle's compute threads. Each thread takes a
/// contiguous share in order, so its weights stream from memory as one run the prefetchers
/// follow; a thread done with its share then takes what is left of the others'. (candle's
/// `execute_chunked` hands out chunks from one cursor, so each thread's reads jump every
/// sixteenth of the product.) Not for use inside a unit of candle's pool, which would then wait
/// for itself: the decoder calls it from its own worker thread only.
fn run_units(total: usize, f: impl Fn(usize) + Sync) {
    use std::sync::atomic::{AtomicUsize, Ordering};
    /// A thread's cursor, on a cache line of its own: cursors sharing one made every unit's
    /// `fetch_add` move the line between the cores.
    #[repr(align(128))]
    struct Cursor(AtomicUsize);
    let pool = candle_core::utils::barrier_pool();
    let threads = pool.n_workers() + 1;
    let share = total.div_ceil(threads);
    let next: Vec<Cursor> = (0..threads).map(|t| Cursor(AtomicUsize::new(t * share))).collect();
    pool.execute(|tid| {
        for k in 0..threads {
            let owner = (tid + k) % threads;
            let end = ((owner + 1) * share).min(total);
            loop {
                let u = next[owner].0.fetch_add(1, Ordering::Relaxed);
                if u >= end {
                    break;
                }
                f(u);
            }
        }
    });
}

/// `x · wᵀ` for each of `ws` (same inner size `k`), `x` being `m` rows of `k` values: one
/// quantization of `x` (per 32 values for Q8_0 matrices, per 256 for k-quants) and one parallel
/// region for all of them (query / key / value, gate / up). Each result is `m` rows of that
/// matrix's `n` values.
///
/// # Panics
/// If `ws` is empty, the inner sizes differ or `x` is not `m · k` values: the decoder's shapes.
pub(crate) fn matmul(ws: &[&Packed], x: &[f32], m: usize) -> Vec<Vec<f32>> {
    let k = ws[0].dims().1;
    assert!(ws.iter().all(|w| w.dims().1 == k), "matrices of one product share their inner size");
    assert_eq!(x.len(), m * k, "{m} rows of {k} values");
    let (kb, kbk) = (k / QK, k / QK_K);
    let q8_0 = |w: &&Packed| matches!(w, Packed::Q8_0(_));
    let acts = if ws.iter().any(q8_0) {
        quantize(x, (m, k), (QK, ZERO_BLOCK), quantize_block)
    } else {
        Vec::new()
    };
    let acts_k = if ws.iter().all(q8_0) {
        Vec::new()
    } else {
        quantize(x, (m, k), (QK_K, ZERO_AK), kquants::quantize_block)
    };
    let mut outs: Vec<Vec<f32>> = ws.iter().map(|w| vec![0.0; m * w.dims().0]).collect();
    let ptrs: Vec<Out> = outs.iter_mut().map(|o| Out(o.as_mut_ptr())).collect();
    let m_units = m.div_ceil(MT);
    // Unit `u` of matrix `i`, for `starts[i] <= u < starts[i + 1]`: its row tile `u / m_units`
    // against activation rows from `(u % m_units) · MT`. Consecutive units share a tile, so
    // prefill reads it from L1 for every group of rows.
    let mut starts = Vec::with_capacity(ws.len() + 1);
    let mut total = 0;
    for w in ws {
        starts.push(total);
        total += w.dims().0 / ROWS * m_units;
    }
    starts.push(total);
    // The activation rows of a unit: `MT` of them, the last repeated past `m`.
    fn rows<A>(acts: &[A], m0: usize, mt: usize, kb: usize) -> [&[A]; MT] {
        std::array::from_fn(|j| &acts[(m0 + j.min(mt - 1)) * kb..][..kb])
    }
    // The kernel `$f` instantiated for the unit's number of rows.
    macro_rules! by_rows {
        ($mt:expr, $($f:ident)::+ ($($arg:expr),*)) => {
            match $mt {
                1 => $($f)::+::<1>($($arg),*),
                2 => $($f)::+::<2>($($arg),*),
                3 => $($f)::+::<3>($($arg),*),
                _ => $($f)::+::<4>($($arg),*),
            }
        };
    }
    run_units(total, |u| {
        let i = starts.partition_point(|&s| s <= u) - 1;
        let (w, out, local) = (ws[i], ptrs[i], u - starts[i]);
        let (t, m0) = (local / m_units, local % m_units * MT);
        let mt = MT.min(m - m0);
        let mut tile = [[0.0f32; ROWS]; MT];
        // SAFETY: `Packed::pack` only packs where `available()` holds.
        unsafe {
            match w {
                Packed::Q8_0(w) => {
                    by_rows!(mt, kernel::tile(w, t, &rows(&acts, m0, mt, kb), &mut tile))
                }
                Packed::Q4K(w) => {
                    by_rows!(mt, kquants::kernel::q4k(w, t, &rows(&acts_k, m0, mt, kbk), &mut tile))
                }
                Packed::Q6K(w) => {
                    by_rows!(mt, kquants::kernel::q6k(w, t, &rows(&acts_k, m0, mt, kbk), &mut tile))
                }
            }
        }
        let n = w.dims().0;
        for (j, values) in tile.iter().take(mt).enumerate() {
            // SAFETY: row `m0 + j` < m, columns `t·16..t·16+16` <= n of a buffer of `m · n`;
            // no other unit writes them (see `Out`).
            unsafe {
                std::ptr::copy_nonoverlapping(
                    values.as_ptr(),
                    out.at((m0 + j) * n + t * ROWS),
                    ROWS,
                );
            }
        }
    });
    outs
}

#[cfg(target_arch = "x86_64")]
mod kernel {
    use super::{ABlock, GROUPS, MT, PackedQ8, ROWS};
    use core::arch::x86_64::*;

    #[inline(always)]
    unsafe fn bcast4(qs: &[i8; 32], g: usize) -> __m512i {
        // SAFETY (caller): g < 8, so the 4 bytes are inside the block.
        unsafe { _mm512_set1_epi32(std::ptr::read_unaligned(qs.as_ptr().add(g * 4) as *const i32)) }
    }

    /// Row tile `t` of `w` against the first `N` of `rows` (quantized activation rows), into
    /// `out[..N]`. Blocks go two at a time with separate integer sums, so two `vpdpbusd` chains
    /// run side by side even for one row (decode).
    ///
    /// # Safety
    /// The CPU has AVX-512 F, BW and VNNI ([`super::available`]); `t` < `w.n / 16`.
    #[target_feature(enable = "avx512f,avx512bw,avx512vnni")]
    pub(super) unsafe fn tile<const N: usize>(
        w: &PackedQ8,
        t: usize,
        rows: &[&[ABlock]; MT],
        out: &mut [[f32; ROWS]; MT],
    ) {
        let kb = w.blocks();
        let lines = &w.qs[t * kb * GROUPS..(t + 1) * kb * GROUPS];
        let scales = &w.d[t * kb * ROWS..(t + 1) * kb * ROWS];
        let mut acc = [_mm512_setzero_ps(); N];
        let mut b = 0;
        // SAFETY: every load is within `lines` / `scales` (64-byte aligned lines, 16 scales per
        // block), every activation read within a block; the features are the caller's promise.
        unsafe {
            while b + 2 <= kb {
                let mut ia = [_mm512_setzero_si512(); N];
                let mut ib = [_mm512_setzero_si512(); N];
                // Ask for the lines 8 blocks ahead (4 KB, into the next tile near the end of
                // this one, which is most often this thread's next unit): measured 3 % faster
                // decode products than leaving it to the hardware prefetchers alone. A prefetch
                // of an address outside the matrix is harmless (no fault, no read).
                let ahead = lines.as_ptr().wrapping_add((b + 8) * GROUPS) as *const i8;
                for l in 0..2 * GROUPS {
                    _mm_prefetch::<_MM_HINT_T0>(ahead.wrapping_add(l * 64));
                }
                for g in 0..GROUPS {
                    let wa = _mm512_load_si512(lines[b * GROUPS + g].0.as_ptr() as *const _);
                    let wb = _mm512_load_si512(lines[(b + 1) * GROUPS + g].0.as_ptr() as *const _);
                    for j in 0..N {
                        ia[j] = _mm512_dpbusd_epi32(ia[j], wa, bcast4(&rows[j][b].qs, g));
                        ib[j] = _mm512_dpbusd_epi32(ib[j], wb, bcast4(&rows[j][b + 1].qs, g));
                    }
                }
                let da =
                    _mm512_cvtph_ps(_mm256_loadu_si256(scales[b * ROWS..].as_ptr() as *const _));
                let db = _mm512_cvtph_ps(_mm256_loadu_si256(
                    scales[(b + 1) * ROWS..].as_ptr() as *const _
                ));
                for j in 0..N {
                    let (x, y) = (&rows[j][b], &rows[j][b + 1]);
                    let fa = _mm512_sub_ps(_mm512_cvtepi32_ps(ia[j]), _mm512_set1_ps(x.corr));
                    acc[j] = _mm512_fmadd_ps(fa, _mm512_mul_ps(da, _mm512_set1_ps(x.d)), acc[j]);
                    let fb = _mm512_sub_ps(_mm512_cvtepi32_ps(ib[j]), _mm512_set1_ps(y.corr));
                    acc[j] = _mm512_fmadd_ps(fb, _mm512_mul_ps(db, _mm512_set1_ps(y.d)), acc[j]);
                }
                b += 2;
            }
            if b < kb {
                let mut ia = [_mm512_setzero_si512(); N];
                for g in 0..GROUPS {
                    let wa = _mm512_load_si512(lines[b * GROUPS + g].0.as_ptr() as *const _);
                    for j in 0..N {
                        ia[j] = _mm512_dpbusd_epi32(ia[j], wa, bcast4(&rows[j][b].qs, g));
                    }
                }
                let da =
                    _mm512_cvtph_ps(_mm256_loadu_si256(scales[b * ROWS..].as_ptr() as *const _));
                for j in 0..N {
                    let x = &rows[j][b];
                    let fa = _mm512_sub_ps(_mm512_cvtepi32_ps(ia[j]), _mm512_set1_ps(x.corr));
                    acc[j] = _mm512_fmadd_ps(fa, _mm512_mul_ps(da, _mm512_set1_ps(x.d)), acc[j]);
                }
            }
            for j in 0..N {
                _mm512_storeu_ps(out[j].as_mut_ptr(), acc[j]);
            }
        }
    }
}

#[cfg(not(target_arch = "x86_64"))]
mod kernel {
    use super::{ABlock, MT, PackedQ8, ROWS};

    /// Never called: [`super::available`] is false off x86-64, so nothing is packed.
    pub(super) unsafe fn tile<const N: usize>(
        _: &PackedQ8,
        _: usize,
        _: &[&[ABlock]; MT],
        _: &mut [[f32; ROWS]; MT],
    ) {
        unreachable!("packed Q8_0 matrices exist only on x86-64 with AVX-512 VNNI")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use candle_core::{Device, Tensor};

    /// A random matrix through candle's own quantizer, and its dequantized values.
    fn matrix(n: usize, k: usize, seed: u64, dtype: GgmlDType) -> (QTensor, Vec<f32>) {
        let mut state = seed;
        let values: Vec<f32> = (0..n * k)
            .map(|_| {
                state = state.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
                ((state >> 33) as f32 / (1u64 << 31) as f32 - 0.5) * 2.0
            })
            .collect();
        let t = Tensor::from_vec(values, (n, k), &Device::Cpu).expect("tensor");
        let q = QTensor::quantize(&t, dtype).expect("quantize");
        let dq = q.dequantize(&Device::Cpu).expect("dequantize");
        (q, dq.flatten_all().and_then(|t| t.to_vec1()).expect("values"))
    }

    fn reference(w: &[f32], n: usize, k: usize, x: &[f32], m: usize) -> Vec<f32> {
        let mut y = vec![0.0; m * n];
        for i in 0..m {
            for r in 0..n {
                y[i * n + r] = (0..k).map(|c| x[i * k + c] * w[r * k + c]).sum();
            }
        }
        y
    }

    fn pack(q: &QTensor) -> Packed {
        Packed::pack(q).expect("pack").expect("packable")
    }

    /// `matmul` of `ws` against `m` random rows is the f32 product with the dequantized weights,
    /// up to the activations' 8-bit rounding.
    fn check(ws: &[(QTensor, Vec<f32>)], k: usize, m: usize) {
        let packed: Vec<Packed> = ws.iter().map(|(q, _)| pack(q)).collect();
        let (_, x) = matrix(m, k, 99, GgmlDType::F32);
        let got = matmul(&packed.iter().collect::<Vec<_>>(), &x, m);
        for ((got, (q, w)), p) in got.iter().zip(ws).zip(&packed) {
            let n = p.dims().0;
            let want = reference(w, n, k, &x, m);
            assert_eq!(got.len(), want.len());
            let scale = want.iter().fold(0.0f32, |a, v| a.max(v.abs()));
            let worst = got.iter().zip(&want).fold(0.0f32, |a, (g, w)| a.max((g - w).abs()));
            let t = q.dtype();
            assert!(worst < 0.02 * scale, "{t:?} {n}×{k}, {m} rows: off by {worst} (max {scale})");
        }
    }

    /// Q8_0: decode (one row), every tail of the row groups, an odd number of blocks, and two
    /// matrices in one region.
    #[test]
    fn q8_0_products_match_the_dequantized_weights() {
        if !available() {
            eprintln!("skipped: this CPU has no AVX-512 VNNI, and nothing is packed");
            return;
        }
        for (n, k, m) in [(32, 896, 1), (48, 576, 5), (16, 96, 7), (64, 4864, 2), (16, 32, 3)] {
            let a = matrix(n, k, n as u64 * 31 + k as u64, GgmlDType::Q8_0);
            check(&[a, matrix(2 * n, k, 7, GgmlDType::Q8_0)], k, m);
        }
    }

    /// Q4_K and Q6_K, alone and in one region with a Q8_0 matrix (each with its own activation
    /// quantization), for decode and every tail of the row groups.
    #[test]
    fn k_quant_products_match_the_dequantized_weights() {
        if !available() {
            eprintln!("skipped: this CPU has no AVX-512 VNNI, and nothing is packed");
            return;
        }
        for (n, k, m) in [(16, 256, 1), (32, 4864, 1), (48, 512, 5), (16, 768, 6), (32, 256, 7)] {
            let seed = n as u64 * 17 + k as u64;
            check(&[matrix(n, k, seed, GgmlDType::Q4K)], k, m);
            check(&[matrix(n, k, seed, GgmlDType::Q6K)], k, m);
            let mixed = [
                matrix(n, k, seed + 1, GgmlDType::Q6K),
                matrix(2 * n, k, seed + 2, GgmlDType::Q8_0),
                matrix(n, k, seed + 3, GgmlDType::Q4K),
            ];
            check(&mixed, k, m);
        }
    }

    /// With weights far from zero-mean (a large Q4_K minimum, Q6_K values near the ends of their
    /// range), the minimum and offset corrections carry the result: a sign or a factor wrong in
    /// either is far outside the tolerance.
    #[test]
    fn k_quant_offsets_are_applied() {
        if !available() {
            eprintln!("skipped: this CPU has no AVX-512 VNNI, and nothing is packed");
            return;
        }
        let (n, k, m) = (16, 512, 2);
        for dtype in [GgmlDType::Q4K, GgmlDType::Q6K] {
            let values: Vec<f32> =
                (0..n * k).map(|i| 3.0 + ((i * 7919) % 97) as f32 / 97.0).collect();
            let t = Tensor::from_vec(values, (n, k), &Device::Cpu).expect("tensor");
            let q = QTensor::quantize(&t, dtype).expect("quantize");
            let w = q.dequantize(&Device::Cpu).and_then(|t| t.flatten_all()?.to_vec1()).expect("w");
            check(&[(q, w)], k, m);
        }
    }

    /// A row read back from the packed form is the stored row, to the bit.
    #[test]
    fn rows_read_back_as_stored() {
        if !available() {
            eprintln!("skipped: this CPU has no AVX-512 VNNI, and nothing is packed");
            return;
        }
        for (dtype, k) in [(GgmlDType::Q8_0, 160), (GgmlDType::Q4K, 512), (GgmlDType::Q6K, 768)] {
            let (q, w) = matrix(48, k, 3, dtype);
            let p = pack(&q);
            assert_eq!(p.dims(), (48, k));
            for r in [0, 15, 16, 47] {
                assert_eq!(p.row(r), w[r * k..(r + 1) * k], "{dtype:?} row {r}");
            }
        }
    }

    /// Only whole tiles of the three types are packed.
    #[test]
    fn other_shapes_and_types_stay_with_candle() {
        let (q, _) = matrix(24, 64, 1, GgmlDType::Q8_0);
        assert!(Packed::pack(&q).expect("pack").is_none(), "24 rows are not whole tiles");
        let (q, _) = matrix(24, 256, 1, GgmlDType::Q4K);
        assert!(Packed::pack(&q).expect("pack").is_none(), "24 rows are not whole tiles");
        for dtype in [GgmlDType::Q4_0, GgmlDType::Q5K, GgmlDType::F32] {
            let (q, _) = matrix(32, 256, 1, dtype);
            assert!(Packed::pack(&q).expect("pack").is_none(), "{dtype:?} stays with candle");
        }
    }

    /// The product by strides: a row-major `a` against a `b` read transposed from a row-major
    /// buffer, scaled; a matrix reaching past its slice is refused before any read.
    #[test]
    fn gemm_follows_the_strides() {
        let (m, k, n) = (3, 5, 4);
        let a: Vec<f32> = (0..m * k).map(|i| i as f32 * 0.5 - 3.0).collect();
        let bt: Vec<f32> = (0..n * k).map(|i| (i as f32).sin()).collect();
        let mut c = vec![0.0; m * n];
        let am = MatRef { data: &a, rows: m, cols: k, rs: k, cs: 1 };
        let bm = MatRef { data: &bt, rows: k, cols: n, rs: 1, cs: k };
        gemm_f32(&mut c, am, bm, 0.25);
        for i in 0..m {
            for j in 0..n {
                let want: f32 = (0..k).map(|l| a[i * k + l] * bt[j * k + l]).sum::<f32>() * 0.25;
                assert!(
                    (c[i * n + j] - want).abs() < 1e-5,
                    "({i}, {j}): {} vs {want}",
                    c[i * n + j]
                );
            }
        }
        let short = MatRef { data: &bt[1..], ..bm };
        let refused = std::panic::catch_unwind(|| gemm_f32(&mut vec![0.0; m * n], am, short, 1.0));
        assert!(refused.is_err(), "a matrix past its slice is refused");
    }
}
