//! Authenticator quirks: rules that real authenticators break, and what to do when one
//! breaks them.
//!
//! Synced passkeys report a signature counter of 0 forever, and some password managers
//! change the backup eligible flag after registration. webauthn-rs-core rejects a counter
//! regression and any backup eligibility change except false to true, with no way to
//! choose otherwise. So the plugin reads the flags and counter from the authenticator data
//! itself, hands the core a credential copy that cannot trip those checks, and applies
//! the configured [`QuirkPolicy`] once the core has verified the signature.

use std::time::Duration;

use latchkey_sdk::capability::Store;
use serde::Deserialize;
use webauthn_rs_core::proto::Credential;

/// Time a quirk count lives after its first increment: a count covers at most 30 days.
const QUIRK_COUNT_TTL: Duration = Duration::from_secs(30 * 24 * 60 * 60);

/// Offset of the flags byte in authenticator data, after the 32-byte RP ID hash.
const FLAGS_OFFSET: usize = 32;
/// Offset of the 4-byte big-endian signature counter.
const COUNTER_OFFSET: usize = 33;
/// Length of authenticator data without attested credential data or extensions.
const MIN_AUTHENTICATOR_DATA_LEN: usize = 37;

const FLAG_USER_PRESENT: u8 = 0x01;
const FLAG_USER_VERIFIED: u8 = 0x04;
const FLAG_BACKUP_ELIGIBLE: u8 = 0x08;
const FLAG_BACKUP_STATE: u8 = 0x10;

/// The action taken on a quirk: config values `reject`, `warn` and `accept`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub(crate) enum QuirkAction {
    /// Fail the login.
    Reject,
    /// Allow the login and log a warning.
    Warn,
    /// Allow the login and log at debug level.
    Accept,
}

/// The action for each quirk, from `[plugins.passkey.quirks]`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct QuirkPolicy {
    /// Action for [`Quirk::CounterRegression`].
    pub(crate) counter_regression: QuirkAction,
    /// Action for [`Quirk::CounterZero`].
    pub(crate) counter_zero: QuirkAction,
    /// Action for [`Quirk::BackupEligibilityChange`].
    pub(crate) backup_eligibility_change: QuirkAction,
}

/// A rule broken by an authenticator.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Quirk {
    /// A nonzero counter not greater than the stored one, or a zero after a nonzero.
    CounterRegression,
    /// A counter that stays zero.
    CounterZero,
    /// A backup eligible flag different from the stored one.
    BackupEligibilityChange,
}

impl Quirk {
    /// Returns the config key of the quirk, also used in logs, store keys and error codes.
    pub(crate) fn name(self) -> &'static str {
        match self {
            Self::CounterRegression => "counter_regression",
            Self::CounterZero => "counter_zero",
            Self::BackupEligibilityChange => "backup_eligibility_change",
        }
    }
}

/// The flags and signature counter of an assertion's authenticator data.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct AuthenticatorData {
    /// UP flag.
    pub(crate) user_present: bool,
    /// UV flag.
    pub(crate) user_verified: bool,
    /// BE flag.
    pub(crate) backup_eligible: bool,
    /// BS flag.
    pub(crate) backup_state: bool,
    /// Signature counter.
    pub(crate) counter: u32,
}

impl AuthenticatorData {
    /// Parses the flags (byte 32) and counter (bytes 33 to 36, big-endian) of `bytes`, or
    /// returns `None` when it is shorter than 37 bytes.
    pub(crate) fn parse(bytes: &[u8]) -> Option<Self> {
        if bytes.len() < MIN_AUTHENTICATOR_DATA_LEN {
            return None;
        }
        let flags = bytes[FLAGS_OFFSET];
        let counter_bytes: [u8; 4] = bytes[COUNTER_OFFSET..MIN_AUTHENTICATOR_DATA_LEN]
            .try_into()
            .ok()?;
        Some(Self {
            user_present: flags & FLAG_USER_PRESENT != 0,
            user_verified: flags & FLAG_USER_VERIFIED != 0,
            backup_eligible: flags & FLAG_BACKUP_ELIGIBLE != 0,
            backup_state: flags & FLAG_BACKUP_STATE != 0,
            counter: u32::from_be_bytes(counter_bytes),
        })
    }

    /// Returns whether the flags claim a backup without backup eligibility, which the
    /// WebAuthn specification forbids.
    pub(crate) fn backed_up_without_eligibility(&self) -> bool {
        self.backup_state && !self.backup_eligible
    }
}

/// A quirk seen in one login, with the action the policy gives it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Finding {
    /// The quirk.
    pub(crate) quirk: Quirk,
    /// The action the policy gives it.
    pub(crate) action: QuirkAction,
}

/// The quirks one login shows against the stored credential.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Assessment {
    /// Each quirk seen, at most one counter quirk and one backup quirk.
    pub(crate) findings: Vec<Finding>,
}

impl Assessment {
    /// Returns the first quirk whose action is reject.
    pub(crate) fn rejection(&self) -> Option<Quirk> {
        self.findings
            .iter()
            .find(|finding| finding.action == QuirkAction::Reject)
            .map(|finding| finding.quirk)
    }

    /// Logs each finding and counts it in the store under `passkey:quirk:<name>`.
    ///
    /// A failed count is logged and otherwise ignored, because a metric must not fail a
    /// login that verified.
    pub(crate) async fn report(&self, store: &dyn Store, credential_id: &str) {
        for finding in &self.findings {
            log_finding(finding, credential_id);
            let key = crate::record::quirk_count_key(finding.quirk);
            if let Err(error) = store.increment(&key, 1, QUIRK_COUNT_TTL).await {
                tracing::warn!(
                    quirk = finding.quirk.name(),
                    error = %latchkey_sdk::error_chain(&error),
                    "quirk count not stored"
                );
            }
        }
    }
}

fn log_finding(finding: &Finding, credential_id: &str) {
    let quirk = finding.quirk.name();
    match finding.action {
        QuirkAction::Warn => {
            tracing::warn!(quirk, credential_id, "authenticator quirk accepted");
        }
        QuirkAction::Accept => {
            tracing::debug!(quirk, credential_id, "authenticator quirk accepted");
        }
        QuirkAction::Reject => {
            tracing::debug!(
                quirk,
                credential_id,
                rejection = "login rejected by quirk policy",
                "authenticator quirk rejected"
            );
        }
    }
}

/// Compares `observed` with the stored `credential` and gives each quirk its action.
pub(crate) fn assess(
    credential: &Credential,
    observed: &AuthenticatorData,
    policy: &QuirkPolicy,
) -> Assessment {
    let mut findings = Vec::new();
    if let Some(quirk) = counter_quirk(credential.counter, observed.counter) {
        let action = match quirk {
            Quirk::CounterZero => policy.counter_zero,
            _ => policy.counter_regression,
        };
        findings.push(Finding { quirk, action });
    }
    if credential.backup_eligible != observed.backup_eligible {
        findings.push(Finding {
            quirk: Quirk::BackupEligibilityChange,
            action: policy.backup_eligibility_change,
        });
    }
    Assessment { findings }
}

/// Classifies a signature counter against the stored one, following the WebAuthn rule
/// that a counter must grow unless both are zero.
fn counter_quirk(stored: u32, observed: u32) -> Option<Quirk> {
    match (stored, observed) {
        (0, 0) => Some(Quirk::CounterZero),
        (_, observed) if observed > stored => None,
        _ => Some(Quirk::CounterRegression),
    }
}

/// Returns a copy of `credential` on which webauthn-rs-core's own counter and backup
/// eligibility checks pass for `observed`, so that [`assess`] and the policy decide them.
///
/// A stored counter of 0 disables the core's counter comparison, and a stored backup
/// eligibility equal to the observed one disables its eligibility check. The copy is only
/// handed to the core for verification and never stored.
pub(crate) fn credential_for_verification(
    credential: &Credential,
    observed: &AuthenticatorData,
) -> Credential {
    let mut copy = credential.clone();
    copy.counter = 0;
    copy.backup_eligible = observed.backup_eligible;
    copy
}

/// Writes a verified login's counter, backup flags and time onto the stored `credential`.
///
/// The counter never moves back, so that an accepted regression leaves the highest value
/// seen as the baseline, and a clone that reuses old counter values keeps being reported.
/// Call only when [`Assessment::rejection`] is `None`, so any backup eligibility change
/// was accepted by the policy.
pub(crate) fn apply_login(credential: &mut Credential, observed: &AuthenticatorData) {
    credential.counter = credential.counter.max(observed.counter);
    credential.backup_state = observed.backup_state;
    credential.backup_eligible = observed.backup_eligible;
}

#[cfg(test)]
mod tests {
    use super::*;

    const POLICY: QuirkPolicy = QuirkPolicy {
        counter_regression: QuirkAction::Reject,
        counter_zero: QuirkAction::Accept,
        backup_eligibility_change: QuirkAction::Warn,
    };

    fn authenticator_data(flags: u8, counter: u32) -> Vec<u8> {
        let mut bytes = vec![0xAB; 32];
        bytes.push(flags);
        bytes.extend_from_slice(&counter.to_be_bytes());
        bytes
    }

    fn observed(counter: u32, backup_eligible: bool) -> AuthenticatorData {
        AuthenticatorData {
            user_present: true,
            user_verified: true,
            backup_eligible,
            backup_state: false,
            counter,
        }
    }

    fn credential(counter: u32, backup_eligible: bool) -> Credential {
        let json = serde_json::json!({
            "cred_id": "AAEC",
            "cred": {
                "type_": "ES256",
                "key": {"EC_EC2": {"curve": "SECP256R1", "x": "AA", "y": "AA"}}
            },
            "counter": counter,
            "transports": null,
            "user_verified": true,
            "backup_eligible": backup_eligible,
            "backup_state": false,
            "registration_policy": "preferred",
            "extensions": {
                "cred_protect": "NotRequested",
                "hmac_create_secret": "NotRequested",
                "appid": "NotRequested",
                "cred_props": "Ignored"
            },
            "attestation": {"data": "None", "metadata": "None"},
            "attestation_format": "none"
        });
        serde_json::from_value(json).expect("test credential deserializes")
    }

    fn quirks_of(assessment: &Assessment) -> Vec<(Quirk, QuirkAction)> {
        assessment
            .findings
            .iter()
            .map(|finding| (finding.quirk, finding.action))
            .collect()
    }

    #[test]
    fn authenticator_data_flags_parsed() {
        let data = AuthenticatorData::parse(&authenticator_data(0x1D, 7)).unwrap();
        assert!(data.user_present);
        assert!(data.user_verified);
        assert!(data.backup_eligible);
        assert!(data.backup_state);
        assert_eq!(data.counter, 7);
    }

    #[test]
    fn authenticator_data_no_flags() {
        let data = AuthenticatorData::parse(&authenticator_data(0x40, 0)).unwrap();
        assert!(!data.user_present);
        assert!(!data.user_verified);
        assert!(!data.backup_eligible);
        assert!(!data.backup_state);
    }

    #[test]
    fn authenticator_data_counter_big_endian() {
        let data = AuthenticatorData::parse(&authenticator_data(0x01, 0x0102_0304)).unwrap();
        assert_eq!(data.counter, 0x0102_0304);
    }

    #[test]
    fn authenticator_data_with_extensions_parsed() {
        let mut bytes = authenticator_data(0x81, 3);
        bytes.extend_from_slice(&[0xA0]);
        assert_eq!(AuthenticatorData::parse(&bytes).unwrap().counter, 3);
    }

    #[test]
    fn short_authenticator_data_rejected() {
        let bytes = authenticator_data(0x01, 1);
        assert_eq!(AuthenticatorData::parse(&bytes[..36]), None);
        assert_eq!(AuthenticatorData::parse(&[]), None);
    }

    #[test]
    fn backup_without_eligibility_detected() {
        let mut data = observed(1, false);
        data.backup_state = true;
        assert!(data.backed_up_without_eligibility());
        data.backup_eligible = true;
        assert!(!data.backed_up_without_eligibility());
    }

    #[test]
    fn counter_classification() {
        assert_eq!(counter_quirk(0, 0), Some(Quirk::CounterZero));
        assert_eq!(counter_quirk(0, 1), None);
        assert_eq!(counter_quirk(5, 6), None);
        assert_eq!(counter_quirk(5, 5), Some(Quirk::CounterRegression));
        assert_eq!(counter_quirk(5, 4), Some(Quirk::CounterRegression));
        assert_eq!(counter_quirk(5, 0), Some(Quirk::CounterRegression));
    }

    #[test]
    fn growing_counter_has_no_quirk() {
        let assessment = assess(&credential(3, true), &observed(4, true), &POLICY);
        assert!(assessment.findings.is_empty());
        assert_eq!(assessment.rejection(), None);
    }

    #[test]
    fn zero_counter_accepted_by_default() {
        let assessment = assess(&credential(0, true), &observed(0, true), &POLICY);
        assert_eq!(
            quirks_of(&assessment),
            [(Quirk::CounterZero, QuirkAction::Accept)]
        );
        assert_eq!(assessment.rejection(), None);
    }

    #[test]
    fn counter_regression_rejected_by_default() {
        let assessment = assess(&credential(9, false), &observed(9, false), &POLICY);
        assert_eq!(
            quirks_of(&assessment),
            [(Quirk::CounterRegression, QuirkAction::Reject)]
        );
        assert_eq!(assessment.rejection(), Some(Quirk::CounterRegression));
    }

    #[test]
    fn zero_after_nonzero_is_regression() {
        let assessment = assess(&credential(9, false), &observed(0, false), &POLICY);
        assert_eq!(assessment.rejection(), Some(Quirk::CounterRegression));
    }

    #[test]
    fn backup_eligibility_change_warned_by_default() {
        for (stored, seen) in [(false, true), (true, false)] {
            let assessment = assess(&credential(1, stored), &observed(2, seen), &POLICY);
            assert_eq!(
                quirks_of(&assessment),
                [(Quirk::BackupEligibilityChange, QuirkAction::Warn)]
            );
            assert_eq!(assessment.rejection(), None);
        }
    }

    #[test]
    fn policy_actions_applied() {
        let policy = QuirkPolicy {
            counter_regression: QuirkAction::Warn,
            counter_zero: QuirkAction::Reject,
            backup_eligibility_change: QuirkAction::Reject,
        };
        let zero = assess(&credential(0, true), &observed(0, true), &policy);
        assert_eq!(zero.rejection(), Some(Quirk::CounterZero));

        let regression = assess(&credential(4, true), &observed(2, true), &policy);
        assert_eq!(
            quirks_of(&regression),
            [(Quirk::CounterRegression, QuirkAction::Warn)]
        );
        assert_eq!(regression.rejection(), None);

        let change = assess(&credential(4, true), &observed(5, false), &policy);
        assert_eq!(change.rejection(), Some(Quirk::BackupEligibilityChange));
    }

    #[test]
    fn both_quirks_reported() {
        let assessment = assess(&credential(0, false), &observed(0, true), &POLICY);
        assert_eq!(
            quirks_of(&assessment),
            [
                (Quirk::CounterZero, QuirkAction::Accept),
                (Quirk::BackupEligibilityChange, QuirkAction::Warn)
            ]
        );
    }

    #[test]
    fn verification_copy_disarms_core_checks() {
        let stored = credential(12, false);
        let copy = credential_for_verification(&stored, &observed(3, true));
        assert_eq!(copy.counter, 0);
        assert!(copy.backup_eligible);
        assert_eq!(copy.cred_id, stored.cred_id);
        assert_eq!(stored.counter, 12);
    }

    #[test]
    fn login_keeps_highest_counter() {
        let mut stored = credential(12, false);
        apply_login(&mut stored, &observed(3, false));
        assert_eq!(stored.counter, 12);
        apply_login(&mut stored, &observed(20, false));
        assert_eq!(stored.counter, 20);
    }

    #[test]
    fn login_stores_backup_flags() {
        let mut stored = credential(1, false);
        let mut seen = observed(2, true);
        seen.backup_state = true;
        apply_login(&mut stored, &seen);
        assert!(stored.backup_eligible);
        assert!(stored.backup_state);
    }

    #[test]
    fn quirk_names_match_config_keys() {
        assert_eq!(Quirk::CounterRegression.name(), "counter_regression");
        assert_eq!(Quirk::CounterZero.name(), "counter_zero");
        assert_eq!(
            Quirk::BackupEligibilityChange.name(),
            "backup_eligibility_change"
        );
    }
}
