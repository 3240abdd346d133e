"""Service calls sharing a system prompt, through the official `openai` SDK: how many prompt
tokens the server computed and how many it reused from its prefix cache.

usage: prefix_reuse.py BASE_URL MODEL [CALLS] [API_KEY]

Sends CALLS (100) chat completions one after another, each with the same Hebrew system
prompt and its own short question, and prints the prompt tokens submitted, the cached ones
(`usage.prompt_tokens_details.cached_tokens`), computed ÷ submitted, and the wall time.
Dev only: run it against `sofer serve` with `http_listen` set (scripts/setup_http_clients.sh
makes a venv with the SDK).
"""

import sys
import time

import openai

base, model = sys.argv[1:3]
calls = int(sys.argv[3]) if len(sys.argv) > 3 else 100
key = sys.argv[4] if len(sys.argv) > 4 else "none"
client = openai.OpenAI(base_url=base + "/v1", api_key=key, max_retries=0, timeout=600)

SYSTEM = (
    "אתה העוזר של מחלקת השירות של בנק גדול בישראל. ענה בעברית תקנית, בקצרה ובנימוס, "
    "במשפט אחד או שניים. אל תמציא מספרי חשבון, סכומים או תאריכים שלא נמסרו לך. "
    "אם השאלה אינה נוגעת לשירותי הבנק, אמור זאת והצע לפנות למוקד הטלפוני. "
    "שעות הפעילות של הסניפים הן בימים א׳ עד ה׳ משמונה וחצי בבוקר עד אחת בצהריים, "
    "וביום ב׳ גם מארבע עד שש וחצי אחר הצהריים. המוקד הטלפוני זמין עשרים וארבע שעות "
    "ביממה לחסימת כרטיסים ולדיווח על הונאות. העברות בנקאיות מעל חמישים אלף שקלים "
    "דורשות אישור נוסף בטלפון. אין למסור סיסמאות או קודים חד־פעמיים לאף אחד."
)
TOPICS = ["כרטיס אשראי", "הלוואה", "משכנתא", "פיקדון", "חשבון חיסכון", "העברה לחו״ל",
          "צ׳קים", "אפליקציה", "סניף", "עמלות"]

submitted = cached = 0
started = time.monotonic()
for i in range(calls):
    question = f"שאלה {i + 1}: מה צריך לדעת על {TOPICS[i % len(TOPICS)]}?"
    r = client.chat.completions.create(
        model=model,
        messages=[{"role": "system", "content": SYSTEM}, {"role": "user", "content": question}],
        max_tokens=8,
        temperature=0,
    )
    submitted += r.usage.prompt_tokens
    details = r.usage.prompt_tokens_details
    cached += (details.cached_tokens or 0) if details else 0
elapsed = time.monotonic() - started
print(f"calls {calls}  prompt tokens submitted {submitted}  cached {cached}  "
      f"computed/submitted {(submitted - cached) / submitted:.3f}  wall {elapsed:.1f} s")
