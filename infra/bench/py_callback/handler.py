"""The WeChat Official Account callback as a usual Python Lambda webhook writes it, for the
cold-start comparison with functions/wechat-callback (infra/bench/coldstart.py).

Everything a typical module does at import time is here on purpose, because that is the init a
cold start pays: the AWS SDK clients the real function would use (the ledger table and the
points queue; built, never called), wechatpy, and the message crypto built from the settings.
Only the GET (URL verification) path is benchmarked; the POST path is a sketch that parses the
message and answers "success", without the Rust function's DynamoDB and SQS work.
"""

import base64
import os

import boto3
from wechatpy import create_reply, parse_message
from wechatpy.crypto import WeChatCrypto
from wechatpy.exceptions import InvalidSignatureException
from wechatpy.utils import check_signature

TOKEN = os.environ["WECHAT_OA_TOKEN"]
crypto = WeChatCrypto(TOKEN, os.environ["WECHAT_OA_ENCODING_AES_KEY"],
                      os.environ["WECHAT_OA_APP_ID"])
# Region and credentials come from the environment, as in Lambda; creating a client makes no
# request.
dynamodb = boto3.client("dynamodb")
sqs = boto3.client("sqs")


def _answer(status, body, content_type="text/plain"):
    return {"statusCode": status, "headers": {"content-type": content_type}, "body": body}


def handler(event, context):
    query = event.get("queryStringParameters") or {}
    try:
        # WeChat signs every call, GET and POST, over token, timestamp and nonce.
        check_signature(TOKEN, query.get("signature", ""), query.get("timestamp", ""),
                        query.get("nonce", ""))
    except InvalidSignatureException:
        return _answer(403, "forbidden")

    if event["requestContext"]["http"]["method"] == "GET":
        # URL verification: echoing echostr proves we hold the token.
        return _answer(200, query.get("echostr", ""))

    body = event.get("body") or ""
    if event.get("isBase64Encoded"):
        body = base64.b64decode(body).decode()
    if query.get("encrypt_type") == "aes":
        body = crypto.decrypt_message(body, query.get("msg_signature", ""),
                                      query.get("timestamp", ""), query.get("nonce", ""))
    message = parse_message(body)
    # An empty reply renders as ""; WeChat takes "success" as "no reply, do not retry".
    reply = create_reply("", message).render() or "success"
    return _answer(200, reply, "application/xml" if reply != "success" else "text/plain")
