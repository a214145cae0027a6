"""The spinning semaphore of skrnn._kernels._sync: counting, waking a waiter
that spins and one that sleeps, and waits that release the GIL."""

import threading
import time

import pytest
from skrnn._kernels._sync import Semaphore


def test_a_post_is_taken_by_one_wait_and_posts_count():
    sem = Semaphore()
    sem.post()
    sem.post()
    sem.wait()
    sem.wait(1e-3)
    got = []
    # A third wait has nothing to take until a third post.
    waiter = threading.Thread(target=lambda: (sem.wait(0.0), got.append(1)))
    waiter.start()
    waiter.join(0.2)
    assert waiter.is_alive() and got == []
    sem.post()
    waiter.join(30)
    assert not waiter.is_alive() and got == [1]


@pytest.mark.parametrize("spin", [0.0, 1e-4, 5.0])
def test_a_waiter_wakes_whether_it_spins_or_sleeps(spin):
    # A post after 50 ms reaches a sleeping waiter (spin 0 or 0.1 ms) and
    # one still spinning (5 s); the waits never return before the post.
    sem = Semaphore()
    posted = []

    def post_later():
        time.sleep(0.05)
        posted.append(time.perf_counter())
        sem.post()

    poster = threading.Thread(target=post_later)
    poster.start()
    sem.wait(spin)
    woke = time.perf_counter()
    poster.join()
    assert posted and woke >= posted[0]


def test_waits_release_the_gil():
    # The waiter holds no GIL while it waits, so this thread's Python runs
    # on and is what posts; a held GIL would hang until the join times out.
    go, done = Semaphore(), Semaphore()
    order = []

    def worker():
        go.wait(1.0)
        order.append("worker")
        done.post_then_wait(go, 1.0)
        order.append("again")
        done.post()

    t = threading.Thread(target=worker)
    t.start()
    total = sum(i for i in range(100000))  # Python bytecode while it spins
    order.append("caller")
    go.post()
    done.wait(1.0)
    assert order == ["caller", "worker"]
    go.post()
    done.wait(0.0)
    t.join(30)
    assert not t.is_alive() and total == 4999950000
    assert order == ["caller", "worker", "again"]
