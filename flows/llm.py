"""The models that answer LLM steps: an OpenAI-compatible chat-completions client and an offline one.

`settings.LIVE_FLOW_LLM_BACKEND` picks one: "offline" (the default: deterministic, no network),
"openai" (any server speaking POST {base}/chat/completions), or the dotted path of a class.
A model is `complete(messages, *, labels, options) -> str`; it raises `ModelError` with a message
a person can act on, which the engine records on the step. `stream_answer` gives an answer as
it is made (the chat stream): the pieces the model sends, from `stream()` where a model has one.
"""

import json
import logging
import random
import re
import time
import urllib.error
import urllib.request
from email.utils import parsedate_to_datetime

from django.conf import settings
from django.utils.module_loading import import_string

logger = logging.getLogger("flowdesk.flows.llm")

# Keys of a rendered prompt that are passed through to the chat-completions request.
REQUEST_OPTIONS = ("model", "temperature", "top_p", "max_tokens", "stop", "seed", "response_format")


class ModelError(Exception):
    """The model could not answer; the message goes on the step and the session."""


def prompt_messages(prompt):
    """The chat messages a rendered prompt stands for, and the request options it carries.

    {"messages": [...]} is used as it is; {"text": "..."} (or "prompt"/"content") becomes one user
    message; a plain string too; anything else is sent as its JSON text.
    """
    options = {}
    if isinstance(prompt, dict):
        options = {key: prompt[key] for key in REQUEST_OPTIONS if key in prompt}
        if isinstance(prompt.get("messages"), list):
            messages = []
            for message in prompt["messages"]:
                if not isinstance(message, dict):
                    message = {"role": "user", "content": message}
                content = message.get("content")
                if not isinstance(content, str | list):
                    content = json.dumps(content, ensure_ascii=False)
                messages.append({"role": str(message.get("role") or "user"), "content": content})
            return messages, options
        for key in ("text", "prompt", "content"):
            if isinstance(prompt.get(key), str):
                return [{"role": "user", "content": prompt[key]}], options
    if isinstance(prompt, str):
        return [{"role": "user", "content": prompt}], options
    return [{"role": "user", "content": json.dumps(prompt, ensure_ascii=False)}], options


def _text(content):
    if isinstance(content, list):  # OpenAI content parts
        return " ".join(part.get("text", "") for part in content if isinstance(part, dict))
    return content or ""


class OfflineModel:
    """Deterministic answers without a network, for the demo and tests.

    A step that branches on labels gets a label: the one the last user message mentions first,
    else the one the whole prompt mentions first, else the first. Otherwise the answer quotes
    the last user message, so the recorded results show what each step was asked.
    """

    def complete(self, messages, *, labels=(), options=None):
        user = [_text(m["content"]) for m in messages if m["role"] == "user"]
        last = user[-1] if user else ""
        if labels:
            for text in (last, " ".join(_text(m["content"]) for m in messages)):
                found = [(m.start(), label) for label in labels
                         if (m := re.search(rf"\b{re.escape(label)}\b", text, re.IGNORECASE))]
                if found:
                    return min(found)[1]
            return labels[0]
        snippet = " ".join(last.split())[:200]
        return f"(offline model) Answer to: {snippet}" if snippet else "(offline model) Done."

    def stream(self, messages, *, options=None):
        yield from pieces(self.complete(messages, options=options))


def pieces(text):
    """A whole answer in the pieces a stream sends: words with the space before them."""
    return re.findall(r"\s*\S+", text) or ([text] if text else [])


class Streamed:
    """The pieces of an answer as they come (iterate it), then ``tokens``: the model's own count of
    the answer's tokens where it gave one, else the number of pieces."""

    def __init__(self, parts):
        self._parts = parts
        self.count = 0
        self.usage = None

    def __iter__(self):
        for part in self._parts:
            if isinstance(part, Usage):
                self.usage = part.completion_tokens
                continue
            self.count += 1
            yield part

    @property
    def tokens(self):
        return self.usage if self.usage is not None else self.count


class Usage:
    """What a stream ends with when the server counts tokens (OpenAI's ``include_usage``)."""

    def __init__(self, completion_tokens):
        self.completion_tokens = completion_tokens


def stream_answer(model, messages, *, options=None):
    """The model's answer as a ``Streamed``: its ``stream()`` where it has one, else the whole answer
    from ``complete()`` in pieces."""
    stream = getattr(model, "stream", None)
    if stream is None:
        return Streamed(pieces(model.complete(messages, options=options)))
    return Streamed(stream(messages, options=options))


class OpenAIChatModel:
    """POST {base_url}/chat/completions; retries timeouts, connection errors, 429 and 5xx."""

    def __init__(self, base_url=None, api_key=None, model=None, timeout=None, retries=None):
        self.base_url = (base_url or settings.LIVE_FLOW_LLM_BASE_URL).rstrip("/")
        self.api_key = api_key if api_key is not None else settings.LIVE_FLOW_LLM_API_KEY
        self.model = model or settings.LIVE_FLOW_LLM_MODEL
        self.timeout = timeout or settings.LIVE_FLOW_LLM_TIMEOUT
        self.retries = settings.LIVE_FLOW_LLM_RETRIES if retries is None else retries

    def complete(self, messages, *, labels=(), options=None):
        with self._post({"model": self.model, "messages": messages, **(options or {})}) as response:
            return self._answer(response.read())

    def stream(self, messages, *, options=None):
        """POST with ``stream: true``: yields each content delta as its server-sent event arrives,
        then a ``Usage`` where the server counts. Failures before the first event are retried."""
        body = {"model": self.model, "messages": messages, **(options or {}), "stream": True,
                "stream_options": {"include_usage": True}}
        with self._post(body, accept="text/event-stream") as response:
            try:
                for line in response:
                    if not line.startswith(b"data:"):
                        continue  # blank separators, comments, event names
                    data = line[5:].strip()
                    if data == b"[DONE]":
                        return
                    yield from self._chunk(data)
            except (TimeoutError, OSError):
                raise ModelError(f"The model stopped answering for {self.timeout} seconds.") from None

    @staticmethod
    def _chunk(data):
        try:
            chunk = json.loads(data)
        except ValueError:
            raise ModelError("The model endpoint streamed an event that is not JSON.") from None
        if not isinstance(chunk, dict):
            raise ModelError("The model endpoint streamed an event that is not a chat completion chunk.")
        if isinstance(chunk.get("error"), dict):
            raise ModelError(f"The model endpoint failed mid-answer: {chunk['error'].get('message') or 'error'}")
        for choice in chunk.get("choices") or ():
            content = (choice.get("delta") or {}).get("content") if isinstance(choice, dict) else None
            if isinstance(content, str) and content:
                yield content
        usage = chunk.get("usage")
        if isinstance(usage, dict) and isinstance(usage.get("completion_tokens"), int):
            yield Usage(usage["completion_tokens"])

    def _post(self, body, accept="application/json"):
        """The open response to POST {base}/chat/completions, after retries."""
        data = json.dumps(body, ensure_ascii=False).encode()
        headers = {"Content-Type": "application/json", "Accept": accept}
        if self.api_key:
            headers["Authorization"] = f"Bearer {self.api_key}"
        url = f"{self.base_url}/chat/completions"
        for attempt in range(self.retries + 1):
            last_try = attempt == self.retries
            try:
                request = urllib.request.Request(url, data=data, headers=headers, method="POST")
                return urllib.request.urlopen(request, timeout=self.timeout)
            except urllib.error.HTTPError as exc:
                detail = self._error_detail(exc)
                if exc.code != 429 and exc.code < 500 or last_try:
                    raise ModelError(f"The model endpoint answered {exc.code}: {detail}") from None
                delay = self._retry_after(exc) or self._backoff(attempt)
                logger.warning("Model endpoint answered %s (%s); retrying in %.1fs", exc.code, detail, delay)
            except (TimeoutError, urllib.error.URLError, ConnectionError, OSError) as exc:
                reason = getattr(exc, "reason", exc)
                if isinstance(reason, TimeoutError) or isinstance(exc, TimeoutError):
                    message = f"The model did not answer within {self.timeout} seconds."
                else:
                    message = f"The model endpoint could not be reached: {reason}."
                if last_try:
                    tries = self.retries + 1
                    raise ModelError(message + (f" ({tries} tries)" if tries > 1 else "")) from None
                delay = self._backoff(attempt)
                logger.warning("%s Retrying in %.1fs", message, delay)
            time.sleep(delay)
        raise AssertionError("unreachable")

    def _answer(self, raw):
        try:
            body = json.loads(raw)
            content = body["choices"][0]["message"]["content"]
        except (ValueError, KeyError, IndexError, TypeError):
            raise ModelError("The model endpoint's answer is not a chat completion "
                             "(no choices[0].message.content).") from None
        if not isinstance(content, str):
            raise ModelError("The model answered without text content.")
        return content

    @staticmethod
    def _error_detail(exc):
        try:
            body = json.loads(exc.read() or b"null")
        except ValueError:
            return exc.reason or "error"
        if isinstance(body, dict) and isinstance(body.get("error"), dict):
            return body["error"].get("message") or exc.reason
        return exc.reason or "error"

    @staticmethod
    def _retry_after(exc):
        value = exc.headers.get("Retry-After") if exc.headers else None
        if not value:
            return None
        try:
            seconds = float(value)
        except ValueError:
            try:
                seconds = parsedate_to_datetime(value).timestamp() - time.time()
            except (TypeError, ValueError):
                return None
        return max(0.0, min(seconds, 30.0))

    @staticmethod
    def _backoff(attempt):
        return min(0.5 * 2**attempt, 8.0) * (0.75 + random.random() / 2)


BACKENDS = {"offline": OfflineModel, "openai": OpenAIChatModel}


def get_model():
    name = settings.LIVE_FLOW_LLM_BACKEND
    cls = BACKENDS.get(name) or import_string(name)
    return cls()
