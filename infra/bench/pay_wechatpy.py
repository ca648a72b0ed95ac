"""The same Pay v2 notify through wechatpy: WeChatPay.parse_payment_result (XML to dict and the
MD5 sign check) and the SUCCESS answer. Prints microseconds per notify (best of 5 runs)."""
import json, sys
from best import per_call_us
from wechatpy.pay import WeChatPay

i = json.load(open(sys.argv[1]))
pay = WeChatPay(appid=i["appid"], api_key=i["api_key"], mch_id=i["mch_id"])
SUCCESS = "<xml><return_code><![CDATA[SUCCESS]]></return_code><return_msg><![CDATA[OK]]></return_msg></xml>"

def handle():
    data = pay.parse_payment_result(i["body"])
    assert data["result_code"] == "SUCCESS" and data["appid"] == i["appid"] and data["mch_id"] == i["mch_id"]
    int(data["total_fee"])
    return SUCCESS

print(f"{per_call_us(handle):.2f}")
