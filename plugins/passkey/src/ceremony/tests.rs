//! Whole ceremonies against 1Password's software authenticator, in process, with a map
//! store and a token issuer that signs nothing.

use std::sync::{Arc, Mutex};
use std::time::SystemTime;

use figment::Figment;
use figment::providers::{Format, Toml};
use latchkey_sdk::capability::{IssuedToken, Store, TokenError, TokenIssuer, TokenRequest};
use latchkey_sdk::prelude::async_trait;
use latchkey_sdk::{ApiError, ConfigSection, HostSettings};
use passkey::authenticator::{Authenticator, UiHint, UserCheck, UserValidationMethod};
use passkey::client::{Client, DefaultClientData};
use passkey::crypto::rust_crypto::RustCryptoBackend;
use passkey::types::Passkey;
use passkey::types::ctap2::{Aaguid, Ctap2Error};
use passkey::types::webauthn::{
    CredentialCreationOptions, CredentialRequestOptions, PublicKeyCredentialCreationOptions,
    PublicKeyCredentialRequestOptions,
};
use serde_json::{Value, json};
use url::Url;
use webauthn_rs_core::proto::{PublicKeyCredential, RegisterPublicKeyCredential};

use crate::config::Config;
use crate::encoding;
use crate::error::PasskeyError;
use crate::record::tests::FakeStore;
use crate::record::{self, CredentialRecord, UserRecord};
use crate::relying_party::RelyingParty;

const ORIGIN: &str = "https://latchkey.test";

/// A user who always consents and is always verified.
struct ConsentingUser;

#[async_trait]
impl UserValidationMethod for ConsentingUser {
    type PasskeyItem = Passkey;

    async fn check_user<'a>(
        &self,
        _hint: UiHint<'a, Passkey>,
        presence: bool,
        verification: bool,
    ) -> Result<UserCheck, Ctap2Error> {
        Ok(UserCheck {
            presence,
            verification,
        })
    }

    fn is_verification_enabled(&self) -> Option<bool> {
        Some(true)
    }

    fn is_presence_enabled(&self) -> bool {
        true
    }
}

type SoftClient =
    Client<Option<Passkey>, ConsentingUser, RustCryptoBackend, public_suffix::PublicSuffixList, ()>;

/// An authenticator holding one passkey, with the browser side of WebAuthn.
struct Device {
    client: SoftClient,
    origin: Url,
}

impl Device {
    fn new(origin: &str) -> Self {
        let authenticator =
            Authenticator::new(Aaguid::new_empty(), None, ConsentingUser, RustCryptoBackend);
        Self {
            client: Client::new(authenticator),
            origin: Url::parse(origin).unwrap(),
        }
    }

    fn counting() -> Self {
        let mut device = Self::new(ORIGIN);
        device
            .client
            .authenticator_mut()
            .set_make_credentials_with_signature_counter(true);
        device
    }

    async fn register(&mut self, options: &Value) -> RegisterPublicKeyCredential {
        let public_key: PublicKeyCredentialCreationOptions =
            serde_json::from_value(options.clone()).unwrap();
        let created = self
            .client
            .register(
                &self.origin,
                CredentialCreationOptions { public_key },
                DefaultClientData,
            )
            .await
            .unwrap();
        serde_json::from_value(serde_json::to_value(created).unwrap()).unwrap()
    }

    async fn login(&mut self, options: &Value) -> PublicKeyCredential {
        let public_key: PublicKeyCredentialRequestOptions =
            serde_json::from_value(options.clone()).unwrap();
        let asserted = self
            .client
            .authenticate(
                &self.origin,
                CredentialRequestOptions { public_key },
                DefaultClientData,
            )
            .await
            .unwrap();
        serde_json::from_value(serde_json::to_value(asserted).unwrap()).unwrap()
    }
}

/// Returns `"<sub> <credentialID>"` as the token, and keeps every request.
#[derive(Default)]
struct EchoIssuer {
    requests: Mutex<Vec<TokenRequest>>,
}

#[async_trait]
impl TokenIssuer for EchoIssuer {
    async fn issue(&self, request: TokenRequest) -> Result<IssuedToken, TokenError> {
        let credential_id = request.claims["credentialID"].as_str().unwrap_or_default();
        let token = format!("{} {credential_id}", request.subject);
        self.requests.lock().unwrap().push(request);
        Ok(IssuedToken::new(token, "jti".into(), SystemTime::now()))
    }
}

struct Harness {
    relying_party: RelyingParty,
    store: Arc<FakeStore>,
    issuer: Arc<EchoIssuer>,
}

impl Harness {
    fn new() -> Self {
        Self::with_config("")
    }

    fn with_config(toml: &str) -> Self {
        let figment = Figment::from(Toml::string(toml));
        let section = ConfigSection::new(&figment, "passkey");
        let config: Config = section.extract().unwrap();
        let policy = config
            .validate(&section, &HostSettings::new("test", ORIGIN))
            .unwrap();
        let store = Arc::new(FakeStore::default());
        let issuer = Arc::new(EchoIssuer::default());
        let relying_party = RelyingParty::new(policy, store.clone(), issuer.clone(), None, None);
        Self {
            relying_party,
            store,
            issuer,
        }
    }

    async fn register(&self, device: &mut Device) -> Result<Value, PasskeyError> {
        let options = self.relying_party.start_registration(Some("Ada")).await?;
        let response = device.register(&options).await;
        self.finish_registration(response).await
    }

    async fn finish_registration(
        &self,
        response: RegisterPublicKeyCredential,
    ) -> Result<Value, PasskeyError> {
        let body = self.relying_party.finish_registration(response).await?;
        Ok(serde_json::to_value(body).unwrap())
    }

    async fn login_response(&self, device: &mut Device) -> PublicKeyCredential {
        let options = self.relying_party.start_login().await.unwrap();
        device.login(&options).await
    }

    async fn finish_login(&self, response: PublicKeyCredential) -> Result<Value, PasskeyError> {
        let body = self.relying_party.finish_login(response).await?;
        Ok(serde_json::to_value(body).unwrap())
    }

    async fn login(&self, device: &mut Device) -> Result<Value, PasskeyError> {
        let response = self.login_response(device).await;
        self.finish_login(response).await
    }

    async fn credential(&self, credential_id: &str) -> CredentialRecord {
        record::load(&*self.store, &record::credential_key(credential_id))
            .await
            .unwrap()
            .unwrap()
    }

    async fn edit_credential(&self, credential_id: &str, edit: impl FnOnce(&mut CredentialRecord)) {
        let mut stored = self.credential(credential_id).await;
        edit(&mut stored);
        let key = record::credential_key(credential_id);
        let bytes = record::encode(&key, &stored).unwrap();
        self.store.set(&key, &bytes, None).await.unwrap();
    }

    async fn quirk_count(&self, name: &str) -> Option<String> {
        let bytes = self
            .store
            .get(&format!("passkey:quirk:{name}"))
            .await
            .unwrap()?;
        Some(String::from_utf8(bytes).unwrap())
    }
}

fn code_of(result: Result<Value, PasskeyError>) -> (u16, String) {
    let api = ApiError::from(result.expect_err("the ceremony should fail"));
    (api.status().as_u16(), api.code().to_owned())
}

fn credential_id_of(body: &Value) -> String {
    let token = body["token"].as_str().unwrap();
    token.split_once(' ').unwrap().1.to_owned()
}

#[tokio::test]
async fn registration_options_are_flat() {
    let harness = Harness::new();
    let options = harness
        .relying_party
        .start_registration(Some("  Ada  "))
        .await
        .unwrap();

    let mut keys: Vec<&str> = options
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    keys.sort_unstable();
    assert_eq!(
        keys,
        [
            "attestation",
            "authenticatorSelection",
            "challenge",
            "pubKeyCredParams",
            "rp",
            "timeout",
            "user"
        ]
    );
    assert_eq!(
        options["rp"],
        json!({"name": "Latchkey", "id": "latchkey.test"})
    );
    assert_eq!(options["user"]["name"], "Ada");
    assert_eq!(options["user"]["displayName"], "Ada");
    let user_id = encoding::decode_lenient(options["user"]["id"].as_str().unwrap()).unwrap();
    assert_eq!(user_id.len(), 32);
    assert_eq!(options["timeout"], 150_000);
    assert_eq!(options["attestation"], "none");
    assert_eq!(options["authenticatorSelection"]["residentKey"], "required");
    assert_eq!(
        options["authenticatorSelection"]["requireResidentKey"],
        true
    );
    assert_eq!(
        options["authenticatorSelection"]["userVerification"],
        "preferred"
    );
}

#[tokio::test]
async fn preferred_resident_key_offered() {
    let harness = Harness::with_config(
        "[plugins.passkey]\nresident_key = \"preferred\"\nauthenticator_attachment = \"platform\"",
    );
    let options = harness
        .relying_party
        .start_registration(Some("Ada"))
        .await
        .unwrap();
    let selection = &options["authenticatorSelection"];
    assert_eq!(selection["residentKey"], "preferred");
    assert_eq!(selection["requireResidentKey"], false);
    assert_eq!(selection["authenticatorAttachment"], "platform");
}

#[tokio::test]
async fn login_options_are_flat() {
    let harness = Harness::new();
    let options = harness.relying_party.start_login().await.unwrap();
    let mut keys: Vec<&str> = options
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    keys.sort_unstable();
    assert_eq!(
        keys,
        [
            "allowCredentials",
            "challenge",
            "rpId",
            "timeout",
            "userVerification"
        ]
    );
    assert_eq!(options["allowCredentials"], json!([]));
    assert_eq!(options["rpId"], "latchkey.test");
    assert_eq!(options["userVerification"], "preferred");
}

#[tokio::test]
async fn invalid_display_name_stores_nothing() {
    let harness = Harness::new();
    let result = harness.relying_party.start_registration(Some(" ")).await;
    assert_eq!(code_of(result), (400, "invalid_display_name".to_owned()));
    assert!(harness.store.keys("").await.unwrap().is_empty());
}

#[tokio::test]
async fn register_then_login_same_user() {
    let harness = Harness::new();
    let mut device = Device::new(ORIGIN);

    let registered = harness.register(&mut device).await.unwrap();
    assert_eq!(registered["success"], true);
    let user_id = registered["userID"].as_str().unwrap().to_owned();
    let credential_id = credential_id_of(&registered);
    assert_eq!(registered["token"], format!("{user_id} {credential_id}"));

    let logged_in = harness.login(&mut device).await.unwrap();
    assert_eq!(logged_in["success"], true);
    assert_eq!(logged_in["userID"], user_id.as_str());
    assert_eq!(logged_in["token"], format!("{user_id} {credential_id}"));
    assert_eq!(harness.issuer.requests.lock().unwrap().len(), 2);
}

#[tokio::test]
async fn registration_writes_user_and_credential() {
    let harness = Harness::new();
    let mut device = Device::new(ORIGIN);
    let registered = harness.register(&mut device).await.unwrap();
    let user_id = registered["userID"].as_str().unwrap();
    let credential_id = credential_id_of(&registered);

    let user: UserRecord = record::load(&*harness.store, &record::user_key(user_id))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(user.display_name, "Ada");
    assert_eq!(user.credentials, vec![credential_id.clone()]);

    let stored = harness.credential(&credential_id).await;
    assert_eq!(stored.user_id, user_id);
    assert_eq!(stored.last_used_at, None);
    assert_eq!(encoding::encode(&stored.credential.cred_id), credential_id);

    let challenges = harness.store.keys("passkey:challenge:").await.unwrap();
    assert!(challenges.is_empty(), "{challenges:?}");
}

#[tokio::test]
async fn login_records_last_use() {
    let harness = Harness::new();
    let mut device = Device::new(ORIGIN);
    let credential_id = credential_id_of(&harness.register(&mut device).await.unwrap());

    harness.login(&mut device).await.unwrap();
    assert!(
        harness
            .credential(&credential_id)
            .await
            .last_used_at
            .is_some()
    );
}

#[tokio::test]
async fn registration_challenge_single_use() {
    let harness = Harness::new();
    let mut device = Device::new(ORIGIN);
    let options = harness
        .relying_party
        .start_registration(Some("Ada"))
        .await
        .unwrap();
    let response = device.register(&options).await;

    harness.finish_registration(response.clone()).await.unwrap();
    let replay = harness.finish_registration(response).await;
    assert_eq!(code_of(replay), (400, "unknown_challenge".to_owned()));
}

#[tokio::test]
async fn login_challenge_single_use() {
    let harness = Harness::new();
    let mut device = Device::new(ORIGIN);
    harness.register(&mut device).await.unwrap();
    let response = harness.login_response(&mut device).await;

    harness.finish_login(response.clone()).await.unwrap();
    let replay = harness.finish_login(response).await;
    assert_eq!(code_of(replay), (400, "unknown_challenge".to_owned()));
}

#[tokio::test]
async fn concurrent_logins_on_one_challenge_succeed_once() {
    let harness = Harness::new();
    let mut device = Device::new(ORIGIN);
    harness.register(&mut device).await.unwrap();
    let response = harness.login_response(&mut device).await;

    let (first, second) = tokio::join!(
        harness.finish_login(response.clone()),
        harness.finish_login(response)
    );
    let successes = [first.is_ok(), second.is_ok()];
    assert_eq!(
        successes.iter().filter(|ok| **ok).count(),
        1,
        "{successes:?}"
    );
    let failure = if first.is_ok() { second } else { first };
    assert_eq!(code_of(failure), (400, "unknown_challenge".to_owned()));
}

#[tokio::test]
async fn failed_login_burns_challenge() {
    let harness = Harness::new();
    let mut device = Device::new(ORIGIN);
    harness.register(&mut device).await.unwrap();
    let response = harness.login_response(&mut device).await;

    let mut forged = response.clone();
    let last = forged.response.signature.len() - 1;
    forged.response.signature[last] ^= 0x01;
    assert_eq!(
        code_of(harness.finish_login(forged).await),
        (401, "invalid_signature".to_owned())
    );
    let retry = harness.finish_login(response).await;
    assert_eq!(code_of(retry), (400, "unknown_challenge".to_owned()));
}

#[tokio::test]
async fn login_challenge_not_valid_for_registration() {
    let harness = Harness::new();
    let mut device = Device::new(ORIGIN);
    let login_options = harness.relying_party.start_login().await.unwrap();
    let mut options = harness
        .relying_party
        .start_registration(Some("Ada"))
        .await
        .unwrap();
    options["challenge"] = login_options["challenge"].clone();

    let response = device.register(&options).await;
    let result = harness.finish_registration(response).await;
    assert_eq!(code_of(result), (400, "unknown_challenge".to_owned()));
}

#[tokio::test]
async fn duplicate_credential_rejected_and_nothing_written() {
    let harness = Harness::new();
    let mut first = Device::new(ORIGIN);
    let existing_id = credential_id_of(&harness.register(&mut first).await.unwrap());
    let existing = harness.credential(&existing_id).await;

    let mut second = Device::new(ORIGIN);
    let options = harness
        .relying_party
        .start_registration(Some("Eve"))
        .await
        .unwrap();
    let response = second.register(&options).await;
    let new_id = encoding::encode(&response.raw_id);
    harness
        .store
        .set(
            &record::credential_key(&new_id),
            &record::encode("test", &existing).unwrap(),
            None,
        )
        .await
        .unwrap();

    let result = harness.finish_registration(response).await;
    assert_eq!(code_of(result), (400, "credential_exists".to_owned()));
    let users = harness.store.keys("passkey:user:").await.unwrap();
    assert_eq!(users.len(), 1, "{users:?}");
}

#[tokio::test]
async fn standard_base64_id_accepted() {
    use base64::Engine as _;
    use base64::engine::general_purpose::STANDARD;

    let harness = Harness::new();
    let mut device = Device::new(ORIGIN);
    let options = harness
        .relying_party
        .start_registration(Some("Ada"))
        .await
        .unwrap();
    let mut response = device.register(&options).await;
    response.id = STANDARD.encode(&response.raw_id);

    let registered = harness.finish_registration(response).await.unwrap();
    let credential_id = credential_id_of(&registered);
    assert!(!credential_id.contains(['+', '/', '=']), "{credential_id}");
}

#[tokio::test]
async fn mismatched_id_rejected() {
    let harness = Harness::new();
    let mut device = Device::new(ORIGIN);
    let options = harness
        .relying_party
        .start_registration(Some("Ada"))
        .await
        .unwrap();
    let mut response = device.register(&options).await;
    response.id = encoding::encode(b"another credential");

    let result = harness.finish_registration(response).await;
    assert_eq!(code_of(result), (400, "credential_id_mismatch".to_owned()));
}

#[tokio::test]
async fn raw_id_other_than_attested_rejected() {
    let harness = Harness::new();
    let mut device = Device::new(ORIGIN);
    let options = harness
        .relying_party
        .start_registration(Some("Ada"))
        .await
        .unwrap();
    let mut response = device.register(&options).await;
    response.raw_id = b"another credential".to_vec();
    response.id = encoding::encode(&response.raw_id);

    let result = harness.finish_registration(response).await;
    assert_eq!(code_of(result), (400, "credential_id_mismatch".to_owned()));
    assert!(
        harness
            .store
            .keys("passkey:credential:")
            .await
            .unwrap()
            .is_empty()
    );
}

#[tokio::test]
async fn other_origin_rejected() {
    let harness = Harness::new();
    let mut device = Device::new("https://evil.latchkey.test");
    let result = harness.register(&mut device).await;
    assert_eq!(code_of(result), (400, "origin_mismatch".to_owned()));
}

#[tokio::test]
async fn unknown_credential_rejected() {
    let harness = Harness::new();
    let mut device = Device::new(ORIGIN);
    let credential_id = credential_id_of(&harness.register(&mut device).await.unwrap());
    harness
        .store
        .delete(&record::credential_key(&credential_id))
        .await
        .unwrap();

    let result = harness.login(&mut device).await;
    assert_eq!(code_of(result), (401, "unknown_credential".to_owned()));
}

#[tokio::test]
async fn missing_user_handle_rejected() {
    let harness = Harness::new();
    let mut device = Device::new(ORIGIN);
    harness.register(&mut device).await.unwrap();
    let mut response = harness.login_response(&mut device).await;
    response.response.user_handle = None;

    let result = harness.finish_login(response).await;
    assert_eq!(code_of(result), (401, "missing_user_handle".to_owned()));
}

#[tokio::test]
async fn other_user_handle_rejected() {
    let harness = Harness::new();
    let mut device = Device::new(ORIGIN);
    let credential_id = credential_id_of(&harness.register(&mut device).await.unwrap());
    harness
        .edit_credential(&credential_id, |stored| {
            stored.user_id = encoding::encode(&[7; 32])
        })
        .await;

    let result = harness.login(&mut device).await;
    assert_eq!(code_of(result), (401, "user_handle_mismatch".to_owned()));
}

#[tokio::test]
async fn backup_state_without_eligibility_rejected() {
    let harness = Harness::new();
    let mut device = Device::new(ORIGIN);
    harness.register(&mut device).await.unwrap();
    let mut response = harness.login_response(&mut device).await;
    // The software authenticator reports BE and BS, as synced passkeys do: clear BE.
    response.response.authenticator_data[32] &= !0x08;

    let result = harness.finish_login(response).await;
    assert_eq!(code_of(result), (400, "invalid_backup_state".to_owned()));
}

#[tokio::test]
async fn synced_passkey_counter_zero_accepted() {
    let harness = Harness::new();
    let mut device = Device::new(ORIGIN);
    let credential_id = credential_id_of(&harness.register(&mut device).await.unwrap());

    harness.login(&mut device).await.unwrap();
    harness.login(&mut device).await.unwrap();
    assert_eq!(
        harness.quirk_count("counter_zero").await.as_deref(),
        Some("2")
    );
    assert_eq!(
        harness.credential(&credential_id).await.credential.counter,
        0
    );
}

#[tokio::test]
async fn counter_zero_rejected_when_configured() {
    let harness = Harness::with_config("[plugins.passkey.quirks]\ncounter_zero = \"reject\"");
    let mut device = Device::new(ORIGIN);
    harness.register(&mut device).await.unwrap();

    let result = harness.login(&mut device).await;
    assert_eq!(code_of(result), (401, "counter_zero".to_owned()));
    assert_eq!(
        harness.quirk_count("counter_zero").await.as_deref(),
        Some("1")
    );
}

#[tokio::test]
async fn growing_counter_stored() {
    let harness = Harness::new();
    let mut device = Device::counting();
    let credential_id = credential_id_of(&harness.register(&mut device).await.unwrap());

    harness.login(&mut device).await.unwrap();
    harness.login(&mut device).await.unwrap();
    assert_eq!(
        harness.credential(&credential_id).await.credential.counter,
        2
    );
    assert!(
        harness
            .store
            .keys("passkey:quirk:")
            .await
            .unwrap()
            .is_empty()
    );
}

#[tokio::test]
async fn counter_regression_rejected_by_default() {
    let harness = Harness::new();
    let mut device = Device::counting();
    let credential_id = credential_id_of(&harness.register(&mut device).await.unwrap());
    harness
        .edit_credential(&credential_id, |stored| stored.credential.counter = 100)
        .await;

    let result = harness.login(&mut device).await;
    assert_eq!(code_of(result), (401, "counter_regression".to_owned()));
    assert_eq!(
        harness.quirk_count("counter_regression").await.as_deref(),
        Some("1")
    );
    let stored = harness.credential(&credential_id).await;
    assert_eq!(stored.credential.counter, 100);
    assert_eq!(stored.last_used_at, None);
}

#[tokio::test]
async fn counter_regression_warned_keeps_highest() {
    let harness = Harness::with_config("[plugins.passkey.quirks]\ncounter_regression = \"warn\"");
    let mut device = Device::counting();
    let credential_id = credential_id_of(&harness.register(&mut device).await.unwrap());
    harness
        .edit_credential(&credential_id, |stored| stored.credential.counter = 100)
        .await;

    harness.login(&mut device).await.unwrap();
    assert_eq!(
        harness.quirk_count("counter_regression").await.as_deref(),
        Some("1")
    );
    assert_eq!(
        harness.credential(&credential_id).await.credential.counter,
        100
    );
}

/// Registers a device, which reports backup eligibility, and stores its credential as
/// not eligible, so that the next login shows a change webauthn-rs-core alone rejects.
async fn register_as_not_backup_eligible(harness: &Harness, device: &mut Device) -> String {
    let credential_id = credential_id_of(&harness.register(device).await.unwrap());
    assert!(
        harness
            .credential(&credential_id)
            .await
            .credential
            .backup_eligible
    );
    harness
        .edit_credential(&credential_id, |stored| {
            stored.credential.backup_eligible = false
        })
        .await;
    credential_id
}

#[tokio::test]
async fn backup_eligibility_change_warned_and_stored() {
    let harness = Harness::new();
    let mut device = Device::new(ORIGIN);
    let credential_id = register_as_not_backup_eligible(&harness, &mut device).await;

    harness.login(&mut device).await.unwrap();
    assert_eq!(
        harness
            .quirk_count("backup_eligibility_change")
            .await
            .as_deref(),
        Some("1")
    );
    assert!(
        harness
            .credential(&credential_id)
            .await
            .credential
            .backup_eligible
    );
}

#[tokio::test]
async fn backup_eligibility_change_rejected_when_configured() {
    let harness =
        Harness::with_config("[plugins.passkey.quirks]\nbackup_eligibility_change = \"reject\"");
    let mut device = Device::new(ORIGIN);
    let credential_id = register_as_not_backup_eligible(&harness, &mut device).await;

    let result = harness.login(&mut device).await;
    assert_eq!(
        code_of(result),
        (401, "backup_eligibility_change".to_owned())
    );
    assert!(
        !harness
            .credential(&credential_id)
            .await
            .credential
            .backup_eligible
    );
}

#[tokio::test]
async fn required_user_verification_enforced() {
    let harness = Harness::with_config("[plugins.passkey]\nuser_verification = \"required\"");
    let mut device = Device::new(ORIGIN);
    let options = harness
        .relying_party
        .start_registration(Some("Ada"))
        .await
        .unwrap();
    let mut response = device.register(&options).await;
    // A "none" attestation signs nothing, so UV can be cleared in its authenticator
    // data, in the flags byte that follows the RP ID hash.
    let rp_id_hash = sha256(b"latchkey.test");
    let object = &mut response.response.attestation_object;
    let start = object
        .windows(32)
        .position(|window| window == rp_id_hash)
        .unwrap();
    object[start + 32] &= !0x04;

    let result = harness.finish_registration(response).await;
    assert_eq!(
        code_of(result),
        (400, "user_verification_required".to_owned())
    );
}

fn sha256(bytes: &[u8]) -> [u8; 32] {
    webauthn_rs_core::crypto::compute_sha256(bytes)
}
