//! The browser keys of a journey file as written: `browser:` on the journey, and the actions of a step
//! (on the step itself or under `actions:`). Strict like the rest of `raw`.

use std::fmt;

use serde::de::{self, Deserializer, MapAccess, Visitor};
use serde::Deserialize;

use super::raw::{OrderedMap, Scalar};

/// `browser: true | false | { … }`.
#[derive(Debug)]
pub enum RawBrowser {
    On(bool),
    Settings(RawBrowserSettings),
}

/// `browser: { … }`; every key optional.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawBrowserSettings {
    /// `WIDTHxHEIGHT` in CSS pixels; default 1280x800.
    pub viewport: Option<Scalar>,
    /// Uncaught exceptions and console errors do not fail the step; default false.
    pub allow_js_errors: Option<bool>,
    /// `none`, `same-origin` (default) or `all`.
    pub fail_on_failed_requests: Option<String>,
    /// Sent instead of Chromium's own.
    pub user_agent: Option<String>,
}

impl<'de> Deserialize<'de> for RawBrowser {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = RawBrowser;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("true, or browser settings {viewport: 1280x800, allow_js_errors: false, …}")
            }
            fn visit_bool<E: de::Error>(self, v: bool) -> Result<RawBrowser, E> {
                Ok(RawBrowser::On(v))
            }
            fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<RawBrowser, A::Error> {
                RawBrowserSettings::deserialize(de::value::MapAccessDeserializer::new(map)).map(RawBrowser::Settings)
            }
        }
        d.deserialize_any(V)
    }
}

/// The action keys of a browser step, written on the step itself (one action) or as items of `actions:`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawAction {
    /// URL template: a path joins the target.
    pub goto: Option<Scalar>,
    /// Selector.
    pub click: Option<Scalar>,
    /// Selector → text template, filled in order.
    pub fill: Option<OrderedMap<Scalar>>,
    /// Selector → text template, typed key by key.
    #[serde(rename = "type")]
    pub type_text: Option<OrderedMap<Scalar>>,
    /// Selector → option value template.
    pub select: Option<OrderedMap<Scalar>>,
    /// A key name: `Enter`, `Tab`, `a`.
    pub press: Option<Scalar>,
    /// A selector (visible), or `{visible|attached|hidden: selector}`, `{url: text}`, `network_idle`.
    pub wait_for: Option<RawWaitFor>,
}

/// `wait_for: "#price"`, `wait_for: network_idle` or `wait_for: { hidden: .spinner }`.
#[derive(Debug, Clone)]
pub enum RawWaitFor {
    Short(String),
    Full(RawWaitForMap),
}

/// Exactly one key.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawWaitForMap {
    pub visible: Option<String>,
    pub attached: Option<String>,
    pub hidden: Option<String>,
    pub url: Option<String>,
}

impl<'de> Deserialize<'de> for RawWaitFor {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = RawWaitFor;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a selector, network_idle, or {visible|attached|hidden: selector} or {url: text}")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<RawWaitFor, E> {
                Ok(RawWaitFor::Short(v.to_string()))
            }
            fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<RawWaitFor, A::Error> {
                RawWaitForMap::deserialize(de::value::MapAccessDeserializer::new(map)).map(RawWaitFor::Full)
            }
        }
        d.deserialize_any(V)
    }
}

impl RawAction {
    /// The action keys that are set, in the order of [`ACTION_KEYS`].
    pub fn keys(&self) -> Vec<&'static str> {
        let set = [
            self.goto.is_some(),
            self.click.is_some(),
            self.fill.is_some(),
            self.type_text.is_some(),
            self.select.is_some(),
            self.press.is_some(),
            self.wait_for.is_some(),
        ];
        ACTION_KEYS.iter().zip(set).filter(|(_, on)| *on).map(|(k, _)| *k).collect()
    }
}

/// The keys of browser actions.
pub const ACTION_KEYS: [&str; 7] = ["goto", "click", "fill", "type", "select", "press", "wait_for"];
