"""Helpers that run wavelearn's CUDA kernels on the CPU (see cuda_emu.h and emu.py)."""
