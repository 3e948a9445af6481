//! What a route can do wrong ([`Fault`], [`Stall`]) and the route names faults attach to.

use std::fmt;
use std::time::Duration;

use serde::{Serialize, Serializer};

use crate::units::format_duration;

/// The fault route names accepted by `--fault` and `/admin/faults/{route}`; `*` means every route.
pub const ROUTES: &[&str] =
    &["login", "account", "products", "product", "product-page", "cart", "checkout", "static", "store", "*"];

/// Index of the wildcard in [`ROUTES`]; requests outside the named routes (redirect helpers, unknown
/// paths) only see the wildcard's fault.
pub(crate) const WILDCARD: usize = ROUTES.len() - 1;

/// What a route does wrong. Fields combine: latency is added first, then hang / reset / error-rate /
/// status decide the answer, then stall holds whatever answer was produced.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize)]
pub struct Fault {
    /// Answer this status (with a small JSON error body) instead of running the handler.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub status: Option<u16>,
    /// Added before the request is handled.
    #[serde(skip_serializing_if = "Option::is_none", serialize_with = "ser_opt_duration")]
    pub latency: Option<Duration>,
    /// This fraction of requests (0.0..=1.0) answers 500.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error_rate: Option<f64>,
    /// Never answer (until the shop shuts down).
    #[serde(skip_serializing_if = "is_false")]
    pub hang: bool,
    /// Close the connection with a TCP RST before any response byte.
    #[serde(skip_serializing_if = "is_false")]
    pub reset: bool,
    /// Hold responses produced inside the stall window of each period.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stall: Option<Stall>,
    /// A storefront breakage only a browser sees: the bundle is served changed (the HTTP answer stays 200).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ui: Option<UiFault>,
}

/// How the storefront bundle (`/static/app.js`) is broken by a `ui:` fault: each is a real-world deploy
/// mistake that leaves every API green.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum UiFault {
    /// The bundle throws an uncaught error on load, so nothing on any page works.
    JsError,
    /// The cart renders its rows but not the `#checkout` button.
    NoCheckout,
    /// The product page's `#price` element is never filled.
    EmptyPrice,
}

impl UiFault {
    pub const ALL: [UiFault; 3] = [UiFault::JsError, UiFault::NoCheckout, UiFault::EmptyPrice];

    pub fn name(self) -> &'static str {
        match self {
            UiFault::JsError => "js-error",
            UiFault::NoCheckout => "no-checkout",
            UiFault::EmptyPrice => "empty-price",
        }
    }

    pub fn parse(text: &str) -> Result<UiFault, String> {
        UiFault::ALL.into_iter().find(|u| u.name() == text).ok_or_else(|| {
            let valid: Vec<&str> = UiFault::ALL.iter().map(|u| u.name()).collect();
            format!("unknown ui fault `{text}`; valid: {}", valid.join(", "))
        })
    }
}

impl Fault {
    pub fn status(code: u16) -> Fault {
        Fault { status: Some(code), ..Fault::default() }
    }
    pub fn latency(d: Duration) -> Fault {
        Fault { latency: Some(d), ..Fault::default() }
    }
    pub fn error_rate(rate: f64) -> Fault {
        Fault { error_rate: Some(rate), ..Fault::default() }
    }
    pub fn hang() -> Fault {
        Fault { hang: true, ..Fault::default() }
    }
    pub fn reset() -> Fault {
        Fault { reset: true, ..Fault::default() }
    }
    pub fn stall(stall: Stall) -> Fault {
        Fault { stall: Some(stall), ..Fault::default() }
    }
    pub fn ui(ui: UiFault) -> Fault {
        Fault { ui: Some(ui), ..Fault::default() }
    }

    /// True when the fault does nothing (storing it is the same as clearing the route).
    pub fn is_empty(&self) -> bool {
        *self == Fault::default()
    }

    /// `self` with every field set in `over` replaced by `over`'s value.
    pub(crate) fn overlaid_with(mut self, over: &Fault) -> Fault {
        self.status = over.status.or(self.status);
        self.latency = over.latency.or(self.latency);
        self.error_rate = over.error_rate.or(self.error_rate);
        self.hang |= over.hang;
        self.reset |= over.reset;
        self.stall = over.stall.or(self.stall);
        self.ui = over.ui.or(self.ui);
        self
    }

    /// Checks the values a person can get wrong through the public fields or the admin API.
    pub fn validate(&self) -> Result<(), String> {
        if let Some(code) = self.status {
            if !(200..=599).contains(&code) {
                return Err(format!("status {code} is out of range: use a final HTTP status 200..=599"));
            }
        }
        if let Some(rate) = self.error_rate {
            if !(0.0..=1.0).contains(&rate) {
                return Err(format!("error-rate {rate} is out of range: use a fraction 0.0..=1.0"));
            }
        }
        Ok(())
    }
}

/// The spec syntax (`status:503,latency:300ms`), the same text `--fault` takes after `ROUTE=`.
impl fmt::Display for Fault {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut parts: Vec<String> = Vec::new();
        if let Some(code) = self.status {
            parts.push(format!("status:{code}"));
        }
        if let Some(d) = self.latency {
            parts.push(format!("latency:{}", format_duration(d)));
        }
        if let Some(rate) = self.error_rate {
            parts.push(format!("error-rate:{rate}"));
        }
        if self.hang {
            parts.push("hang".into());
        }
        if self.reset {
            parts.push("reset".into());
        }
        if let Some(s) = self.stall {
            parts.push(format!("stall:{s}"));
        }
        if let Some(u) = self.ui {
            parts.push(format!("ui:{}", u.name()));
        }
        f.write_str(&parts.join(","))
    }
}

/// Responses produced during the first `window` of every `period` (counted from the shop's start) are
/// held until the window ends: a periodic full stall, the benchmark's coordinated-omission test.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Stall {
    window: Duration,
    period: Duration,
}

impl Stall {
    /// `window` must be shorter than `period`, both non-zero.
    pub fn new(window: Duration, period: Duration) -> Result<Stall, String> {
        if window.is_zero() || period.is_zero() {
            return Err("stall window and period must both be greater than zero".into());
        }
        if window >= period {
            return Err(format!(
                "stall window {} must be shorter than its period {}",
                format_duration(window),
                format_duration(period)
            ));
        }
        Ok(Stall { window, period })
    }

    pub fn window(&self) -> Duration {
        self.window
    }

    pub fn period(&self) -> Duration {
        self.period
    }

    /// How long a response ready `elapsed` after the shop's start must be held.
    pub fn hold_for(&self, elapsed: Duration) -> Duration {
        let phase = elapsed.as_nanos() % self.period.as_nanos();
        let window = self.window.as_nanos();
        if phase < window {
            Duration::from_nanos((window - phase) as u64)
        } else {
            Duration::ZERO
        }
    }
}

impl fmt::Display for Stall {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", format_duration(self.window), format_duration(self.period))
    }
}

impl Serialize for Stall {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

fn ser_opt_duration<S: Serializer>(d: &Option<Duration>, s: S) -> Result<S::Ok, S::Error> {
    match d {
        Some(d) => s.serialize_str(&format_duration(*d)),
        None => s.serialize_none(),
    }
}

fn is_false(b: &bool) -> bool {
    !*b
}

/// A route name that is not in [`ROUTES`].
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("unknown fault route `{0}`; valid routes: {routes}", routes = ROUTES.join(", "))]
pub struct UnknownRoute(pub String);

pub(crate) fn route_index(route: &str) -> Result<usize, UnknownRoute> {
    ROUTES.iter().position(|r| *r == route).ok_or_else(|| UnknownRoute(route.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stall_holds_until_the_window_ends() {
        let s = Stall::new(Duration::from_secs(1), Duration::from_secs(5)).unwrap();
        assert_eq!(s.hold_for(Duration::from_millis(300)), Duration::from_millis(700));
        assert_eq!(s.hold_for(Duration::from_millis(5_900)), Duration::from_millis(100));
        assert_eq!(s.hold_for(Duration::from_secs(1)), Duration::ZERO);
        assert_eq!(s.hold_for(Duration::from_millis(4_999)), Duration::ZERO);
    }
}
