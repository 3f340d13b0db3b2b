//! Reasons a passkey request failed, and the HTTP status, code and sentence of each.

use latchkey_sdk::ApiError;
use latchkey_sdk::capability::{SessionError, StoreError, TokenError};
use latchkey_sdk::salvo::http::StatusCode;
use webauthn_rs_core::error::WebauthnError;

use crate::quirks::Quirk;

/// A failed passkey request.
#[derive(Debug, thiserror::Error)]
pub(crate) enum PasskeyError {
    /// The `displayName` query parameter is missing or breaks a rule.
    #[error("query parameter displayName {reason}")]
    InvalidDisplayName {
        /// The broken rule, such as "is missing".
        reason: &'static str,
    },
    /// The credential's `id` does not decode to its `rawId`.
    #[error("credential id does not match rawId")]
    CredentialIdMismatch,
    /// The attested credential ID differs from `rawId`.
    #[error("attested credential id does not match rawId")]
    AttestedIdMismatch,
    /// The attested credential ID is outside 16 to 1023 bytes.
    #[error("credential id is {length} bytes, outside 16 to 1023")]
    CredentialIdLength {
        /// Its length in bytes.
        length: usize,
    },
    /// The credential `type` is not `public-key`.
    #[error("credential type {found:?} is not public-key")]
    CredentialType {
        /// The type sent.
        found: String,
    },
    /// `clientDataJSON` is not JSON with a base64url `challenge`.
    #[error("clientDataJSON has no readable challenge")]
    ClientData,
    /// The authenticator data is shorter than its fixed part.
    #[error("authenticatorData is {length} bytes, shorter than 37")]
    AuthenticatorData {
        /// Its length.
        length: usize,
    },
    /// No live ceremony has this challenge: it expired, was used, or was never issued.
    #[error("no ceremony for this challenge")]
    UnknownChallenge,
    /// webauthn-rs-core rejected the response.
    #[error("webauthn verification failed")]
    Verification(#[source] WebauthnError),
    /// A credential with this ID is already registered.
    #[error("credential {credential_id} already exists")]
    CredentialExists {
        /// The canonical credential ID.
        credential_id: String,
    },
    /// No credential with this ID is registered.
    #[error("credential {credential_id} is not registered")]
    UnknownCredential {
        /// The canonical credential ID.
        credential_id: String,
    },
    /// The assertion has no `userHandle`, which usernameless login needs.
    #[error("userHandle is missing")]
    MissingUserHandle,
    /// The `userHandle` is not the credential's owner.
    #[error("userHandle does not match the owner of credential {credential_id}")]
    UserHandleMismatch {
        /// The canonical credential ID.
        credential_id: String,
    },
    /// The flags claim a backup without backup eligibility.
    #[error("authenticator data is backed up but not backup eligible")]
    BackupStateWithoutEligibility,
    /// The quirk policy rejects what the authenticator did.
    #[error("authenticator quirk {} rejected by policy", .quirk.name())]
    QuirkRejected {
        /// The quirk.
        quirk: Quirk,
    },
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// A compare-and-swap loop on `key` lost every attempt to concurrent writers.
    #[error("record {key} kept changing during the update")]
    StoreContention {
        /// The key of the record.
        key: String,
    },
    /// A stored record did not decode, or a record could not be encoded.
    #[error("record {key} could not be encoded or decoded")]
    Record {
        /// The key of the record.
        key: String,
        /// The JSON error.
        #[source]
        source: serde_json::Error,
    },
    /// Ceremony options could not be serialized.
    #[error("ceremony options could not be serialized")]
    Options(#[source] serde_json::Error),
    /// A key that should be fresh, such as a random user ID, was already taken.
    #[error("store key {key} already exists")]
    KeyTaken {
        /// The key.
        key: String,
    },
    /// The token issuer failed.
    #[error("token issuing failed")]
    Token(#[source] TokenError),
    /// The session issuer failed.
    #[error("session start failed")]
    Session(#[source] SessionError),
    /// A passkey name breaks a rule.
    #[error("field name {reason}")]
    InvalidCredentialName {
        /// The broken rule.
        reason: &'static str,
    },
    /// The signed-in user has no account record.
    #[error("account not found")]
    AccountNotFound,
    /// The signed-in user has no passkey with this ID.
    #[error("credential not found in the account")]
    CredentialNotFound,
    /// Deleting the passkey would leave the account without one.
    #[error("last credential of the account")]
    LastCredential,
    /// The app site association was requested but `apple_app_id` is not set.
    #[error("apple_app_id is not configured")]
    AppleAppIdNotConfigured,
}

impl From<PasskeyError> for ApiError {
    /// Maps the failure to its status, code and client sentence, and logs it once: at
    /// debug level for a client's mistake, at error level for the server's.
    fn from(error: PasskeyError) -> Self {
        if let PasskeyError::Store(store) = error {
            return ApiError::from(store);
        }
        if let PasskeyError::Session(SessionError::Store(store)) = error {
            return ApiError::from(store);
        }
        let api = request_error(&error);
        if api.status().is_server_error() {
            tracing::error!(error = %latchkey_sdk::error_chain(&error), "passkey request failed");
        } else {
            tracing::debug!(
                code = api.code(),
                reason = %latchkey_sdk::error_chain(&error),
                "passkey request rejected"
            );
        }
        api
    }
}

fn request_error(error: &PasskeyError) -> ApiError {
    use PasskeyError as E;
    match error {
        E::InvalidDisplayName { reason } => ApiError::bad_request(
            "invalid_display_name",
            format!(
                "query parameter displayName {reason}: send 1 to 64 characters without control characters"
            ),
        ),
        E::CredentialIdMismatch => ApiError::bad_request(
            "credential_id_mismatch",
            "credential id does not match rawId: send the credential as the browser returned it",
        ),
        E::AttestedIdMismatch => ApiError::bad_request(
            "credential_id_mismatch",
            "rawId does not match the credential ID in the attestation: send the credential as the browser returned it",
        ),
        E::CredentialIdLength { .. } => ApiError::bad_request(
            "invalid_response",
            "the credential ID must be 16 to 1023 bytes: register with a conforming authenticator",
        ),
        E::CredentialType { .. } => {
            ApiError::bad_request("invalid_response", "credential type must be \"public-key\"")
        }
        E::ClientData => ApiError::bad_request(
            "invalid_response",
            "response.clientDataJSON must be base64url JSON with a challenge",
        ),
        E::AuthenticatorData { .. } => ApiError::bad_request(
            "invalid_response",
            "response.authenticatorData is too short to hold flags and a counter",
        ),
        E::UnknownChallenge => ApiError::bad_request(
            "unknown_challenge",
            "the challenge is unknown, expired or already used: request a new challenge and retry",
        ),
        E::CredentialExists { .. } => ApiError::bad_request(
            "credential_exists",
            "this passkey is already registered: log in with it instead",
        ),
        E::UnknownCredential { .. } => ApiError::unauthorized(
            "unknown_credential",
            "this passkey is not registered here: register it first",
        ),
        E::MissingUserHandle => ApiError::unauthorized(
            "missing_user_handle",
            "response.userHandle is missing: log in with a discoverable passkey",
        ),
        E::UserHandleMismatch { .. } => ApiError::unauthorized(
            "user_handle_mismatch",
            "response.userHandle does not belong to this passkey",
        ),
        E::BackupStateWithoutEligibility => backup_state_error(),
        E::QuirkRejected { quirk } => quirk_error(*quirk),
        E::InvalidCredentialName { reason } => ApiError::bad_request(
            "invalid_credential_name",
            format!("field name {reason}: send 1 to 64 characters without control characters"),
        ),
        E::AccountNotFound => {
            ApiError::not_found("the account of this token no longer exists: register again")
        }
        E::CredentialNotFound => ApiError::not_found(
            "this account has no passkey with that ID: list them at /api/auth/me",
        ),
        E::LastCredential => ApiError::new(
            StatusCode::CONFLICT,
            "last_credential",
            "this is the account's only passkey: add another before deleting it",
        ),
        E::AppleAppIdNotConfigured => {
            ApiError::not_found("no Apple app ID is configured for this server")
        }
        E::StoreContention { .. } => ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "store_busy",
            "the server is busy updating this passkey: retry later",
        ),
        E::Token(_) | E::Session(_) => ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "token_unavailable",
            "the server cannot issue a token right now: retry later",
        ),
        E::Verification(cause) => verification_error(cause),
        // A store error returns through `ApiError::from(StoreError)` before this match.
        E::Record { .. } | E::Options(_) | E::KeyTaken { .. } | E::Store(_) => ApiError::internal(),
    }
}

fn backup_state_error() -> ApiError {
    ApiError::bad_request(
        "invalid_backup_state",
        "the authenticator reports a backup without backup eligibility, which is invalid",
    )
}

fn quirk_error(quirk: Quirk) -> ApiError {
    match quirk {
        Quirk::CounterRegression => ApiError::unauthorized(
            "counter_regression",
            "the passkey's signature counter went backwards, which may mean it was cloned",
        ),
        Quirk::CounterZero => ApiError::unauthorized(
            "counter_zero",
            "this server does not accept passkeys without a signature counter",
        ),
        Quirk::BackupEligibilityChange => ApiError::unauthorized(
            "backup_eligibility_change",
            "the passkey's backup eligibility changed since registration: register it again",
        ),
    }
}

/// Maps a webauthn-rs-core rejection. Every failure the core reports here comes from the
/// client's response, so none is a server error.
fn verification_error(error: &WebauthnError) -> ApiError {
    use WebauthnError as W;
    match error {
        W::MismatchedChallenge => ApiError::bad_request(
            "challenge_mismatch",
            "response.clientDataJSON carries a different challenge: request a new challenge and retry",
        ),
        W::InvalidRPOrigin | W::CredentialCrossOrigin => ApiError::bad_request(
            "origin_mismatch",
            "the ceremony ran on an origin this server does not allow",
        ),
        W::InvalidRPIDHash => ApiError::bad_request(
            "rp_id_mismatch",
            "the passkey was made for a different relying party ID",
        ),
        W::UserNotPresent => ApiError::bad_request(
            "user_presence_required",
            "the authenticator did not confirm user presence: touch or unlock it and retry",
        ),
        W::UserNotVerified => ApiError::bad_request(
            "user_verification_required",
            "the authenticator did not verify the user: use a PIN or biometric and retry",
        ),
        W::CredentialMayNotBeHardwareBound => backup_state_error(),
        W::AuthenticationFailure | W::SignatureInvalid => {
            ApiError::unauthorized("invalid_signature", "the passkey signature is invalid")
        }
        W::CredentialNotFound => ApiError::unauthorized(
            "unknown_credential",
            "this passkey is not registered here: register it first",
        ),
        W::CredentialPossibleCompromise => quirk_error(Quirk::CounterRegression),
        W::CredentialBackupEligibilityInconsistent => quirk_error(Quirk::BackupEligibilityChange),
        W::CredentialAlteredAlgFromRequest | W::CredentialExcludedFromRequest => {
            ApiError::bad_request(
                "unsupported_algorithm",
                "the passkey uses an algorithm this server did not offer",
            )
        }
        W::AttestationNotSupported => ApiError::bad_request(
            "invalid_attestation",
            "the attestation format is not supported: request attestation \"none\"",
        ),
        error if is_attestation_error(error) => ApiError::bad_request(
            "invalid_attestation",
            "the attestation statement is invalid",
        ),
        _ => ApiError::bad_request(
            "invalid_response",
            "the authenticator response is malformed: send it as the browser returned it",
        ),
    }
}

fn is_attestation_error(error: &WebauthnError) -> bool {
    use WebauthnError as W;
    matches!(
        error,
        W::AttestationStatementMapInvalid
            | W::AttestationStatementResponseMissing
            | W::AttestationStatementResponseInvalid
            | W::AttestationStatementSigMissing
            | W::AttestationStatementSigInvalid
            | W::AttestationStatementVerMissing
            | W::AttestationStatementVerInvalid
            | W::AttestationStatementVerUnsupported
            | W::AttestationStatementX5CMissing
            | W::AttestationStatementX5CInvalid
            | W::AttestationStatementAlgMissing
            | W::AttestationStatementCertInfoMissing
            | W::AttestationStatementMissingExtension
            | W::AttestationStatementPubAreaMissing
            | W::AttestationStatementAlgMismatch
            | W::AttestationStatementAlgInvalid
            | W::AttestationTrustFailure
            | W::AttestationCertificateAAGUIDMismatch
            | W::AttestationCertificateNonceMismatch
            | W::AttestationCertificateRequirementsNotMet
            | W::AttestationCredentialSubjectKeyMismatch
            | W::AttestationTpmStInvalid
            | W::AttestationTpmPubAreaMismatch
            | W::AttestationTpmExtraDataInvalid
            | W::AttestationTpmExtraDataMismatch
            | W::AttestationTpmPubAreaHashUnknown
            | W::AttestationTpmPubAreaHashInvalid
            | W::AttestationTpmAttestCertifyInvalid
            | W::CertificatePublicKeyInvalid
            | W::CertificatePublicKeyAlgorthimMismatch
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn status_and_code(error: PasskeyError) -> (u16, String) {
        let api = ApiError::from(error);
        (api.status().as_u16(), api.code().to_owned())
    }

    #[test]
    fn client_mistakes_are_400() {
        let cases = [
            (
                PasskeyError::InvalidDisplayName { reason: "is empty" },
                "invalid_display_name",
            ),
            (PasskeyError::CredentialIdMismatch, "credential_id_mismatch"),
            (PasskeyError::UnknownChallenge, "unknown_challenge"),
            (PasskeyError::ClientData, "invalid_response"),
            (
                PasskeyError::CredentialIdLength { length: 1024 },
                "invalid_response",
            ),
            (
                PasskeyError::BackupStateWithoutEligibility,
                "invalid_backup_state",
            ),
            (
                PasskeyError::CredentialExists {
                    credential_id: "AA".into(),
                },
                "credential_exists",
            ),
        ];
        for (error, code) in cases {
            assert_eq!(status_and_code(error), (400, code.to_owned()));
        }
    }

    #[test]
    fn failed_authentication_is_401() {
        let cases = [
            (
                PasskeyError::UnknownCredential {
                    credential_id: "AA".into(),
                },
                "unknown_credential",
            ),
            (PasskeyError::MissingUserHandle, "missing_user_handle"),
            (
                PasskeyError::UserHandleMismatch {
                    credential_id: "AA".into(),
                },
                "user_handle_mismatch",
            ),
            (
                PasskeyError::Verification(WebauthnError::AuthenticationFailure),
                "invalid_signature",
            ),
            (
                PasskeyError::QuirkRejected {
                    quirk: Quirk::CounterRegression,
                },
                "counter_regression",
            ),
        ];
        for (error, code) in cases {
            assert_eq!(status_and_code(error), (401, code.to_owned()));
        }
    }

    #[test]
    fn verification_failures_mapped() {
        let cases = [
            (WebauthnError::InvalidRPOrigin, 400, "origin_mismatch"),
            (WebauthnError::InvalidRPIDHash, 400, "rp_id_mismatch"),
            (
                WebauthnError::UserNotVerified,
                400,
                "user_verification_required",
            ),
            (WebauthnError::UserNotPresent, 400, "user_presence_required"),
            (
                WebauthnError::CredentialMayNotBeHardwareBound,
                400,
                "invalid_backup_state",
            ),
            (WebauthnError::SignatureInvalid, 401, "invalid_signature"),
            (WebauthnError::ParseNOMFailure, 400, "invalid_response"),
            (
                WebauthnError::AttestationStatementSigInvalid,
                400,
                "invalid_attestation",
            ),
        ];
        for (cause, status, code) in cases {
            let error = PasskeyError::Verification(cause);
            assert_eq!(status_and_code(error), (status, code.to_owned()));
        }
    }

    #[test]
    fn server_failures_never_leak_cause() {
        let error = PasskeyError::KeyTaken {
            key: "passkey:user:AA".into(),
        };
        let api = ApiError::from(error);
        assert_eq!(api.status().as_u16(), 500);
        assert!(!api.message().contains("passkey:user"));
    }

    #[test]
    fn missing_apple_app_id_is_404() {
        assert_eq!(
            status_and_code(PasskeyError::AppleAppIdNotConfigured),
            (404, "not_found".to_owned())
        );
    }
}
