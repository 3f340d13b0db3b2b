// `figment::Jail` fixes the closure error type to `figment::Error`, which is large.
#![allow(clippy::result_large_err)]

use figment::Jail;

use super::*;

fn from_cli(files: &[&str]) -> ConfigSources {
    ConfigSources::from_cli(None, files.iter().map(PathBuf::from).collect())
}

#[test]
fn defaults_load_in_development() {
    Jail::expect_with(|_| {
        let config = load(&from_cli(&[])).expect("defaults load");
        assert_eq!(config.profile, "development");
        assert_eq!(config.settings.server.listen.to_string(), "127.0.0.1:8080");
        assert_eq!(config.settings.server.body_limit, 65536);
        assert_eq!(config.settings.store.kind, StoreKind::Memory);
        Ok(())
    });
}

#[test]
fn production_profile_uses_redis() {
    Jail::expect_with(|jail| {
        jail.set_env("LATCHKEY_PROFILE", "production");
        jail.set_env("API_BASE_URL", "https://auth.example.com");
        let config = load(&from_cli(&[])).expect("production loads");
        assert_eq!(config.profile, "production");
        assert_eq!(config.settings.store.kind, StoreKind::Redis);
        Ok(())
    });
}

#[test]
fn unknown_profile_rejected() {
    Jail::expect_with(|jail| {
        jail.set_env("LATCHKEY_PROFILE", "staging");
        let error = load(&from_cli(&[])).unwrap_err();
        assert!(matches!(error, LoadError::UnknownProfile { .. }), "{error}");
        Ok(())
    });
}

#[test]
fn unknown_key_names_key_and_file() {
    Jail::expect_with(|jail| {
        jail.create_file("local.toml", "[server]\nlisten_addr = \"0.0.0.0:1\"")?;
        let error = load(&from_cli(&["local.toml"])).unwrap_err();
        let message = error.to_string();
        assert!(message.contains("server.listen_addr"), "{message}");
        assert!(message.contains("local.toml"), "{message}");
        assert!(message.contains("listen"), "{message}");
        assert!(!message.contains('\n'), "{message}");
        Ok(())
    });
}

#[test]
fn wrong_type_names_key_and_file() {
    Jail::expect_with(|jail| {
        jail.create_file("local.toml", "[server]\nbody_limit = \"big\"")?;
        let error = load(&from_cli(&["local.toml"])).unwrap_err();
        let LoadError::Config(latchkey_sdk::ConfigError::Invalid { key, origin, .. }) = &error
        else {
            panic!("expected an invalid value, got {error}");
        };
        assert_eq!(key, "server.body_limit");
        assert!(origin.ends_with("local.toml"), "{origin}");
        Ok(())
    });
}

#[test]
fn missing_config_file_rejected() {
    Jail::expect_with(|_| {
        let error = load(&from_cli(&["absent.toml"])).unwrap_err();
        assert!(matches!(error, LoadError::MissingFile { .. }), "{error}");
        Ok(())
    });
}

#[test]
fn environment_overrides_files() {
    Jail::expect_with(|jail| {
        jail.create_file("local.toml", "[server]\nbody_limit = 100")?;
        jail.set_env("LATCHKEY_SERVER__BODY_LIMIT", "200");
        let config = load(&from_cli(&["local.toml"])).expect("loads");
        assert_eq!(config.settings.server.body_limit, 200);
        Ok(())
    });
}

#[test]
fn environment_variable_named_in_error() {
    Jail::expect_with(|jail| {
        jail.set_env("LATCHKEY_SERVER__BODY_LIMIT", "lots");
        let message = load(&from_cli(&[])).unwrap_err().to_string();
        assert!(message.contains("LATCHKEY_SERVER__BODY_LIMIT"), "{message}");
        Ok(())
    });
}

#[test]
fn legacy_variables_mapped() {
    Jail::expect_with(|jail| {
        jail.set_env("PORT", "9090");
        jail.set_env("API_BASE_URL", "https://auth.example.com/");
        jail.set_env("API_RP_ID", "example.com");
        jail.set_env("JWT_SECRET", "s3cret");
        jail.set_env("APP_ID", "TEAM.com.example");
        jail.set_env("REDIS_URL", "redis://cache:6379");
        let config = load(&from_cli(&[])).expect("loads");
        let settings = &config.settings;
        assert_eq!(settings.server.listen.to_string(), "127.0.0.1:9090");
        assert_eq!(settings.server.public_url, "https://auth.example.com");
        assert_eq!(settings.store.redis_url, "redis://cache:6379");
        let figment = &config.figment;
        let rp_id: String = figment.extract_inner("plugins.passkey.rp_id").unwrap();
        assert_eq!(rp_id, "example.com");
        let secret: String = figment
            .extract_inner("plugins.jwt.key_encryption_secret")
            .unwrap();
        assert_eq!(secret, "s3cret");
        let app_id: String = figment
            .extract_inner("plugins.passkey.apple_app_id")
            .unwrap();
        assert_eq!(app_id, "TEAM.com.example");
        Ok(())
    });
}

#[test]
fn legacy_port_must_be_a_number() {
    Jail::expect_with(|jail| {
        jail.set_env("PORT", "eighty");
        let message = load(&from_cli(&[])).unwrap_err().to_string();
        assert!(message.contains("PORT"), "{message}");
        assert!(message.contains("server.listen"), "{message}");
        Ok(())
    });
}

#[test]
fn secrets_redacted_in_printout() {
    Jail::expect_with(|jail| {
        jail.set_env("JWT_SECRET", "s3cret-value");
        jail.set_env("REDIS_URL", "redis://:hunter2@cache:6379");
        let config = load(&from_cli(&[])).expect("loads");
        let text = redacted_toml(&config.figment).expect("prints");
        assert!(!text.contains("s3cret-value"), "{text}");
        assert!(!text.contains("hunter2"), "{text}");
        assert!(
            text.contains("key_encryption_secret = \"[redacted]\""),
            "{text}"
        );
        Ok(())
    });
}

#[test]
fn public_url_must_be_absolute() {
    Jail::expect_with(|jail| {
        jail.set_env("API_BASE_URL", "auth.example.com");
        let message = load(&from_cli(&[])).unwrap_err().to_string();
        assert!(message.contains("server.public_url"), "{message}");
        assert!(message.contains("API_BASE_URL"), "{message}");
        Ok(())
    });
}

#[test]
fn trusted_proxy_must_be_cidr() {
    Jail::expect_with(|jail| {
        jail.create_file("local.toml", "[server]\ntrusted_proxies = [\"10.0.0.1\"]")?;
        let message = load(&from_cli(&["local.toml"])).unwrap_err().to_string();
        assert!(message.contains("server.trusted_proxies"), "{message}");
        assert!(message.contains("local.toml"), "{message}");
        Ok(())
    });
}

#[test]
fn production_needs_public_url() {
    Jail::expect_with(|jail| {
        jail.set_env("LATCHKEY_PROFILE", "production");
        let message = load(&from_cli(&[])).unwrap_err().to_string();
        assert!(message.contains("server.public_url"), "{message}");
        assert!(message.contains("API_BASE_URL"), "{message}");
        Ok(())
    });
}

#[test]
fn production_needs_https_public_url() {
    Jail::expect_with(|jail| {
        jail.set_env("LATCHKEY_PROFILE", "production");
        jail.set_env("API_BASE_URL", "http://auth.example.com");
        let message = load(&from_cli(&[])).unwrap_err().to_string();
        assert!(message.contains("is not https"), "{message}");
        assert!(
            message.contains("environment variable API_BASE_URL"),
            "{message}"
        );
        Ok(())
    });
}

#[test]
fn toml_syntax_error_in_one_line() {
    Jail::expect_with(|jail| {
        jail.create_file("broken.toml", "[server\nlisten = 1")?;
        let message = load(&from_cli(&["broken.toml"])).unwrap_err().to_string();
        assert!(message.contains("broken.toml"), "{message}");
        assert!(!message.contains('\n'), "{message}");
        Ok(())
    });
}

#[test]
fn unknown_profile_names_its_origin() {
    Jail::expect_with(|_| {
        let sources = ConfigSources::from_cli(Some("prod".to_owned()), Vec::new());
        let message = load(&sources).unwrap_err().to_string();
        assert!(message.contains("--profile"), "{message}");
        Ok(())
    });
}

#[test]
fn plugin_switch_errors_name_each_key_once() {
    Jail::expect_with(|jail| {
        jail.create_file(
            "bad.toml",
            "[plugins.cors]\nenabled = \"maybe\"\n\n\
             [plugins.rate_limit.scope]\nexcept = [\"/api\", \"api/auth\"]\n",
        )?;
        let config = load(&from_cli(&["bad.toml"])).expect("the file itself loads");

        let error = Settings::plugin_switch(&config.figment, "cors").unwrap_err();
        let message = error.to_string();
        assert!(
            message.starts_with("invalid value for plugins.cors.enabled in "),
            "{message}"
        );
        assert!(message.contains("bad.toml"), "{message}");

        let error = Settings::plugin_switch(&config.figment, "rate_limit").unwrap_err();
        let message = error.to_string();
        assert!(
            message.starts_with("invalid value for plugins.rate_limit.scope.except[1] in "),
            "{message}"
        );
        assert!(message.contains("bad.toml"), "{message}");
        Ok(())
    });
}
