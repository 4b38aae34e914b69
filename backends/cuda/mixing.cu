// Fused wavelet mixing, 'pointwise' mode, periodization boundary:
//
//     y = S( w (.) A x )       A = J levels of the DWT (wavedec),
//                              S = J levels of the inverse DWT (waverec, length N),
//                              w = one gain per band and channel, weight (K, D), K = J + 1,
//
// along the sequence axis of (B, N, D) arrays, in ONE launch: every level of
// analysis, the scaling and every level of synthesis happen in shared memory,
// so HBM sees one read of x and one write of y. NumPy reference:
// wavelearn.nn.mixing.WaveletMixing(mixing_mode='pointwise', mode='periodization')
// (forward and backward); Python wrappers: wavelearn.backends.cupy_kernels.
//
// Kernels
// -------
// mix_pointwise<T, TD>(x, filt, w, y, B, N, D, J, F, adjoint)
//     adjoint = 0: y  = S W A x                       (the layer's forward)
//     adjoint = 1: dx = A^T W S^T dy  (pass dy as x)   (the layer's input gradient)
//   The adjoint runs THE SAME code with transposed roles. In periodization
//   mode one analysis level is  c_b[o] = sum_i fa_b[i] x[(2o + i - left) mod 2L]
//   and one synthesis level is  z[t] = sum_b sum_{2o = t + left - i (mod 2L)} fs_b[i] c_b[o]:
//   transposing the first gives the second with fs := fa, and vice versa. So
//   A^T is "synthesis with the analysis filters" and S^T is "analysis with the
//   synthesis filters"; the kernel just swaps the two filter pairs. (For an
//   orthogonal wavelet fa == fs, A^T = S and S^T = A: the adjoint is literally
//   the forward kernel run on dy.) Odd lengths need two more transposes: the
//   analysis extends an odd input by repeating its last sample (adjoint: fold
//   the gradient of that extra sample back onto the last one) and the
//   synthesis of an odd-length level drops its last output (adjoint: read a
//   zero there). `adjoint` switches both.
// mix_pointwise_bwd<T, TD>(x, dy, filt, w, dx, dw_part, B, N, D, J, F)
//     dx as above, plus the weight gradient dw[k, d] = sum_{b, n} (A x)_k * (S^T dy)_k,
//     written per batch row as dw_part (B, K, D) (the wrapper sums over B, so
//     the result is deterministic). It runs both analyses (of x and of dy) side
//     by side, level by level, so that each pair of coefficients meets in
//     registers and only the scaled gradient needs to be stored.
//
// filt is (4, F): [fa_lo, fa_hi, fs_lo, fs_hi] with fa = time-reversed dec
// filters (correlation form, wavelearn.dwt.transforms.analysis_filters) and fs = rec
// filters (wavelearn.dwt.transforms.synthesis_filters); F even (true of every PyWavelets
// wavelet), left = F/2 - 1.
//
// Launch: block (TD, BY) -- threadIdx.x = channel within the tile, threadIdx.y
// walks the sequence; grid (ceil(D / TD), min(B, 65535)) -- one block per
// (channel tile, batch row), looping over further batch rows; dynamic shared
// memory as computed by cupy_kernels.fused_plan (which must match the layout
// below; the wrapper falls back to the generic path when it does not fit).
//
// Shared-memory layout (in elements of T; a "row" is TD channels of one sample)
//   taps : 4F
//   P0   : rows0 = max(N, 2 L_2) rows     ping-pong pyramid, even levels
//   P1   : rows1 = 2 L_1 rows             ping-pong pyramid, odd levels
//   (backward only)
//   X0   : N rows, X1 : L_1 rows          approximations of x during its analysis
//   red  : BY rows                        scratch of the weight-gradient reduction
// with L_j = ceil(N / 2^j). The ping-pong pyramid: level j reads its input
// a_{j-1} from P_{(j-1)%2}[0, L_{j-1}) and writes a_j to P_{j%2}[0, L_j) and
// d_j to P_{j%2}[L_j, 2 L_j). The details of level j - 2 sit in the same buffer
// at [L_{j-2}, 2 L_{j-2}), untouched as long as 2 L_j <= L_{j-2}, i.e. as long
// as L_{j-2} >= 2: the wrapper requires N > 2^(J-2). Synthesis walks back:
// level j reads P_{j%2}[0, 2 L_j) and writes a_{j-1} to P_{(j-1)%2}[0, L_{j-1}),
// next to d_{j-1}; level 1 writes straight to global memory.
//
// Per thread, a level's work is cut into groups of R consecutive outputs
// (analysis) or 2R (synthesis), kept in registers with a sliding window over
// the inputs, so each shared-memory read feeds about 2R multiply-adds.
// R = WL_MIX_R is a compile-time knob (default 4; CupyLauncher(defines=...)).
//
// Performance notes (to be confirmed by benchmarks/gpu.py on the GPU):
// * A row is TD consecutive elements. With TD = 32 floats a warp reads one
//   whole row: 128 bytes, every bank once. With TD = 16 or 8 a warp spans 2 or
//   4 threadIdx.y values, whose groups are 2R rows apart (R in synthesis):
//   the same banks, so those reads are 2- or 4-way bank conflicts. Smaller
//   tiles on the other hand leave room for more blocks per multiprocessor,
//   which lets one block's HBM traffic overlap another's arithmetic.
//   cupy_kernels.fused_plan picks; the benchmark compares the tiles.
// * The arithmetic is ~(F/2)(1 + 1/2 + ... ) * 2 multiply-adds per sample for
//   each of analysis and synthesis (~28 for db4, 3 levels): about half of what
//   an H100/H200 can do while HBM streams the same samples, so the kernel is
//   near the balance point; the fast path (DirectRows) keeps the index
//   arithmetic out of the inner loops.

#include "common.cuh"

#ifndef WL_MIX_R
#define WL_MIX_R 4
#endif

namespace wl {
namespace mix {

constexpr int R = WL_MIX_R;  // outputs per thread and group (analysis); 2R for synthesis

// Rows of the two pyramid buffers (see the layout above).
__device__ __forceinline__ int rows_p0(int N, int J) {
    return J >= 2 ? imax(N, 2 * level_len(N, 2)) : N;
}
__device__ __forceinline__ int rows_p1(int N) { return 2 * level_len(N, 1); }

// ---- reading a level's input ------------------------------------------------
//
// The analysis of level j reads its input (Lp = L_{j-1} samples) as a signal
// of period 2L, L = ceil(Lp / 2):
//   forward:  an odd input is made even by repeating its last sample
//             (periodization's rule, wavelearn.dwt.filterbank._extended_sample);
//   adjoint:  the extra sample is a zero (the transpose of the synthesis'
//             "drop the last output" for odd lengths).
// Two readers give sample k: PeriodicRows applies these rules to any k;
// DirectRows assumes 0 <= k < Lp and just loads. Every group checks once
// whether its whole window lies inside the input and then uses DirectRows,
// so the wrap-around arithmetic runs only in the few groups at the ends.
// `src` points at this thread's channel of row 0 (rows are TD elements apart).
template <typename T, int TD>
struct DirectRows {
    const T* src;
    __device__ __forceinline__ T operator()(int k) const { return src[k * TD]; }
};

template <typename T, int TD>
struct PeriodicRows {
    const T* src;
    int period, Lp;
    bool zero_tail;
    __device__ __forceinline__ T operator()(int k) const {
        k = wrap(k, period);
        if (k < Lp) return src[k * TD];
        return zero_tail ? T(0) : src[(Lp - 1) * TD];
    }
};

// ---- one analysis group ------------------------------------------------------
//
// Outputs o0 .. o0 + R - 1 of both bands of one channel:
//   lo[r] = sum_{i<F} f_lo[i] * in(2 (o0 + r) + i - left),   hi[r] likewise.
// Split the taps by parity, i = 2m + p: tap 2m + p of output r reads
// in(base + 2 (r + m) + p) with base = 2 o0 - left. So at step m the even taps
// need ev[r] = in(base + 2 (r + m)) and the odd taps od[r] = in(base + 2 (r + m) + 1)
// for r = 0..R-1; going from m to m + 1 shifts both windows by one entry and
// loads one new sample each. Loads per group: 2R + F; multiply-adds: 2RF.
template <typename T, class Rows>
__device__ __forceinline__ void analysis_taps(const Rows& in, int base, const T* f_lo,
                                              const T* f_hi, int F, T (&lo)[R], T (&hi)[R]) {
    T ev[R], od[R];
#pragma unroll
    for (int r = 0; r < R; ++r) {
        ev[r] = in(base + 2 * r);
        od[r] = in(base + 2 * r + 1);
        lo[r] = T(0);
        hi[r] = T(0);
    }
    for (int m = 0; 2 * m < F; ++m) {
        const T l0 = f_lo[2 * m], h0 = f_hi[2 * m];
#pragma unroll
        for (int r = 0; r < R; ++r) {
            lo[r] += l0 * ev[r];
            hi[r] += h0 * ev[r];
        }
        if (2 * m + 1 < F) {
            const T l1 = f_lo[2 * m + 1], h1 = f_hi[2 * m + 1];
#pragma unroll
            for (int r = 0; r < R; ++r) {
                lo[r] += l1 * od[r];
                hi[r] += h1 * od[r];
            }
        }
        if (2 * (m + 1) < F) {  // slide both windows to step m + 1
#pragma unroll
            for (int r = 0; r < R - 1; ++r) {
                ev[r] = ev[r + 1];
                od[r] = od[r + 1];
            }
            ev[R - 1] = in(base + 2 * (R + m));
            od[R - 1] = in(base + 2 * (R + m) + 1);
        }
    }
}

template <typename T, int TD>
__device__ __forceinline__ void analysis_group(const T* src, int Lp, int L, int o0, const T* f_lo,
                                               const T* f_hi, int F, int left, bool zero_tail,
                                               T (&lo)[R], T (&hi)[R]) {
    const int base = 2 * o0 - left;  // input index of tap 0 of output o0
    // analysis_taps reads indices base .. base + 2R + F - 3 (F even; one more if odd)
    if (base >= 0 && base + 2 * R + F - 2 < Lp)
        analysis_taps<T>(DirectRows<T, TD>{src}, base, f_lo, f_hi, F, lo, hi);
    else
        analysis_taps<T>(PeriodicRows<T, TD>{src, 2 * L, Lp, zero_tail}, base, f_lo, f_hi, F, lo,
                         hi);
}

// ---- one synthesis group -----------------------------------------------------
//
// Outputs t0 .. t0 + 2R - 1 (t0 even) of one level, from its bands a, d (L
// coefficients each, periodic):
//   z[t] = sum_{i : t + left - i even} f_lo[i] a[s] + f_hi[i] d[s],   s = (t + left - i) / 2 mod L.
// Write t = t0 + 2r + q (q = 0 even output, 1 odd output) and i = 2m + p_q, where
// the tap parity p_q = (q + left) & 1 is the one that makes t + left - i even.
// Then s = t0/2 + r - m + ((q + left) >> 1). With s0 = t0/2 + (left >> 1) and
// pe = left & 1 (so p_0 = pe, p_1 = 1 - pe):
//   even output 2r uses a[s0 + r - m]      with tap 2m + pe,
//   odd output 2r+1 uses a[s0 + r + pe - m] with tap 2m + 1 - pe.
// Both read the window wa[u] = a[s0 + u - m], u = 0..R; going from m to m + 1
// shifts it up by one entry and loads wa[0] = a[s0 - m - 1].
template <typename T, class Rows>
__device__ __forceinline__ void synthesis_taps(const Rows& a, const Rows& d, int s0, int pe,
                                               const T* f_lo, const T* f_hi, int F,
                                               T (&out)[2 * R]) {
    T wa[R + 1], wd[R + 1];
#pragma unroll
    for (int u = 0; u <= R; ++u) {
        wa[u] = a(s0 + u);
        wd[u] = d(s0 + u);
    }
#pragma unroll
    for (int q = 0; q < 2 * R; ++q) out[q] = T(0);
    for (int m = 0; 2 * m < F; ++m) {
        const int ie = 2 * m + pe;      // tap of the even outputs
        const int io = 2 * m + 1 - pe;  // tap of the odd outputs
        if (ie < F) {
            const T ga = f_lo[ie], gd = f_hi[ie];
#pragma unroll
            for (int r = 0; r < R; ++r) out[2 * r] += ga * wa[r] + gd * wd[r];
        }
        if (io < F) {
            const T ga = f_lo[io], gd = f_hi[io];
#pragma unroll
            for (int r = 0; r < R; ++r) {
                // r is a compile-time index; pe only selects between two registers
                const T va = pe ? wa[r + 1] : wa[r];
                const T vd = pe ? wd[r + 1] : wd[r];
                out[2 * r + 1] += ga * va + gd * vd;
            }
        }
        if (2 * (m + 1) < F) {  // slide the window to step m + 1
#pragma unroll
            for (int u = R; u > 0; --u) {
                wa[u] = wa[u - 1];
                wd[u] = wd[u - 1];
            }
            wa[0] = a(s0 - m - 1);
            wd[0] = d(s0 - m - 1);
        }
    }
}

// Coefficient s of a band of L, periodic (the synthesis' reader).
template <typename T, int TD>
struct WrappedRows {
    const T* src;
    int L;
    __device__ __forceinline__ T operator()(int s) const { return src[wrap(s, L) * TD]; }
};

template <typename T, int TD>
__device__ __forceinline__ void synthesis_group(const T* a, const T* d, int L, int t0,
                                                const T* f_lo, const T* f_hi, int F, int left,
                                                T (&out)[2 * R]) {
    const int s0 = t0 / 2 + (left >> 1);
    const int pe = left & 1;
    // synthesis_taps reads rows s0 - F/2 + 1 .. s0 + R
    if (s0 - F / 2 >= 0 && s0 + R < L)
        synthesis_taps<T>(DirectRows<T, TD>{a}, DirectRows<T, TD>{d}, s0, pe, f_lo, f_hi, F, out);
    else
        synthesis_taps<T>(WrappedRows<T, TD>{a, L}, WrappedRows<T, TD>{d, L}, s0, pe, f_lo, f_hi,
                          F, out);
}

// All J synthesis levels, coarsest first, from the pyramid in P0/P1 (see the
// layout at the top). Level j makes 2 L_j samples of which the next level
// (or the output) takes L_{j-1} = 2 L_j or 2 L_j - 1:
//   fold = false (forward): drop the extra last sample (waverec's trim);
//   fold = true  (adjoint): add it onto sample L_{j-1} - 1, which the forward
//                           analysis had read twice.
// The extra sample t = L_{j-1} is odd and its partner L_{j-1} - 1 even, so both
// are in the same (even, odd) pair of one thread: the fold is local.
// Level 1 writes out_col[t * D] (global memory, this thread's channel).
template <typename T, int TD>
__device__ __forceinline__ void synthesis_cascade(T* P0, T* P1, int N, int J, const T* f_lo,
                                                  const T* f_hi, int F, bool fold, T* out_col,
                                                  int D, bool live) {
    const int tx = threadIdx.x, ty = threadIdx.y, BY = blockDim.y;
    const int left = F / 2 - 1;
    for (int j = J; j >= 1; --j) {
        const int L = level_len(N, j);
        const int Lp = level_len(N, j - 1);
        const T* a = ((j & 1) ? P1 : P0) + tx;  // level j: a at rows [0, L), d at [L, 2L)
        const T* dd = a + L * TD;
        T* dst = ((j & 1) ? P0 : P1) + tx;      // a_{j-1} -> P_{(j-1)%2}[0, Lp)
        for (int g = ty; 2 * R * g < Lp; g += BY) {
            const int t0 = 2 * R * g;
            T v[2 * R];
            synthesis_group<T, TD>(a, dd, L, t0, f_lo, f_hi, F, left, v);
#pragma unroll
            for (int r = 0; r < R; ++r) {
                const int te = t0 + 2 * r;  // even output; te + 1 is its odd partner
                if (te < Lp) {
                    T ve = v[2 * r];
                    if (fold && te + 1 == Lp) ve += v[2 * r + 1];  // Lp odd: fold sample Lp
                    if (j > 1) dst[te * TD] = ve;
                    else if (live) out_col[static_cast<long long>(te) * D] = ve;
                }
                if (te + 1 < Lp) {
                    if (j > 1) dst[(te + 1) * TD] = v[2 * r + 1];
                    else if (live) out_col[static_cast<long long>(te + 1) * D] = v[2 * r + 1];
                }
            }
        }
        if (j > 1) __syncthreads();  // level j-1 reads what this level wrote
    }
}

// Sum v over the BY threads of this channel (threadIdx.y) and let thread
// row 0 store it. Deterministic (fixed order); two barriers, so every thread
// of the block must call it.
template <typename T, int TD>
__device__ __forceinline__ void column_sum(T* red, T v, T* out, bool live) {
    const int tx = threadIdx.x, ty = threadIdx.y, BY = blockDim.y;
    red[ty * TD + tx] = v;
    __syncthreads();
    if (ty == 0) {
        T s = T(0);
        for (int k = 0; k < BY; ++k) s += red[k * TD + tx];
        if (live) *out = s;
    }
    __syncthreads();  // red is reused by the next call
}

}  // namespace mix
}  // namespace wl

// ---------------------------------------------------------------------------
// Forward (adjoint = 0) and input gradient (adjoint = 1) in one launch
// ---------------------------------------------------------------------------
template <typename T, int TD>
__global__ void mix_pointwise(const T* __restrict__ x, const T* __restrict__ filt,
                              const T* __restrict__ w, T* __restrict__ y, int B, int N, int D,
                              int J, int F, int adjoint) {
    using namespace wl;
    using namespace wl::mix;
    const int tx = threadIdx.x, ty = threadIdx.y, BY = blockDim.y;
    const int d = blockIdx.x * TD + tx;  // this thread's channel
    const bool live = d < D;             // the last tile may stick out past D
    const int left = F / 2 - 1;

    T* taps = dynamic_smem<T>();  // [fa_lo | fa_hi | fs_lo | fs_hi], F each
    T* P0 = taps + 4 * F;
    T* P1 = P0 + rows_p0(N, J) * TD;
    for (int i = ty * TD + tx; i < 4 * F; i += TD * BY) taps[i] = filt[i];
    // Transposed roles for the adjoint (see the top of the file).
    const T* an_lo = adjoint ? taps + 2 * F : taps;  // analysis-type levels
    const T* an_hi = an_lo + F;
    const T* sy_lo = adjoint ? taps : taps + 2 * F;  // synthesis-type levels
    const T* sy_hi = sy_lo + F;

    for (int b = blockIdx.y; b < B; b += gridDim.y) {
        // 1. The (N, TD) tile of x into P0: one coalesced pass over HBM.
        const long long col = static_cast<long long>(b) * N * D + d;  // x[b, 0, d]
        for (int n = ty; n < N; n += BY)
            P0[n * TD + tx] = live ? x[col + static_cast<long long>(n) * D] : T(0);
        __syncthreads();

        // 2. J analysis levels; the scaling by w is folded into the stores.
        for (int j = 1; j <= J; ++j) {
            const int L = level_len(N, j), Lp = level_len(N, j - 1);
            const T* src = ((j & 1) ? P0 : P1) + tx;  // a_{j-1}
            T* dst = ((j & 1) ? P1 : P0) + tx;        // a_j at [0, L), d_j at [L, 2L)
            // band order [a_J, d_J, ..., d_1]: d_j is band J - j + 1, a_J band 0
            const T w_d = live ? w[(J - j + 1) * D + d] : T(0);
            const T w_a = (j < J) ? T(1) : (live ? w[d] : T(0));
            for (int g = ty; R * g < L; g += BY) {
                T lo[R], hi[R];
                analysis_group<T, TD>(src, Lp, L, R * g, an_lo, an_hi, F, left, adjoint != 0, lo,
                                      hi);
#pragma unroll
                for (int r = 0; r < R; ++r) {
                    const int o = R * g + r;
                    if (o < L) {
                        dst[o * TD] = w_a * lo[r];
                        dst[(L + o) * TD] = w_d * hi[r];
                    }
                }
            }
            __syncthreads();
        }

        // 3. J synthesis levels; the last one writes y (one pass over HBM).
        synthesis_cascade<T, TD>(P0, P1, N, J, sy_lo, sy_hi, F, adjoint != 0, y + col, D, live);
        __syncthreads();  // P0/P1 are refilled for the next batch row
    }
}

// ---------------------------------------------------------------------------
// Backward: dx = A^T W S^T dy and the per-batch-row weight gradient
// ---------------------------------------------------------------------------
template <typename T, int TD>
__global__ void mix_pointwise_bwd(const T* __restrict__ x, const T* __restrict__ dy,
                                  const T* __restrict__ filt, const T* __restrict__ w,
                                  T* __restrict__ dx, T* __restrict__ dw_part, int B, int N, int D,
                                  int J, int F) {
    using namespace wl;
    using namespace wl::mix;
    const int tx = threadIdx.x, ty = threadIdx.y, BY = blockDim.y;
    const int d = blockIdx.x * TD + tx;
    const bool live = d < D;
    const int left = F / 2 - 1;
    const int K = J + 1;

    T* taps = dynamic_smem<T>();
    T* P0 = taps + 4 * F;                   // pyramid of S^T dy (then of w * S^T dy)
    T* P1 = P0 + rows_p0(N, J) * TD;
    T* X0 = P1 + rows_p1(N) * TD;           // approximations of x
    T* X1 = X0 + N * TD;
    T* red = X1 + level_len(N, 1) * TD;     // BY rows
    for (int i = ty * TD + tx; i < 4 * F; i += TD * BY) taps[i] = filt[i];
    const T* fa_lo = taps;
    const T* fa_hi = taps + F;
    const T* fs_lo = taps + 2 * F;
    const T* fs_hi = taps + 3 * F;

    for (int b = blockIdx.y; b < B; b += gridDim.y) {
        const long long col = static_cast<long long>(b) * N * D + d;
        for (int n = ty; n < N; n += BY) {
            const long long k = col + static_cast<long long>(n) * D;
            P0[n * TD + tx] = live ? dy[k] : T(0);
            X0[n * TD + tx] = live ? x[k] : T(0);
        }
        __syncthreads();

        // Level j of both analyses: c = A x (forward analysis: filters fa,
        // odd inputs repeat their last sample) and g = S^T dy (analysis form
        // with the synthesis filters, odd inputs end in a zero). Then
        //   dw_k += sum c_k g_k   and   store w_k g_k  (the gradient of c_k).
        T* dw_row = dw_part + static_cast<long long>(b) * K * D + d;  // dw_part[b, :, d]
        for (int j = 1; j <= J; ++j) {
            const int L = level_len(N, j), Lp = level_len(N, j - 1);
            const T* gsrc = ((j & 1) ? P0 : P1) + tx;
            T* gdst = ((j & 1) ? P1 : P0) + tx;
            const T* xsrc = ((j & 1) ? X0 : X1) + tx;
            T* xdst = ((j & 1) ? X1 : X0) + tx;  // a_j of x, needed by level j + 1 only
            const T w_d = live ? w[(J - j + 1) * D + d] : T(0);
            const T w_a = live ? w[d] : T(0);
            T acc_d = T(0), acc_a = T(0);
            for (int g = ty; R * g < L; g += BY) {
                T xl[R], xh[R], gl[R], gh[R];
                analysis_group<T, TD>(xsrc, Lp, L, R * g, fa_lo, fa_hi, F, left, false, xl, xh);
                analysis_group<T, TD>(gsrc, Lp, L, R * g, fs_lo, fs_hi, F, left, true, gl, gh);
#pragma unroll
                for (int r = 0; r < R; ++r) {
                    const int o = R * g + r;
                    if (o < L) {
                        acc_d += xh[r] * gh[r];
                        gdst[(L + o) * TD] = w_d * gh[r];
                        if (j == J) {
                            acc_a += xl[r] * gl[r];
                            gdst[o * TD] = w_a * gl[r];
                        } else {
                            gdst[o * TD] = gl[r];
                            xdst[o * TD] = xl[r];
                        }
                    }
                }
            }
            // (the first barrier inside column_sum also ends this level)
            column_sum<T, TD>(red, acc_d, dw_row + (J - j + 1) * D, live);
            if (j == J) column_sum<T, TD>(red, acc_a, dw_row, live);
        }

        // dx = A^T (w g): synthesis form with the analysis filters, folding
        // the repeated samples of odd lengths back.
        synthesis_cascade<T, TD>(P0, P1, N, J, fa_lo, fa_hi, F, true, dx + col, D, live);
        __syncthreads();
    }
}

// Explicit instantiations: the names the Python wrappers ask for
// (cupy.RawModule name_expressions), and what `nvcc --ptx` compiles in CI.
#define WL_INSTANTIATE_MIX(T, TD)                                                              \
    template __global__ void mix_pointwise<T, TD>(const T*, const T*, const T*, T*, int, int,   \
                                                  int, int, int, int);                          \
    template __global__ void mix_pointwise_bwd<T, TD>(const T*, const T*, const T*, const T*,   \
                                                      T*, T*, int, int, int, int, int);
WL_INSTANTIATE_MIX(float, 8)
WL_INSTANTIATE_MIX(float, 16)
WL_INSTANTIATE_MIX(float, 32)
WL_INSTANTIATE_MIX(double, 8)
WL_INSTANTIATE_MIX(double, 16)
WL_INSTANTIATE_MIX(double, 32)
#undef WL_INSTANTIATE_MIX
