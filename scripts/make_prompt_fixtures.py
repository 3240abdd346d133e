#!/usr/bin/env python3
"""Writes tests/fixtures/prompt/mistral_v1_chats.json: conversations and the token ids
mistral-common's `encode_chat_completion` gives them with the Mistral v1 tokenizer (the
reference for `sofer::prompt::ChatFormat::MistralV1`).

    .venv/bin/pip install mistral-common
    .venv/bin/python scripts/make_prompt_fixtures.py [TOKENIZER_MODEL]

A conversation whose last message is an assistant turn is encoded twice, as mistral-common
allows it: `continue_final_message` (the assistant message has `prefix=True`, serving mode:
no EOS, the model continues it) and closed (finetuning mode: EOS after it).
"""

import hashlib
import json
import sys
from importlib.metadata import version
from pathlib import Path

from mistral_common.protocol.instruct.messages import AssistantMessage, SystemMessage, UserMessage
from mistral_common.protocol.instruct.request import ChatCompletionRequest
from mistral_common.protocol.instruct.validator import ValidationMode
from mistral_common.tokens.tokenizers.mistral import MistralTokenizer

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_MODEL = ROOT / "assets/tokenizers/mistral_v1_tokenizer.model"
OUT = ROOT / "tests/fixtures/prompt/mistral_v1_chats.json"

DEAD_SEA_HE = (
    "ים המלח הוא אגם מלוח הגובל בירדן ממזרח ובישראל ובגדה המערבית ממערב. "
    "פני המים נמצאים כ-430 מטרים מתחת לפני הים."
)
DEAD_SEA_EN = (
    "The Dead Sea is a salt lake bordered by Jordan to the east and Israel and the West "
    "Bank to the west. Its surface is 430 metres below sea level."
)

CONVERSATIONS = [
    ("en_single_user", [("user", "What is the capital of Israel?")]),
    ("he_single_user", [("user", "מהי בירת ישראל?")]),
    ("en_system_user", [("system", "You are a concise assistant."), ("user", "Summarize: " + DEAD_SEA_EN)]),
    ("he_system_user", [("system", "אתה עוזר תמציתי. ענה בעברית."), ("user", "סכם: " + DEAD_SEA_HE)]),
    (
        "en_system_three_turns",
        [
            ("system", "Answer in one sentence."),
            ("user", "Where is the Dead Sea?"),
            ("assistant", "Between Israel, the West Bank and Jordan."),
            ("user", "How low is it?"),
            ("assistant", "About 430 metres below sea level."),
            ("user", "Why is it so salty?"),
        ],
    ),
    (
        "he_system_three_turns",
        [
            ("system", "ענה במשפט אחד."),
            ("user", "איפה נמצא ים המלח?"),
            ("assistant", "בין ישראל, הגדה המערבית וירדן."),
            ("user", "כמה נמוך הוא?"),
            ("assistant", "כ-430 מטרים מתחת לפני הים."),
            ("user", "למה הוא כל כך מלוח?"),
        ],
    ),
    (
        "multiline_mixed",
        [
            ("system", "Keep the list structure.\nUse Hebrew."),
            ("user", "תרגם לעברית:\n\n- first item\n- second item\n\nParagraph two,\twith a tab.\n"),
        ],
    ),
    (
        "he_niqqud_emoji",
        [("user", "בְּרֵאשִׁית בָּרָא אֱלֹהִים 👍🏽 — “quotes” ו־מקף, צה״ל, ג׳ירפה")],
    ),
    (
        "ends_with_assistant",
        [
            ("system", "You translate Hebrew to English."),
            ("user", "שלום עולם"),
            ("assistant", "Hello world"),
        ],
    ),
    (
        "he_ends_with_assistant",
        [("user", "סכם את המסמך:\n" + DEAD_SEA_HE), ("assistant", "ים המלח הוא אגם מלוח")],
    ),
    (
        "consecutive_users_merged",
        [("user", "First part of the question."), ("user", "חלק שני של השאלה.")],
    ),
    (
        "two_system_messages",
        [("system", "Be brief."), ("system", "היה מנומס."), ("user", "Hi"), ("assistant", "Hello!"), ("user", "מה שלומך?")],
    ),
    ("spaces_around_content", [("user", "  leading and trailing spaces  "), ("assistant", " answer "), ("user", "x")]),
    ("system_only", [("system", "You are helpful.")]),
]

CLASSES = {"system": SystemMessage, "user": UserMessage, "assistant": AssistantMessage}


def encode(model: Path, messages, continue_final: bool, mode: ValidationMode | None):
    """mode None: mistral-common's default (test) mode, which checks the structure like serving."""
    tok = MistralTokenizer.from_file(str(model)) if mode is None else MistralTokenizer.from_file(str(model), mode=mode)
    objs = []
    for i, (role, content) in enumerate(messages):
        if role == "assistant" and continue_final and i == len(messages) - 1:
            objs.append(AssistantMessage(content=content, prefix=True))
        else:
            objs.append(CLASSES[role](content=content))
    out = tok.encode_chat_completion(ChatCompletionRequest(messages=objs))
    return out.tokens, out.text


def main() -> None:
    model = Path(sys.argv[1]) if len(sys.argv) > 1 else DEFAULT_MODEL
    cases = []
    for name, messages in CONVERSATIONS:
        ends_with_assistant = messages[-1][0] == "assistant"
        variants = [(True, None), (False, ValidationMode.finetuning)] if ends_with_assistant else [
            (False, None)
        ]
        for continue_final, mode in variants:
            ids, text = encode(model, messages, continue_final, mode)
            cases.append(
                {
                    "name": name + ("_continue" if continue_final else "_closed" if ends_with_assistant else ""),
                    "messages": [{"role": r, "content": c} for r, c in messages],
                    "continue_final_message": continue_final,
                    "ids": ids,
                    "text": text,
                }
            )
    doc = {
        "generator": "scripts/make_prompt_fixtures.py",
        "mistral_common_version": version("mistral-common"),
        "tokenizer": model.name,
        "tokenizer_sha256": hashlib.sha256(model.read_bytes()).hexdigest(),
        "conversations": cases,
    }
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text(json.dumps(doc, ensure_ascii=False, indent=1) + "\n", encoding="utf-8")
    print(f"{len(cases)} conversations -> {OUT}")


if __name__ == "__main__":
    main()
