// A CPU stand-in for the few CUDA features the kernels of snnlang's CuPy target use, so
// that tests can compile the very same kernels.cu with g++ and call it through ctypes.
//
// Every kernel of kernels.cu loops grid-stride over its elements and uses no shared memory
// and no __syncthreads(), so running its "threads" one after the other (blockIdx and
// threadIdx as loop variables, set by the launch wrappers of shim.py) computes what the GPU
// computes; atomicAdd becomes a plain read-add-write.
#pragma once
#include <cmath>
#include <math.h>

#define __global__
#define __device__
#define __host__
#define __forceinline__ inline

struct snn_uint3 {
    unsigned int x, y, z;
};

static snn_uint3 threadIdx = {0, 0, 0}, blockIdx = {0, 0, 0}, blockDim = {1, 1, 1}, gridDim = {1, 1, 1};

template <typename T, typename V>
inline T atomicAdd(T* address, V value)
{
    const T old = *address;
    *address = old + static_cast<T>(value);
    return old;
}
