//! Generation of new RSA private keys.

use rsa::RsaPrivateKey;
use rsa::rand_core::OsRng;

use crate::error::KeySetError;

/// RSA modulus sizes that generation accepts, in bits.
pub(crate) const SUPPORTED_BITS: [usize; 3] = [2048, 3072, 4096];

/// Generates an RSA private key with a `bits`-bit modulus and public exponent 65537.
///
/// Blocking and slow, because the prime search is random: a 2048-bit key typically takes
/// tens to a few hundred milliseconds of CPU in a release build, and larger keys several
/// times longer. Callers on an async runtime run it with `spawn_blocking`.
///
/// # Errors
///
/// [`KeySetError::UnsupportedKeySize`] for a size outside [`SUPPORTED_BITS`], and
/// [`KeySetError::Generation`] if the RSA crate fails.
pub(crate) fn generate_private_key(bits: usize) -> Result<RsaPrivateKey, KeySetError> {
    if !SUPPORTED_BITS.contains(&bits) {
        return Err(KeySetError::UnsupportedKeySize { bits });
    }
    RsaPrivateKey::new(&mut OsRng, bits).map_err(KeySetError::Generation)
}
