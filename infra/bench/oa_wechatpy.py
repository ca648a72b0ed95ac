"""The same encrypted push through wechatpy: check_signature, decrypt_message, parse_message,
create_reply(...).render(), encrypt_message. Prints microseconds per push (best of 5 runs)."""
import json, sys
from best import per_call_us
from wechatpy import parse_message, create_reply
from wechatpy.crypto import WeChatCrypto
from wechatpy.utils import check_signature

i = json.load(open(sys.argv[1]))
crypto = WeChatCrypto(i["token"], i["encoding_aes_key"], i["appid"])
ts, nonce = str(i["timestamp"]), i["nonce"]

def handle():
    check_signature(i["token"], i["signature"], ts, nonce)
    xml = crypto.decrypt_message(i["body"], i["msg_signature"], ts, nonce)
    msg = parse_message(xml)
    reply = create_reply(i["reply_content"] if msg.content == "积分" else "success", msg).render()
    return crypto.encrypt_message(reply, nonce, ts)

print(f"{per_call_us(handle):.2f}")
