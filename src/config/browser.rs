//! `browser:` on a journey: on/off or its settings (viewport, JavaScript errors, failed requests, user agent).

use super::diag::FileCtx;
use super::position::key_path;
use super::raw::{RawBrowser, RawBrowserSettings};
use crate::model::{BrowserSettings, FailedRequests};

/// Narrowest and widest viewport side accepted, in CSS pixels: below a phone, above an 8K screen, a typo.
const VIEWPORT_SIDE: std::ops::RangeInclusive<u32> = 100..=8192;

/// The journey's browser settings; `None` for an HTTP journey (no `browser:` or `browser: false`).
pub fn browser_settings(ctx: &mut FileCtx, raw: Option<&RawBrowser>) -> Option<BrowserSettings> {
    let raw = match raw? {
        RawBrowser::On(false) => return None,
        RawBrowser::On(true) => return Some(BrowserSettings::default()),
        RawBrowser::Settings(s) => s,
    };
    Some(settings(ctx, raw))
}

fn settings(ctx: &mut FileCtx, raw: &RawBrowserSettings) -> BrowserSettings {
    let mut out = BrowserSettings::default();
    if let Some(v) = &raw.viewport {
        let path = key_path("browser", "viewport");
        match parse_viewport(&v.0) {
            Ok(size) => out.viewport = size,
            Err(msg) => {
                ctx.error(&path, msg, Some("write WIDTHxHEIGHT in CSS pixels, e.g. 1280x800 or 390x844".into()))
            }
        }
    }
    out.allow_js_errors = raw.allow_js_errors.unwrap_or(false);
    if let Some(text) = &raw.fail_on_failed_requests {
        match FailedRequests::parse(text) {
            Some(f) => out.failed_requests = f,
            None => {
                let path = key_path("browser", "fail_on_failed_requests");
                let hint = format!("one of {}", FailedRequests::NAMES.join(", "));
                ctx.error(&path, format!("unknown value `{text}`"), Some(hint));
            }
        }
    }
    if let Some(ua) = &raw.user_agent {
        if ua.is_empty() || ua.chars().any(char::is_control) {
            let path = key_path("browser", "user_agent");
            ctx.error(
                &path,
                "a user agent is one line of visible text",
                Some("leave it out to keep Chromium's".into()),
            );
        } else {
            out.user_agent = Some(ua.clone());
        }
    }
    out
}

/// `1280x800` → (1280, 800).
fn parse_viewport(text: &str) -> Result<(u32, u32), String> {
    let (w, h) = text.split_once(['x', 'X', '×']).ok_or_else(|| format!("`{text}` is not WIDTHxHEIGHT"))?;
    let side = |s: &str| {
        s.trim()
            .parse::<u32>()
            .ok()
            .filter(|n| VIEWPORT_SIDE.contains(n))
            .ok_or_else(|| format!("`{s}` in `{text}` is not a size from 100 to 8192 pixels"))
    };
    Ok((side(w)?, side(h)?))
}

#[cfg(test)]
mod tests {
    use super::parse_viewport;

    #[test]
    fn viewports() {
        assert_eq!(parse_viewport("1280x800"), Ok((1280, 800)));
        assert_eq!(parse_viewport("390X844"), Ok((390, 844)));
        assert!(parse_viewport("1280").unwrap_err().contains("WIDTHxHEIGHT"));
        assert!(parse_viewport("10x800").unwrap_err().contains("100 to 8192"));
        assert!(parse_viewport("wide x 800").is_err());
    }
}
