//! The greeter compiled into a real host on a free port, as the plugin author's guide
//! shows: the host crate and this crate are linked into the test binary.

use latchkey::config::{self, ConfigSources};
use latchkey_example_greeter as _;
use latchkey_sdk::capability::{TokenIssuer, TokenRequest};

async fn start_host() -> latchkey::server::RunningServer {
    let sources = ConfigSources {
        profile: Some("development".to_owned()),
        files: Vec::new(),
        environment: false,
        overrides: vec![
            "[server]\nlisten = \"127.0.0.1:0\"\n[plugins.greeter]\ngreeting = \"hej\"\n"
                .to_owned(),
        ],
    };
    let config = config::load(&sources).expect("config loads");
    latchkey::server::start(config).await.expect("host starts")
}

#[tokio::test]
async fn greeter_serves_inside_a_host() {
    let server = start_host().await;
    let http = reqwest::Client::new();

    let hello = http
        .get(format!("{}/api/greeter/hello", server.url()))
        .send()
        .await
        .expect("request sent");
    assert_eq!(hello.status(), 200);
    assert_eq!(hello.headers()["x-greeter"], "hej");

    let me = format!("{}/api/greeter/me", server.url());
    let anonymous = http.get(&me).send().await.expect("request sent");
    assert_eq!(anonymous.status(), 401);

    let issuer = server
        .capabilities()
        .get::<dyn TokenIssuer>()
        .expect("jwt provides an issuer");
    let token = issuer
        .issue(TokenRequest::new("user-1"))
        .await
        .expect("token issued")
        .token;
    let signed_in = http
        .get(&me)
        .bearer_auth(&token)
        .send()
        .await
        .expect("request sent");
    assert_eq!(signed_in.status(), 200);
    let body: serde_json::Value = signed_in.json().await.expect("json body");
    assert_eq!(body["sub"], "user-1");
    assert_eq!(body["greeting"], "hej");

    server.shutdown().await;
}
