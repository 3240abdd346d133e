"""Drives Sofer's OpenAI-compatible API with the official `openai` Python SDK.

usage: openai_client.py BASE_URL API_KEY MODEL

Checks what needs no reference here (error types and parameters, stream shapes, logprob
ranges) and prints one JSON object of the texts and usage for the Rust test to compare
with `sofer prompt render` + `sofer model generate`. Exits non-zero on a failed check.
"""

import concurrent.futures
import json
import math
import sys

import openai

base, key, model = sys.argv[1:4]
client = openai.OpenAI(base_url=base + "/v1", api_key=key, max_retries=0, timeout=120)
MESSAGES = [
    {"role": "system", "content": "ענה בקצרה."},
    {"role": "user", "content": "מה בירת ישראל?"},
]
seen = {}


def check(condition, what):
    if not condition:
        print(f"openai check failed: {what}", file=sys.stderr)
        sys.exit(1)


def chat(**kwargs):
    return client.chat.completions.create(model=model, messages=MESSAGES, **kwargs)


def refused(error_type, param, **kwargs):
    try:
        chat(max_tokens=2, **kwargs)
    except error_type as e:
        body = e.body if isinstance(e.body, dict) else {}
        got = body.get("param", (body.get("error") or {}).get("param"))
        check(got == param, f"{kwargs}: param {got!r}, want {param!r} ({e})")
        return e.status_code
    check(False, f"{kwargs} was accepted")


# The model list.
ids = [m.id for m in client.models.list().data]
check(ids == [model], f"models: {ids}")
check(client.models.retrieve(model).id == model, "retrieve")

# A greedy chat completion.
r = chat(max_tokens=12, temperature=0)
check(r.object == "chat.completion" and r.choices[0].message.role == "assistant", r)
check(r.choices[0].finish_reason in ("stop", "length"), r.choices[0].finish_reason)
check(r.usage.total_tokens == r.usage.prompt_tokens + r.usage.completion_tokens, r.usage)
seen["chat"] = {"text": r.choices[0].message.content, "usage": r.usage.model_dump()}

# The same seed gives the same text; another seed another.
a, b, c = (chat(max_tokens=16, temperature=1, seed=s).choices[0].message.content for s in (11, 11, 12))
check(a == b, f"seed 11 twice: {a!r} != {b!r}")
check(a != c, f"seeds 11 and 12 gave the same {a!r}")
seen["seeded"] = [a, b, c]

# Streaming with usage: the deltas add up to the same text as unstreamed.
chunks = list(chat(max_tokens=16, temperature=1, seed=11, stream=True, stream_options={"include_usage": True}))
content = [ch for ch in chunks if ch.choices and ch.choices[0].delta.content]
check(len(content) >= 2, f"{len(content)} content chunks")
check(chunks[0].choices[0].delta.role == "assistant", chunks[0])
check(chunks[-1].choices == [] and chunks[-1].usage is not None, chunks[-1])
check(all(ch.usage is None for ch in chunks[:-1]), "usage only in the last chunk")
finishes = [ch.choices[0].finish_reason for ch in chunks if ch.choices and ch.choices[0].finish_reason]
check(len(finishes) == 1, finishes)
streamed = "".join(ch.choices[0].delta.content for ch in content)
seen["streamed"] = {"text": streamed, "chunks": len(chunks), "usage": chunks[-1].usage.model_dump()}
check(streamed == a, f"streamed {streamed!r} != {a!r}")

# n = 3 choices from one prefill.
r = chat(max_tokens=10, temperature=1, seed=21, n=3)
check([ch.index for ch in r.choices] == [0, 1, 2], r.choices)
seen["n3"] = {"texts": [ch.message.content for ch in r.choices], "usage": r.usage.model_dump()}
check(r.usage.prompt_tokens == seen["chat"]["usage"]["prompt_tokens"], "one prompt, counted once")

# A stop string: the text ends before it, finish_reason "stop".
greedy = seen["chat"]["text"]
words = greedy.split()
check(len(words) >= 3, f"too short to cut: {greedy!r}")
stop = words[len(words) // 2]
r = chat(max_tokens=12, temperature=0, stop=[stop])
seen["stop"] = {"at": stop, "text": r.choices[0].message.content}
check(stop not in r.choices[0].message.content, seen["stop"])
check(greedy.startswith(r.choices[0].message.content), seen["stop"])
check(r.choices[0].finish_reason == "stop", r.choices[0].finish_reason)

# Log-probabilities: one entry per token, the greedy token the most likely.
r = chat(max_tokens=6, temperature=0, logprobs=True, top_logprobs=3)
entries = r.choices[0].logprobs.content
check(len(entries) == r.usage.completion_tokens, f"{len(entries)} entries, {r.usage.completion_tokens} tokens")
for e in entries:
    check(e.logprob <= 0 and len(e.top_logprobs) == 3, e)
    check(abs(e.top_logprobs[0].logprob - e.logprob) < 1e-5, f"greedy picked {e.token!r}, not the top {e.top_logprobs[0]}")
    check(sum(math.exp(t.logprob) for t in e.top_logprobs) <= 1.0 + 1e-4, e.top_logprobs)
    check(bytes(e.bytes).decode("utf-8", "replace") == e.token or "\ufffd" in e.token, e)
seen["logprobs"] = [{"token": e.token, "logprob": e.logprob} for e in entries]

# The legacy completions endpoint.
r = client.completions.create(model=model, prompt="שלום עולם", max_tokens=8, temperature=0)
check(r.object == "text_completion", r)
seen["completion"] = {"text": r.choices[0].text, "prompt_tokens": r.usage.prompt_tokens}

# Bad parameters: 400 naming them.
seen["bad"] = {
    "temperature": refused(openai.BadRequestError, "temperature", temperature=5),
    "frobnicate": refused(openai.BadRequestError, "frobnicate", extra_body={"frobnicate": 1}),
    "tools": refused(openai.BadRequestError, "tools", tools=[{"type": "function", "function": {"name": "f"}}]),
    "top_logprobs": refused(openai.BadRequestError, "top_logprobs", logprobs=True, top_logprobs=50),
    "n": refused(openai.BadRequestError, "n", n=0),
}
try:
    client.chat.completions.create(model="gpt-4o", messages=MESSAGES)
    check(False, "an unknown model was accepted")
except openai.NotFoundError as e:
    check(e.status_code == 404, e)

# A wrong key: 401.
try:
    openai.OpenAI(base_url=base + "/v1", api_key="wrong", max_retries=0).models.list()
    check(False, "a wrong key was accepted")
except openai.AuthenticationError as e:
    check(e.status_code == 401, e)


# A full queue: 429 for those that find no room, the others answered.
def one(i):
    try:
        chat(max_tokens=200, temperature=1, seed=i)
        return "ok"
    except openai.RateLimitError:
        return "429"


with concurrent.futures.ThreadPoolExecutor(8) as pool:
    outcomes = list(pool.map(one, range(8)))
check(outcomes.count("ok") >= 1 and outcomes.count("429") >= 1, outcomes)
seen["rate_limited"] = outcomes.count("429")

print(json.dumps(seen, ensure_ascii=False))
