// One level of the DWT and of the inverse DWT along the sequence axis of
// (B, N, D) arrays, channels contiguous; float and double; every boundary mode
// but 'antireflect'; any filter length (a runtime int).
//
// NumPy reference: wavelearn.dwt.transforms.analysis_level and _idwt3 (equal to
// pywt.dwt / pywt.idwt along axis 1). Python wrappers:
// wavelearn.backends.cupy_kernels.dwt / idwt / wavedec / waverec.
//
// Launch (both kernels): block (32, 8), grid (ceil(D / 32), rows), where the
// y dimension walks the flattened (batch, output position) rows with a
// grid-stride loop, so any B and length fit in gridDim.y <= 65535.
// One thread computes one output sample of one channel; its 32 neighbours in
// the warp compute the same sample of the next channels, so every load and
// store of a warp touches 32 consecutive elements.

#include "common.cuh"

// ---------------------------------------------------------------------------
// Analysis:  cA[o] = sum_i f_lo[i] * xe[2o + i],  cD[o] = sum_i f_hi[i] * xe[2o + i]
// ---------------------------------------------------------------------------
//
// xe is x padded by `left` samples by the boundary mode: xe[k] = x_ext[k - left]
// (see wl::extended_sample). `filt` is (2, Fa): the rows are the time-reversed
// dec_lo / dec_hi, so the convolution of PyWavelets becomes this correlation.
// For every mode but periodization wavelearn prepends one zero tap to absorb
// PyWavelets' one-sample shift (Fa = F + 1, left = F - 1, n_out =
// floor((N + F - 1) / 2)); for periodization Fa = F, left = F/2 - 1 and
// n_out = ceil(N / 2). The kernel does not care: it takes Fa, left and n_out.
template <typename T>
__global__ void dwt_level(const T* __restrict__ x, const T* __restrict__ filt,
                          T* __restrict__ ca, T* __restrict__ cd, int B, int N, int D,
                          int n_out, int Fa, int left, int mode) {
    const int d = blockIdx.x * blockDim.x + threadIdx.x;  // channel
    if (d >= D) return;  // (no barriers in this kernel: an early exit is fine)
    const T* f_lo = filt;
    const T* f_hi = filt + Fa;
    const wl::Rows r = wl::grid_rows(B, n_out);
    for (long long row = r.first; row < r.count; row += r.step) {
        const int b = static_cast<int>(row / n_out);
        const int o = static_cast<int>(row - static_cast<long long>(b) * n_out);
        const T* col = x + static_cast<long long>(b) * N * D + d;  // x[b, :, d], stride D
        T lo = T(0), hi = T(0);
        for (int i = 0; i < Fa; ++i) {
            // tap i of output o reads padded sample 2o + i, i.e. x_ext[2o + i - left]
            const T v = wl::extended_sample(col, D, 2 * o + i - left, N, mode);
            lo += f_lo[i] * v;
            hi += f_hi[i] * v;
        }
        ca[row * D + d] = lo;  // row = b * n_out + o: ca is (B, n_out, D)
        cd[row * D + d] = hi;
    }
}

// ---------------------------------------------------------------------------
// Synthesis:  y = sum over both bands of upsample(c_b) filtered by rec_b
// ---------------------------------------------------------------------------
//
// The scatter form of wavelearn.dwt.filterbank.filter_up is z[2o + i] += g_b[i] c_b[o]
// (g = rec_lo / rec_hi, F taps, n coefficients per band). The kernel gathers
// instead: output t receives the taps i with the right parity,
//   y[t] = sum_b sum_{i : t + off - i even} g_b[i] * c_b[(t + off - i) / 2].
// * other modes: y = z[F-2 : 2n], so off = F - 2 and only 0 <= (t+off-i)/2 < n
//   counts; n_y = 2n - F + 2;
// * periodization: the ends of z wrap around (the adjoint of periodic padding
//   by F/2 - 1 samples), so off = F/2 - 1 and the index is taken mod 2n
//   (even, so the parity survives); n_y = 2n.
template <typename T>
__global__ void idwt_level(const T* __restrict__ ca, const T* __restrict__ cd,
                           const T* __restrict__ filt, T* __restrict__ y, int B, int n, int D,
                           int n_y, int F, int periodization) {
    const int d = blockIdx.x * blockDim.x + threadIdx.x;
    if (d >= D) return;
    const T* g_lo = filt;
    const T* g_hi = filt + F;
    const int off = periodization ? F / 2 - 1 : F - 2;
    const wl::Rows r = wl::grid_rows(B, n_y);
    for (long long row = r.first; row < r.count; row += r.step) {
        const int b = static_cast<int>(row / n_y);
        const int t = static_cast<int>(row - static_cast<long long>(b) * n_y);
        const long long base = static_cast<long long>(b) * n * D + d;  // c[b, 0, d]
        T acc = T(0);
        // Only taps with i = t + off (mod 2) land on output t.
        for (int i = (t + off) & 1; i < F; i += 2) {
            int s2 = t + off - i;  // = 2 * (coefficient index)
            if (periodization) {
                s2 = wl::pmod(s2, 2 * n);
            } else if (s2 < 0 || s2 >= 2 * n) {
                continue;
            }
            const long long k = base + static_cast<long long>(s2 / 2) * D;
            acc += g_lo[i] * ca[k] + g_hi[i] * cd[k];
        }
        y[row * D + d] = acc;
    }
}

// Explicit instantiations: the names the Python wrappers ask for
// (cupy.RawModule name_expressions), and what `nvcc --ptx` compiles in CI.
template __global__ void dwt_level<float>(const float*, const float*, float*, float*, int, int,
                                          int, int, int, int, int);
template __global__ void dwt_level<double>(const double*, const double*, double*, double*, int,
                                           int, int, int, int, int, int);
template __global__ void idwt_level<float>(const float*, const float*, const float*, float*, int,
                                           int, int, int, int, int);
template __global__ void idwt_level<double>(const double*, const double*, const double*, double*,
                                            int, int, int, int, int, int);
