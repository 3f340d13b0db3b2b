//! Errors of the key set: generating, encoding and reading it back from the store.
//!
//! No route of this plugin fails on client input, so there is no HTTP mapping here: token
//! errors use the SDK's [`TokenError`](latchkey_sdk::capability::TokenError) and
//! [`VerifyError`](latchkey_sdk::capability::VerifyError).

/// Failure to generate, encode or parse a key set.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum KeySetError {
    /// The stored bytes are not JSON of the key set shape.
    #[error("stored key set is not JSON of the expected shape")]
    Shape(#[source] serde_json::Error),
    /// The stored key set has a format version this build does not read.
    #[error("stored key set has format version {found}: expected {expected}")]
    UnsupportedVersion {
        /// The version in the store.
        found: u32,
        /// The version this build reads.
        expected: u32,
    },
    /// A private key does not decrypt: another key encryption secret, or changed bytes.
    #[error(
        "private key of {kid:?} does not decrypt: the key encryption secret (JWT_SECRET) \
         differs from the one it was stored with, or the stored key set was altered"
    )]
    Undecryptable {
        /// The key's ID.
        kid: String,
    },
    /// The stored key set's salt is missing or not 16 bytes of base64.
    #[error("stored key set has no valid salt")]
    Salt,
    /// The operating system's random source failed.
    #[error("the random source failed")]
    Random,
    /// Every key of the stored set has retired.
    #[error("stored key set publishes no key: every key has retired")]
    NothingPublished,
    /// The key set contains no key.
    #[error("key set contains no keys")]
    Empty,
    /// Two keys have the same `kid`.
    #[error("key {kid:?} appears more than once in the key set")]
    DuplicateKid {
        /// The repeated key ID.
        kid: String,
    },
    /// A key is for an algorithm this build does not sign or verify with.
    #[error("key {kid:?} has unsupported algorithm {algorithm:?}: expected RS256 or ES256")]
    UnsupportedAlgorithm {
        /// The key's ID.
        kid: String,
        /// The algorithm it names.
        algorithm: String,
    },
    /// A private key is not valid standard base64.
    #[error("private key of {kid:?} is not valid base64")]
    Base64 {
        /// The key's ID.
        kid: String,
        /// The decoding failure.
        #[source]
        source: base64::DecodeError,
    },
    /// A private key is not a PKCS#8 DER RSA private key.
    #[error("private key of {kid:?} is not a valid PKCS#8 RSA private key")]
    Pkcs8 {
        /// The key's ID.
        kid: String,
        /// The parsing failure.
        #[source]
        source: rsa::pkcs8::Error,
    },
    /// A key's modulus is shorter than RS256 allows.
    #[error("key {kid:?} has a {bits}-bit modulus: expected at least 2048 bits")]
    KeyTooShort {
        /// The key's ID.
        kid: String,
        /// Its modulus size.
        bits: usize,
    },
    /// A key size that generation does not support.
    #[error("cannot generate a {bits}-bit RSA key: expected 2048, 3072 or 4096 bits")]
    UnsupportedKeySize {
        /// The requested size.
        bits: usize,
    },
    /// The RSA crate failed to generate a key.
    #[error("RSA key generation failed")]
    Generation(#[source] rsa::Error),
    /// A private key could not be encoded as PKCS#8, the form it is signed with and
    /// stored in.
    #[error("private key of {kid:?} could not be encoded as PKCS#8")]
    Encoding {
        /// The key's ID.
        kid: String,
        /// The encoding failure.
        #[source]
        source: rsa::pkcs8::Error,
    },
    /// `ring` does not sign with this private key. It accepts two primes of equal size
    /// that are a multiple of 512 bits, so a 2048-, 3072- or 4096-bit modulus, and a public
    /// exponent from 65537 to 33 bits.
    #[error(
        "private key of {kid:?} is not accepted for RS256 signing: expected a 2048-, 3072- \
         or 4096-bit modulus of two primes and a public exponent of at least 65537"
    )]
    KeyRejected {
        /// The key's ID.
        kid: String,
        /// The reason `ring` rejected the key.
        #[source]
        source: ring::error::KeyRejected,
    },
}
