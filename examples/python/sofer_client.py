#!/usr/bin/env python3
"""A small tour of Sofer's gRPC API with grpcio.

Generate the stubs first (./generate.sh), then:

    .venv/bin/python sofer_client.py --target 127.0.0.1:50051 [--key KEY] [--english]

Every call goes through the stubs generated from proto/sofer/v1/*.proto. The last step
shows how to read the google.rpc.BadRequest details of an INVALID_ARGUMENT error.
"""

import argparse
import sys
import time

import grpc
from google.rpc import error_details_pb2
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_status import rpc_status

from sofer.v1 import common_pb2 as common
from sofer.v1 import corpus_service_pb2 as corpus
from sofer.v1 import corpus_service_pb2_grpc as corpus_grpc
from sofer.v1 import document_service_pb2 as document
from sofer.v1 import document_service_pb2_grpc as document_grpc
from sofer.v1 import model_service_pb2 as model
from sofer.v1 import model_service_pb2_grpc as model_grpc

HEBREW_TEXT = (
    "עיריית תל אביב הודיעה היום על פתיחת שלושה גנים ציבוריים חדשים בדרום העיר. "
    "הגנים יכללו מתקני משחקים, שבילי אופניים ואזורי ישיבה מוצלים.\n\n"
    "לדברי ראש העירייה, העבודות יסתיימו עד סוף השנה והעלות הכוללת תגיע לכעשרים מיליון שקלים."
)
ENGLISH_TEXT = (
    "The city of Tel Aviv announced today that three new public parks will open in the "
    "south of the city. The parks will have playgrounds, bicycle paths and shaded seating.\n\n"
    "According to the mayor, the work will be finished by the end of the year and will cost "
    "about twenty million shekels in all."
)


def status_name(err: grpc.RpcError) -> str:
    return err.code().name


def print_bad_request(err: grpc.RpcError) -> None:
    """Prints the google.rpc.BadRequest field violations carried by `err`, if any.

    The server sends them in the `grpc-status-details-bin` trailer as a google.rpc.Status;
    grpcio-status decodes that trailer (rpc_status.from_call) and each detail is an Any.
    """
    status = rpc_status.from_call(err)
    if status is None:
        print(f"  {status_name(err)}: {err.details()} (no details)")
        return
    print(f"  {status_name(err)}: {status.message}")
    for detail in status.details:
        if detail.Is(error_details_pb2.BadRequest.DESCRIPTOR):
            bad_request = error_details_pb2.BadRequest()
            detail.Unpack(bad_request)
            for violation in bad_request.field_violations:
                print(f"  field violation: field={violation.field!r} description={violation.description!r}")


def wait_until_serving(channel: grpc.Channel, timeout: float) -> None:
    """Polls grpc.health.v1.Health/Check: the server says NOT_SERVING while the model loads."""
    health = health_pb2_grpc.HealthStub(channel)
    deadline = time.monotonic() + timeout
    while True:
        try:
            reply = health.Check(health_pb2.HealthCheckRequest(service=""), timeout=5)
            state = health_pb2.HealthCheckResponse.ServingStatus.Name(reply.status)
        except grpc.RpcError as err:
            state = status_name(err)
        print(f"health: {state}")
        if state == "SERVING":
            return
        if time.monotonic() > deadline:
            sys.exit("the server did not become SERVING in time")
        time.sleep(1)


def ingest(corpus_stub, collection: str, md) -> None:
    """IngestDocuments is client streaming: one message per document."""

    def requests():
        yield corpus.IngestDocumentsRequest(
            collection=collection,
            document=corpus.Document(
                id="parks-he",
                title="גנים חדשים בתל אביב",
                text=HEBREW_TEXT,
                language=common.LANGUAGE_HEBREW,
                source="example://parks-he",
                translation=ENGLISH_TEXT,  # a translation-memory entry
            ),
        )
        yield corpus.IngestDocumentsRequest(
            collection=collection,
            document=corpus.Document(
                id="parks-en",
                title="New parks in Tel Aviv",
                paragraphs=ENGLISH_TEXT.split("\n\n"),
                language=common.LANGUAGE_ENGLISH,
                labels=["city"],  # a labelled example for Classify
            ),
        )

    reply = corpus_stub.IngestDocuments(requests(), metadata=md)
    print(f"ingest: {reply.documents} documents, {reply.passages} passages")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--target", default="127.0.0.1:50051", help="host:port of the server")
    parser.add_argument("--key", help="API key, sent as `authorization: Bearer KEY`")
    parser.add_argument("--collection", default="python-demo", help="corpus collection to use")
    parser.add_argument("--english", action="store_true", help="summarize/translate/classify the English text")
    parser.add_argument("--timeout", type=float, default=300, help="deadline of each model call, seconds")
    args = parser.parse_args()

    md = [("authorization", f"Bearer {args.key}")] if args.key else []
    text = ENGLISH_TEXT if args.english else HEBREW_TEXT
    # Short outputs keep the demo quick on a CPU; drop max_tokens for real use.
    sampling = common.SamplingOptions(seed=7, max_tokens=96)

    with grpc.insecure_channel(args.target) as channel:
        wait_until_serving(channel, timeout=120)
        docs = document_grpc.DocumentServiceStub(channel)
        corp = corpus_grpc.CorpusServiceStub(channel)
        mod = model_grpc.ModelServiceStub(channel)

        ingest(corp, args.collection, md)

        query = "Tel Aviv parks" if args.english else "תל אביב"
        reply = corp.Search(corpus.SearchRequest(query=query, collection=args.collection, k=3), metadata=md)
        for hit in reply.hits:
            print(f"search: {hit.doc_id}#{hit.passage_id} score={hit.score:.3f} {hit.snippet[:60]!r}")

        reply = docs.Summarize(
            document.SummarizeRequest(
                text=text,
                length=document.SUMMARY_LENGTH_SHORT,
                collection=args.collection,
                sampling=sampling,
            ),
            metadata=md,
            timeout=args.timeout,
        )
        print(f"summarize: {reply.summary!r}")
        print(f"  chunks={reply.chunks} citations={len(reply.citations)} "
              f"prompt_tokens={reply.usage.prompt_tokens} completion_tokens={reply.usage.completion_tokens} "
              f"ms={reply.usage.duration_ms}")

        print("stream summarize: ", end="", flush=True)
        stream = docs.StreamSummarize(
            document.SummarizeRequest(text=text, style=document.SUMMARY_STYLE_BULLETS, sampling=sampling),
            metadata=md,
            timeout=args.timeout,
        )
        for event in stream:
            kind = event.WhichOneof("event")
            if kind == "text_delta":
                print(event.text_delta, end="", flush=True)
            elif kind == "progress":
                print(f"[{event.progress.step} {event.progress.done}/{event.progress.total}]", end="", flush=True)
            elif kind == "response":
                print(f"\n  (final: {len(event.response.summary)} characters)")

        reply = docs.Translate(
            document.TranslateRequest(
                text=text,
                glossary=[document.GlossaryEntry(source="תל אביב", target="Tel Aviv")],
                collection=args.collection,
                sampling=sampling,
            ),
            metadata=md,
            timeout=args.timeout,
        )
        print(f"translate {common.Language.Name(reply.source_language)} -> "
              f"{common.Language.Name(reply.target_language)}: {reply.translation!r}")
        print(f"  memory_examples={reply.memory_examples} glossary_violations={len(reply.glossary_violations)}")

        reply = docs.Classify(
            document.ClassifyRequest(
                text=text,
                labels=[
                    document.Label(name="city", description="municipal news"),
                    document.Label(name="sports"),
                    document.Label(name="economy"),
                ],
                votes=5,
                collection=args.collection,
                sampling=common.SamplingOptions(seed=7),
            ),
            metadata=md,
            timeout=args.timeout,
        )
        print(f"classify: label={reply.label!r} confidence={reply.confidence:.2f} "
              f"abstentions={reply.abstentions} examples={reply.examples}")
        for votes in reply.tally:
            print(f"  {votes.label:8} {votes.votes} votes ({votes.share:.0%})")

        info = mod.GetModelInfo(model.GetModelInfoRequest(), metadata=md)
        print(f"model: {info.file_name} {info.architecture} {info.quantization} "
              f"context={info.context_length} vocab={info.vocab_size} layers={info.layers} "
              f"experts={info.experts} chat_format={info.chat_format}")

        reply = mod.Tokenize(model.TokenizeRequest(text="שלום עולם", add_bos=True), metadata=md)
        print(f"tokenize: {len(reply.ids)} ids, {reply.words} words, {reply.tokens_per_word:.2f} tokens/word")

        # Errors: a Classify with no labels is INVALID_ARGUMENT with a BadRequest naming `labels`.
        try:
            docs.Classify(document.ClassifyRequest(text=text), metadata=md, timeout=args.timeout)
        except grpc.RpcError as err:
            print("classify without labels:")
            print_bad_request(err)


if __name__ == "__main__":
    try:
        main()
    except grpc.RpcError as err:
        sys.exit(f"error: {err.code().name}: {err.details()}")
