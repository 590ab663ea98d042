# Remote side of the channel benchmarks (econtext, Mitogen and execnet use the same shapes).
import time


def chunks(n, size):
    # n bytes items of `size` bytes (the same object: the producer's cost is the channel's).
    b = b'\0' * size
    for _ in range(n):
        yield b


def sink(channel):
    # Count what the host streams to us.
    total = 0
    for x in channel:
        total += len(x)
    return total


def echo(channel, out):
    # Value ping-pong: every item that arrives goes straight back.
    for x in channel:
        out.send(x)


def timed_chunks(channel, n, size):
    # Send n items through a Sender; returns the seconds spent blocked in send().
    b = b'\0' * size
    blocked = 0.0
    for _ in range(n):
        t = time.time()
        channel.send(b)
        blocked += time.time() - t
    return blocked
