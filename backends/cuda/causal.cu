// The causal (undecimated, a trous) filter bank of the decoder's mixing layer,
// along the sequence axis of (B, N, D) arrays, channels contiguous.
//
// NumPy reference: wavelearn.dwt.causal.causal_analysis / causal_analysis_adjoint
//   a_0 = x,   a_j = hbar_(dilated 2^(j-1)) * a_{j-1},   d_j = a_{j-1} - a_j,
// where the dilated causal filter is  s[t] = sum_i hbar[i] * a[t - i * delta]
// (zeros before the start, so s[t] reads no sample after t).
// Python wrappers: wavelearn.backends.cupy_kernels.causal_analysis(_adjoint),
// which launch one kernel per level (the reach of level j, (F - 1) 2^(j-1)
// samples, grows too fast for a shared-memory tile to pay off).
//
// Launch: block (32, 8), grid (ceil(D / 32), rows): a grid-stride loop over the
// flattened (batch, position) rows, one thread per output sample and channel.

#include "common.cuh"

// One analysis level: a_out = C a_prev, d_out = a_prev - C a_prev, with
// (C a)[t] = sum_{i < F, i * dilation <= t} h[i] * a[t - i * dilation].
template <typename T>
__global__ void causal_level(const T* __restrict__ a_prev, const T* __restrict__ h,
                             T* __restrict__ a_out, T* __restrict__ d_out, int B, int N, int D,
                             int F, int dilation) {
    const int d = blockIdx.x * blockDim.x + threadIdx.x;
    if (d >= D) return;  // no barriers here
    const wl::Rows r = wl::grid_rows(B, N);
    for (long long row = r.first; row < r.count; row += r.step) {
        const int b = static_cast<int>(row / N);
        const int t = static_cast<int>(row - static_cast<long long>(b) * N);
        const T* col = a_prev + static_cast<long long>(b) * N * D + d;  // a_prev[b, :, d]
        T s = T(0);
        // taps reach back i * dilation samples; stop at the start of the sequence
        for (int i = 0, lag = 0; i < F && lag <= t; ++i, lag += dilation)
            s += h[i] * col[static_cast<long long>(t - lag) * D];
        const long long k = row * D + d;
        a_out[k] = s;
        d_out[k] = a_prev[k] - s;
    }
}

// The adjoint of one level. Level j maps a_{j-1} to (a_j, d_j) = (C a, a - C a),
// so given the gradients (da_j, dd_j) of its outputs,
//   da_{j-1} = dd_j + C^T (da_j - dd_j),   (C^T g)[t] = sum_{i, t + i*dilation < N} h[i] g[t + i*dilation]
// (the transposed filter reads ahead: C^T is anti-causal, as it must be).
template <typename T>
__global__ void causal_level_adjoint(const T* __restrict__ da, const T* __restrict__ dd,
                                     const T* __restrict__ h, T* __restrict__ out, int B, int N,
                                     int D, int F, int dilation) {
    const int d = blockIdx.x * blockDim.x + threadIdx.x;
    if (d >= D) return;
    const wl::Rows r = wl::grid_rows(B, N);
    for (long long row = r.first; row < r.count; row += r.step) {
        const int b = static_cast<int>(row / N);
        const int t = static_cast<int>(row - static_cast<long long>(b) * N);
        const long long col = static_cast<long long>(b) * N * D + d;
        T s = T(0);
        for (int i = 0, lead = 0; i < F && t + lead < N; ++i, lead += dilation) {
            const long long k = col + static_cast<long long>(t + lead) * D;
            s += h[i] * (da[k] - dd[k]);
        }
        const long long k = row * D + d;
        out[k] = dd[k] + s;
    }
}

// Explicit instantiations: the names the Python wrappers ask for
// (cupy.RawModule name_expressions), and what `nvcc --ptx` compiles in CI.
template __global__ void causal_level<float>(const float*, const float*, float*, float*, int, int,
                                             int, int, int);
template __global__ void causal_level<double>(const double*, const double*, double*, double*, int,
                                              int, int, int, int);
template __global__ void causal_level_adjoint<float>(const float*, const float*, const float*,
                                                     float*, int, int, int, int, int);
template __global__ void causal_level_adjoint<double>(const double*, const double*,
                                                      const double*, double*, int, int, int, int,
                                                      int);
