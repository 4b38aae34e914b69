// Shared helpers of wavelearn's CUDA kernels (included by every .cu file).
//
// Conventions used by all kernels
// -------------------------------
// * Activations are (B, N, D) arrays, C-contiguous: channels are the fastest
//   axis, so sample n of channel d in batch b lives at  (b * N + n) * D + d.
//   A thread of a kernel owns one *channel* (threadIdx.x runs along d), which
//   makes every warp read and write consecutive addresses (coalesced), and it
//   walks along the *sequence* axis n, where all the filtering happens.
// * Every shape, filter length, level count and mode is a runtime argument;
//   only the element type T and, for the fused kernels, the channel-tile
//   width TD are template parameters (instantiated by name from Python).
// * Filters arrive as device arrays in the kernel's type T, laid out exactly
//   as wavelearn's NumPy reference builds them (wavelearn/dwt/transforms.py):
//   analysis filters in *correlation* form (time-reversed), synthesis filters
//   as they are.
//
// The same sources also compile with g++ against tests/backends/cuda_harness/cuda_emu.h,
// which defines WL_CUDA_EMU and emulates threads, blocks, __shared__ and
// __syncthreads on the CPU. Nothing here may therefore use CUDA-only library
// calls; the only difference is how dynamic shared memory is reached (below).

#ifndef WAVELEARN_CUDA_COMMON_CUH
#define WAVELEARN_CUDA_COMMON_CUH

namespace wl {

// The grid-stride loop of the per-sample kernels (block (32, 8), grid (ceil(D/32),
// rows)): the rows row = b * n + t of a (B, n, D) array that this thread visits,
// from `first` to `count` in steps of `step`.
struct Rows {
    long long first, count, step;
};

__device__ inline Rows grid_rows(int B, int n) {
    Rows r;
    r.first = static_cast<long long>(blockIdx.y) * blockDim.y + threadIdx.y;
    r.count = static_cast<long long>(B) * n;
    r.step = static_cast<long long>(gridDim.y) * blockDim.y;
    return r;
}

// Boundary modes, numbered as wavelearn.dwt.wavelets.MODES lists them. The
// kernels implement every mode whose padded samples are single input samples
// (possibly negated) or a two-sample extrapolation; 'antireflect' (repeated
// point reflections) is left to the generic array path.
enum Mode : int {
    MODE_ZERO = 0,
    MODE_CONSTANT = 1,
    MODE_SYMMETRIC = 2,
    MODE_REFLECT = 3,
    MODE_PERIODIC = 4,
    MODE_SMOOTH = 5,
    MODE_PERIODIZATION = 6,
    MODE_ANTISYMMETRIC = 7,
};

// i mod n in [0, n) for any sign of i (C++ '%' truncates toward zero).
__device__ __forceinline__ int pmod(int i, int n) {
    const int r = i % n;
    return r < 0 ? r + n : r;
}

// pmod with a fast path: the index is almost always already in range, and an
// integer division is the most expensive instruction of the inner loops.
__device__ __forceinline__ int wrap(int i, int n) {
    return (static_cast<unsigned>(i) < static_cast<unsigned>(n)) ? i : pmod(i, n);
}

__device__ __forceinline__ int imin(int a, int b) { return a < b ? a : b; }
__device__ __forceinline__ int imax(int a, int b) { return a > b ? a : b; }

// Length of the approximation after j decimating (periodization) levels:
// L_0 = n, L_j = ceil(L_{j-1} / 2) = ceil(n / 2^j).
__device__ __forceinline__ int level_len(int n, int j) { return ((n - 1) >> j) + 1; }

// Sample i (any integer) of the column `col` (n samples, `stride` apart)
// extended by `mode`, exactly as wavelearn.dwt.filterbank._extended_sample and its
// mirror image on the right do it. For 0 <= i < n it is col[i].
//
// Every rule but 'smooth' maps i to one input index (and maybe a sign):
//   periodic       i mod n
//   periodization  min(i mod n_even, n - 1), n_even = n rounded up to even
//                  (an odd signal is first made even by repeating its last
//                  sample, then repeated)
//   symmetric      m = i mod 2n; mirrored copies (m >= n) read 2n - 1 - m
//                  (mirror about the half sample beyond each edge)
//   antisymmetric  as symmetric, and a mirrored copy is negated
//   reflect        m = i mod (2n - 2); m >= n reads 2n - 2 - m (mirror about
//                  the edge sample itself; needs n >= 2)
//   constant       the nearest edge sample; zero: 0
// and 'smooth' extrapolates linearly from the two samples at the edge.
template <typename T>
__device__ __forceinline__ T extended_sample(const T* col, int stride, int i, int n, int mode) {
    if (i >= 0 && i < n) return col[i * stride];
    switch (mode) {
        case MODE_ZERO:
            return T(0);
        case MODE_CONSTANT:
            return col[(i < 0 ? 0 : n - 1) * stride];
        case MODE_SMOOTH: {
            if (n == 1) return col[0];
            if (i < 0) {  // x0 + k (x0 - x1), k = -i samples left of the edge
                const T x0 = col[0], x1 = col[stride];
                return x0 + T(-i) * (x0 - x1);
            }
            const T xl = col[(n - 1) * stride], xm = col[(n - 2) * stride];
            return xl + T(i - n + 1) * (xl - xm);
        }
        case MODE_PERIODIC:
            return col[pmod(i, n) * stride];
        case MODE_PERIODIZATION: {
            const int n_even = n + (n & 1);
            return col[imin(pmod(i, n_even), n - 1) * stride];
        }
        case MODE_SYMMETRIC:
        case MODE_ANTISYMMETRIC: {
            const int m = pmod(i, 2 * n);
            const bool mirrored = m >= n;
            const T v = col[(mirrored ? 2 * n - 1 - m : m) * stride];
            return (mode == MODE_ANTISYMMETRIC && mirrored) ? -v : v;
        }
        case MODE_REFLECT: {
            const int m = pmod(i, 2 * n - 2);
            return col[(m >= n ? 2 * n - 2 - m : m) * stride];
        }
        default:  // not reached: the Python wrapper only passes the modes above
            return T(0);
    }
}

}  // namespace wl

// Dynamic shared memory, as a T*. (The emulator provides its own version.)
#ifndef WL_CUDA_EMU
namespace wl {
template <typename T>
__device__ __forceinline__ T* dynamic_smem() {
    extern __shared__ __align__(16) unsigned char wl_dynamic_smem_bytes[];
    return reinterpret_cast<T*>(wl_dynamic_smem_bytes);
}
}  // namespace wl
#endif

#endif  // WAVELEARN_CUDA_COMMON_CUH
