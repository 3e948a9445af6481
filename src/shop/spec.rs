//! The `--fault ROUTE=SPEC[,SPEC…]` parser, durations, and the admin API's fault patches.

use std::time::Duration;

use serde::{Deserialize, Deserializer};

use super::faults::{route_index, Fault, Stall, UiFault};

/// One `--fault ROUTE=SPEC[,SPEC…]` flag, parsed.
#[derive(Debug, Clone, PartialEq)]
pub struct FaultSpec {
    /// One of [`ROUTES`].
    pub route: String,
    pub fault: Fault,
}

const VALID_KINDS: &str =
    "status:CODE, latency:DURATION, error-rate:FRACTION, hang, reset, stall:WINDOW/PERIOD, ui:js-error|no-checkout|empty-price";

/// Parses `checkout=status:503`, `product=latency:200ms,error-rate:0.1`, `*=stall:1s/5s`, …
pub fn parse_fault(spec: &str) -> Result<FaultSpec, String> {
    let Some((route, kinds)) = spec.split_once('=') else {
        return Err(format!("fault `{spec}` has no `=`: expected ROUTE=SPEC[,SPEC…], e.g. checkout=status:503"));
    };
    let route = route.trim();
    route_index(route).map_err(|e| e.to_string())?;
    if kinds.trim().is_empty() {
        return Err(format!("fault `{spec}` names no fault after `=`; valid: {VALID_KINDS}"));
    }
    let mut fault = Fault::default();
    let mut seen: Vec<&str> = Vec::new();
    for part in kinds.split(',').map(str::trim) {
        let (kind, value) = match part.split_once(':') {
            Some((k, v)) => (k.trim(), Some(v.trim())),
            None => (part, None),
        };
        if seen.contains(&kind) {
            return Err(format!("fault `{spec}` sets `{kind}` twice; give each kind once"));
        }
        seen.push(kind);
        let need = |what: &str| {
            value
                .filter(|v| !v.is_empty())
                .ok_or_else(|| format!("fault `{part}` in `{spec}` needs a value: {kind}:{what}"))
        };
        match kind {
            "status" => {
                let v = need("CODE")?;
                let code = v
                    .parse::<u16>()
                    .map_err(|_| format!("status `{v}` in `{spec}` is not a number: use e.g. status:503"))?;
                fault.status = Some(code);
            }
            "latency" => fault.latency = Some(parse_duration(need("DURATION")?)?),
            "error-rate" => {
                let v = need("FRACTION")?;
                let rate = v
                    .parse::<f64>()
                    .map_err(|_| format!("error-rate `{v}` in `{spec}` is not a number: use a fraction like 0.5"))?;
                fault.error_rate = Some(rate);
            }
            "stall" => fault.stall = Some(parse_stall(need("WINDOW/PERIOD")?)?),
            "ui" => fault.ui = Some(UiFault::parse(need("js-error|no-checkout|empty-price")?)?),
            "hang" | "reset" if value.is_some() => {
                return Err(format!("fault `{kind}` in `{spec}` takes no value: write just `{kind}`"));
            }
            "hang" => fault.hang = true,
            "reset" => fault.reset = true,
            other => {
                return Err(format!("unknown fault `{other}` in `{spec}`; valid: {VALID_KINDS}"));
            }
        }
    }
    fault.validate().map_err(|e| format!("fault `{spec}`: {e}"))?;
    Ok(FaultSpec { route: route.to_string(), fault })
}

/// `1s/5s`: stall window / period.
pub(crate) fn parse_stall(text: &str) -> Result<Stall, String> {
    let (w, p) = text.split_once('/').ok_or_else(|| format!("stall `{text}` needs WINDOW/PERIOD, e.g. stall:1s/5s"))?;
    Stall::new(parse_duration(w)?, parse_duration(p)?)
}

/// Durations use the journey format's parser (`300ms`, `1.5s`, `1m30s`), so flags, the admin API and journey
/// files accept the same spellings.
pub(crate) fn parse_duration(text: &str) -> Result<Duration, String> {
    crate::units::parse_duration(text.trim())
}

/// A body for `PUT /admin/faults/{route}`: every field present replaces the stored one; `null` (or
/// `false`) clears it; absent fields are kept.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct FaultPatch {
    #[serde(default, deserialize_with = "some")]
    status: Option<Option<u16>>,
    #[serde(default, deserialize_with = "some")]
    latency: Option<Option<String>>,
    #[serde(default, deserialize_with = "some", alias = "error-rate")]
    error_rate: Option<Option<f64>>,
    #[serde(default)]
    hang: Option<bool>,
    #[serde(default)]
    reset: Option<bool>,
    #[serde(default, deserialize_with = "some")]
    stall: Option<Option<String>>,
    #[serde(default, deserialize_with = "some")]
    ui: Option<Option<String>>,
}

/// Keeps "present but null" apart from "absent" (absent never reaches this function).
fn some<'de, D: Deserializer<'de>, T: Deserialize<'de>>(d: D) -> Result<Option<Option<T>>, D::Error> {
    Option::<T>::deserialize(d).map(Some)
}

impl FaultPatch {
    pub(crate) fn apply(self, mut f: Fault) -> Result<Fault, String> {
        if let Some(v) = self.status {
            f.status = v;
        }
        if let Some(v) = self.latency {
            f.latency = v.as_deref().map(parse_duration).transpose()?;
        }
        if let Some(v) = self.error_rate {
            f.error_rate = v;
        }
        if let Some(v) = self.hang {
            f.hang = v;
        }
        if let Some(v) = self.reset {
            f.reset = v;
        }
        if let Some(v) = self.stall {
            f.stall = v.as_deref().map(parse_stall).transpose()?;
        }
        if let Some(v) = self.ui {
            f.ui = v.as_deref().map(UiFault::parse).transpose()?;
        }
        f.validate()?;
        Ok(f)
    }
}

#[cfg(test)]
mod tests {
    use super::super::table::FaultHandle;
    use super::*;

    fn ok(spec: &str) -> FaultSpec {
        parse_fault(spec).unwrap_or_else(|e| panic!("{spec}: {e}"))
    }

    fn err(spec: &str) -> String {
        parse_fault(spec).expect_err(spec)
    }

    #[test]
    fn parses_every_kind() {
        assert_eq!(ok("checkout=status:503").fault, Fault::status(503));
        assert_eq!(ok("product=latency:300ms").fault, Fault::latency(Duration::from_millis(300)));
        assert_eq!(ok("login=error-rate:0.5").fault, Fault::error_rate(0.5));
        assert_eq!(ok("account=hang").fault, Fault::hang());
        assert_eq!(ok("cart=reset").fault, Fault::reset());
        let all = ok("*=latency:50ms");
        assert_eq!((all.route.as_str(), all.fault.latency), ("*", Some(Duration::from_millis(50))));
        let both = ok("product=latency:200ms,error-rate:0.1").fault;
        assert_eq!((both.latency, both.error_rate), (Some(Duration::from_millis(200)), Some(0.1)));
        let stall = ok("*=stall:1s/5s").fault.stall.unwrap();
        assert_eq!((stall.window(), stall.period()), (Duration::from_secs(1), Duration::from_secs(5)));
        assert_eq!(ok("static=latency:1.5s").fault.latency, Some(Duration::from_millis(1500)));
        assert_eq!(ok("static=ui:no-checkout").fault, Fault::ui(UiFault::NoCheckout));
    }

    #[test]
    fn display_round_trips() {
        for spec in [
            "checkout=status:503",
            "product=latency:200ms,error-rate:0.1",
            "*=hang,reset,stall:1s/5s",
            "static=ui:js-error",
        ] {
            let parsed = ok(spec);
            assert_eq!(format!("{}={}", parsed.route, parsed.fault), spec);
        }
    }

    #[test]
    fn rejects_with_what_is_valid() {
        let cases = [
            ("checkout", "has no `=`"),
            (
                "shop=status:503",
                "valid routes: login, account, products, product, product-page, cart, checkout, static, store, *",
            ),
            ("cart=", "names no fault"),
            ("cart=boom", "valid: status:CODE, latency:DURATION"),
            ("cart=status", "needs a value: status:CODE"),
            ("cart=status:abc", "not a number"),
            ("cart=status:99", "200..=599"),
            ("cart=latency:3", "has no unit"),
            ("cart=latency:-3ms", "invalid duration"),
            ("cart=error-rate:1.5", "0.0..=1.0"),
            ("cart=hang:yes", "takes no value"),
            ("cart=stall:1s", "WINDOW/PERIOD"),
            ("cart=stall:5s/1s", "must be shorter than its period"),
            ("cart=latency:1ms,latency:2ms", "twice"),
            ("static=ui:sideways", "valid: js-error, no-checkout, empty-price"),
            ("static=ui", "needs a value"),
        ];
        for (spec, want) in cases {
            let got = err(spec);
            assert!(got.contains(want), "{spec}: `{got}` lacks `{want}`");
        }
    }

    #[test]
    fn specs_for_one_route_merge() {
        let h = FaultHandle::new();
        h.apply_spec(&ok("product=latency:200ms")).unwrap();
        h.apply_spec(&ok("product=error-rate:0.1")).unwrap();
        let f = h.get("product").unwrap().unwrap();
        assert_eq!((f.latency, f.error_rate), (Some(Duration::from_millis(200)), Some(0.1)));
    }

    #[test]
    fn patch_merges_and_clears() {
        let patch = |json: &str| serde_json::from_str::<FaultPatch>(json).unwrap();
        let f = patch(r#"{"status": 503}"#).apply(Fault::default()).unwrap();
        let f = patch(r#"{"latency": "300ms", "stall": "1s/5s"}"#).apply(f).unwrap();
        assert_eq!((f.status, f.latency), (Some(503), Some(Duration::from_millis(300))));
        assert_eq!(serde_json::to_string(&f).unwrap(), r#"{"status":503,"latency":"300ms","stall":"1s/5s"}"#);
        let f = patch(r#"{"status": null, "latency": null, "stall": null, "hang": true}"#).apply(f).unwrap();
        assert_eq!(f, Fault::hang());
        assert!(patch(r#"{"error_rate": 2}"#).apply(f).unwrap_err().contains("0.0..=1.0"));
        assert!(serde_json::from_str::<FaultPatch>(r#"{"colour": 1}"#).is_err());
    }
}
