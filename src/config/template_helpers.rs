//! Helper calls inside `{{ }}`: their arguments (positional, and `name=value` for `totp`), arity, and each
//! helper's load-time checks. A helper whose arguments are all known at load (`base64("a:b")`, a `totp` seed
//! written in the file) is checked, and where it can be, computed, here.

use base64::Engine as _;

use super::{Cx, Value};
use crate::config::scan::{describe, Tok};
use crate::config::suggest;
use crate::template::totp::{self, Algorithm, Params};
use crate::template::{Expr, TimestampFormat, TotpSeed};

/// Every helper, for "did you mean" and for telling a helper from a name.
pub const HELPERS: [&str; 8] =
    ["uuid", "random_int", "timestamp", "timestamp_ms", "now_rfc3339", "urlencode", "base64", "totp"];

const HELPERS_HINT: &str = "helpers: uuid(), random_int(min, max), timestamp(), timestamp_ms(), now_rfc3339(), \
                            urlencode(x), base64(x), totp(seed, digits=6, algorithm=\"sha1\", period=30)";

const TOTP_USAGE: &str =
    "write it like totp(secrets.seed) or totp(secrets.seed, digits=8, algorithm=\"sha256\", period=30)";

/// One argument as written.
struct Arg {
    /// `name=` and where the name is, for a named argument.
    name: Option<(String, usize)>,
    value: Value,
    /// The value when it is one whole-number token.
    int: Option<i64>,
    /// Byte offset of the value in the template.
    at: usize,
}

impl Cx<'_, '_, '_, '_, '_> {
    /// A helper call; `*pos` is just past its `(`.
    pub(super) fn call(
        &mut self,
        name: &str,
        at: usize,
        toks: &[(Tok, usize)],
        pos: &mut usize,
        end: usize,
    ) -> Option<Value> {
        let mut args = self.arguments(name, toks, pos, end)?;
        if name == "totp" {
            return self.totp(at, args);
        }
        if let Some((arg, arg_at)) = args.iter().find_map(|a| a.name.clone()) {
            let msg = format!("`{name}` takes no named arguments, found `{arg}=`");
            self.err(arg_at, msg, None);
            return None;
        }
        let expr = match name {
            "uuid" => self.arity(name, at, &args, 0).then_some(Expr::Uuid)?,
            "timestamp" => self.arity(name, at, &args, 0).then_some(Expr::Timestamp(TimestampFormat::Unix))?,
            "timestamp_ms" => self.arity(name, at, &args, 0).then_some(Expr::Timestamp(TimestampFormat::UnixMillis))?,
            "now_rfc3339" => self.arity(name, at, &args, 0).then_some(Expr::Timestamp(TimestampFormat::Rfc3339))?,
            "random_int" => self.random_int(at, &args)?,
            "urlencode" | "base64" => {
                if !self.arity(name, at, &args, 1) {
                    return None;
                }
                match (name, args.pop()?.value) {
                    ("urlencode", Value::Lit(s)) => {
                        let mut out = String::new();
                        crate::template::url_encode_into(&s, &mut out);
                        return Some(Value::Lit(out));
                    }
                    (_, Value::Lit(s)) => {
                        return Some(Value::Lit(base64::engine::general_purpose::STANDARD.encode(s.as_bytes())))
                    }
                    ("urlencode", Value::Expr(e)) => Expr::UrlEncode(Box::new(e)),
                    (_, Value::Expr(e)) => Expr::Base64(Box::new(e)),
                }
            }
            other => {
                let mut hint = suggest::hint(other, HELPERS).map(|h| format!("{h} ")).unwrap_or_default();
                hint.push_str(HELPERS_HINT);
                self.err(at, format!("unknown helper `{other}()`"), Some(hint));
                return None;
            }
        };
        Some(Value::Expr(expr))
    }

    /// The arguments up to and including the `)`.
    fn arguments(&mut self, name: &str, toks: &[(Tok, usize)], pos: &mut usize, end: usize) -> Option<Vec<Arg>> {
        let mut args = Vec::new();
        if matches!(toks.get(*pos), Some((Tok::Punct(')'), _))) {
            *pos += 1;
            return Some(args);
        }
        loop {
            let named = match (toks.get(*pos), toks.get(*pos + 1)) {
                (Some((Tok::Ident(n), a)), Some((Tok::Punct('='), _))) => {
                    *pos += 2;
                    Some((n.clone(), *a))
                }
                _ => None,
            };
            let start = *pos;
            let at = toks.get(start).map_or(end, |t| t.1);
            let value = self.concat(toks, pos, end)?;
            let int = match toks.get(start) {
                Some((Tok::Int(n), _)) if *pos == start + 1 => Some(*n),
                _ => None,
            };
            args.push(Arg { name: named, value, int, at });
            match toks.get(*pos) {
                Some((Tok::Punct(','), _)) => *pos += 1,
                Some((Tok::Punct(')'), _)) => {
                    *pos += 1;
                    return Some(args);
                }
                Some((t, a)) => {
                    let msg = format!("expected `,` or `)`, found {}", describe(t));
                    self.err(*a, msg, None);
                    return None;
                }
                None => {
                    self.err(end, format!("`{name}(` is missing its `)`"), None);
                    return None;
                }
            }
        }
    }

    /// True when `args` has `n` entries; an error saying how to call `name` otherwise.
    fn arity(&mut self, name: &str, at: usize, args: &[Arg], n: usize) -> bool {
        if args.len() == n {
            return true;
        }
        let usage = match name {
            "random_int" => "random_int(1, 100)",
            "urlencode" => "urlencode(token)",
            "base64" => "base64(secrets.user ~ \":\" ~ secrets.password)",
            _ => "",
        };
        let msg = if n == 0 {
            format!("`{name}()` takes no arguments")
        } else {
            format!("`{name}` takes {n} argument{}, found {}", if n == 1 { "" } else { "s" }, args.len())
        };
        self.err(at, msg, (!usage.is_empty()).then(|| format!("write it like {usage}")));
        false
    }

    fn random_int(&mut self, at: usize, args: &[Arg]) -> Option<Expr> {
        if !self.arity("random_int", at, args, 2) {
            return None;
        }
        let (Some(min), Some(max)) = (args[0].int, args[1].int) else {
            self.err(at, "`random_int` takes two whole numbers", Some("write it like random_int(1, 100)".into()));
            return None;
        };
        if min > max {
            self.err(args[0].at, format!("random_int({min}, {max}): the minimum is larger than the maximum"), None);
            return None;
        }
        Some(Expr::RandomInt { min, max })
    }

    /// `totp(seed, digits=6, algorithm="sha1", period=30)`: a seed written in the file is decoded here.
    fn totp(&mut self, at: usize, args: Vec<Arg>) -> Option<Value> {
        let mut params = Params::default();
        let mut seed = None;
        let mut seen: Vec<String> = Vec::new();
        let mut ok = true;
        for arg in args {
            let Some((name, name_at)) = arg.name else {
                if seed.replace((arg.value, arg.at)).is_some() {
                    self.err(arg.at, "`totp` takes one seed", Some(TOTP_USAGE.into()));
                    ok = false;
                }
                continue;
            };
            if seen.contains(&name) {
                self.err(name_at, format!("`{name}` is given twice"), None);
                ok = false;
                continue;
            }
            seen.push(name.clone());
            ok &= self.totp_param(&mut params, &name, name_at, &arg.value, arg.int, arg.at);
        }
        let Some((seed, seed_at)) = seed else {
            self.err(at, "`totp` needs a seed", Some(TOTP_USAGE.into()));
            return None;
        };
        let seed = match seed {
            Value::Expr(e) => TotpSeed::Expr(Box::new(e)),
            Value::Lit(text) => match totp::decode_base32(&text) {
                Ok(key) => TotpSeed::Key(key),
                Err(e) => {
                    let hint = "a TOTP seed is base32, as an authenticator app shows it (JBSWY3DPEHPK3PXP); \
                                keep a real one in `secrets:`";
                    self.err(seed_at, format!("totp: {e}"), Some(hint.into()));
                    return None;
                }
            },
        };
        ok.then_some(Value::Expr(Expr::Totp { seed, params }))
    }

    /// One named argument of `totp`; false after reporting an error.
    fn totp_param(
        &mut self,
        params: &mut Params,
        name: &str,
        name_at: usize,
        value: &Value,
        int: Option<i64>,
        at: usize,
    ) -> bool {
        let text = match value {
            Value::Lit(s) => s.as_str(),
            Value::Expr(_) => {
                self.err(at, format!("`{name}` must be written in the file"), Some(TOTP_USAGE.into()));
                return false;
            }
        };
        match name {
            "digits" => match int.and_then(|n| u32::try_from(n).ok()).filter(|n| totp::DIGITS.contains(n)) {
                Some(n) => params.digits = n,
                None => {
                    self.err(at, format!("`digits` is 6, 7 or 8, not {text}"), None);
                    return false;
                }
            },
            "algorithm" => match Algorithm::parse(text) {
                Some(a) => params.algorithm = a,
                None => {
                    let msg = format!("unknown TOTP algorithm {text:?}");
                    self.err(at, msg, Some("use \"sha1\" (the default), \"sha256\" or \"sha512\"".into()));
                    return false;
                }
            },
            "period" => match int.and_then(|n| u64::try_from(n).ok()).filter(|n| *n >= 1) {
                Some(n) => params.period_secs = n,
                None => {
                    let msg = format!("`period` is a whole number of seconds, at least 1, not {text}");
                    self.err(at, msg, Some("period=30 is what authenticator apps use".into()));
                    return false;
                }
            },
            other => {
                let known = ["digits", "algorithm", "period"];
                let mut hint = suggest::hint(other, known).map(|h| format!("{h} ")).unwrap_or_default();
                hint.push_str(TOTP_USAGE);
                self.err(name_at, format!("`totp` has no argument `{other}`"), Some(hint));
                return false;
            }
        }
        true
    }
}
