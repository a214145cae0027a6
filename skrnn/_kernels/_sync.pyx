"""A semaphore whose waits spin briefly before they sleep, for the hand-offs
between a minibatch's shards and the threads that run them.

On the virtual machines these run on, waking a thread that sleeps in the
kernel takes tens of microseconds, as long as a small shard's Python; a
hand-off that the waiter catches while spinning takes under one. The spin is
bounded, so a long wait still sleeps, and every call releases the GIL.
"""

from libc.errno cimport EINTR, errno

cdef extern from "<semaphore.h>" nogil:
    ctypedef struct sem_t:
        pass
    int sem_init(sem_t *sem, int pshared, unsigned int value)
    int sem_destroy(sem_t *sem)
    int sem_post(sem_t *sem)
    int sem_wait(sem_t *sem)
    int sem_trywait(sem_t *sem)

cdef extern from "<time.h>" nogil:
    ctypedef long time_t
    cdef struct timespec:
        time_t tv_sec
        long tv_nsec
    int clock_gettime(int clk_id, timespec *tp)
    int CLOCK_MONOTONIC

cdef extern from *:
    """
    /* The spin loop's pause: it lets a hyperthread sibling run and keeps the
       loop from flooding the memory system with reads of the semaphore. */
    #if defined(__x86_64__) || defined(__i386__)
    #include <immintrin.h>
    static inline void skrnn_cpu_relax(void) { _mm_pause(); }
    #elif defined(__aarch64__)
    static inline void skrnn_cpu_relax(void) { __asm__ __volatile__("yield"); }
    #else
    static inline void skrnn_cpu_relax(void) { }
    #endif
    """
    void skrnn_cpu_relax() nogil


cdef inline double _now() noexcept nogil:
    cdef timespec ts
    clock_gettime(CLOCK_MONOTONIC, &ts)
    return ts.tv_sec + 1e-9 * ts.tv_nsec


cdef int _wait(sem_t *sem, double spin) noexcept nogil:
    """Take sem: try it for up to ``spin`` seconds, then sleep until posted."""
    cdef double deadline
    cdef int _
    if sem_trywait(sem) == 0:
        return 0
    if spin > 0:
        deadline = _now() + spin
        while True:
            # The clock is read every 64 tries: a try costs nanoseconds.
            for _ in range(64):
                skrnn_cpu_relax()
                if sem_trywait(sem) == 0:
                    return 0
            if _now() >= deadline:
                break
    while sem_wait(sem) != 0:
        if errno != EINTR:
            return -1
    return 0


cdef class Semaphore:
    """A counting semaphore, starting at 0: ``post`` adds one, ``wait``
    takes one (spinning up to ``spin`` seconds before it sleeps)."""

    cdef sem_t _sem
    cdef bint _ready

    def __cinit__(self):
        if sem_init(&self._sem, 0, 0) != 0:
            raise OSError(errno, "sem_init failed")
        self._ready = True

    def __dealloc__(self):
        if self._ready:
            sem_destroy(&self._sem)

    def post(self):
        cdef int status
        with nogil:
            status = sem_post(&self._sem)
        if status != 0:
            raise OSError(errno, "sem_post failed")

    def wait(self, double spin=0.0):
        cdef int status
        with nogil:
            status = _wait(&self._sem, spin)
        if status != 0:
            raise OSError(errno, "sem_wait failed")

    def post_then_wait(self, Semaphore other, double spin=0.0):
        """Post this semaphore, then wait on ``other``, all without the GIL:
        whoever waits on this one finds the GIL free when it wakes."""
        cdef int status
        with nogil:
            status = sem_post(&self._sem)
            if status == 0:
                status = _wait(&other._sem, spin)
        if status != 0:
            raise OSError(errno, "sem_post or sem_wait failed")
