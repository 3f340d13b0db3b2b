//! Base64 as clients send it, and the one canonical form the plugin stores.
//!
//! WebAuthn JSON uses unpadded base64url, but some clients pad it or use the standard
//! alphabet. Identifiers are compared and stored as bytes re-encoded in canonical form,
//! so one credential spelled two ways never becomes two records.

use base64::Engine as _;
use base64::alphabet;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::engine::{DecodePaddingMode, GeneralPurpose, GeneralPurposeConfig};

const LENIENT: GeneralPurposeConfig =
    GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent);
const URL_SAFE_LENIENT: GeneralPurpose = GeneralPurpose::new(&alphabet::URL_SAFE, LENIENT);
const STANDARD_LENIENT: GeneralPurpose = GeneralPurpose::new(&alphabet::STANDARD, LENIENT);

/// Decodes base64url with or without padding, or standard base64 when the text contains `+`
/// or `/`. Returns `None` for anything else, such as a mix of both alphabets.
pub(crate) fn decode_lenient(text: &str) -> Option<Vec<u8>> {
    let standard = text.contains(['+', '/']);
    let engine = if standard {
        &STANDARD_LENIENT
    } else {
        &URL_SAFE_LENIENT
    };
    engine.decode(text).ok()
}

/// Encodes `bytes` as unpadded base64url, the form of every stored ID and key.
pub(crate) fn encode(bytes: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Bytes whose encodings use `-`, `_`, `+` and `/` and need padding.
    const BYTES: [u8; 4] = [0xFB, 0xEF, 0xFF, 0x01];

    #[test]
    fn canonical_form_is_unpadded_url_safe() {
        assert_eq!(encode(&BYTES), "--__AQ");
    }

    #[test]
    fn every_spelling_decodes_to_same_bytes() {
        for text in ["--__AQ", "--__AQ==", "++//AQ", "++//AQ=="] {
            assert_eq!(decode_lenient(text).as_deref(), Some(&BYTES[..]), "{text}");
        }
    }

    #[test]
    fn mixed_alphabets_rejected() {
        assert_eq!(decode_lenient("-+__AQ"), None);
    }

    #[test]
    fn invalid_characters_rejected() {
        assert_eq!(decode_lenient("not base64!"), None);
        assert_eq!(decode_lenient("AQ=A"), None);
    }

    #[test]
    fn empty_text_decodes_to_nothing() {
        assert_eq!(decode_lenient("").as_deref(), Some(&[][..]));
    }

    #[test]
    fn decode_then_encode_round_trips() {
        let bytes: Vec<u8> = (0..=255).collect();
        assert_eq!(decode_lenient(&encode(&bytes)), Some(bytes));
    }
}
