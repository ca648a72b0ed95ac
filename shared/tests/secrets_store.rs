//! `linli::secrets` against the SQS stand-in's Secrets Manager (moto serves both): the secret's
//! names are read once and win over the environment, the rest comes from the environment; a
//! malformed secret and a missing one are errors naming it. (The environment-only path, with no
//! `LINLI_SECRETS_ARN`, is a unit test; the e2e stack reads its secret this way at every init.)
#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a failed step should panic

use aws_sdk_secretsmanager::config::{BehaviorVersion, Credentials, Region};
use linli::config::Source;
use linli::secrets::{SecretsError, Settings};

fn client() -> aws_sdk_secretsmanager::Client {
    let endpoint = std::env::var("AWS_ENDPOINT_URL_SQS").expect(
        "AWS_ENDPOINT_URL_SQS is not set: run these tests through `make test` (moto serves Secrets Manager too)",
    );
    let config = aws_sdk_secretsmanager::Config::builder()
        .behavior_version(BehaviorVersion::latest())
        .region(Region::new("cn-north-1"))
        .endpoint_url(endpoint)
        .credentials_provider(Credentials::new(
            "local",
            "local",
            None,
            None,
            "linli-tests",
        ))
        .build();
    aws_sdk_secretsmanager::Client::from_conf(config)
}

async fn secret(client: &aws_sdk_secretsmanager::Client, text: &str) -> String {
    let name = format!("linli-test-{:08x}", fastrand::u32(..));
    let created = client
        .create_secret()
        .name(&name)
        .secret_string(text)
        .send()
        .await;
    created.unwrap().arn.unwrap()
}

#[tokio::test]
async fn the_secret_is_read_once_over_the_environment() {
    let client = client();
    let arn = secret(
        &client,
        r#"{"WECHAT_OA_TOKEN": "from-the-secret", "PATH": "secret-path"}"#,
    )
    .await;
    let settings = Settings::fetch(&client, &arn).await.unwrap();
    assert_eq!(
        settings.get("WECHAT_OA_TOKEN").as_deref(),
        Some("from-the-secret")
    );
    assert_eq!(
        settings.get("PATH").as_deref(),
        Some("secret-path"),
        "the secret wins"
    );
    assert_eq!(
        settings.get("HOME"),
        std::env::var("HOME").ok(),
        "the rest: the environment"
    );
    assert_eq!(settings.secret_names().count(), 2);
    assert!(!format!("{settings:?}").contains("from-the-secret"));
    // Changing the secret later changes nothing already read (read once, at init).
    let put = client
        .put_secret_value()
        .secret_id(&arn)
        .secret_string(r#"{"WECHAT_OA_TOKEN": "new"}"#);
    put.send().await.unwrap();
    assert_eq!(
        settings.get("WECHAT_OA_TOKEN").as_deref(),
        Some("from-the-secret")
    );
}

#[tokio::test]
async fn a_malformed_or_missing_secret_is_an_error_naming_it() {
    let client = client();
    let arn = secret(&client, r#"{"WECHAT_OA_TOKEN": {"nested": true}}"#).await;
    match Settings::fetch(&client, &arn).await {
        Err(SecretsError::Malformed { id, why }) => {
            assert_eq!(id, arn);
            assert!(why.contains("WECHAT_OA_TOKEN"), "{why}");
        }
        other => panic!("{other:?}"),
    }
    match Settings::fetch(&client, "linli-no-such-secret").await {
        Err(SecretsError::Unreadable { id, .. }) => assert_eq!(id, "linli-no-such-secret"),
        other => panic!("{other:?}"),
    }
}
