"""A tiny function app for the runner's fault switches: one queue function that counts its runs."""

import azure.functions as func

app = func.FunctionApp(http_auth_level=func.AuthLevel.FUNCTION)

calls: list[dict] = []


@app.queue_trigger(arg_name="msg", queue_name="%CRASH_QUEUE%", connection="AzureWebJobsStorage")
async def counted(msg: func.QueueMessage) -> None:
    calls.append({"id": msg.id, "body": msg.get_body().decode(), "dequeue_count": msg.dequeue_count})
