#!/usr/bin/env python3
"""Type=notify without systemd: the server at argv[1] is started with NOTIFY_SOCKET pointing at a
datagram socket of ours. READY=1 must arrive, and only once /healthz answers; SIGTERM must bring
STOPPING=1 and a clean exit."""
import os
import signal
import socket
import subprocess
import sys
import tempfile
import urllib.request

server = sys.argv[1]
with tempfile.TemporaryDirectory() as tmp:
    path = os.path.join(tmp, "notify")
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(path)
    sock.settimeout(15)
    env = {k: v for k, v in os.environ.items() if not k.startswith("RTCHAT_")}
    env["NOTIFY_SOCKET"] = path
    proc = subprocess.Popen(
        [server, "--host", "127.0.0.1", "--port", "0", "--shards", "1", "--data-dir", tmp,
         "--jwt-secret", "notify-check-secret-0123456789abcdef", "--drain-timeout", "2"],
        stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, env=env, text=True)
    try:
        msg = sock.recv(256)
        assert msg == b"READY=1", msg
        # The listening line is printed before READY: the port is known, and it must answer now.
        line = proc.stdout.readline()
        port = int(line.rsplit(":", 1)[1])
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=5) as r:
            assert r.status == 200, r.status
        proc.send_signal(signal.SIGTERM)
        msg = sock.recv(256)
        assert msg == b"STOPPING=1", msg
        assert proc.wait(timeout=15) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
print("sd_notify: READY=1 after the listeners, STOPPING=1 on SIGTERM")
