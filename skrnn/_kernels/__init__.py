"""Compiled kernels: the BLAS façade and the recurrent-cell forward/backward passes."""
