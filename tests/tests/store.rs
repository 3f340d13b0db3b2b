//! The store contract, run against the memory backend and a real `redis-server`.

use std::sync::Arc;
use std::time::Duration;

use latchkey::store::{MemoryStore, RedisStore};
use latchkey_sdk::capability::Store;
use latchkey_tests::RedisServer;
use redis::AsyncCommands;

const PREFIX: &str = "test:";

async fn with_each_backend<F, Fut>(check: F)
where
    F: Fn(Arc<dyn Store>) -> Fut,
    Fut: std::future::Future<Output = ()>,
{
    check(Arc::new(MemoryStore::new())).await;

    let redis = RedisServer::start();
    let store = RedisStore::connect(&redis.url(), PREFIX)
        .await
        .expect("Redis reachable");
    check(Arc::new(store)).await;
}

#[tokio::test]
async fn concurrent_takes_yield_one_value() {
    with_each_backend(|store| async move {
        store.set("challenge", b"state", None).await.unwrap();
        let takers: Vec<_> = (0..16)
            .map(|_| {
                let store = Arc::clone(&store);
                tokio::spawn(async move { store.take("challenge").await.unwrap() })
            })
            .collect();
        let mut winners = 0;
        for taker in takers {
            if taker.await.unwrap().is_some() {
                winners += 1;
            }
        }
        assert_eq!(winners, 1);
        assert_eq!(store.get("challenge").await.unwrap(), None);
    })
    .await;
}

#[tokio::test]
async fn concurrent_inserts_have_one_winner() {
    with_each_backend(|store| async move {
        let inserters: Vec<_> = (0..16u8)
            .map(|index| {
                let store = Arc::clone(&store);
                tokio::spawn(async move {
                    store
                        .insert_new("credential", &[index], None)
                        .await
                        .unwrap()
                })
            })
            .collect();
        let mut winners = 0;
        for inserter in inserters {
            if inserter.await.unwrap() {
                winners += 1;
            }
        }
        assert_eq!(winners, 1);
    })
    .await;
}

#[tokio::test]
async fn compare_and_swap_loses_no_update() {
    with_each_backend(|store| async move {
        store.set("counter", b"0", None).await.unwrap();
        let writers: Vec<_> = (0..8)
            .map(|_| {
                let store = Arc::clone(&store);
                tokio::spawn(async move {
                    loop {
                        let current = store.get("counter").await.unwrap().unwrap();
                        let value: u32 = std::str::from_utf8(&current).unwrap().parse().unwrap();
                        let next = (value + 1).to_string();
                        let swapped = store
                            .compare_and_swap("counter", Some(&current), next.as_bytes(), None)
                            .await
                            .unwrap();
                        if swapped {
                            return;
                        }
                    }
                })
            })
            .collect();
        for writer in writers {
            writer.await.unwrap();
        }
        assert_eq!(store.get("counter").await.unwrap(), Some(b"8".to_vec()));
        assert!(
            !store
                .compare_and_swap("counter", None, b"x", None)
                .await
                .unwrap()
        );
        assert!(
            store
                .compare_and_swap("fresh", None, b"x", None)
                .await
                .unwrap()
        );
    })
    .await;
}

#[tokio::test]
async fn expiring_values_disappear() {
    with_each_backend(|store| async move {
        let ttl = Some(Duration::from_millis(50));
        store.set("short", b"v", ttl).await.unwrap();
        assert!(store.insert_new("short-new", b"v", ttl).await.unwrap());
        assert!(store.get("short").await.unwrap().is_some());
        tokio::time::sleep(Duration::from_millis(120)).await;
        assert_eq!(store.get("short").await.unwrap(), None);
        assert_eq!(store.take("short-new").await.unwrap(), None);
        assert!(!store.delete("short").await.unwrap());
    })
    .await;
}

#[tokio::test]
async fn increment_counts_within_window() {
    with_each_backend(|store| async move {
        let window = Duration::from_secs(60);
        assert_eq!(store.increment("hits", 1, window).await.unwrap(), 1);
        assert_eq!(store.increment("hits", 4, window).await.unwrap(), 5);
        let keys = store.keys("hi").await.unwrap();
        assert_eq!(keys, ["hits"]);
    })
    .await;
}

#[tokio::test]
async fn redis_keys_carry_prefix_and_ttl() {
    let redis = RedisServer::start();
    let store = RedisStore::connect(&redis.url(), PREFIX).await.unwrap();
    store.set("kept", b"v", None).await.unwrap();
    store
        .set("expiring", b"v", Some(Duration::from_secs(30)))
        .await
        .unwrap();
    store
        .increment("counted", 1, Duration::from_secs(30))
        .await
        .unwrap();
    store
        .compare_and_swap("swapped", None, b"v", Some(Duration::from_secs(30)))
        .await
        .unwrap();

    let mut connection = redis.connection().await;
    let mut raw: Vec<String> = connection.keys("*").await.unwrap();
    raw.sort();
    assert_eq!(
        raw,
        ["test:counted", "test:expiring", "test:kept", "test:swapped"]
    );
    for key in ["test:counted", "test:expiring", "test:swapped"] {
        let ttl: i64 = connection.pttl(key).await.unwrap();
        assert!(ttl > 0, "{key} has PTTL {ttl}");
        assert!(ttl <= 30_000, "{key} has PTTL {ttl}");
    }
    let ttl: i64 = connection.pttl("test:kept").await.unwrap();
    assert_eq!(ttl, -1);
}

#[tokio::test]
async fn unreachable_redis_is_unavailable() {
    let redis = RedisServer::start();
    let store = RedisStore::connect(&redis.url(), PREFIX).await.unwrap();
    drop(redis);
    let error = store.get("anything").await.unwrap_err();
    assert!(
        matches!(error, latchkey_sdk::capability::StoreError::Unavailable(_)),
        "{error:?}"
    );
}
