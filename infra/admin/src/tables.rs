//! Which tables, and the DynamoDB client: a table named by its flag, else by a running devstack
//! (`--stack-url`, its `GET /_local/stack`), else by the environment the functions use too
//! (`TABLE_LEDGER`, `TABLE_ORDERS`, `TABLE_CONFIG`). The client follows the usual AWS settings, so
//! `AWS_ENDPOINT_URL_DYNAMODB` points it at DynamoDB Local.

use crate::cli::TableArgs;
use crate::AdminError;
use aws_sdk_dynamodb::Client;
use linli::store::ledger::DynamoLedger;
use linli::store::members::DynamoMembers;
use linli::store::orders::DynamoOrders;
use linli::store::rules::DynamoRules;
use std::time::Duration;

/// The Ledger table: postings, profiles, identities and the adjustments' records.
pub struct LedgerTable {
    pub client: Client,
    pub name: String,
    pub ledger: DynamoLedger,
    pub members: DynamoMembers,
}

/// The Orders table: orders and their refunds.
pub struct OrdersTable {
    pub name: String,
    pub orders: DynamoOrders,
}

/// The GroupBuys table: rounds, their counters and lines.
pub struct GroupBuysTable {
    pub rounds: linli::store::rounds::DynamoRounds,
}

/// The Catalog table: stores and their SKUs.
pub struct CatalogTable {
    pub name: String,
    pub catalog: linli::store::catalog::DynamoCatalog,
}

/// The Config table: versioned rules.
pub struct ConfigTable {
    pub name: String,
    pub rules: DynamoRules,
    pub weather: linli::store::weather::DynamoWeather,
    pub delivery: linli::store::delivery_rules::DynamoDeliveryRules,
}

/// A table as the template names it, and how an operator names it.
struct Wanted<'a> {
    flag: Option<&'a str>,
    flag_name: &'static str,
    logical_id: &'static str,
    env: &'static str,
}

pub struct Tables<'a> {
    args: &'a TableArgs,
}

impl<'a> Tables<'a> {
    pub fn new(args: &'a TableArgs) -> Self {
        Self { args }
    }

    pub async fn ledger(&self) -> Result<LedgerTable, AdminError> {
        let name = self
            .name(Wanted {
                flag: self.args.ledger_table.as_deref(),
                flag_name: "--ledger-table",
                logical_id: "LedgerTable",
                env: "TABLE_LEDGER",
            })
            .await?;
        let client = dynamodb().await?;
        Ok(LedgerTable {
            ledger: DynamoLedger::new(client.clone(), name.clone()),
            members: DynamoMembers::new(client.clone(), name.clone()),
            client,
            name,
        })
    }

    pub async fn orders(&self) -> Result<OrdersTable, AdminError> {
        let name = self
            .name(Wanted {
                flag: self.args.orders_table.as_deref(),
                flag_name: "--orders-table",
                logical_id: "OrdersTable",
                env: "TABLE_ORDERS",
            })
            .await?;
        let client = dynamodb().await?;
        Ok(OrdersTable {
            orders: DynamoOrders::new(client, name.clone()),
            name,
        })
    }

    pub async fn catalog(&self) -> Result<CatalogTable, AdminError> {
        let name = self
            .name(Wanted {
                flag: self.args.catalog_table.as_deref(),
                flag_name: "--catalog-table",
                logical_id: "CatalogTable",
                env: "TABLE_CATALOG",
            })
            .await?;
        Ok(CatalogTable {
            catalog: linli::store::catalog::DynamoCatalog::new(dynamodb().await?, name.clone()),
            name,
        })
    }

    pub async fn group_buys(&self) -> Result<GroupBuysTable, AdminError> {
        let name = self
            .name(Wanted {
                flag: self.args.group_buys_table.as_deref(),
                flag_name: "--group-buys-table",
                logical_id: "GroupBuysTable",
                env: "TABLE_GROUP_BUYS",
            })
            .await?;
        Ok(GroupBuysTable {
            rounds: linli::store::rounds::DynamoRounds::new(dynamodb().await?, name),
        })
    }

    pub async fn config(&self) -> Result<ConfigTable, AdminError> {
        let name = self
            .name(Wanted {
                flag: self.args.config_table.as_deref(),
                flag_name: "--config-table",
                logical_id: "ConfigTable",
                env: "TABLE_CONFIG",
            })
            .await?;
        let client = dynamodb().await?;
        Ok(ConfigTable {
            rules: DynamoRules::new(client.clone(), name.clone()),
            weather: linli::store::weather::DynamoWeather::new(client.clone(), name.clone()),
            delivery: linli::store::delivery_rules::DynamoDeliveryRules::new(client, name.clone()),
            name,
        })
    }

    /// A queue's URL: from the devstack (`--stack-url`), else the environment (`env`, the name
    /// the functions use too, e.g. `QUEUE_COMPENSATIONS`, `QUEUE_COMPENSATIONS_DLQ`).
    pub async fn queue_url(
        &self,
        logical_id: &'static str,
        env: &str,
    ) -> Result<String, AdminError> {
        if let Some(url) = self.args.stack_url.as_deref() {
            return from_stack(url, logical_id).await;
        }
        match std::env::var(env) {
            Ok(url) if !url.trim().is_empty() => Ok(url.trim().to_owned()),
            _ => Err(AdminError::Usage(format!(
                "which {logical_id}? set {env} to its URL, or pass --stack-url \
                 http://127.0.0.1:3000 while `make up` runs"
            ))),
        }
    }

    async fn name(&self, wanted: Wanted<'_>) -> Result<String, AdminError> {
        if let Some(flag) = wanted.flag.map(str::trim) {
            if flag.is_empty() {
                return Err(AdminError::Usage(format!(
                    "{} is empty: give the table's name",
                    wanted.flag_name
                )));
            }
            return Ok(flag.to_owned());
        }
        if let Some(url) = self.args.stack_url.as_deref() {
            return from_stack(url, wanted.logical_id).await;
        }
        match std::env::var(wanted.env) {
            Ok(name) if !name.trim().is_empty() => Ok(name.trim().to_owned()),
            _ => Err(AdminError::Usage(format!(
                "which {} table? pass {} <name>, set {}, or pass --stack-url \
                 http://127.0.0.1:3000 while `make up` runs",
                wanted.logical_id.trim_end_matches("Table"),
                wanted.flag_name,
                wanted.env
            ))),
        }
    }
}

/// The name the devstack at `url` gave the template's table `logical_id`.
async fn from_stack(url: &str, logical_id: &str) -> Result<String, AdminError> {
    let url = format!("{}/_local/stack", url.trim_end_matches('/'));
    let unreachable = |why: String| {
        AdminError::Unreachable(format!(
            "cannot read the table names from {url}: {why}\n  fix: start the stack (`make up`) \
             or name the table with its flag"
        ))
    };
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(5))
        .build()
        .map_err(|e| unreachable(e.to_string()))?;
    let response = http
        .get(&url)
        .send()
        .await
        .map_err(|e| unreachable(e.to_string()))?;
    if !response.status().is_success() {
        return Err(unreachable(format!("HTTP {}", response.status())));
    }
    let stack: serde_json::Value = response
        .json()
        .await
        .map_err(|e| unreachable(format!("not the devstack's JSON: {e}")))?;
    stack
        .get("resources")
        .and_then(|r| r.get(logical_id))
        .and_then(serde_json::Value::as_str)
        .map(str::to_owned)
        .ok_or_else(|| unreachable(format!("the stack has no {logical_id}")))
}

/// A DynamoDB client from the usual AWS settings (built once per command).
async fn dynamodb() -> Result<Client, AdminError> {
    let config = aws_config::load_defaults(aws_config::BehaviorVersion::latest()).await;
    if config.region().is_none() {
        return Err(AdminError::Usage(
            "no AWS region: set AWS_REGION (for DynamoDB Local any region, e.g. cn-north-1)"
                .to_owned(),
        ));
    }
    Ok(Client::new(&config))
}
