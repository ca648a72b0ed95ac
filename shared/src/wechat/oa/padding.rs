//! PKCS#7 padding to **32**-byte blocks, WeChat's safe-mode quirk (DESIGN §6): AES's block is
//! 16 bytes, so the cipher runs without padding and this pads and strips. Pad lengths 17..=32
//! are normal here; a 16-byte unpadder would wrongly refuse them.

use super::OaError;

/// WeChat pads to whole 32-byte blocks, not AES's 16.
pub(super) const PAD_BLOCK: usize = 32;

/// Appends 1..=32 bytes, each equal to their count, so the length becomes a whole number of
/// 32-byte blocks (a full block of 32 when it already was).
pub(super) fn pad(plain: &mut Vec<u8>) {
    let pad_len = PAD_BLOCK - plain.len() % PAD_BLOCK;
    // Cannot fail: pad_len is 1..=32.
    let pad_byte = u8::try_from(pad_len).unwrap_or(u8::MAX);
    plain.resize(plain.len() + pad_len, pad_byte);
    debug_assert_eq!(plain.len() % PAD_BLOCK, 0);
}

/// Strips the padding strictly: the last byte is 1..=32, no longer than the text, and every
/// padding byte equals it; anything else is `OaError::BadPadding`. Never panics.
pub(super) fn unpad(plain: &[u8]) -> Result<&[u8], OaError> {
    let (&pad_byte, _) = plain.split_last().ok_or(OaError::BadPadding)?;
    let pad_len = usize::from(pad_byte);
    if !(1..=PAD_BLOCK).contains(&pad_len) {
        return Err(OaError::BadPadding);
    }
    let cut = plain
        .len()
        .checked_sub(pad_len)
        .ok_or(OaError::BadPadding)?;
    let (content, padding) = plain.split_at_checked(cut).ok_or(OaError::BadPadding)?;
    if padding.iter().any(|&b| b != pad_byte) {
        return Err(OaError::BadPadding);
    }
    Ok(content)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn padded(content_len: usize, pad_byte: u8, pad_len: usize) -> Vec<u8> {
        let mut plain = vec![b'x'; content_len];
        plain.resize(content_len + pad_len, pad_byte);
        plain
    }

    #[test]
    fn a_full_block_of_padding_is_added_when_the_text_is_aligned() {
        let mut plain = vec![0u8; 64];
        pad(&mut plain);
        assert_eq!(plain.len(), 96);
        assert!(plain[64..].iter().all(|&b| b == 32));
        assert_eq!(unpad(&plain), Ok(&[0u8; 64][..]));
    }

    #[test]
    fn padding_between_17_and_32_bytes_is_accepted() {
        for pad_len in [1, 16, 17, 20, 31, 32] {
            let plain = padded(64 - pad_len, pad_len as u8, pad_len);
            assert_eq!(
                unpad(&plain),
                Ok(&[b'x'; 64][..64 - pad_len]),
                "pad {pad_len}"
            );
        }
    }

    #[test]
    fn padding_that_is_zero_too_long_uneven_or_longer_than_the_text_is_refused() {
        assert_eq!(unpad(&padded(31, 0, 1)), Err(OaError::BadPadding));
        assert_eq!(unpad(&padded(31, 33, 1)), Err(OaError::BadPadding));
        assert_eq!(unpad(&padded(0, 255, 32)), Err(OaError::BadPadding));
        let mut uneven = padded(22, 9, 9);
        uneven.push(10);
        assert_eq!(unpad(&uneven), Err(OaError::BadPadding));
        assert_eq!(unpad(&padded(0, 20, 10)), Err(OaError::BadPadding));
        assert_eq!(unpad(&[]), Err(OaError::BadPadding));
    }

    proptest! {
        #[test]
        fn pad_then_unpad_returns_the_text(
            text in proptest::collection::vec(any::<u8>(), 0..200),
        ) {
            let mut plain = text.clone();
            pad(&mut plain);
            prop_assert_eq!(plain.len() % PAD_BLOCK, 0);
            prop_assert!(plain.len() > text.len() && plain.len() <= text.len() + PAD_BLOCK);
            prop_assert_eq!(unpad(&plain), Ok(&text[..]));
        }

        #[test]
        fn unpad_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..100)) {
            let _ = unpad(&bytes);
        }
    }
}
