//! Passive replies (the HTTP answer to a push, within WeChat's 5 s): a text reply, and the
//! safe-mode envelope around any reply. Text goes in CDATA through `xml::write`; numbers
//! (`CreateTime`, `TimeStamp`) are written bare, as WeChat sends and expects them.

use super::crypto::{encrypt, AesKey};
use super::signature::msg_signature;
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

/// `<xml>…</xml>` with `nodes` in order; element names are our own constants.
fn document(nodes: &[Node<'_>]) -> String {
    let mut out = String::with_capacity(256);
    out.push_str("<xml>");
    for node in nodes {
        match node {
            Node::Text(name, value) => xml::push_cdata(&mut out, name, value),
            Node::Number(name, value) => {
                use std::fmt::Write;
                // Writing to a String cannot fail.
                let _ = write!(out, "<{name}>{value}</{name}>");
            }
        }
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
/// <Nonce/></xml>`, where `Encrypt` is [`encrypt`] of the reply for `appid` with the caller's
/// 16 random bytes, `MsgSignature` is [`msg_signature`] over `token`, `timestamp` (seconds
/// since the Unix epoch, signed as its decimal text), `nonce` and the ciphertext.
pub fn encrypted_reply(
    key: &AesKey,
    token: &str,
    appid: &str,
    reply_xml: &str,
    timestamp: i64,
    nonce: &str,
    random_prefix: [u8; 16],
) -> String {
    let encrypted = encrypt(key, reply_xml, appid, random_prefix);
    let signature = msg_signature(token, &timestamp.to_string(), nonce, &encrypted);
    document(&[
        Node::Text("Encrypt", &encrypted),
        Node::Text("MsgSignature", &signature),
        Node::Number("TimeStamp", timestamp),
        Node::Text("Nonce", nonce),
    ])
}

#[cfg(test)]
mod tests {
    use super::super::tests::cases;
    use super::super::{decrypt, verify_msg_signature, Inbound, Message};
    use super::*;

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
