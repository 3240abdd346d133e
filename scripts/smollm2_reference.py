#!/usr/bin/env python3
"""SmolLM2-135M-Instruct reference fixtures from llama.cpp (through llama-cpp-python).

Writes
  tests/fixtures/smollm2/greedy.json    ChatML prompt, its ids, 32 greedy ids/text (KV cache, no EOS stop),
                                        top-5 logits at the last prompt position and at every greedy step
  tests/fixtures/smollm2/tokenize.json  [{"text", "ids", "ids_special"}] for ~30 varied texts

Run in the venv made by scripts/setup_llamacpp.sh:
  .venv/bin/python scripts/smollm2_reference.py [MODEL.gguf] [OUT_DIR]
defaults: models/SmolLM2-135M-Instruct.Q4_1.gguf (scripts/fetch_smollm2.sh) and tests/fixtures/smollm2.

llama.cpp runs with use_extra_bufts=False (plain CPU kernels: no AMX, no weight repacking; see
scripts/setup_llamacpp.sh), n_ctx 2048, 2 threads, llama.cpp's default F16 KV cache. A second
greedy run with an F32 KV cache is recorded under "kv_f32" for comparison.
"""
import hashlib
import json
import os
import sys

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DEFAULT_MODEL = os.path.join(ROOT, "models", "SmolLM2-135M-Instruct.Q4_1.gguf")
DEFAULT_OUT = os.path.join(ROOT, "tests", "fixtures", "smollm2")

SYSTEM = "You are a helpful assistant."
USER = ("Summarize in one sentence: The Dead Sea is a salt lake bordered by Jordan to the east and Israel "
        "and the West Bank to the west. Its surface is 430 metres below sea level, the lowest land on Earth.")
N_GREEDY = 32

TOKENIZE_TEXTS = [
    "Hello, world!",
    "The quick brown fox jumps over the lazy dog.",
    " leading space",
    "trailing space ",
    "multiple   spaces    between     words",
    "line one\nline two\n\nline four\n",
    "\t\ttabs\tand\r\nCRLF\r\n",
    "1234567",
    "3.14 and 2.718281828 and -0.5e-10",
    "Prices: $1,299.99 (was $1,500) \u2013 13% off!",
    "00001111222233334444555566667777",
    "\u05e9\u05dc\u05d5\u05dd \u05e2\u05d5\u05dc\u05dd, \u05d6\u05d4\u05d5 \u05de\u05d1\u05d7\u05df \u05e9\u05dc "
    "\u05de\u05d5\u05d3\u05dc \u05e9\u05e4\u05d4 \u05d1\u05e2\u05d1\u05e8\u05d9\u05ea.",
    "\u05d1\u05bc\u05b0\u05e8\u05b5\u05d0\u05e9\u05c1\u05b4\u05d9\u05ea \u05d1\u05bc\u05b8\u05e8\u05b8\u05d0 "
    "\u05d0\u05b1\u05dc\u05b9\u05d4\u05b4\u05d9\u05dd \u05d0\u05b5\u05ea \u05d4\u05b7\u05e9\u05bc\u05b8\u05c1"
    "\u05de\u05b7\u05d9\u05b4\u05dd \u05d5\u05b0\u05d0\u05b5\u05ea \u05d4\u05b8\u05d0\u05b8\u05e8\u05b6\u05e5",
    "\u05e6\u05d4\u05f4\u05dc, \u05d2\u05f3\u05d9\u05e8\u05e4\u05d4, 5 \u05e9\u05f4\u05d7",
    "\u05d4\u05e1\u05e4\u05e8 Python for Data Analysis \u05d9\u05e6\u05d0 \u05d1-2017 "
    "(\u05de\u05d4\u05d3\u05d5\u05e8\u05d4 2).",
    "\u05d9\u05e8\u05d5\u05e9\u05dc\u05d9\u05dd (Jerusalem) \u05d4\u05d9\u05d0 \u05e2\u05d9\u05e8 \u05d4\u05d1\u05d9\u05e8\u05d4.",
    "I love \U0001f355 and \U0001f40d! \U0001f469\u200d\U0001f4bb \U0001f3f3\ufe0f\u200d\U0001f308 \U0001f44d\U0001f3fd",
    "def fib(n):\n    return n if n < 2 else fib(n - 1) + fib(n - 2)\n",
    "fn main() {\n\tprintln!(\"{}\", 42);\n}",
    "{\"key\": [1, 2, 3], \"nested\": {\"a\": null, \"b\": true}}",
    "<|im_start|>user\nhi<|im_end|>\n",
    "<|endoftext|>",
    "text with <|im_end|> in the middle",
    "I'm sure you've heard they'll say we'd DON'T",
    "Caf\u00e9 na\u00efve r\u00e9sum\u00e9 \u2013 \u201cquotes\u201d \u2014 ellipsis\u2026",
    "\u4f60\u597d\uff0c\u4e16\u754c\u3002\u3053\u3093\u306b\u3061\u306f",
    "\u0645\u0631\u062d\u0628\u0627 \u0628\u0627\u0644\u0639\u0627\u0644\u0645 \u041f\u0440\u0438\u0432\u0435\u0442, "
    "\u043c\u0438\u0440!",
    "https://example.com/path?q=1&r=two#frag",
    "UPPER lower MiXeD CamelCaseWord snake_case_word",
    "x\u00b2 + y\u00b2 = z\u00b2, \u2211 i = n(n+1)/2",
    "",
    "   ",
    "\n\n\n",
]


def sha256_file(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def no_extra_bufts():
    """use_extra_bufts=False: Llama() has no such argument, so patch llama_model_default_params
    (the same approach as scripts/make_engine_refs.py)."""
    import llama_cpp.llama_cpp as C
    if getattr(C, "_sofer_patched", False):
        return
    orig = C.llama_model_default_params

    def patched():
        p = orig()
        p.use_extra_bufts = False
        return p

    C.llama_model_default_params = patched
    C._sofer_patched = True


def render_chatml(messages):
    out = "".join(f"<|im_start|>{m['role']}\n{m['content']}<|im_end|>\n" for m in messages)
    return out + "<|im_start|>assistant\n"


def top_k(row, k=5):
    row = np.asarray(row, dtype=np.float32)
    idx = np.argsort(-row, kind="stable")[:k]
    return {"ids": [int(i) for i in idx], "values": [float(row[i]) for i in idx]}


def greedy(llm, prompt_ids, n):
    llm.reset()
    llm.eval(prompt_ids)
    first = top_k(llm.scores[llm.n_tokens - 1])
    ids, steps = [], []
    for step in range(n):
        row = np.array(llm.scores[llm.n_tokens - 1], dtype=np.float32)
        t = int(np.argmax(row))
        tk = top_k(row)
        steps.append({"top5": tk, "margin_top1_top2": tk["values"][0] - tk["values"][1]})
        ids.append(t)
        if step + 1 < n:
            llm.eval([t])
    return first, ids, steps


def main():
    model = sys.argv[1] if len(sys.argv) > 1 else DEFAULT_MODEL
    out_dir = sys.argv[2] if len(sys.argv) > 2 else DEFAULT_OUT
    os.makedirs(out_dir, exist_ok=True)

    import llama_cpp
    no_extra_bufts()

    def load(**kw):
        return llama_cpp.Llama(model_path=model, n_ctx=2048, n_threads=2, n_threads_batch=2,
                               logits_all=True, verbose=False, **kw)

    llm = load()
    md = llm.metadata
    gguf_add_bos = md.get("tokenizer.ggml.add_bos_token")  # llama-cpp-python gives metadata as strings
    if isinstance(gguf_add_bos, str):
        gguf_add_bos = {"true": True, "false": False}.get(gguf_add_bos, gguf_add_bos)
    eos_id = llm.token_eos()

    messages = [{"role": "system", "content": SYSTEM}, {"role": "user", "content": USER}]
    prompt = render_chatml(messages)

    # cross-check the hand-rendered prompt against the GGUF's own chat template (jinja2)
    template_check = None
    tmpl = md.get("tokenizer.chat_template")
    if tmpl:
        from jinja2.sandbox import ImmutableSandboxedEnvironment  # a llama-cpp-python dependency
        env = ImmutableSandboxedEnvironment(trim_blocks=True, lstrip_blocks=True)
        rendered = env.from_string(tmpl).render(messages=messages, add_generation_prompt=True)
        template_check = rendered == prompt
        if not template_check:
            print("WARNING: GGUF chat template renders differently:\n" + repr(rendered), file=sys.stderr)

    prompt_ids = llm.tokenize(prompt.encode("utf-8"), add_bos=False, special=True)
    prompt_ids_addbos = llm.tokenize(prompt.encode("utf-8"), add_bos=True, special=True)

    first, ids, steps = greedy(llm, prompt_ids, N_GREEDY)
    text = llm.detokenize(ids, special=True).decode("utf-8", errors="replace")
    text_plain = llm.detokenize(ids, special=False).decode("utf-8", errors="replace")

    # same greedy run with an F32 KV cache (llama.cpp's default is F16)
    llm32 = load(type_k=llama_cpp.GGML_TYPE_F32, type_v=llama_cpp.GGML_TYPE_F32)
    first32, ids32, steps32 = greedy(llm32, prompt_ids, N_GREEDY)
    del llm32

    greedy_doc = {
        "model": os.path.basename(model),
        "gguf_sha256": sha256_file(model),
        "llama_cpp_python_version": llama_cpp.__version__,
        "llama_cpp_commit": "0c1e57098" if llama_cpp.__version__ == "0.3.36" else None,
        "settings": {
            "n_ctx": 2048, "n_threads": 2, "n_batch": 512, "logits_all": True, "use_extra_bufts": False,
            "kv_cache_type": "F16 (llama.cpp default)", "build": "GGML_NATIVE=ON, AMX disabled",
            "decoding": f"eval(prompt_ids), then {N_GREEDY} x argmax(last logits) -> eval; no EOS stop",
        },
        "messages": messages,
        "prompt": prompt,
        "prompt_matches_gguf_chat_template": template_check,
        "gguf_add_bos_token": gguf_add_bos,
        "add_bos": False,
        "tokenize_special": True,
        "add_bos_true_gives_same_ids": prompt_ids_addbos == prompt_ids,
        "prompt_ids": prompt_ids,
        "n_prompt": len(prompt_ids),
        "first_logits_top5": first,
        "greedy_ids": ids,
        "greedy_text": text,
        "greedy_text_note": "detokenize(special=True); greedy_text_nospecial uses special=False",
        "greedy_text_nospecial": text_plain,
        "steps": steps,
        "kv_f32": {
            "first_logits_top5": first32,
            "greedy_ids": ids32,
            "same_greedy_ids_as_f16_kv": ids32 == ids,
            "min_margin_top1_top2": min(s["margin_top1_top2"] for s in steps32),
        },
        "min_margin_top1_top2": min(s["margin_top1_top2"] for s in steps),
        "eos_id": eos_id,
        "first_eos_step": ids.index(eos_id) if eos_id in ids else None,
        "min_margin_top1_top2_through_first_eos":
            min(s["margin_top1_top2"] for s in steps[: (ids.index(eos_id) + 1 if eos_id in ids else None)]),
    }
    with open(os.path.join(out_dir, "greedy.json"), "w", encoding="utf-8") as f:
        json.dump(greedy_doc, f, ensure_ascii=False, indent=1)
        f.write("\n")

    tok = []
    for t in TOKENIZE_TEXTS:
        b = t.encode("utf-8")
        ids_plain = llm.tokenize(b, add_bos=False, special=False)
        ids_special = llm.tokenize(b, add_bos=False, special=True)
        roundtrip = llm.detokenize(ids_plain, special=False).decode("utf-8", errors="replace") == t
        tok.append({"text": t, "ids": ids_plain, "ids_special": ids_special, "roundtrip": roundtrip})
    with open(os.path.join(out_dir, "tokenize.json"), "w", encoding="utf-8") as f:
        json.dump(tok, f, ensure_ascii=False, indent=1)
        f.write("\n")

    print(json.dumps({"n_prompt": len(prompt_ids), "greedy_ids": ids, "greedy_text": text,
                      "kv_f32_same": ids32 == ids, "template_ok": template_check,
                      "n_tokenize": len(tok),
                      "roundtrip_fail": [x["text"] for x in tok if not x["roundtrip"]]},
                     ensure_ascii=False))


if __name__ == "__main__":
    main()
