#!/usr/bin/env python3
"""Resident memory of `spectra serve` before and after a burst of large requests.

Starts the given binary on SQLite in a temporary directory, enrolls an agent, records RSS,
then sends what a probe sends: 50 MB bodies (refused), gzip bombs (refused), 1,000,000-deep
JSON (refused), near-limit metric batches (accepted) and large policies; records RSS right
after and again after a pause. Prints one line of figures (MiB).

    benches/memory-probe.py target/release/spectra [ROUNDS] [CLIENTS]

CLIENTS (default 4) run the rounds concurrently, as a probe with several connections does:
glibc's malloc gives each server thread its own arena, so concurrency is what makes
retained memory grow.
"""
import gzip, json, os, subprocess, sys, tempfile, threading, time, urllib.request, uuid


def rss_mib(pid):
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def post(url, path, body, headers):
    request = urllib.request.Request(url + path, data=body, headers=headers, method="POST")
    try:
        with urllib.request.urlopen(request, timeout=60) as reply:
            return reply.status, reply.read()
    except urllib.error.HTTPError as error:
        return error.code, error.read()
    except (ConnectionError, urllib.error.URLError):
        return 0, b""


def main():
    binary = sys.argv[1]
    rounds = int(sys.argv[2]) if len(sys.argv) > 2 else 5
    clients = int(sys.argv[3]) if len(sys.argv) > 3 else 4
    work = tempfile.mkdtemp()
    enroll = "memory-probe-enrollment"
    server = subprocess.Popen(
        [binary, "serve", "--listen", "127.0.0.1:0", "--db", os.path.join(work, "s.db"),
         "--enrollment-token", enroll, "--agent-requests-per-minute", "100000"],
        stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    url = None
    for line in server.stdout:
        if "listening on" in line:
            url = line.strip().rsplit(" ", 1)[1]
            break
    admin = subprocess.run([binary, "token", "create", "--db", os.path.join(work, "s.db"),
                            "--role", "operator"], capture_output=True, text=True).stdout.strip()
    status, body = post(url, "/api/v1/agent/register", json.dumps(
        {"enrollment_token": enroll, "hostname": "probe", "os": "linux", "version": "1"}).encode(),
        {"content-type": "application/json"})
    agent = json.loads(body)["agent_token"]
    auth = {"authorization": f"Bearer {agent}"}
    time.sleep(1)
    before = rss_mib(server.pid)
    envelope = {"type": "cpu", "timestamp": "2026-12-01T00:00:00Z", "hostname": "probe",
                "data": {"usage": 1.5, "pad": "x" * 600}}
    bomb = gzip.compress(b" " * (512 << 20))
    def probe():
        for _ in range(rounds):
            post(url, "/api/v1/metrics", b"x" * (50 << 20), auth)
            post(url, "/api/v1/metrics", bomb, {**auth, "content-encoding": "gzip"})
            post(url, "/api/v1/metrics", b"[" * 1_000_000, auth)
            batch = {"version": 1, "batch_id": str(uuid.uuid4()), "envelopes": [envelope] * 9_000}
            post(url, "/api/v1/metrics", gzip.compress(json.dumps(batch).encode()),
                 {**auth, "content-encoding": "gzip"})
            policy = {"name": str(uuid.uuid4()), "rules": ["(" * 60 + "size > 1" + ")" * 60] * 200,
                      "action": "report"}
            post(url, "/api/v1/policies", json.dumps(policy).encode(),
                 {"authorization": f"Bearer {admin}", "content-type": "application/json"})
    threads = [threading.Thread(target=probe) for _ in range(clients)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    after = rss_mib(server.pid)
    time.sleep(12)
    settled = rss_mib(server.pid)
    if os.environ.get("SMAPS"):
        print(open(f"/proc/{server.pid}/smaps_rollup").read())
    server.terminate()
    server.wait()
    print(f"rss_mib before={before:.1f} after_burst={after:.1f} after_12s={settled:.1f} "
          f"rounds={rounds} clients={clients}")


if __name__ == "__main__":
    main()
