//! The account routes of the passkey plugin over HTTP: the signed-in user's passkeys,
//! adding one from a second device, renaming and deleting one, each behind the guard.

use latchkey_tests::{Backend, Device, RP_ID, RedisServer, TestHost, verify_with_jwks};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

const ME: &str = "/api/auth/me";
const ADD_CHALLENGE: &str = "/api/auth/challenge/add-passkey";
const PASSKEYS: &str = "/api/auth/me/passkeys";

fn token_of(answer: &Value) -> String {
    answer["token"]
        .as_str()
        .expect("answer has a token")
        .to_owned()
}

async fn account(host: &TestHost, token: &str) -> Value {
    let (status, body) = host.get_with_token(ME, token).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    body
}

/// Adds a passkey made by `device` to the account of `token`, and returns the response body.
async fn add_passkey(host: &TestHost, token: &str, device: &mut Device, name: Value) -> Value {
    let (status, options) = host.get_with_token(ADD_CHALLENGE, token).await;
    assert_eq!(status, StatusCode::OK, "{options}");
    let response = device.register(&options).await.expect("device registers");
    let (status, body) = host
        .send_with_token(
            Method::POST,
            PASSKEYS,
            token,
            Some(&json!({"attestationResponse": response, "name": name})),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    body
}

fn credential_ids(account: &Value) -> Vec<String> {
    account["credentials"]
        .as_array()
        .expect("credentials listed")
        .iter()
        .map(|credential| {
            credential["id"]
                .as_str()
                .expect("id is a string")
                .to_owned()
        })
        .collect()
}

async fn start() -> (RedisServer, TestHost) {
    let redis = RedisServer::start();
    let host = TestHost::start(&Backend::Redis(redis.url())).await;
    (redis, host)
}

#[tokio::test]
async fn account_lists_passkeys_with_times_and_backup_state() {
    let (_redis, host) = start().await;
    let mut device = Device::new();
    let registered = host.register(&mut device, "Ada Lovelace").await;
    let token = token_of(&registered);

    let view = account(&host, &token).await;
    assert_eq!(view["userID"], registered["userID"]);
    assert_eq!(view["displayName"], "Ada Lovelace");
    let credential = &view["credentials"][0];
    assert!(credential["createdAt"].as_u64().unwrap() > 0);
    assert_eq!(credential["lastUsedAt"], Value::Null);
    assert!(credential["backupEligible"].is_boolean());
    assert!(credential["backedUp"].is_boolean());

    let login = host.login(&mut device).await;
    let view = account(&host, &token_of(&login)).await;
    assert!(view["credentials"][0]["lastUsedAt"].as_u64().unwrap() > 0);
}

#[tokio::test]
async fn second_passkey_logs_into_same_account() {
    let (_redis, host) = start().await;
    let mut laptop = Device::new();
    let registered = host.register(&mut laptop, "Ada").await;
    let token = token_of(&registered);

    let mut phone = Device::new();
    let added = add_passkey(&host, &token, &mut phone, json!("Phone")).await;
    assert_eq!(added["name"], "Phone");
    let view = account(&host, &token).await;
    assert_eq!(credential_ids(&view).len(), 2);
    assert_eq!(credential_ids(&view)[1], added["id"].as_str().unwrap());

    let login = host.login(&mut phone).await;
    assert_eq!(login["userID"], registered["userID"]);
    let claims = verify_with_jwks(&host.url("/.well-known/jwks.json"), &token_of(&login))
        .await
        .unwrap();
    assert_eq!(claims.claims["credentialID"], added["id"]);
}

#[tokio::test]
async fn add_ceremony_of_another_account_refused() {
    let (_redis, host) = start().await;
    let ada = token_of(&host.register(&mut Device::new(), "Ada").await);
    let grace = token_of(&host.register(&mut Device::new(), "Grace").await);

    let (_, options) = host.get_with_token(ADD_CHALLENGE, &ada).await;
    let response = Device::new().register(&options).await.unwrap();
    let (status, body) = host
        .send_with_token(
            Method::POST,
            PASSKEYS,
            &grace,
            Some(&json!({"attestationResponse": response})),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert_eq!(body["code"], "unknown_challenge");
    assert_eq!(credential_ids(&account(&host, &grace).await).len(), 1);
    assert_eq!(credential_ids(&account(&host, &ada).await).len(), 1);

    // The refused attempt left Ada's ceremony in place, so she can still finish it.
    let (status, body) = host
        .send_with_token(
            Method::POST,
            PASSKEYS,
            &ada,
            Some(&json!({"attestationResponse": response})),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    assert_eq!(credential_ids(&account(&host, &ada).await).len(), 2);
}

#[tokio::test]
async fn concurrent_deletes_keep_one_passkey_and_its_tokens() {
    let (_redis, host) = start().await;
    let mut laptop = Device::new();
    let token = token_of(&host.register(&mut laptop, "Ada").await);
    let mut phone = Device::new();
    add_passkey(&host, &token, &mut phone, Value::Null).await;
    let laptop_token = token_of(&host.login(&mut laptop).await);
    let phone_token = token_of(&host.login(&mut phone).await);
    let ids = credential_ids(&account(&host, &token).await);

    // Each passkey is deleted with the other one's token, so that whichever deletion
    // wins, the refused one's token belongs to the passkey that must remain.
    let delete = |id: &str, token: &str| {
        let path = format!("{PASSKEYS}/{id}");
        let token = token.to_owned();
        let host = &host;
        async move {
            host.send_with_token(Method::DELETE, &path, &token, None)
                .await
        }
    };
    let (first, second) = tokio::join!(
        delete(&ids[0], &phone_token),
        delete(&ids[1], &laptop_token)
    );
    let deleted: Vec<&Value> = [&first, &second]
        .into_iter()
        .filter(|(status, _)| *status == StatusCode::OK)
        .map(|(_, body)| &body["deleted"])
        .collect();
    assert_eq!(deleted.len(), 1, "{first:?} {second:?}");
    for (status, body) in [&first, &second] {
        // The loser is refused as the last passkey, or, when the winner already revoked
        // the loser's token, as a revoked token.
        assert!(
            *status == StatusCode::OK
                || body["code"] == "last_credential"
                || body["code"] == "token_revoked",
            "{status}: {body}"
        );
    }
    // `ids` lists the laptop's passkey first.
    let (kept_id, kept_token) = if deleted[0] == ids[0].as_str() {
        (&ids[1], &phone_token)
    } else {
        (&ids[0], &laptop_token)
    };
    let view = account(&host, kept_token).await;
    assert_eq!(
        credential_ids(&view),
        std::slice::from_ref(kept_id),
        "the refused deletion revoked nothing"
    );
}

#[tokio::test]
async fn rename_checks_name_and_owner() {
    let (_redis, host) = start().await;
    let ada = token_of(&host.register(&mut Device::new(), "Ada").await);
    let grace = token_of(&host.register(&mut Device::new(), "Grace").await);
    let id = credential_ids(&account(&host, &ada).await).remove(0);
    let path = format!("{PASSKEYS}/{id}");

    let (status, body) = host
        .send_with_token(
            Method::PATCH,
            &path,
            &ada,
            Some(&json!({"name": " Laptop "})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["name"], "Laptop");

    for bad in [
        json!({"name": ""}),
        json!({"name": "a\u{202E}b"}),
        json!({"name": "x".repeat(65)}),
    ] {
        let (status, body) = host
            .send_with_token(Method::PATCH, &path, &ada, Some(&bad))
            .await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{bad}: {body}");
        assert_eq!(body["code"], "invalid_credential_name");
    }
    let (status, _) = host
        .send_with_token(Method::PATCH, &path, &grace, Some(&json!({"name": "Mine"})))
        .await;
    assert_eq!(
        status,
        StatusCode::NOT_FOUND,
        "another user's passkey is not found"
    );
    let (status, _) = host
        .send_with_token(
            Method::PATCH,
            &format!("{PASSKEYS}/!!"),
            &ada,
            Some(&json!({"name": "x"})),
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(
        account(&host, &ada).await["credentials"][0]["name"],
        "Laptop"
    );
}

#[tokio::test]
async fn passkey_deletion_revokes_and_signals() {
    let (_redis, host) = start().await;
    let mut laptop = Device::new();
    let registered = host.register(&mut laptop, "Ada").await;
    let laptop_token = token_of(&registered);
    let mut phone = Device::new();
    let added = add_passkey(&host, &laptop_token, &mut phone, Value::Null).await;
    let phone_token = token_of(&host.login(&mut phone).await);
    let laptop_id = credential_ids(&account(&host, &laptop_token).await).remove(0);

    let (status, body) = host
        .send_with_token(
            Method::DELETE,
            &format!("{PASSKEYS}/{laptop_id}"),
            &phone_token,
            None,
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["deleted"], laptop_id.as_str());
    assert_eq!(body["tokensRevoked"], true);
    assert_eq!(
        body["signal"],
        json!({"rpId": RP_ID, "userId": registered["userID"], "allAcceptedCredentialIds": [added["id"]]})
    );

    let (status, body) = host.get_with_token(ME, &laptop_token).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{body}");
    assert_eq!(body["code"], "token_revoked");
    assert_eq!(
        credential_ids(&account(&host, &phone_token).await),
        [added["id"].as_str().unwrap()]
    );
    let (status, body) = {
        let (_, options) = host.get("/api/auth/challenge/login").await;
        let response = laptop.login(&options).await.unwrap();
        host.post(
            "/api/auth/login-passkey",
            &json!({"authenticationResponse": response}),
        )
        .await
    };
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{body}");
    assert_eq!(body["code"], "unknown_credential");
}

#[tokio::test]
async fn last_passkey_kept_unless_configured() {
    let (_redis, host) = start().await;
    let token = token_of(&host.register(&mut Device::new(), "Ada").await);
    let id = credential_ids(&account(&host, &token).await).remove(0);
    let path = format!("{PASSKEYS}/{id}");

    let (status, body) = host
        .send_with_token(Method::DELETE, &path, &token, None)
        .await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    assert_eq!(body["code"], "last_credential");
    assert_eq!(
        credential_ids(&account(&host, &token).await),
        std::slice::from_ref(&id)
    );

    let (status, _) = host
        .send_with_token(
            Method::DELETE,
            &format!("{PASSKEYS}/AAAAAAAAAAAAAAAAAAAAAA"),
            &token,
            None,
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);

    let lenient = TestHost::start_with(
        &Backend::Memory,
        "[plugins.passkey]\nallow_deleting_last_credential = true\n",
    )
    .await;
    let token = token_of(&lenient.register(&mut Device::new(), "Ada").await);
    let id = credential_ids(&account(&lenient, &token).await).remove(0);
    let (status, body) = lenient
        .send_with_token(Method::DELETE, &format!("{PASSKEYS}/{id}"), &token, None)
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["signal"]["allAcceptedCredentialIds"], json!([]));
}

#[tokio::test]
async fn account_routes_need_a_token() {
    let (_redis, host) = start().await;
    // Rate-limit counters count every request; nothing else may be written.
    let state_keys = |keys: Vec<String>| -> Vec<String> {
        keys.into_iter()
            .filter(|key| !key.starts_with("rate_limit:"))
            .collect()
    };
    let keys = state_keys(host.store_keys().await);
    for (method, path) in [
        (Method::GET, ME.to_owned()),
        (Method::GET, ADD_CHALLENGE.to_owned()),
        (Method::POST, PASSKEYS.to_owned()),
        (Method::PATCH, format!("{PASSKEYS}/AQID")),
        (Method::DELETE, format!("{PASSKEYS}/AQID")),
    ] {
        let response = host
            .http()
            .request(method.clone(), host.url(&path))
            .json(&json!({}))
            .send()
            .await
            .unwrap();
        assert_eq!(
            response.status(),
            StatusCode::UNAUTHORIZED,
            "{method} {path}"
        );
        assert!(response.headers().contains_key("www-authenticate"));
    }
    assert_eq!(state_keys(host.store_keys().await), keys, "nothing written");
}
