// cuda_emu.h -- just enough CUDA to run wavelearn's kernels on the CPU.
//
// The CUDA sources in backends/cuda/*.cu are compiled with g++ against this
// header, so that the kernels' *logic* (indexing, boundary rules, barriers,
// the shared-memory layout) is tested without a GPU:
//
// * a launch runs the blocks of the grid one after another; each block runs
//   one std::thread per CUDA thread, and __syncthreads() is a std::barrier
//   shared by the threads of the block (a thread that returns drops out of
//   it, as an exited thread does on the GPU);
// * threadIdx / blockIdx are thread_local, blockDim / gridDim global (one
//   launch at a time);
// * dynamic shared memory (wl::dynamic_smem<T>()) is a fresh buffer per block,
//   filled with 0xFF bytes -- a NaN in every float and double -- so reading a
//   shared value before it is written poisons the result, and it is framed by
//   guard bytes that are checked after the block: a write outside the size
//   the launch asked for is reported as an error;
// * `__shared__` variables become function statics (one per instantiation;
//   fine because blocks never overlap in time);
// * __global__, __device__, __forceinline__, __launch_bounds__ ... vanish.
//
// Kernels are registered by name (the same name expressions CuPy uses, e.g.
// "mix_pointwise<float, 16>") with WL_EMU_REGISTER(...), which also records
// each parameter's type as a letter; extern "C" functions at the bottom let
// Python (ctypes) look a kernel up, read that signature and launch it with the
// arguments packed as void* like cudaLaunchKernel's.
//
// What this cannot show: speed, warp-level behaviour (no warps here), memory
// coalescing, bank conflicts, or races that need truly concurrent blocks.

#pragma once
#define WL_CUDA_EMU 1

#include <barrier>
#include <cmath>
#include <cstddef>
#include <cstdio>
#include <cstring>
#include <map>
#include <string>
#include <thread>
#include <type_traits>
#include <utility>
#include <vector>

struct dim3 {
    unsigned x = 1, y = 1, z = 1;
    constexpr dim3() = default;
    constexpr dim3(unsigned x_, unsigned y_ = 1, unsigned z_ = 1) : x(x_), y(y_), z(z_) {}
};

inline thread_local dim3 threadIdx;
inline thread_local dim3 blockIdx;
inline dim3 blockDim;
inline dim3 gridDim;

#define __global__
#define __device__
#define __host__
#define __forceinline__ inline
#define __launch_bounds__(...)
#define __shared__ static
#define __align__(n) alignas(n)
#define __ldg(p) (*(p))
#define __syncthreads() ::wl_emu::syncthreads()

namespace wl_emu {

struct Block {
    std::barrier<>* barrier;
    unsigned char* smem;
};
inline thread_local Block* current_block = nullptr;

inline void syncthreads() { current_block->barrier->arrive_and_wait(); }

constexpr std::size_t kGuard = 256;  // bytes of guard on each side of shared memory

// Runs `body` as the kernel of a grid. Returns "" or an error message.
template <class Body>
std::string run_grid(dim3 grid, dim3 block, std::size_t smem_bytes, Body&& body) {
    const unsigned n_threads = block.x * block.y * block.z;
    if (n_threads == 0 || n_threads > 1024) return "block has " + std::to_string(n_threads) +
                                                   " threads (CUDA allows 1..1024)";
    if (grid.x == 0 || grid.y == 0 || grid.z == 0 || grid.y > 65535 || grid.z > 65535)
        return "invalid grid";
    gridDim = grid;
    blockDim = block;
    std::vector<unsigned char> smem(smem_bytes + 2 * kGuard);
    for (unsigned bz = 0; bz < grid.z; ++bz)
        for (unsigned by = 0; by < grid.y; ++by)
            for (unsigned bx = 0; bx < grid.x; ++bx) {
                std::memset(smem.data(), 0xFF, smem.size());
                std::barrier<> bar(n_threads);
                Block blk{&bar, smem.data() + kGuard};
                std::vector<std::thread> threads;
                threads.reserve(n_threads);
                for (unsigned tz = 0; tz < block.z; ++tz)
                    for (unsigned ty = 0; ty < block.y; ++ty)
                        for (unsigned tx = 0; tx < block.x; ++tx)
                            threads.emplace_back([&, tx, ty, tz] {
                                threadIdx = dim3(tx, ty, tz);
                                blockIdx = dim3(bx, by, bz);
                                current_block = &blk;
                                body();
                                bar.arrive_and_drop();
                            });
                for (auto& t : threads) t.join();
                for (std::size_t i = 0; i < kGuard; ++i)
                    if (smem[i] != 0xFF || smem[kGuard + smem_bytes + i] != 0xFF)
                        return "shared memory written outside the " + std::to_string(smem_bytes) +
                               " bytes of the launch (block " + std::to_string(bx) + "," +
                               std::to_string(by) + "," + std::to_string(bz) + ")";
            }
    return "";
}

// ---- kernel registry: name -> (signature, packed launcher) -------------------

// One letter per parameter type: f/d/i/q for float/double/int/long long,
// F/D/I for pointers to float/double/int (const or not).
template <class T>
constexpr char type_code() {
    using U = std::remove_cv_t<T>;
    if constexpr (std::is_pointer_v<U>) {
        using E = std::remove_cv_t<std::remove_pointer_t<U>>;
        if constexpr (std::is_same_v<E, float>) return 'F';
        else if constexpr (std::is_same_v<E, double>) return 'D';
        else if constexpr (std::is_same_v<E, int>) return 'I';
        else return '?';
    } else if constexpr (std::is_same_v<U, float>) return 'f';
    else if constexpr (std::is_same_v<U, double>) return 'd';
    else if constexpr (std::is_same_v<U, int>) return 'i';
    else if constexpr (std::is_same_v<U, long long>) return 'q';
    else return '?';
}

struct Entry {
    std::string signature;
    std::string (*launch)(void* kernel, dim3, dim3, std::size_t, void**);
    void* kernel;
};

inline std::map<std::string, Entry>& registry() {
    static std::map<std::string, Entry> r;
    return r;
}

inline std::string normalize(const char* name) {
    std::string s;
    for (const char* p = name; *p; ++p)
        if (*p != ' ' && *p != '\t' && *p != '\n') s += *p;
    return s;
}

template <class... P, std::size_t... I>
void call_packed(void (*k)(P...), void** args, std::index_sequence<I...>) {
    k(*static_cast<std::remove_cv_t<P>*>(args[I])...);
}

template <class... P>
std::string launch_packed(void* kernel, dim3 grid, dim3 block, std::size_t smem, void** args) {
    auto k = reinterpret_cast<void (*)(P...)>(kernel);
    return run_grid(grid, block, smem,
                    [k, args] { call_packed(k, args, std::index_sequence_for<P...>{}); });
}

struct Registrar {
    template <class... P>
    Registrar(const char* name, void (*kernel)(P...)) {
        registry()[normalize(name)] =
            Entry{std::string{type_code<P>()...}, &launch_packed<P...>,
                  reinterpret_cast<void*>(kernel)};
    }
};

}  // namespace wl_emu

// Dynamic shared memory of the running block (replaces common.cuh's version).
namespace wl {
template <typename T>
inline T* dynamic_smem() {
    return reinterpret_cast<T*>(::wl_emu::current_block->smem);
}
}  // namespace wl

#define WL_EMU_CAT2(a, b) a##b
#define WL_EMU_CAT(a, b) WL_EMU_CAT2(a, b)
// WL_EMU_REGISTER(mix_pointwise<float, 16>) registers that instantiation under its name.
#define WL_EMU_REGISTER(...) \
    static ::wl_emu::Registrar WL_EMU_CAT(wl_emu_reg_, __COUNTER__)(#__VA_ARGS__, &__VA_ARGS__);

// ---- the C interface used by tests/backends/cuda_harness/emu.py -----------------------
// (Defined, not just declared, here: the header is included by exactly one
// translation unit, the shim that emu.py generates.)
extern "C" {

// The signature letters of a registered kernel, or nullptr.
const char* wl_emu_signature(const char* name) {
    auto it = wl_emu::registry().find(wl_emu::normalize(name));
    return it == wl_emu::registry().end() ? nullptr : it->second.signature.c_str();
}

// Launches a registered kernel. Returns 0, or 1 with a message in err.
int wl_emu_launch(const char* name, unsigned gx, unsigned gy, unsigned gz, unsigned bx,
                         unsigned by, unsigned bz, unsigned long long smem, void** args,
                         int n_args, char* err, int err_len) {
    auto fail = [&](const std::string& msg) {
        std::snprintf(err, static_cast<std::size_t>(err_len), "%s", msg.c_str());
        return 1;
    };
    auto it = wl_emu::registry().find(wl_emu::normalize(name));
    if (it == wl_emu::registry().end()) return fail(std::string("no kernel named ") + name);
    if (static_cast<std::size_t>(n_args) != it->second.signature.size())
        return fail("wrong number of arguments");
    const std::string msg = it->second.launch(it->second.kernel, dim3(gx, gy, gz),
                                              dim3(bx, by, bz), smem, args);
    return msg.empty() ? 0 : fail(msg);
}
}
