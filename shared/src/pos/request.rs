//! The bodies tills send (pure): parsed into domain types, or an error naming the field.
//!
//! `POST /pos/sales` `{"store_id", "till", "sale_id", "member_code", "goods_fen"}`;
//! `POST /pos/returns` `{"store_id", "till", "return_id", "sale_id", "returned_fen"}`.
//! `store_id` must equal `X-Linli-Store` (the signing store); amounts are whole fen, positive and
//! at most `MAX_SALE_FEN`. Unknown fields are ignored.

use crate::ids::{ReturnId, SaleId, StoreId, TillId};
use crate::money::Fen;
use serde_json::{Map, Value};

/// The largest amount one sale or return may carry: 1,000,000 yuan (a sanity bound, far above
/// any neighbourhood-store basket, that keeps every product of amounts inside i64).
pub const MAX_SALE_FEN: i64 = 100_000_000;

/// A body that is not what the route expects; `field` names the culprit (`body` for the whole).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {why}")]
pub struct InvalidInput {
    pub field: &'static str,
    pub why: &'static str,
}

fn invalid(field: &'static str, why: &'static str) -> InvalidInput {
    InvalidInput { field, why }
}

/// A sale as the till posts it. The member code is checked by `member_code`, not here.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SaleRequest {
    pub store: StoreId,
    pub till: TillId,
    pub sale: SaleId,
    pub member_code: String,
    pub goods_fen: Fen,
}

/// A return of (part of) a sale's goods, as the till posts it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReturnRequest {
    pub store: StoreId,
    pub till: TillId,
    pub ret: ReturnId,
    pub sale: SaleId,
    pub returned_fen: Fen,
}

fn object(body: &[u8]) -> Result<Map<String, Value>, InvalidInput> {
    match serde_json::from_slice::<Value>(body) {
        Ok(Value::Object(map)) => Ok(map),
        Ok(_) => Err(invalid("body", "must be a JSON object")),
        Err(_) => Err(invalid("body", "must be JSON")),
    }
}

fn text<'a>(map: &'a Map<String, Value>, field: &'static str) -> Result<&'a str, InvalidInput> {
    match map.get(field) {
        Some(Value::String(s)) if !s.is_empty() => Ok(s),
        Some(Value::String(_)) | None | Some(Value::Null) => Err(invalid(field, "is required")),
        Some(_) => Err(invalid(field, "must be a string")),
    }
}

fn id<T>(
    map: &Map<String, Value>,
    field: &'static str,
    parse: impl Fn(&str) -> Result<T, crate::ids::IdError>,
) -> Result<T, InvalidInput> {
    let why = "must be a short id of A–Z a–z 0–9 _ . -";
    parse(text(map, field)?).map_err(|_| invalid(field, why))
}

fn amount(map: &Map<String, Value>, field: &'static str) -> Result<Fen, InvalidInput> {
    let value = map.get(field).ok_or(invalid(field, "is required"))?;
    let fen = value
        .as_i64()
        .ok_or(invalid(field, "must be a whole number of fen"))?;
    if !(1..=MAX_SALE_FEN).contains(&fen) {
        return Err(invalid(field, "must be 1 to 100000000 fen"));
    }
    Ok(Fen::new(fen))
}

/// The store named in the body, which must be the signing store.
fn store(map: &Map<String, Value>, signer: &StoreId) -> Result<StoreId, InvalidInput> {
    let store = id(map, "store_id", StoreId::parse)?;
    if &store != signer {
        return Err(invalid("store_id", "must be the store of X-Linli-Store"));
    }
    Ok(store)
}

impl SaleRequest {
    pub fn parse(body: &[u8], signer: &StoreId) -> Result<Self, InvalidInput> {
        let map = object(body)?;
        let member_code = text(&map, "member_code")?;
        if member_code.len() > 256 {
            return Err(invalid("member_code", "is too long"));
        }
        Ok(Self {
            store: store(&map, signer)?,
            till: id(&map, "till", TillId::parse)?,
            sale: id(&map, "sale_id", SaleId::parse)?,
            member_code: member_code.to_owned(),
            goods_fen: amount(&map, "goods_fen")?,
        })
    }
}

impl ReturnRequest {
    pub fn parse(body: &[u8], signer: &StoreId) -> Result<Self, InvalidInput> {
        let map = object(body)?;
        Ok(Self {
            store: store(&map, signer)?,
            till: id(&map, "till", TillId::parse)?,
            ret: id(&map, "return_id", ReturnId::parse)?,
            sale: id(&map, "sale_id", SaleId::parse)?,
            returned_fen: amount(&map, "returned_fen")?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use serde_json::json;

    fn signer() -> StoreId {
        StoreId::parse("S1").unwrap()
    }

    fn sale(body: Value) -> Result<SaleRequest, InvalidInput> {
        SaleRequest::parse(body.to_string().as_bytes(), &signer())
    }

    fn field(result: Result<SaleRequest, InvalidInput>) -> &'static str {
        result.unwrap_err().field
    }

    #[test]
    fn a_sale_parses_into_domain_types() {
        let parsed = sale(json!({
            "store_id": "S1", "till": "T-2", "sale_id": "20261124-0042",
            "member_code": "LM1.x.1.y", "goods_fen": 12_990, "extra": true
        }))
        .unwrap();
        assert_eq!(parsed.sale.as_str(), "20261124-0042");
        assert_eq!(parsed.goods_fen, Fen::new(12_990));
    }

    #[test]
    fn bad_sales_name_the_field() {
        let ok = json!({
            "store_id": "S1", "till": "T", "sale_id": "A", "member_code": "c", "goods_fen": 100
        });
        let with = |k: &str, v: Value| {
            let mut b = ok.clone();
            b[k] = v;
            b
        };
        assert_eq!(field(sale(with("store_id", json!("S2")))), "store_id");
        assert_eq!(field(sale(with("till", json!("a#b")))), "till");
        assert_eq!(field(sale(with("sale_id", json!(7)))), "sale_id");
        assert_eq!(field(sale(with("member_code", json!("")))), "member_code");
        assert_eq!(field(sale(with("goods_fen", json!(0)))), "goods_fen");
        assert_eq!(field(sale(with("goods_fen", json!(12.5)))), "goods_fen");
        assert_eq!(field(sale(with("goods_fen", json!("100")))), "goods_fen");
        assert_eq!(
            field(sale(with("goods_fen", json!(MAX_SALE_FEN + 1)))),
            "goods_fen"
        );
        assert_eq!(
            field(SaleRequest::parse(b"[1]", &signer())),
            "body",
            "not an object"
        );
        assert_eq!(field(SaleRequest::parse(b"{", &signer())), "body");
    }

    #[test]
    fn a_return_names_its_sale_and_amount() {
        let body = json!({
            "store_id": "S1", "till": "T", "return_id": "R1", "sale_id": "A", "returned_fen": 500
        });
        let parsed = ReturnRequest::parse(body.to_string().as_bytes(), &signer()).unwrap();
        assert_eq!(
            (parsed.ret.as_str(), parsed.returned_fen),
            ("R1", Fen::new(500))
        );
        let negative = json!({
            "store_id": "S1", "till": "T", "return_id": "R1", "sale_id": "A", "returned_fen": -5
        });
        let refused = ReturnRequest::parse(negative.to_string().as_bytes(), &signer());
        assert_eq!(refused.unwrap_err().field, "returned_fen");
    }

    proptest! {
        #[test]
        fn parsers_never_panic(body in proptest::collection::vec(any::<u8>(), 0..300)) {
            let _ = SaleRequest::parse(&body, &signer());
            let _ = ReturnRequest::parse(&body, &signer());
        }
    }
}
