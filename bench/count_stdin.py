"""Count what a host writes to an ssh connection: a transparent stdin proxy in front of ssh.

Usage: count_stdin.py COUNTFILE PROGRAM ARGS...

Runs PROGRAM ARGS with a pipe as its stdin and copies this process's stdin into it; stdout,
stderr and the controlling terminal (password prompts) are the program's own, untouched. After
every chunk COUNTFILE holds the JSON {"cmd": C, "stdin": N}: C is the length of the remote
command line ssh sends in its exec request (the arguments after the destination, joined by
spaces, as ssh joins them), N the bytes copied so far. Used only for byte counts (bench/src/main.rs
`bytes-before-first-reply` and `sudo2`, bench/peers.py), never while timing.
"""

import os
import select
import sys
import threading

# ssh options that take an argument (OpenSSH 9).
ARG_OPTS = set("BbcDEeFIiJLlmOoPpQRSWw")


def remote_command(args):
    """The command ssh would send: everything after the destination, joined by spaces."""
    i = 0
    while i < len(args):
        a = args[i]
        if a == "--":
            i += 1
            break
        if not a.startswith("-") or a == "-":
            break
        j = 1
        while j < len(a):
            if a[j] in ARG_OPTS:
                if j + 1 == len(a):
                    i += 1  # the argument is the next word
                break
            j += 1
        i += 1
    return " ".join(args[i + 1:])


def main():
    path, argv = sys.argv[1], sys.argv[2:]
    cmd = len(remote_command(argv[1:]).encode())

    def dump(n):
        tmp = path + ".tmp"
        with open(tmp, "w") as f:
            f.write('{"cmd": %d, "stdin": %d}' % (cmd, n))
        os.rename(tmp, path)

    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:
        os.dup2(r, 0)
        os.close(r)
        os.close(w)
        os.execvp(argv[0], argv)
    os.close(r)
    # Only the program keeps the host's stdout/stderr: its exit is the connection's EOF.
    devnull = os.open(os.devnull, os.O_RDWR)
    os.dup2(devnull, 1)
    os.dup2(devnull, 2)

    def waiter():
        _, status = os.waitpid(pid, 0)
        if os.WIFEXITED(status):
            os._exit(os.WEXITSTATUS(status))
        os._exit(128 + (os.WTERMSIG(status) if os.WIFSIGNALED(status) else 0))

    threading.Thread(target=waiter, daemon=True).start()
    n = 0
    dump(n)
    while True:
        select.select([0], [], [])  # stdin may be non-blocking (the host's socket)
        try:
            b = os.read(0, 65536)
        except BlockingIOError:
            continue
        if not b:
            break
        n += len(b)
        view = memoryview(b)
        while view:
            try:
                k = os.write(w, view)
            except OSError:
                k = len(view)  # the program is gone; keep counting, the waiter exits
            view = view[k:]
        dump(n)
    os.close(w)
    threading.Event().wait()  # the waiter exits the process when the program does


if __name__ == "__main__":
    main()
