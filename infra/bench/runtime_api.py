"""A stand-in for the Lambda Runtime API, to measure a function binary outside Lambda.

It starts the binary itself (so the clock starts at spawn), serves it the events of a JSON-lines
file one invocation at a time, and reports, as one JSON line on stdout:
  init_ms         spawn -> the first `GET /invocation/next` (cold start done)
  first_event_ms  spawn -> the first event's response (first event handled)
  events, errors  invocations answered by a response / by an error
  peak_rss_kib    the process's VmHWM once every event was answered
  wall_s          spawn -> the last response

    python runtime_api.py EVENTS.jsonl [--between K CMD] [--until-done] -- BINARY [ARGS...]
The binary's environment is this process's, plus the variables the Lambda runtime needs.
With --between, the shell command CMD runs (while the function waits for its next event) after
every K events: the scorer benchmark uses it to empty the table, since moto's Query reads the
whole table and would otherwise make N events cost O(N^2).
With --until-done, the first event is sent again and again, as a schedule sends a job, until a
response says `"done": true` (a back-fill that resumes from its saved cursor).
"""

import http.server
import json
import os
import socketserver
import subprocess
import sys
import threading
import time
import uuid


def main():
    sep = sys.argv.index("--")
    events_path, command = sys.argv[1], sys.argv[sep + 1 :]
    between = None
    if "--between" in sys.argv[:sep]:
        i = sys.argv.index("--between")
        between = (int(sys.argv[i + 1]), sys.argv[i + 2])
    until_done = "--until-done" in sys.argv[:sep]
    with open(events_path, "rb") as f:
        events = [line.strip() for line in f if line.strip()]

    state = {"next": 0, "answered": 0, "errors": 0, "init": None, "first": None, "last": None}
    lock = threading.Lock()
    done = threading.Event()
    pending = {}

    class Handler(http.server.BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args):
            pass

        def reply(self, code, body=b"", headers=()):
            try:
                self.send_response(code)
                for k, v in headers:
                    self.send_header(k, v)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)
            except OSError:
                pass  # the function was stopped while waiting for its next event

        def do_GET(self):
            if not self.path.endswith("/runtime/invocation/next"):
                return self.reply(404)
            with lock:
                now = time.perf_counter()
                if state["init"] is None:
                    state["init"] = now
                i = state["next"]
                state["next"] += 1
            if until_done:
                i = 0
            elif i >= len(events):
                done.wait()
                return self.reply(500)
            if between and i > 0 and i % between[0] == 0:
                subprocess.run(between[1], shell=True, check=True)
            rid = str(uuid.uuid4())
            pending[rid] = i
            deadline = int(time.time() * 1000) + 900_000
            self.reply(
                200,
                events[i],
                [
                    ("Lambda-Runtime-Aws-Request-Id", rid),
                    ("Lambda-Runtime-Deadline-Ms", str(deadline)),
                    ("Lambda-Runtime-Invoked-Function-Arn", "arn:aws:lambda:us-east-1:123456789012:function:bench"),
                    ("Lambda-Runtime-Trace-Id", "Root=1-00000000-000000000000000000000000"),
                    ("Content-Type", "application/json"),
                ],
            )

        def do_POST(self):
            length = int(self.headers.get("Content-Length", "0"))
            body = self.rfile.read(length)
            is_error = self.path.endswith("/error")
            finished_job = False
            if until_done and not is_error:
                try:
                    finished_job = json.loads(body).get("done") is True
                except (ValueError, AttributeError):
                    pass
            with lock:
                now = time.perf_counter()
                if "/invocation/" in self.path:
                    state["answered"] += 1
                    state["errors"] += int(is_error)
                    if state["first"] is None:
                        state["first"] = now
                    state["last"] = now
                    if finished_job or (not until_done and state["answered"] == len(events)):
                        state["rss"] = peak_rss(proc.pid)
                        done.set()
                else:
                    state["init_error"] = True
                    done.set()
            self.reply(202, b"{}", [("Content-Type", "application/json")])

    class Server(socketserver.ThreadingMixIn, http.server.HTTPServer):
        daemon_threads = True

        def handle_error(self, request, client_address):
            pass  # a connection the stopped function left open: nothing to report

    server = Server(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    env = dict(os.environ)
    env.update(
        {
            "AWS_LAMBDA_RUNTIME_API": f"127.0.0.1:{server.server_address[1]}",
            "AWS_LAMBDA_FUNCTION_NAME": "bench",
            "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": "128",
            "AWS_LAMBDA_FUNCTION_VERSION": "$LATEST",
            "AWS_LAMBDA_LOG_GROUP_NAME": "/aws/lambda/bench",
            "AWS_LAMBDA_LOG_STREAM_NAME": "bench",
        }
    )
    start = time.perf_counter()
    proc = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    finished = done.wait(timeout=4 * 3600 if until_done else 3600)
    proc.kill()
    proc.wait()
    ms = lambda t: None if t is None else round((t - start) * 1000, 2)
    print(
        json.dumps(
            {
                "events": state["answered"] - state["errors"],
                "errors": state["errors"],
                "init_ms": ms(state["init"]),
                "first_event_ms": ms(state["first"]),
                "wall_s": None if state["last"] is None else round(state["last"] - start, 2),
                "peak_rss_kib": state.get("rss"),
                "completed": finished and not state.get("init_error", False),
            }
        )
    )


def peak_rss(pid):
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1])
    except OSError:
        return None
    return None


if __name__ == "__main__":
    main()
