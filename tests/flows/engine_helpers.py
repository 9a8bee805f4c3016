"""Flows, scripted models and a fake chat-completions server for the engine's tests."""

import json
import queue
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from flows.llm import ModelError
from flows.models import Flow, FlowVersion, LiveFlow, Step, StepTransition, StepType

CLASSIFY_SYSTEM = "Answer with one word: billing or technical."


def make_triage_flow(organization):
    """Five steps, branching on the classifier's answer:

    start → classify ─billing→ billing_reply
                     └technical→ ask_details (USER_INPUT) → technical_reply
    """
    flow = Flow.objects.create(organization=organization, name="Support triage")
    version = FlowVersion.objects.create(flow=flow)
    steps = {}

    def step(name, step_type, template):
        steps[name] = Step.objects.create(flow_version=version, name=name, step_type=step_type,
                                          prompt_template=template)

    step("start", StepType.START, None)
    step("classify", StepType.LLM, {"type": "chat", "temperature": 0, "messages": [
        {"role": "system", "content": CLASSIFY_SYSTEM},
        {"role": "user", "content": "${INPUTS.message}"},
    ]})
    step("billing_reply", StepType.LLM, {"type": "chat", "messages": [
        {"role": "user", "content": "Draft a billing answer to: ${INPUTS.message}"},
    ]})
    step("ask_details", StepType.USER_INPUT, {"type": "text", "text": "Which version of the app are you running?"})
    step("technical_reply", StepType.LLM, {"type": "chat", "messages": [
        {"role": "user", "content": "Problem: ${INPUTS.message}. Version: ${ask_details.result}. "
                                    "Category: ${classify.result}. Suggest a fix."},
    ]})
    for source, target, label in [
        ("start", "classify", None),
        ("classify", "billing_reply", "billing"),
        ("classify", "ask_details", "technical"),
        ("ask_details", "technical_reply", None),
    ]:
        StepTransition.objects.create(flow_version=version, source_step=steps[source],
                                      target_step=steps[target], label=label)
    live_flow = LiveFlow.objects.create(organization=organization, name="Support inbox", current_version=version)
    return live_flow, steps


class ScriptedModel:
    """A model whose answers the test sets: `ScriptedModel.answers` maps a step's first message
    text (a substring) to an answer, an exception to raise, or a callable(messages)."""

    answers = {}
    calls = []

    def complete(self, messages, *, labels=(), options=None):
        text = " ".join(str(m["content"]) for m in messages)
        ScriptedModel.calls.append({"messages": messages, "labels": list(labels), "options": options})
        for key, answer in ScriptedModel.answers.items():
            if key in text:
                if isinstance(answer, BaseException):
                    raise answer
                return answer(messages) if callable(answer) else answer
        raise ModelError("no scripted answer")


class FakeChatServer:
    """An OpenAI-compatible POST /v1/chat/completions on 127.0.0.1, in a thread.

    `answer(body) -> str` gives the reply; a request containing `hold` (a substring) is answered
    only after `release` is set (or `hold_seconds`), `holds` times at most, and each one held is
    put on the `held` queue when it arrives. Every request's path, headers and body are kept.
    """

    def __init__(self, answer, hold=None, holds=1, hold_seconds=30):
        self.answer = answer
        self.hold = hold
        self.holds = holds
        self.hold_seconds = hold_seconds
        self.held = queue.Queue()
        self.release = threading.Event()
        self.requests = []
        self.failures = []  # status codes to answer with first, one per request
        self.gate = None  # a streamed answer waits on it after its first chunk
        self.usage_tokens = 42  # what a streamed answer's usage chunk counts
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_POST(self):
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length)
                body = json.loads(raw)
                server.requests.append({"path": self.path, "authorization": self.headers.get("Authorization"),
                                        "body": body})
                if server.failures:
                    self._send(server.failures.pop(0), {"error": {"message": "try again later"}})
                    return
                if self.path != "/v1/chat/completions":
                    self._send(404, {"error": {"message": "no such path"}})
                    return
                text = json.dumps(body["messages"])
                if server.hold and server.hold in text and server.holds > 0:
                    server.holds -= 1
                    server.held.put(body)
                    server.release.wait(server.hold_seconds)
                content = server.answer(body)
                if body.get("stream"):
                    self._stream(content)
                    return
                self._send(200, {
                    "id": "chatcmpl-test", "object": "chat.completion", "model": body.get("model"),
                    "choices": [{"index": 0, "finish_reason": "stop",
                                 "message": {"role": "assistant", "content": content}}],
                })

            def _stream(self, content):
                """Server-sent chunks, one per word; after the first, waits for ``server.gate``."""
                words = content.split(" ")
                self.send_response(200)
                self.send_header("Content-Type", "text/event-stream")
                self.end_headers()
                for i, word in enumerate(words):
                    delta = word if i == 0 else " " + word
                    chunk = {"choices": [{"index": 0, "delta": {"content": delta}}]}
                    self.wfile.write(b"data: " + json.dumps(chunk).encode() + b"\n\n")
                    self.wfile.flush()
                    if i == 0 and server.gate is not None:
                        server.gate.wait(10)
                usage = {"choices": [], "usage": {"completion_tokens": server.usage_tokens}}
                self.wfile.write(b"data: " + json.dumps(usage).encode() + b"\n\ndata: [DONE]\n\n")
                self.wfile.flush()

            def _send(self, status, payload):
                data = json.dumps(payload).encode()
                try:
                    self.send_response(status)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(data)))
                    self.end_headers()
                    self.wfile.write(data)
                except OSError:
                    pass  # the worker that asked was killed

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.base_url = f"http://127.0.0.1:{self.httpd.server_address[1]}/v1"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.release.set()
        self.httpd.shutdown()
        self.httpd.server_close()


def triage_answer(body):
    """The fake server's model: classifies by keyword, otherwise drafts a reply."""
    messages = body["messages"]
    last = messages[-1]["content"]
    if messages[0]["content"] == CLASSIFY_SYSTEM:
        return "Technical." if "crash" in last else "billing"
    return f"Reply to [{last}]"
