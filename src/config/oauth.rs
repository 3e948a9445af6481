//! `oauth:`, a journey's OAuth2 client-credentials token sources: raw form and validation. What a source
//! becomes is `model::OAuthSource`; fetching, caching and refreshing tokens is `runner::oauth`.

use serde::Deserialize;

use super::build::template;
use super::diag::FileCtx;
use super::fields::check_ident;
use super::position::key_path;
use super::raw::{OrderedMap, Scalar};
use super::templates::{Env, Names};
use crate::model::{ClientAuth, OAuthSource};
use crate::template::Scope;

/// One token source.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawOAuth {
    /// The token endpoint: an absolute URL, or a path joined onto the journey's target. Template.
    pub token_url: Scalar,
    /// Template.
    pub client_id: Scalar,
    /// Template; write `{{ secrets.NAME }}`.
    pub client_secret: Scalar,
    /// Space-separated scopes to ask for. Template.
    pub scope: Option<Scalar>,
    /// The API the token is for (Auth0-style `audience`). Template.
    pub audience: Option<Scalar>,
    /// `header` (HTTP Basic, the default) or `body` (id and secret in the form).
    pub auth: Option<Scalar>,
}

/// Validates every source. Their templates may use vars, env and secrets: `names` has no captures, data
/// columns or other token sources, which would differ between users or depend on a token.
pub fn build_oauth(
    ctx: &mut FileCtx,
    raw: &OrderedMap<RawOAuth>,
    names: &Names,
    env: &mut Env,
    has_target: bool,
) -> Vec<OAuthSource> {
    let mut out = Vec::new();
    for (name, r) in &raw.0 {
        let path = key_path("oauth", name);
        if !check_ident(ctx, &path, name, "oauth token source") {
            continue;
        }
        let field = |ctx: &mut FileCtx, env: &mut Env, field: &str, v: &Scalar| {
            template(ctx, &format!("{path}.{field}"), &v.0, names, env)
        };
        let token_url = field(ctx, env, "token_url", &r.token_url);
        if let Some(url) = token_url.as_ref().filter(|t| t.is_literal()) {
            check_token_url(ctx, &format!("{path}.token_url"), url, has_target);
        }
        let client_id = field(ctx, env, "client_id", &r.client_id);
        let client_secret = field(ctx, env, "client_secret", &r.client_secret);
        // A field that did not compile was reported: the journey is not built, so `None` is as good.
        let scope = r.scope.as_ref().and_then(|v| field(ctx, env, "scope", v));
        let audience = r.audience.as_ref().and_then(|v| field(ctx, env, "audience", v));
        let auth = match r.auth.as_ref().map(|a| a.0.as_str()) {
            None | Some("header") => Some(ClientAuth::Header),
            Some("body") => Some(ClientAuth::Body),
            Some(other) => {
                let msg = format!("auth `{other}` is not a client authentication method");
                let hint =
                    "write `header` (HTTP Basic, the default) or `body` (client_id and client_secret in the form)";
                ctx.error(&format!("{path}.auth"), msg, Some(hint.into()));
                None
            }
        };
        if let (Some(token_url), Some(client_id), Some(client_secret), Some(auth)) =
            (token_url, client_id, client_secret, auth)
        {
            out.push(OAuthSource { name: name.clone(), token_url, client_id, client_secret, scope, audience, auth });
        }
    }
    out
}

/// A literal token URL must be http(s), or a path when the journey has a target to join it to.
fn check_token_url(ctx: &mut FileCtx, path: &str, url: &crate::template::Template, has_target: bool) {
    let text = url.render(&Scope { secrets: &[], rows: &[], captures: &[], tokens: &[] });
    if text.starts_with("http://") || text.starts_with("https://") {
        if let Err(e) = reqwest::Url::parse(&text) {
            ctx.error(path, format!("token_url `{text}` is not a valid URL: {e}"), None);
        }
    } else if text.starts_with('/') {
        if !has_target {
            let msg = format!("token_url `{text}` is a path, and the journey has no target to join it to");
            ctx.error(path, msg, Some("write an absolute URL like https://auth.example/oauth/token".into()));
        }
    } else {
        let msg = format!("token_url `{text}` is not an http:// or https:// URL or a path");
        ctx.error(path, msg, Some("write it like https://auth.example/oauth/token".into()));
    }
}
