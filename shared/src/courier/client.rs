//! The courier platforms over HTTP (the adapter): each call builds the platform's signed
//! request (`dada`, `sf`, `meituan`), sends it to the configured base URL and reads the answer.
//! A timeout, a 5xx or an answer that cannot be read is `Unsure`: the platform may have acted,
//! so the caller asks it again (query) before moving on.

use super::dada::{self, DadaConfig};
use super::meituan::{self, MeituanConfig};
use super::sf::{self, SfConfig};
use super::{CourierError, Created, Outbound, Platform, Remote, Shipment};
use crate::config::{optional, required, ConfigError, Source};
use std::time::Duration;

/// What each platform needs; a platform without its keys is not configured.
#[derive(Clone, Debug, Default)]
pub struct CourierConfig {
    pub dada: Option<(String, DadaConfig)>,
    pub sf: Option<(String, SfConfig)>,
    pub meituan: Option<(String, MeituanConfig)>,
    /// `LINLI_PUBLIC_BASE_URL`: Dada's per-waybill callback URL starts here.
    pub public_base: String,
    /// `SF_CALLBACK_TOKEN`, `MEITUAN_CALLBACK_TOKEN`: the path secrets of their callbacks.
    pub sf_callback_token: Option<String>,
    pub meituan_callback_token: Option<String>,
}

impl CourierConfig {
    pub fn from_source(source: &impl Source) -> Result<Self, ConfigError> {
        let base =
            |name, default: &str| optional(source, name).unwrap_or_else(|| default.to_owned());
        let dada = match optional(source, "DADA_APP_KEY") {
            Some(app_key) => Some((
                base("DADA_API_BASE", "https://newopen.imdada.cn"),
                DadaConfig {
                    app_key,
                    app_secret: required(source, "DADA_APP_SECRET")?,
                    source_id: required(source, "DADA_SOURCE_ID")?,
                },
            )),
            None => None,
        };
        let sf = match optional(source, "SF_DEV_ID") {
            Some(dev_id) if dev_id.parse::<i64>().is_err() => {
                return Err(ConfigError::Invalid {
                    name: "SF_DEV_ID",
                    why: "SF同城's developer id is a number".to_owned(),
                })
            }
            Some(dev_id) => Some((
                base("SF_API_BASE", "https://openic.sf-express.com"),
                SfConfig {
                    dev_id,
                    dev_key: required(source, "SF_DEV_KEY")?,
                },
            )),
            None => None,
        };
        let meituan = match optional(source, "MEITUAN_APP_KEY") {
            Some(app_key) => Some((
                base("MEITUAN_API_BASE", "https://peisongopen.meituan.com"),
                MeituanConfig {
                    app_key,
                    secret: required(source, "MEITUAN_SECRET")?,
                },
            )),
            None => None,
        };
        Ok(Self {
            dada,
            sf,
            meituan,
            public_base: required(source, "LINLI_PUBLIC_BASE_URL")?,
            sf_callback_token: optional(source, "SF_CALLBACK_TOKEN"),
            meituan_callback_token: optional(source, "MEITUAN_CALLBACK_TOKEN"),
        })
    }

    /// Dada's callback URL for a waybill with `token`.
    pub fn dada_callback(&self, token: &str) -> String {
        format!(
            "{}/courier/dada/callback/{token}",
            self.public_base.trim_end_matches('/')
        )
    }
}

#[derive(Clone, Debug)]
pub struct Couriers {
    http: reqwest::Client,
    pub config: CourierConfig,
}

impl Couriers {
    pub fn new(config: CourierConfig) -> Result<Self, reqwest::Error> {
        let http = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(2))
            .timeout(Duration::from_secs(5))
            .build()?;
        Ok(Self { http, config })
    }

    fn base(&self, platform: Platform) -> Result<&str, CourierError> {
        let base = match platform {
            Platform::Dada => self.config.dada.as_ref().map(|(b, _)| b),
            Platform::SfSameCity => self.config.sf.as_ref().map(|(b, _)| b),
            Platform::Meituan => self.config.meituan.as_ref().map(|(b, _)| b),
        };
        base.map(String::as_str)
            .ok_or(CourierError::NotConfigured(platform))
    }

    async fn send(&self, platform: Platform, out: Outbound) -> Result<Vec<u8>, CourierError> {
        let base = self.base(platform)?.trim_end_matches('/');
        let unsure = |why: String| CourierError::Unsure { platform, why };
        let response = self
            .http
            .post(format!("{base}{}", out.path))
            .header("content-type", out.content_type)
            .body(out.body)
            .send()
            .await
            .map_err(|e| unsure(format!("no answer: {e}")))?;
        let status = response.status();
        let body = response
            .bytes()
            .await
            .map_err(|e| unsure(format!("answer cut short: {e}")))?;
        if !status.is_success() {
            return Err(unsure(format!("HTTP {status}")));
        }
        Ok(body.to_vec())
    }

    /// `call`, as `platform`'s signed request.
    fn request(&self, platform: Platform, call: &Call<'_>) -> Result<Outbound, CourierError> {
        let missing = CourierError::NotConfigured(platform);
        Ok(match platform {
            Platform::Dada => {
                let (_, c) = self.config.dada.as_ref().ok_or(missing)?;
                match *call {
                    Call::Create(s) => dada::add_order(c, s),
                    Call::Query(order, at) => dada::query(c, order, at),
                    Call::Cancel(order, at) => dada::cancel(c, order, at),
                }
            }
            Platform::SfSameCity => {
                let (_, c) = self.config.sf.as_ref().ok_or(missing)?;
                match *call {
                    Call::Create(s) => sf::create(c, s),
                    Call::Query(order, at) => sf::query(c, order, at),
                    Call::Cancel(order, at) => sf::cancel(c, order, at),
                }
            }
            Platform::Meituan => {
                let (_, c) = self.config.meituan.as_ref().ok_or(missing)?;
                match *call {
                    Call::Create(s) => meituan::create(c, s),
                    Call::Query(order, at) => meituan::query(c, order, at),
                    Call::Cancel(order, at) => meituan::cancel(c, order, at),
                }
            }
        })
    }

    async fn call(&self, platform: Platform, call: Call<'_>) -> Result<Vec<u8>, CourierError> {
        let request = self.request(platform, &call)?;
        self.send(platform, request).await
    }

    /// Creates the waybill for `shipment` on `platform`.
    pub async fn create(
        &self,
        platform: Platform,
        shipment: &Shipment,
    ) -> Result<Created, CourierError> {
        let answer = self.call(platform, Call::Create(shipment)).await?;
        match platform {
            Platform::Dada => dada::created(shipment.order_id.as_str(), &answer),
            Platform::SfSameCity => sf::created(&answer),
            Platform::Meituan => meituan::created(&answer),
        }
    }

    /// The waybill `platform` holds for Linli's `order` (Refused: it holds none it will show).
    pub async fn query(
        &self,
        platform: Platform,
        order: &str,
        timestamp: i64,
    ) -> Result<Remote, CourierError> {
        let answer = self.call(platform, Call::Query(order, timestamp)).await?;
        match platform {
            Platform::Dada => dada::remote(order, &answer),
            Platform::SfSameCity => sf::remote(&answer),
            Platform::Meituan => meituan::remote(&answer),
        }
    }

    /// Cancels the waybill `platform` holds for Linli's `order`.
    pub async fn cancel(
        &self,
        platform: Platform,
        order: &str,
        timestamp: i64,
    ) -> Result<(), CourierError> {
        let answer = self.call(platform, Call::Cancel(order, timestamp)).await?;
        match platform {
            Platform::Dada => dada::cancelled(&answer),
            Platform::SfSameCity => sf::cancelled(&answer),
            Platform::Meituan => meituan::cancelled(&answer),
        }
    }
}

/// One platform call: what to create, or which order to query or cancel (Unix seconds).
enum Call<'a> {
    Create(&'a Shipment),
    Query(&'a str, i64),
    Cancel(&'a str, i64),
}
