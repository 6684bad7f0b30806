"""The peer of the benchmark: Python `instructor` + `llama-cpp-python`, run as the published guide
runs it ("Structured outputs with llama-cpp-python, a complete guide w/ instructor"), driven over
stdin/stdout by the Rust benchmark (`bench/src/main.rs`), which owns timing order, judging and
reporting.

What differs from the guide, and why:
- the model path and the prompts (the benchmark's cases);
- `n_threads` / `n_threads_batch` are set to the benchmark's thread count, so both sides use the
  same number of cores (llama-cpp-python's own default is half the cores for generation);
- the patched `create` is wrapped to count calls (attempts) and sum the usage each call reports;
  it passes every argument through unchanged.

Protocol: one JSON request per stdin line, `{"case": id, "prompt": text}`; one reply per request on
stdout, prefixed with `@@` (anything else printed is not a reply). The first reply says it is ready.
"""

import argparse
import importlib.metadata
import json
import sys
import time
from typing import List, Literal

from pydantic import BaseModel, Field


# The cases' types: field for field the Rust benchmark's types (`bench/src/cases.rs`), with the
# same descriptions, bounds and patterns.
class UserDetail(BaseModel):
    name: str
    age: int = Field(ge=0, le=150)


class Address(BaseModel):
    street: str = Field(description="Street with house number.")
    city: str
    postcode: str
    country: str


class Item(BaseModel):
    name: str
    quantity: int = Field(ge=0)
    unit_price: float = Field(description="Price of one unit.")


class Order(BaseModel):
    order_id: str
    items: List[Item]


class Event(BaseModel):
    title: str
    date: str = Field(description="Date as YYYY-MM-DD.", pattern=r"^[0-9]{4}-[0-9]{2}-[0-9]{2}$")
    attendees: List[str]


class Sentiment(BaseModel):
    label: Literal["positive", "negative", "neutral"]


class Ticket(BaseModel):
    category: Literal["billing", "technical", "account"]
    priority: Literal["low", "medium", "high"]


class Review(BaseModel):
    product: str
    stars: int = Field(ge=1, le=5)


class Flight(BaseModel):
    flight_number: str
    origin: str
    destination: str
    date: str = Field(description="Date as YYYY-MM-DD.", pattern=r"^[0-9]{4}-[0-9]{2}-[0-9]{2}$")
    time: str = Field(description="Time as HH:MM.", pattern=r"^[0-9]{2}:[0-9]{2}$")


class Person(BaseModel):
    name: str
    birth_date: str = Field(
        description="Date as YYYY-MM-DD.", pattern=r"^[0-9]{4}-[0-9]{2}-[0-9]{2}$"
    )


class Quote(BaseModel):
    speaker: str
    quote: str = Field(description="The exact words, copied.")


class Contact(BaseModel):
    name: str
    email: str
    phone: str


class People(BaseModel):
    people: List[UserDetail]


class Weather(BaseModel):
    city: str
    temperature_c: int = Field(ge=-60, le=60)
    condition: Literal["sunny", "cloudy", "rainy", "snowy"]


class Task(BaseModel):
    title: str
    done: bool


class Tasks(BaseModel):
    tasks: List[Task]


class Book(BaseModel):
    title: str
    author: str
    year: int = Field(ge=1000, le=2100)


MODELS = {
    "user_detail": UserDetail,
    "address": Address,
    "order": Order,
    "event": Event,
    "sentiment": Sentiment,
    "ticket": Ticket,
    "review": Review,
    "flight": Flight,
    "birthday": Person,
    "quote": Quote,
    "contact": Contact,
    "people": People,
    "weather": Weather,
    "tasks": Tasks,
    "book": Book,
}


def reply(obj):
    sys.stdout.write("@@" + json.dumps(obj) + "\n")
    sys.stdout.flush()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", required=True)
    ap.add_argument("--threads", type=int, required=True)
    args = ap.parse_args()

    import instructor
    import llama_cpp
    from llama_cpp.llama_speculative import LlamaPromptLookupDecoding

    # The guide's set-up, unchanged but for the model path and the thread counts.
    llama = llama_cpp.Llama(
        model_path=args.model,
        n_gpu_layers=-1,
        chat_format="chatml",
        n_ctx=2048,
        draft_model=LlamaPromptLookupDecoding(num_pred_tokens=2),
        logits_all=True,
        verbose=False,
        n_threads=args.threads,
        n_threads_batch=args.threads,
    )

    tally = {}

    def counted_create(*a, **kw):
        # Instrumentation only: every argument passes through unchanged.
        tally["calls"] += 1
        response = llama.create_chat_completion_openai_v1(*a, **kw)
        usage = getattr(response, "usage", None)
        if usage is not None:
            tally["prompt_tokens"] += usage.prompt_tokens
            tally["completion_tokens"] += usage.completion_tokens
        try:
            tally["raw"] = response.choices[0].message.content
        except (AttributeError, IndexError):
            pass
        return response

    create = instructor.patch(create=counted_create, mode=instructor.Mode.JSON_SCHEMA)

    reply(
        {
            "ready": True,
            "instructor": importlib.metadata.version("instructor"),
            "llama_cpp_python": llama_cpp.__version__,
        }
    )
    for line in sys.stdin:
        line = line.strip()
        if not line:
            continue
        req = json.loads(line)
        model = MODELS[req["case"]]
        tally.update(calls=0, prompt_tokens=0, completion_tokens=0, raw=None)
        start = time.perf_counter()
        try:
            obj = create(
                messages=[{"role": "user", "content": req["prompt"]}],
                response_model=model,
                max_retries=3,
            )
            output, error = obj.model_dump(mode="json"), None
        except Exception as e:  # the peer's failure is a result to report, not a crash
            output, error = None, f"{type(e).__name__}: {e}"[:1500]
        elapsed = time.perf_counter() - start
        reply(
            {
                "case": req["case"],
                "output": output,
                "error": error,
                "raw": tally["raw"],
                "seconds": elapsed,
                "attempts": tally["calls"],
                "prompt_tokens": tally["prompt_tokens"],
                "completion_tokens": tally["completion_tokens"],
            }
        )


if __name__ == "__main__":
    main()
