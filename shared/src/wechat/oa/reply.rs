//! Passive replies (the HTTP answer to a push, within WeChat's 5 s): a text reply, and the
//! safe-mode envelope around any reply. Text goes in CDATA through `xml::write`; numbers
//! (`CreateTime`, `TimeStamp`) are written bare, as WeChat sends and expects them.

use super::crypto::{encrypt_into, encrypted_len, AesKey};
use super::signature::{msg_signature_hex, SIGNATURE_LEN};
use crate::ids::OpenId;
use crate::wechat::xml;

/// The body that acknowledges a push without replying (WeChat also accepts an empty body).
pub const NO_REPLY: &str = "success";

/// One element of a reply document.
enum Node<'a> {
    /// Written as CDATA (any text).
    Text(&'a str, &'a str),
    /// Written bare (digits and a sign only, so nothing to escape).
    Number(&'a str, i64),
}

/// `<xml></xml>`, in bytes.
const ROOT_LEN: usize = 11;
/// What a CDATA node adds to its name (twice) and value: `<><![CDATA[]]></>`, in bytes.
const CDATA_NODE_LEN: usize = 17;
/// The longest `i64` in decimal (`-9223372036854775808`), in bytes.
const DECIMAL_LEN_MAX: usize = 20;

impl Node<'_> {
    /// The node's length in bytes, unless a value holds `]]>` (then the String grows once).
    fn len(&self) -> usize {
        match self {
            Node::Text(name, value) => CDATA_NODE_LEN + 2 * name.len() + value.len(),
            Node::Number(name, _) => 5 + 2 * name.len() + DECIMAL_LEN_MAX,
        }
    }

    fn push(&self, out: &mut String) {
        match self {
            Node::Text(name, value) => xml::push_cdata(out, name, value),
            Node::Number(name, value) => {
                let mut digits = [0u8; DECIMAL_LEN_MAX];
                out.push('<');
                out.push_str(name);
                out.push('>');
                out.push_str(decimal(*value, &mut digits));
                out.push_str("</");
                out.push_str(name);
                out.push('>');
            }
        }
    }
}

/// `value` in decimal, written into the end of `digits`: no allocation, and none of `fmt`'s
/// machinery, which costs more than the rest of a number node.
fn decimal(value: i64, digits: &mut [u8; DECIMAL_LEN_MAX]) -> &str {
    let mut rest = value.unsigned_abs();
    let mut start = DECIMAL_LEN_MAX;
    for slot in digits.iter_mut().rev() {
        // A remainder of 10 is a digit, so it fits a u8.
        *slot = b'0' + u8::try_from(rest % 10).unwrap_or_default();
        start -= 1;
        rest /= 10;
        if rest == 0 {
            break;
        }
    }
    // At most 19 digits: there is room for the sign.
    if let Some(sign) = start.checked_sub(1).filter(|_| value < 0) {
        if let Some(slot) = digits.get_mut(sign) {
            *slot = b'-';
            start = sign;
        }
    }
    digits
        .get(start..)
        .and_then(|text| std::str::from_utf8(text).ok())
        .unwrap_or_default()
}

/// `<xml>…</xml>` with `nodes` in order; element names are our own constants.
fn document(nodes: &[Node<'_>]) -> String {
    let mut out = String::with_capacity(ROOT_LEN + nodes.iter().map(Node::len).sum::<usize>());
    out.push_str("<xml>");
    for node in nodes {
        node.push(&mut out);
    }
    out.push_str("</xml>");
    out
}

/// A passive text reply: `ToUserName` is the user's OpenID (the inbound `FromUserName`),
/// `from_user` the account's original id (the inbound `ToUserName`), `create_time` seconds
/// since the Unix epoch (bare number), `content` any text (CDATA, `]]>` split safely).
pub fn text_reply(to_user: &OpenId, from_user: &str, create_time: i64, content: &str) -> String {
    document(&[
        Node::Text("ToUserName", to_user.as_str()),
        Node::Text("FromUserName", from_user),
        Node::Number("CreateTime", create_time),
        Node::Text("MsgType", "text"),
        Node::Text("Content", content),
    ])
}

/// Wraps `reply_xml` for a safe-mode account: `<xml><Encrypt/><MsgSignature/><TimeStamp/>
/// <Nonce/></xml>`, where `Encrypt` is [`super::encrypt`] of the reply for `appid` with the
/// caller's 16 random bytes, `MsgSignature` is [`super::msg_signature`] over `token`,
/// `timestamp` (seconds since the Unix epoch, signed as its decimal text), `nonce` and the
/// ciphertext.
pub fn encrypted_reply(
    key: &AesKey,
    token: &str,
    appid: &str,
    reply_xml: &str,
    timestamp: i64,
    nonce: &str,
    random_prefix: [u8; 16],
) -> String {
    let encrypted_len = encrypted_len(reply_xml, appid);
    let nodes = [
        Node::Text("Encrypt", ""),
        Node::Text("MsgSignature", ""),
        Node::Number("TimeStamp", timestamp),
        Node::Text("Nonce", nonce),
    ];
    let nodes_len = nodes.iter().map(Node::len).sum::<usize>();
    let mut out = String::with_capacity(ROOT_LEN + nodes_len + encrypted_len + SIGNATURE_LEN);
    // The ciphertext goes straight into the envelope and is signed there: base64 has no `]`,
    // so it cannot end its CDATA section early.
    out.push_str("<xml><Encrypt><![CDATA[");
    let start = out.len();
    encrypt_into(key, reply_xml, appid, random_prefix, &mut out);
    let mut digits = [0u8; DECIMAL_LEN_MAX];
    let timestamp_text = decimal(timestamp, &mut digits);
    let encrypted = out.get(start..).unwrap_or_default();
    debug_assert_eq!(encrypted.len(), encrypted_len);
    let signature = msg_signature_hex(token, timestamp_text, nonce, encrypted);
    out.push_str("]]></Encrypt>");
    xml::push_cdata(&mut out, "MsgSignature", signature.as_str());
    Node::Number("TimeStamp", timestamp).push(&mut out);
    xml::push_cdata(&mut out, "Nonce", nonce);
    out.push_str("</xml>");
    out
}

#[cfg(test)]
mod tests {
    use super::super::tests::cases;
    use super::super::{decrypt, verify_msg_signature, Inbound, Message};
    use super::*;

    #[test]
    fn numbers_are_written_in_decimal_like_display() {
        for value in [
            0,
            7,
            -7,
            10,
            1_409_735_669,
            i64::MAX,
            i64::MIN,
            i64::MIN + 1,
        ] {
            let mut digits = [0u8; DECIMAL_LEN_MAX];
            assert_eq!(decimal(value, &mut digits), value.to_string());
        }
    }

    #[test]
    fn a_text_reply_reads_back_with_a_bare_create_time() {
        let user = OpenId::parse("oyORnuP8q7ou2gfYjqLzSIWZf0rs").unwrap();
        let reply = text_reply(&user, "gh_10f6c3c3ac5a", 1_409_735_669, "签到 +5 ]]> <b>&");
        assert!(
            reply.contains("<CreateTime>1409735669</CreateTime>"),
            "{reply}"
        );
        assert!(reply
            .starts_with("<xml><ToUserName><![CDATA[oyORnuP8q7ou2gfYjqLzSIWZf0rs]]></ToUserName>"));
        let fields = xml::parse(reply.as_bytes()).unwrap();
        assert_eq!(fields["ToUserName"], "oyORnuP8q7ou2gfYjqLzSIWZf0rs");
        assert_eq!(fields["FromUserName"], "gh_10f6c3c3ac5a");
        assert_eq!(fields["MsgType"], "text");
        assert_eq!(fields["Content"], "签到 +5 ]]> <b>&");
        assert_eq!(fields.len(), 5);
    }

    #[test]
    fn the_encrypted_envelope_matches_wechatpy_exactly() {
        let case = &cases("aes_encrypt_roundtrip")[0];
        let input = |name: &str| case["inputs"][name].as_str().unwrap();
        let key = AesKey::from_encoding_aes_key(input("encoding_aes_key")).unwrap();
        let prefix: [u8; 16] = input("random_prefix").as_bytes().try_into().unwrap();
        let timestamp: i64 = input("timestamp").parse().unwrap();
        let (token, nonce, appid) = (input("token"), input("nonce"), input("appid"));
        let reply = encrypted_reply(&key, token, appid, input("msg"), timestamp, nonce, prefix);
        let expected = case["expected"]["encrypt"].as_str().unwrap();
        let signature = case["expected"]["msg_signature"].as_str().unwrap();
        // wechatpy's expected reply, less its newlines between elements.
        assert_eq!(
            reply,
            format!(
                "<xml><Encrypt><![CDATA[{expected}]]></Encrypt>\
                 <MsgSignature><![CDATA[{signature}]]></MsgSignature>\
                 <TimeStamp>{timestamp}</TimeStamp><Nonce><![CDATA[{nonce}]]></Nonce></xml>"
            )
        );
    }

    #[test]
    fn every_signed_encrypt_vector_round_trips_through_the_envelope() {
        let mut signed = 0;
        for case in cases("aes_encrypt_roundtrip") {
            let Some(signature) = case["expected"]["msg_signature"].as_str() else {
                continue;
            };
            let input = |name: &str| case["inputs"][name].as_str().unwrap();
            let key = AesKey::from_encoding_aes_key(input("encoding_aes_key")).unwrap();
            let prefix: [u8; 16] = input("random_prefix").as_bytes().try_into().unwrap();
            let timestamp: i64 = input("timestamp").parse().unwrap();
            let (token, nonce, appid) = (input("token"), input("nonce"), input("appid"));
            let reply = encrypted_reply(&key, token, appid, input("msg"), timestamp, nonce, prefix);
            let fields = xml::parse(reply.as_bytes()).unwrap();
            assert_eq!(fields["MsgSignature"], signature, "{}", case["id"]);
            assert_eq!(
                verify_msg_signature(
                    token,
                    input("timestamp"),
                    nonce,
                    &fields["Encrypt"],
                    signature
                ),
                Ok(())
            );
            let inner = decrypt(&key, &fields["Encrypt"], appid).unwrap();
            assert_eq!(inner, input("msg"));
            signed += 1;
        }
        assert_eq!(signed, 2);
    }

    #[test]
    fn a_reply_to_a_decrypted_message_goes_back_to_its_sender() {
        let case = &cases("aes_decrypt")[4];
        let input = |name: &str| case["inputs"][name].as_str().unwrap();
        let key = AesKey::from_encoding_aes_key(input("encoding_aes_key")).unwrap();
        let inner = decrypt(&key, input("encrypt"), input("appid")).unwrap();
        let inbound = Inbound::parse(inner.as_bytes()).unwrap();
        assert!(matches!(inbound.message, Message::Text { .. }));
        let reply = text_reply(&inbound.from_user, &inbound.to_user, 1_409_735_670, "ok");
        let sealed = encrypted_reply(&key, "spamtest", input("appid"), &reply, 1, "n", [9; 16]);
        let envelope = xml::parse(sealed.as_bytes()).unwrap();
        let back = decrypt(&key, &envelope["Encrypt"], input("appid")).unwrap();
        let fields = xml::parse(back.as_bytes()).unwrap();
        assert_eq!(fields["ToUserName"], "oyORnuP8q7ou2gfYjqLzSIWZf0rs");
        assert_eq!(fields["FromUserName"], "gh_10f6c3c3ac5a");
    }
}
