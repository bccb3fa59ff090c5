"""Real threads, released together, for the races a server meets (each thread has its own connection)."""

import threading

from django.db import connections


def at_once(count: int, attempt, timeout: float = 120):
    """Run attempt(i) for i in range(count) in `count` threads that start together; their results in order.

    An exception in a thread is its result, so a test sees every outcome, not only the first.
    """
    barrier = threading.Barrier(count)
    results = [None] * count

    def run(i):
        try:
            barrier.wait(timeout=timeout)
            results[i] = attempt(i)
        except Exception as error:  # reported to the test as this thread's outcome
            results[i] = error
        finally:
            connections.close_all()

    threads = [threading.Thread(target=run, args=(i,)) for i in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=timeout)
    assert not any(thread.is_alive() for thread in threads), "a thread did not finish"
    return results
