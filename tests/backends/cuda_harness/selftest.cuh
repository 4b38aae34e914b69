// Kernels that test the emulator itself (cuda_emu.h), not wavelearn: each one
// either needs a feature to work or plants a fault the emulator must report.
// Built into the test library only (tests/test_cuda_kernels.py).

// A static __shared__ array and a barrier: thread t stores in[t], waits, then
// reads its neighbour's value. Correct only if __syncthreads() really waits
// for every thread of the block (threads start one after another here).
template <typename T>
__global__ void emu_selftest_barrier(const T* in, T* out) {
    __shared__ T buf[256];
    const int t = threadIdx.x, n = blockDim.x;
    const long long base = static_cast<long long>(blockIdx.x) * n;
    buf[t] = in[base + t];
    __syncthreads();
    out[base + t] = buf[(t + 1) % n];
}

// Reads dynamic shared memory that nobody wrote: must come out as NaN.
template <typename T>
__global__ void emu_selftest_uninitialized(T* out) {
    const T* s = wl::dynamic_smem<T>();
    out[threadIdx.x] = s[threadIdx.x];
}

// Writes one element past the dynamic shared memory of the launch.
template <typename T>
__global__ void emu_selftest_smem_overflow(T* out, int n) {
    T* s = wl::dynamic_smem<T>();
    if (threadIdx.x == 0) s[n] = T(1);
    out[threadIdx.x] = T(0);
}

// Writes one element past the end of its output array.
template <typename T>
__global__ void emu_selftest_global_overflow(T* out, int n) {
    if (threadIdx.x == 0) out[n] = T(1);
}
