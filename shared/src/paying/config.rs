//! The WeChat Pay settings every function that calls WeChat Pay shares (DESIGN §7), read once.

use crate::config::{optional, parsed, required, ConfigError, Source};
use crate::wechat::pay_api::{Merchant, PayApi};
use crate::wechat::pay_v2::SignType;
use crate::wechat::pay_v3::{Platform, RsaSigner};
use crate::wechat::pay_v3_api::V3Merchant;

/// How Linli reaches WeChat Pay: which API creates payments and refunds, as whom, and where
/// WeChat Pay calls back.
#[derive(Clone, Debug)]
pub struct PayConfig {
    /// `WECHAT_PAY_API` (default v2): new payments and refunds go through it.
    pub api: PayApi,
    /// `WECHAT_PAY_API_BASE` (default `https://api.mch.weixin.qq.com`).
    pub api_base: String,
    /// v2: the API key signs (`WECHAT_PAY_SIGN_TYPE`, default HMAC-SHA256).
    pub merchant: Merchant,
    /// v3: present whenever its four settings are (orders made through v3 are still closed
    /// through v3 after a switch back to v2); required when `api` is v3.
    pub v3: Option<V3Merchant>,
    /// `LINLI_PUBLIC_BASE_URL` + `/wechat/pay/notify`, `/wechat/pay/refund-notify`,
    /// `/wechat/pay/v3/notify` (v3 sends payment and refund notifies to the same route).
    pub notify_url: String,
    pub refund_notify_url: String,
    pub v3_notify_url: String,
    /// The merchant certificate (PEM) presented over mTLS to v2's `secapi`; absent locally.
    pub mch_cert: Option<String>,
    /// Its private key (PEM): mTLS for v2, request signing for v3.
    pub mch_private_key: Option<String>,
}

/// A PEM given inline (`\n` may be written as the two characters `\n`, as env files need) or
/// as the path of a file holding it.
pub fn pem(source: &impl Source, name: &'static str) -> Result<Option<String>, ConfigError> {
    let Some(value) = optional(source, name) else {
        return Ok(None);
    };
    if value.contains("-----BEGIN") {
        return Ok(Some(value.replace("\\n", "\n")));
    }
    std::fs::read_to_string(value.trim())
        .map(Some)
        .map_err(|e| ConfigError::Invalid {
            name,
            why: format!("neither a PEM nor a readable file ({e}): give the PEM or its path"),
        })
}

impl PayConfig {
    pub fn from_source(source: &impl Source) -> Result<Self, ConfigError> {
        let api = match optional(source, "WECHAT_PAY_API") {
            Some(_) => parsed::<PayApi>(source, "WECHAT_PAY_API")?,
            None => PayApi::V2,
        };
        let sign_type = match optional(source, "WECHAT_PAY_SIGN_TYPE") {
            Some(_) => parsed::<SignType>(source, "WECHAT_PAY_SIGN_TYPE")?,
            None => SignType::HmacSha256,
        };
        let merchant = Merchant {
            appid: required(source, "WECHAT_MINI_APP_ID")?,
            mch_id: required(source, "WECHAT_PAY_MCH_ID")?,
            api_key: required(source, "WECHAT_PAY_API_KEY")?,
            sign_type,
        };
        let mch_cert = pem(source, "WECHAT_PAY_MCH_CERT")?;
        let mch_private_key = pem(source, "WECHAT_PAY_MCH_PRIVATE_KEY")?;
        if mch_cert.is_some() && mch_private_key.is_none() {
            return Err(ConfigError::Invalid {
                name: "WECHAT_PAY_MCH_CERT",
                why: "the certificate needs its key: set WECHAT_PAY_MCH_PRIVATE_KEY too".to_owned(),
            });
        }
        let v3 = v3_merchant(source, &merchant, mch_private_key.as_deref(), api)?;
        let public_base = required(source, "LINLI_PUBLIC_BASE_URL")?;
        let route = |path: &str| format!("{}{path}", public_base.trim_end_matches('/'));
        Ok(Self {
            api,
            api_base: optional(source, "WECHAT_PAY_API_BASE")
                .unwrap_or_else(|| "https://api.mch.weixin.qq.com".to_owned()),
            merchant,
            v3,
            notify_url: route("/wechat/pay/notify"),
            refund_notify_url: route("/wechat/pay/refund-notify"),
            v3_notify_url: route("/wechat/pay/v3/notify"),
            mch_cert,
            mch_private_key,
        })
    }
}

/// The v3 merchant, when its settings are all there (all required when `api` is v3).
fn v3_merchant(
    source: &impl Source,
    merchant: &Merchant,
    private_key: Option<&str>,
    api: PayApi,
) -> Result<Option<V3Merchant>, ConfigError> {
    let serial = optional(source, "WECHAT_PAY_MCH_SERIAL");
    let platform_serial = optional(source, "WECHAT_PAY_PLATFORM_SERIAL");
    let platform_key = pem(source, "WECHAT_PAY_PLATFORM_PUBLIC_KEY")?;
    let (serial, key, platform_serial, platform_key) =
        match (serial, private_key, platform_serial, platform_key) {
            (Some(s), Some(k), Some(ps), Some(pk)) => (s, k, ps, pk),
            (s, k, ps, _) if api == PayApi::V3 => {
                let missing = if s.is_none() {
                    "WECHAT_PAY_MCH_SERIAL"
                } else if k.is_none() {
                    "WECHAT_PAY_MCH_PRIVATE_KEY"
                } else if ps.is_none() {
                    "WECHAT_PAY_PLATFORM_SERIAL"
                } else {
                    "WECHAT_PAY_PLATFORM_PUBLIC_KEY"
                };
                return Err(ConfigError::Missing(missing));
            }
            _ => return Ok(None),
        };
    let invalid = |name: &'static str| {
        move |e: crate::wechat::pay_v3::V3Error| ConfigError::Invalid {
            name,
            why: e.to_string(),
        }
    };
    Ok(Some(V3Merchant {
        appid: merchant.appid.clone(),
        mch_id: merchant.mch_id.clone(),
        serial: serial.trim().to_owned(),
        signer: RsaSigner::new(key).map_err(invalid("WECHAT_PAY_MCH_PRIVATE_KEY"))?,
        platform: Platform::new(&platform_serial, &platform_key)
            .map_err(invalid("WECHAT_PAY_PLATFORM_PUBLIC_KEY"))?,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    fn local() -> BTreeMap<String, String> {
        let env = include_str!("../../../infra/local/local.env");
        env.lines()
            .filter(|l| !l.trim_start().starts_with('#'))
            .filter_map(|l| l.split_once('='))
            .map(|(k, v)| (k.trim().to_owned(), v.trim().trim_matches('"').to_owned()))
            .collect()
    }

    #[test]
    fn v2_alone_needs_four_settings_and_names_what_is_missing() {
        let full = [
            ("WECHAT_MINI_APP_ID", "wxmini"),
            ("WECHAT_PAY_MCH_ID", "1900000109"),
            ("WECHAT_PAY_API_KEY", "key"),
            ("LINLI_PUBLIC_BASE_URL", "https://linli.example/"),
        ];
        let env = |pairs: &[(&str, &str)]| -> BTreeMap<String, String> {
            pairs
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                .collect()
        };
        let config = PayConfig::from_source(&env(&full)).unwrap();
        assert_eq!(
            config.refund_notify_url,
            "https://linli.example/wechat/pay/refund-notify"
        );
        assert_eq!(config.api_base, "https://api.mch.weixin.qq.com");
        assert!(config.v3.is_none());
        assert_eq!(
            PayConfig::from_source(&env(&[full[0], full[1], full[3]])).unwrap_err(),
            ConfigError::Missing("WECHAT_PAY_API_KEY")
        );
    }

    #[test]
    fn the_local_settings_make_both_merchants() {
        let mut source = local();
        let config = PayConfig::from_source(&source).unwrap();
        assert_eq!(config.api, PayApi::V2);
        assert!(config.v3.is_some(), "v3 settings are all there locally");
        assert!(config.v3_notify_url.ends_with("/wechat/pay/v3/notify"));
        source.insert("WECHAT_PAY_API".into(), "v3".into());
        assert_eq!(PayConfig::from_source(&source).unwrap().api, PayApi::V3);
        source.insert("WECHAT_PAY_API".into(), "v4".into());
        assert!(matches!(
            PayConfig::from_source(&source),
            Err(ConfigError::Invalid {
                name: "WECHAT_PAY_API",
                ..
            })
        ));
    }

    #[test]
    fn v3_without_its_settings_names_what_is_missing_and_v2_does_without() {
        let mut source = local();
        source.remove("WECHAT_PAY_MCH_SERIAL");
        assert!(PayConfig::from_source(&source).unwrap().v3.is_none());
        source.insert("WECHAT_PAY_API".into(), "v3".into());
        assert_eq!(
            PayConfig::from_source(&source).unwrap_err(),
            ConfigError::Missing("WECHAT_PAY_MCH_SERIAL")
        );
        source.insert("WECHAT_PAY_MCH_SERIAL".into(), "S".into());
        source.insert(
            "WECHAT_PAY_MCH_PRIVATE_KEY".into(),
            "-----BEGIN junk".into(),
        );
        assert!(matches!(
            PayConfig::from_source(&source),
            Err(ConfigError::Invalid {
                name: "WECHAT_PAY_MCH_PRIVATE_KEY",
                ..
            })
        ));
    }

    #[test]
    fn a_certificate_needs_its_key_and_a_path_must_be_readable() {
        let mut source = local();
        source.remove("WECHAT_PAY_MCH_PRIVATE_KEY");
        source.insert(
            "WECHAT_PAY_MCH_CERT".into(),
            "-----BEGIN CERTIFICATE-----".into(),
        );
        assert!(matches!(
            PayConfig::from_source(&source),
            Err(ConfigError::Invalid {
                name: "WECHAT_PAY_MCH_CERT",
                ..
            })
        ));
        source.insert("WECHAT_PAY_MCH_CERT".into(), "/nonexistent/cert.pem".into());
        let error = PayConfig::from_source(&source).unwrap_err().to_string();
        assert!(error.contains("readable file"), "{error}");
    }
}
