"""The ProcureIQ seed document's FastAPI consumer, verbatim: the baseline of bench/ack_path.py.

Vendor sample code, kept as written (in memory, nothing stored); only `# noqa` comments are
added. Run: WEBHOOK_SECRET=... uvicorn bench.procureiq_fastapi_consumer:app"""

import hashlib
import hmac
import json
import os
from typing import Any, Dict, Set  # noqa: UP035

from fastapi import BackgroundTasks, FastAPI, Header, HTTPException, Request

app = FastAPI()
processed_events: Set[str] = set()  # noqa: UP006


async def process_event(event: Dict[str, Any]) -> None:  # noqa: UP006
    event_id = event["id"]
    event_type = event["type"]

    if event_id in processed_events:
        print(f"Skipping duplicate ProcureIQ event {event_id}")
        return

    processed_events.add(event_id)

    if event_type == "order.created":
        print("New order received", event["data"]["orderId"])
    elif event_type == "payment.succeeded":
        print("Payment confirmed", event["data"]["paymentId"])
    elif event_type == "support.ticket_created":
        print("Support ticket created", event["data"]["ticketId"])
    else:
        print("Unhandled ProcureIQ event", event_type)


@app.post("/webhooks/procureiq")
async def procureiq_webhook(
    request: Request,
    background_tasks: BackgroundTasks,
    x_procureiq_signature: str | None = Header(default=None),
) -> Dict[str, str]:  # noqa: UP006
    secret = os.environ.get("WEBHOOK_SECRET")
    if not secret:
        raise HTTPException(status_code=500, detail="Missing WEBHOOK_SECRET")

    raw_body = await request.body()

    expected = (
        "sha256="
        + hmac.new(
            secret.encode("utf-8"),
            raw_body,
            hashlib.sha256,
        ).hexdigest()
    )

    if not x_procureiq_signature or not hmac.compare_digest(x_procureiq_signature, expected):
        raise HTTPException(status_code=401, detail="Unauthorized")

    event = json.loads(raw_body.decode("utf-8"))

    background_tasks.add_task(process_event, event)
    return {"status": "ok"}
