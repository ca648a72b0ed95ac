//! `store::checkpoints` against DynamoDB Local: a checkpoint round-trips, and of two runs that
//! read the same version only the first save lands.
#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a failed step should panic

mod common;

use common::{at, client, config_table, NOW_MS};
use linli::store::checkpoints::{Checkpoint, CheckpointKey, CheckpointStore, DynamoCheckpoints};
use serde::{Deserialize, Serialize};

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
struct Progress {
    period: String,
    cursor: Option<String>,
    done: bool,
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_checkpoint_round_trips_and_a_stale_save_is_refused() {
    let client = client();
    let table = config_table(&client, "checkpoints").await;
    let store = DynamoCheckpoints::new(client, table);
    let key = CheckpointKey::segment("ExpireLots", 2);
    assert!(store.load::<Progress>(&key).await.unwrap().is_none());

    let first = Progress {
        period: "2026-11".into(),
        cursor: Some(r#"["MEMBER#01","PROFILE"]"#.into()),
        done: false,
    };
    assert!(store.save(&key, 0, &first, at(NOW_MS)).await.unwrap());
    assert!(
        !store.save(&key, 0, &first, at(NOW_MS)).await.unwrap(),
        "a second run that also started from nothing is refused"
    );
    let loaded: Checkpoint<Progress> = store.load(&key).await.unwrap().unwrap();
    assert_eq!(loaded.version, 1);
    assert_eq!(loaded.state, first);

    let done = Progress {
        cursor: None,
        done: true,
        ..first
    };
    assert!(store.save(&key, 1, &done, at(NOW_MS)).await.unwrap());
    assert!(!store.save(&key, 1, &done, at(NOW_MS)).await.unwrap());
    let loaded: Checkpoint<Progress> = store.load(&key).await.unwrap().unwrap();
    assert_eq!((loaded.version, loaded.state), (2, done));
}
