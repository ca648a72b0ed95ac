//! Safe-mode message encryption (DESIGN §6): AES-256-CBC whose key is the base64-decoded
//! EncodingAESKey with its missing `=` restored (32 bytes), IV = the key's first 16 bytes,
//! PKCS#7 padding to **32**-byte blocks (WeChat's quirk, so the cipher runs without the crate's
//! padding and this file pads), and the plaintext `random(16) ‖ len(4, big-endian, UTF-8
//! bytes) ‖ xml ‖ appid`. The ciphertext is not authenticated: verify `msg_signature` first.

use super::padding::{pad, unpad, PAD_BLOCK};
use super::OaError;
use crate::wechat::xml::MAX_BODY;
use aes::cipher::{BlockModeDecrypt, BlockModeEncrypt, InnerIvInit, KeyInit};
use aes::{Aes256Dec, Aes256Enc, Block};
use base64::alphabet;
use base64::engine::general_purpose::{GeneralPurpose, GeneralPurposeConfig, STANDARD};
use base64::Engine;
use std::fmt;

/// Length of the random prefix of every plaintext, in bytes.
pub const RANDOM_PREFIX_LEN: usize = 16;
/// Length of an EncodingAESKey, in base64 characters (it lacks its final `=`).
pub const ENCODING_AES_KEY_LEN: usize = 43;
const KEY_LEN: usize = 32;
const IV_LEN: usize = 16;
const LENGTH_FIELD_LEN: usize = 4;
const HEADER_LEN: usize = RANDOM_PREFIX_LEN + LENGTH_FIELD_LEN;
const AES_BLOCK: usize = 16;
/// The shortest possible ciphertext: a header and one pad byte, padded to 32.
const CIPHERTEXT_LEN_MIN: usize = PAD_BLOCK;
const _: () = assert!(IV_LEN <= KEY_LEN && PAD_BLOCK % AES_BLOCK == 0 && HEADER_LEN < PAD_BLOCK);

/// EncodingAESKeys come from a console whose base64 decoder ignores the last character's two
/// spare bits (the sample key `…B2C` sets them), so this decoder must too.
const KEY_BASE64: GeneralPurpose = GeneralPurpose::new(
    &alphabet::STANDARD,
    GeneralPurposeConfig::new().with_decode_allow_trailing_bits(true),
);

/// The 32-byte AES-256 key of an Official Account's safe mode; the IV is its first 16 bytes.
/// Kept as its expanded round keys, so each message skips the key schedule. `Debug` never
/// shows it.
/// No `PartialEq`: keys are not compared (that would not be constant time).
#[derive(Clone)]
pub struct AesKey {
    encrypt: Aes256Enc,
    decrypt: Aes256Dec,
    iv: [u8; IV_LEN],
}

impl AesKey {
    /// Decodes the console's 43-character EncodingAESKey (base64 of 32 bytes without its `=`).
    /// Errors name the problem, never the key.
    pub fn from_encoding_aes_key(encoding_aes_key: &str) -> Result<Self, OaError> {
        let len = encoding_aes_key.chars().count();
        if len != ENCODING_AES_KEY_LEN {
            return Err(OaError::KeyLength { len });
        }
        let bytes = KEY_BASE64
            .decode(format!("{encoding_aes_key}="))
            .map_err(|_| OaError::KeyNotBase64)?;
        // 43 characters and "=" are 32 bytes, unless a `=` inside shortened them.
        let key = <[u8; KEY_LEN]>::try_from(bytes.as_slice()).map_err(|_| OaError::KeyNotBase64)?;
        let (iv, _) = key
            .split_first_chunk::<IV_LEN>()
            .ok_or(OaError::KeyNotBase64)?;
        Ok(Self {
            encrypt: Aes256Enc::new(&key.into()),
            decrypt: Aes256Dec::new(&key.into()),
            iv: *iv,
        })
    }
}

impl fmt::Debug for AesKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("AesKey(***)")
    }
}

/// Encrypts `xml` for `appid` as WeChat does: base64 of AES-256-CBC over
/// `random_prefix ‖ len(xml) ‖ xml ‖ appid` padded to 32-byte blocks. The caller supplies the 16
/// random bytes (pure; use a CSPRNG in production), so equal inputs give equal output.
/// `xml` must be shorter than 4 GiB (the length field is a `u32`; replies are tiny).
pub fn encrypt(
    key: &AesKey,
    xml: &str,
    appid: &str,
    random_prefix: [u8; RANDOM_PREFIX_LEN],
) -> String {
    let mut out = String::with_capacity(encrypted_len(xml, appid));
    encrypt_into(key, xml, appid, random_prefix, &mut out);
    out
}

/// The length of [`encrypt`]'s answer, in bytes.
pub(super) fn encrypted_len(xml: &str, appid: &str) -> usize {
    let padded = (HEADER_LEN + xml.len() + appid.len()) / PAD_BLOCK * PAD_BLOCK + PAD_BLOCK;
    padded.div_ceil(3) * 4
}

/// [`encrypt`], appending the base64 to `out` (replies write it straight into the envelope).
pub(super) fn encrypt_into(
    key: &AesKey,
    xml: &str,
    appid: &str,
    random_prefix: [u8; RANDOM_PREFIX_LEN],
    out: &mut String,
) {
    let xml_len = u32::try_from(xml.len()).unwrap_or(u32::MAX);
    debug_assert!(usize::try_from(xml_len).is_ok_and(|len| len == xml.len()));
    let mut plain = Vec::with_capacity(HEADER_LEN + xml.len() + appid.len() + PAD_BLOCK);
    plain.extend_from_slice(&random_prefix);
    plain.extend_from_slice(&xml_len.to_be_bytes());
    plain.extend_from_slice(xml.as_bytes());
    plain.extend_from_slice(appid.as_bytes());
    pad(&mut plain);
    seal(key, &mut plain);
    STANDARD.encode_string(plain, out);
}

/// Decrypts a safe-mode `Encrypt` text (or the GET check's `echostr`) and returns the inner XML
/// (or echo string). `expected_appid` is Linli's AppID: a message for another account is
/// `OaError::ForeignAppId` (answer 401). Every other error is a malformed message (400),
/// except `TooLarge` (over 64 KiB of base64: 413). Never panics.
pub fn decrypt(key: &AesKey, encrypt_b64: &str, expected_appid: &str) -> Result<String, OaError> {
    if encrypt_b64.len() > MAX_BODY {
        return Err(OaError::TooLarge);
    }
    let mut buf = STANDARD
        .decode(encrypt_b64)
        .map_err(|_| OaError::NotBase64)?;
    let len = buf.len();
    if len % AES_BLOCK != 0 || len < CIPHERTEXT_LEN_MIN {
        return Err(OaError::CiphertextLength { len });
    }
    open(key, &mut buf);
    let msg_len = message_len(unpad(&buf)?, expected_appid)?;
    // The message moves to the front of the buffer it was decrypted in: no second copy.
    buf.truncate(HEADER_LEN + msg_len);
    buf.drain(..HEADER_LEN);
    String::from_utf8(buf).map_err(|_| OaError::NotUtf8)
}

/// The length of the message inside the unpadded plaintext `content`, once its header and
/// AppID check out.
fn message_len(content: &[u8], expected_appid: &str) -> Result<usize, OaError> {
    let (header, rest) = content
        .split_at_checked(HEADER_LEN)
        .ok_or(OaError::Truncated)?;
    let (_random, length_field) = header
        .split_first_chunk::<RANDOM_PREFIX_LEN>()
        .ok_or(OaError::Truncated)?;
    let length_field: [u8; LENGTH_FIELD_LEN] =
        length_field.try_into().map_err(|_| OaError::Truncated)?;
    let declared = u32::from_be_bytes(length_field);
    let out_of_range = OaError::LengthOutOfRange {
        declared,
        available: rest.len(),
    };
    let msg_len = usize::try_from(declared).map_err(|_| out_of_range.clone())?;
    let (_msg, appid) = rest.split_at_checked(msg_len).ok_or(out_of_range)?;
    if appid != expected_appid.as_bytes() {
        return Err(OaError::ForeignAppId);
    }
    Ok(msg_len)
}

/// AES-256-CBC encryption in place, no padding; `buf` is whole 16-byte blocks.
fn seal(key: &AesKey, buf: &mut [u8]) {
    let (blocks, tail) = Block::slice_as_chunks_mut(buf);
    debug_assert!(tail.is_empty());
    cbc::Encryptor::inner_iv_init(key.encrypt.clone(), &key.iv.into()).encrypt_blocks(blocks);
}

/// AES-256-CBC decryption in place, no padding; a partial last block is left as it is (callers
/// check the length first).
fn open(key: &AesKey, buf: &mut [u8]) {
    let (blocks, tail) = Block::slice_as_chunks_mut(buf);
    debug_assert!(tail.is_empty());
    cbc::Decryptor::inner_iv_init(key.decrypt.clone(), &key.iv.into()).decrypt_blocks(blocks);
}

#[cfg(test)]
mod tests {
    use super::super::tests::cases;
    use super::super::verify_msg_signature;
    use super::*;
    use crate::wechat::xml;
    use proptest::prelude::*;
    use serde_json::Value;

    fn input<'a>(case: &'a Value, name: &str) -> &'a str {
        case["inputs"][name]
            .as_str()
            .unwrap_or_else(|| panic!("{}: inputs.{name}", case["id"]))
    }

    fn key_of(case: &Value) -> AesKey {
        AesKey::from_encoding_aes_key(input(case, "encoding_aes_key")).unwrap()
    }

    fn sample_key() -> AesKey {
        AesKey::from_encoding_aes_key("jWmYm7qr5nMoAUwZRjGtBxmz3KA1tkAj3ykkR6q2B2C").unwrap()
    }

    /// Encrypts raw plaintext bytes (already padded or deliberately not) for negative cases.
    fn seal_raw(key: &AesKey, mut plain: Vec<u8>) -> String {
        seal(key, &mut plain);
        STANDARD.encode(plain)
    }

    fn plaintext(declared_len: u32, msg: &[u8], appid: &str) -> Vec<u8> {
        let mut plain = vec![7u8; RANDOM_PREFIX_LEN];
        plain.extend_from_slice(&declared_len.to_be_bytes());
        plain.extend_from_slice(msg);
        plain.extend_from_slice(appid.as_bytes());
        plain
    }

    #[test]
    fn every_aes_decrypt_vector_decrypts_to_its_message() {
        let cases = cases("aes_decrypt");
        assert_eq!(cases.len(), 8);
        for case in &cases {
            let id = &case["id"];
            let expected = &case["expected"];
            let encrypt = input(case, "encrypt");
            let appid = input(case, "appid");
            assert_eq!(expected["receive_id"].as_str(), Some(appid), "{id}");
            let msg = decrypt(&key_of(case), encrypt, appid).unwrap();
            assert_eq!(Some(msg.as_str()), expected["msg"].as_str(), "{id}");
            assert_eq!(expected["msg_len"].as_u64(), Some(msg.len() as u64), "{id}");
            let [token, timestamp, nonce, signature] =
                ["token", "timestamp", "nonce", "msg_signature"].map(|k| input(case, k));
            assert_eq!(
                verify_msg_signature(token, timestamp, nonce, encrypt, signature),
                Ok(()),
                "{id}"
            );
            if let Some(body) = case["inputs"]["post_body"].as_str() {
                let fields = xml::parse(body.as_bytes()).unwrap();
                assert_eq!(fields["Encrypt"], encrypt, "{id}");
            }
        }
    }

    #[test]
    fn every_encrypt_vector_matches_exactly_and_decrypts_back() {
        let cases = cases("aes_encrypt_roundtrip");
        assert_eq!(cases.len(), 5);
        for case in &cases {
            let id = &case["id"];
            let key = key_of(case);
            let (msg, appid) = (input(case, "msg"), input(case, "appid"));
            let prefix: [u8; 16] = input(case, "random_prefix").as_bytes().try_into().unwrap();
            let encrypted = encrypt(&key, msg, appid, prefix);
            assert_eq!(
                Some(encrypted.as_str()),
                case["expected"]["encrypt"].as_str(),
                "{id}"
            );
            assert_eq!(decrypt(&key, &encrypted, appid).as_deref(), Ok(msg), "{id}");
        }
    }

    #[test]
    fn a_foreign_appid_is_refused() {
        let key = sample_key();
        let encrypted = encrypt(&key, "<xml/>", "wx-other", [1; 16]);
        assert_eq!(
            decrypt(&key, &encrypted, "wx5823bf96d3bd56c7"),
            Err(OaError::ForeignAppId)
        );
        assert_eq!(decrypt(&key, &encrypted, ""), Err(OaError::ForeignAppId));
        assert_eq!(
            decrypt(&key, &encrypted, "wx-othe"),
            Err(OaError::ForeignAppId)
        );
    }

    #[test]
    fn the_wrong_key_does_not_yield_the_message() {
        let encrypted = encrypt(&sample_key(), "<xml>hello</xml>", "wx1", [2; 16]);
        let other =
            AesKey::from_encoding_aes_key("abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG").unwrap();
        assert!(decrypt(&other, &encrypted, "wx1").is_err());
    }

    #[test]
    fn an_encoding_aes_key_of_the_wrong_size_or_alphabet_is_refused() {
        let good = "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG";
        assert!(AesKey::from_encoding_aes_key(good).is_ok());
        assert_eq!(
            AesKey::from_encoding_aes_key(&good[..42]).err(),
            Some(OaError::KeyLength { len: 42 })
        );
        assert_eq!(
            AesKey::from_encoding_aes_key(&format!("{good}=")).err(),
            Some(OaError::KeyLength { len: 44 })
        );
        assert_eq!(
            AesKey::from_encoding_aes_key("").err(),
            Some(OaError::KeyLength { len: 0 })
        );
        let bad = format!("{}!", &good[..42]);
        assert_eq!(
            AesKey::from_encoding_aes_key(&bad).err(),
            Some(OaError::KeyNotBase64)
        );
        let short = format!("{}=", &good[..42]);
        assert_eq!(
            AesKey::from_encoding_aes_key(&short).err(),
            Some(OaError::KeyNotBase64)
        );
        let wide = format!("{}é", &good[..42]);
        assert_eq!(
            AesKey::from_encoding_aes_key(&wide).err(),
            Some(OaError::KeyNotBase64)
        );
    }

    #[test]
    fn the_key_never_shows_in_debug_output() {
        let shown = format!("{:?}", sample_key());
        assert_eq!(shown, "AesKey(***)");
    }

    #[test]
    fn ciphertext_that_is_not_base64_or_not_whole_blocks_is_refused() {
        let key = sample_key();
        assert_eq!(decrypt(&key, "not base64!", "wx"), Err(OaError::NotBase64));
        assert_eq!(
            decrypt(&key, "", "wx"),
            Err(OaError::CiphertextLength { len: 0 })
        );
        let short = STANDARD.encode([0u8; 16]);
        assert_eq!(
            decrypt(&key, &short, "wx"),
            Err(OaError::CiphertextLength { len: 16 })
        );
        let ragged = STANDARD.encode([0u8; 33]);
        assert_eq!(
            decrypt(&key, &ragged, "wx"),
            Err(OaError::CiphertextLength { len: 33 })
        );
        let huge = "A".repeat(MAX_BODY + 4);
        assert_eq!(decrypt(&key, &huge, "wx"), Err(OaError::TooLarge));
    }

    #[test]
    fn a_ciphertext_with_bad_padding_is_refused() {
        let key = sample_key();
        let mut zero = plaintext(0, b"", "wx");
        zero.resize(32, 0);
        assert_eq!(
            decrypt(&key, &seal_raw(&key, zero), "wx"),
            Err(OaError::BadPadding)
        );
    }

    #[test]
    fn a_declared_length_beyond_the_text_is_refused() {
        let key = sample_key();
        let mut plain = plaintext(1000, b"<xml/>", "wx");
        pad(&mut plain);
        assert_eq!(
            decrypt(&key, &seal_raw(&key, plain), "wx"),
            Err(OaError::LengthOutOfRange {
                declared: 1000,
                available: 8
            })
        );
        let mut max = plaintext(u32::MAX, b"", "");
        pad(&mut max);
        assert!(matches!(
            decrypt(&key, &seal_raw(&key, max), ""),
            Err(OaError::LengthOutOfRange { .. })
        ));
    }

    #[test]
    fn a_text_shorter_than_its_header_is_refused() {
        let key = sample_key();
        let mut short = vec![1u8; 10];
        pad(&mut short);
        assert_eq!(
            decrypt(&key, &seal_raw(&key, short), ""),
            Err(OaError::Truncated)
        );
    }

    #[test]
    fn a_message_that_is_not_utf8_is_refused() {
        let key = sample_key();
        let mut plain = plaintext(2, &[0xff, 0xfe], "wx");
        pad(&mut plain);
        assert_eq!(
            decrypt(&key, &seal_raw(&key, plain), "wx"),
            Err(OaError::NotUtf8)
        );
    }

    proptest! {
        #[test]
        fn decrypt_never_panics_on_any_text(text in ".{0,400}") {
            let _ = decrypt(&sample_key(), &text, "wx5823bf96d3bd56c7");
        }

        #[test]
        fn decrypt_never_panics_on_any_base64_bytes(
            bytes in proptest::collection::vec(any::<u8>(), 0..400),
        ) {
            let _ = decrypt(&sample_key(), &STANDARD.encode(&bytes), "wx5823bf96d3bd56c7");
        }

        #[test]
        fn decrypt_never_panics_on_any_padded_plaintext(
            bytes in proptest::collection::vec(any::<u8>(), 0..200),
        ) {
            let key = sample_key();
            let mut plain = bytes;
            plain.resize(plain.len().div_ceil(AES_BLOCK).max(2) * AES_BLOCK, 0);
            let _ = decrypt(&key, &seal_raw(&key, plain), "wx");
        }

        #[test]
        fn encrypt_then_decrypt_returns_the_message(
            msg in "(<[A-Za-z]{1,8}>[^<]{0,40}</[A-Za-z]{1,8}>|.){0,20}",
            appid in "[A-Za-z0-9_]{0,32}",
            prefix in any::<[u8; 16]>(),
        ) {
            let key = sample_key();
            let encrypted = encrypt(&key, &msg, &appid, prefix);
            prop_assert_eq!(decrypt(&key, &encrypted, &appid), Ok(msg));
        }
    }
}
