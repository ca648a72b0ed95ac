//! `linli-admin weather show|set <city> [normal|rain|storm|heat]`: the weather that prices
//! deliveries from a city's stores (rain ×1.3, storm ×1.6, heat ×1.2 by default), set by
//! operators as it changes; a city never set is normal.

use crate::cli::WeatherCommand;
use crate::output::Outcome;
use crate::tables::ConfigTable;
use crate::AdminError;
use linli::delivery::Weather;
use linli::store::weather::WeatherStore;
use serde_json::json;

pub async fn run(table: &ConfigTable, command: WeatherCommand) -> Result<Outcome, AdminError> {
    match command {
        WeatherCommand::Show { city } => show(table, &city).await,
        WeatherCommand::Set {
            city,
            weather,
            operator,
        } => {
            let weather: Weather = serde_json::from_value(json!(weather)).map_err(|_| {
                AdminError::Problem(format!(
                    "unknown weather {weather:?}: normal, rain, storm or heat"
                ))
            })?;
            if city.trim().is_empty() || operator.trim().is_empty() {
                return Err(AdminError::Problem(
                    "city and --operator must not be empty".into(),
                ));
            }
            let now = crate::now()?;
            table
                .weather
                .set_weather(&city, weather, &operator, now)
                .await?;
            show(table, &city).await
        }
    }
}

async fn show(table: &ConfigTable, city: &str) -> Result<Outcome, AdminError> {
    let found = table.weather.weather(city).await?;
    let by = found
        .set_by
        .as_ref()
        .map(|(who, at)| format!(" (set by {who} at {at})"))
        .unwrap_or_else(|| " (never set)".to_owned());
    Ok(Outcome {
        text: format!(
            "{city}: {:?} — {}{by}\n",
            found.weather,
            found.weather.name()
        ),
        json: json!({
            "city": city, "weather": found.weather,
            "set_by": found.set_by.as_ref().map(|(who, _)| who),
            "set_at": found.set_by.as_ref().map(|(_, at)| at.to_string()),
        }),
        problem: false,
    })
}
