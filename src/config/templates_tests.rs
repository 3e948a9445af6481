use super::*;
use crate::secret::Secret;
use crate::template::totp::{Algorithm, Params};
use crate::template::{Scope, TimestampFormat, TotpSeed};

struct Fixture {
    opts: LoadOptions,
    vars: Vec<(String, String)>,
    secrets: Vec<String>,
    data: Vec<DataNames>,
    captures: Vec<(String, usize)>,
    this_step: Vec<String>,
    later: Vec<(String, String)>,
}

impl Fixture {
    fn new() -> Fixture {
        let mut opts = LoadOptions::default();
        opts.env.insert("JD_TEST_URL".into(), "http://127.0.0.1:9".into());
        Fixture {
            opts,
            vars: vec![("region".into(), "eu".into())],
            secrets: vec!["password".into(), "api_key".into()],
            data: vec![DataNames {
                name: "accounts".into(),
                csv: "accounts.csv".into(),
                columns: vec!["email".into(), "name".into()],
            }],
            captures: vec![("token".into(), 0), ("cart".into(), 1)],
            this_step: vec!["order".into()],
            later: vec![("receipt".into(), "pay".into())],
        }
    }

    fn names(&self) -> Names<'_> {
        Names {
            env_only: false,
            vars: &self.vars,
            secrets: &self.secrets,
            oauth: &[],
            no_oauth: false,
            data: &self.data,
            broken_data: &[],
            captures: &self.captures,
            this_step: &self.this_step,
            later: &self.later,
        }
    }

    fn compile(&self, text: &str) -> Result<Template, Vec<Problem>> {
        self.compile_with(text, &self.names(), false)
    }

    fn compile_with(&self, text: &str, names: &Names, strict: bool) -> Result<Template, Vec<Problem>> {
        let mut opts = self.opts.clone();
        opts.strict_env = strict;
        let mut env = Env::new(&opts);
        let mut problems = Vec::new();
        match compile(text, names, &mut env, &mut problems) {
            Some(t) if problems.is_empty() => Ok(t),
            _ => Err(problems),
        }
    }

    fn error(&self, text: &str) -> Problem {
        let problems = self.compile(text).unwrap_err();
        assert_eq!(problems.len(), 1, "{problems:?}");
        problems.into_iter().next().unwrap()
    }
}

fn lit(s: &str) -> Part {
    Part::Lit(s.to_string())
}

#[test]
fn plain_text_is_one_literal() {
    let t = Fixture::new().compile("/api/products").unwrap();
    assert_eq!(t.parts, vec![lit("/api/products")]);
    assert_eq!(t.source, "/api/products");
    assert_eq!(Fixture::new().compile("").unwrap().parts, vec![lit("")]);
}

#[test]
fn env_and_vars_become_literals_merged_with_text() {
    let t = Fixture::new().compile("{{ env.JD_TEST_URL }}/{{vars.region}}/x").unwrap();
    assert_eq!(t.parts, vec![lit("http://127.0.0.1:9/eu/x")]);
    assert_eq!(t.source, "{{ env.JD_TEST_URL }}/{{vars.region}}/x");
}

#[test]
fn secrets_data_and_captures_resolve_to_indexes() {
    let t = Fixture::new().compile("{{ secrets.api_key }}|{{ accounts.name }}|{{ cart }}").unwrap();
    assert_eq!(
        t.parts,
        vec![
            Part::Expr(Expr::Secret(1)),
            lit("|"),
            Part::Expr(Expr::Data { source: 0, column: 1 }),
            lit("|"),
            Part::Expr(Expr::Capture(1)),
        ]
    );
    assert!(t.uses_secret());
}

#[test]
fn helpers() {
    let f = Fixture::new();
    let one = |text: &str| match f.compile(text).unwrap().parts.as_slice() {
        [Part::Expr(e)] => e.clone(),
        other => panic!("{other:?}"),
    };
    assert_eq!(one("{{ uuid() }}"), Expr::Uuid);
    assert_eq!(one("{{ random_int(1, 100) }}"), Expr::RandomInt { min: 1, max: 100 });
    assert_eq!(one("{{ random_int(-5,5) }}"), Expr::RandomInt { min: -5, max: 5 });
    assert_eq!(one("{{ timestamp() }}"), Expr::Timestamp(TimestampFormat::Unix));
    assert_eq!(one("{{ timestamp_ms() }}"), Expr::Timestamp(TimestampFormat::UnixMillis));
    assert_eq!(one("{{ now_rfc3339() }}"), Expr::Timestamp(TimestampFormat::Rfc3339));
    assert_eq!(one("{{ urlencode(token) }}"), Expr::UrlEncode(Box::new(Expr::Capture(0))));
    assert_eq!(one("{{ urlencode(secrets.password) }}"), Expr::UrlEncode(Box::new(Expr::Secret(0))));
    // A literal argument is encoded at load time.
    assert_eq!(f.compile("q={{ urlencode(\"a b&c\") }}").unwrap().parts, vec![lit("q=a%20b%26c")]);
    assert_eq!(f.compile("{{ urlencode(vars.region) }}").unwrap().parts, vec![lit("eu")]);
}

#[test]
fn quoted_strings_write_literal_braces() {
    let t = Fixture::new().compile(r#"a{{ "{{" }}b{{ '}}' }}"#).unwrap();
    assert_eq!(t.parts, vec![lit("a{{b}}")]);
}

#[test]
fn unknown_name_lists_what_is_defined() {
    let p = Fixture::new().error("Bearer {{ tokn }}");
    assert_eq!(p.message, "unknown name `tokn`");
    assert_eq!(p.offset, 10);
    assert_eq!(
        p.hint.as_deref(),
        Some(
            "did you mean `token`? defined here: `env.NAME`, `vars.region`, `secrets.password`, `secrets.api_key`, \
             `accounts.COLUMN`, `token`, `cart`"
        )
    );
}

#[test]
fn capture_in_same_step_or_later_is_an_error() {
    let f = Fixture::new();
    let p = f.error("{{ order }}");
    assert_eq!(p.message, "`order` is captured by this step, so it can only be used from the next step on");
    let p = f.error("{{ receipt }}");
    assert_eq!(p.message, "`receipt` is used before it is captured (by step `pay`)");
    assert!(p.hint.unwrap().starts_with("defined here:"));
}

#[test]
fn unknown_scopes_and_columns() {
    let f = Fixture::new();
    let p = f.error("{{ accounts.emial }}");
    assert_eq!(p.message, "data source `accounts` has no column `emial`");
    assert_eq!(
        p.hint.as_deref(),
        Some("did you mean `email`? `accounts` has the columns named in the first row of accounts.csv; add `emial` there or use one of them")
    );
    // Nothing of the file is shown unless it is close to what was written.
    let p = f.error("{{ accounts.zzzzzz }}");
    assert!(!p.hint.as_deref().unwrap().contains("email"), "{:?}", p.hint);
    let p = f.error("{{ nope }}");
    assert!(p.hint.as_deref().unwrap().contains("`accounts.COLUMN`"), "{:?}", p.hint);
    assert!(!p.hint.as_deref().unwrap().contains("accounts.email"), "{:?}", p.hint);
    assert_eq!(f.error("{{ vars.regoin }}").message, "unknown var `regoin`");
    assert_eq!(f.error("{{ secrets.pw }}").message, "unknown secret `pw`");
    assert_eq!(f.error("{{ users.email }}").message, "unknown name `users.email`");
    assert_eq!(f.error("{{ env }}").message, "`env` is not an environment variable reference");
    assert_eq!(f.error("{{ env.A.B }}").message, "`env.A.B` is not an environment variable reference");
}

#[test]
fn helper_errors() {
    let f = Fixture::new();
    let p = f.error("{{ uuid4() }}");
    assert_eq!(p.message, "unknown helper `uuid4()`");
    assert!(p.hint.as_deref().unwrap().starts_with("did you mean `uuid`? helpers: uuid()"), "{p:?}");
    assert_eq!(f.error("{{ uuid(1) }}").message, "`uuid()` takes no arguments");
    assert_eq!(f.error("{{ random_int(1) }}").message, "`random_int` takes 2 arguments, found 1");
    assert_eq!(f.error("{{ random_int(a, 2) }}").message, "unknown name `a`");
    assert_eq!(f.error("{{ random_int(\"1\", 2) }}").message, "`random_int` takes two whole numbers");
    assert_eq!(f.error("{{ random_int(9, 2) }}").message, "random_int(9, 2): the minimum is larger than the maximum");
    assert_eq!(f.error("{{ uuid }}").message, "`uuid` is a helper");
    assert_eq!(f.error("{{ uuid( }}").message, "expected a name, helper call or quoted string");
    assert_eq!(f.error("{{ uuid(1 }}").message, "`uuid(` is missing its `)`");
}

#[test]
fn syntax_errors_point_at_the_problem() {
    let f = Fixture::new();
    let p = f.error("/x/{{ token ");
    assert_eq!((p.message.as_str(), p.offset), ("unbalanced braces: `{{` is never closed", 3));
    let p = f.error("{{ a {{ b }}");
    assert_eq!(p.message, "unbalanced braces: `{{` is never closed");
    let p = f.error("{{ }}");
    assert_eq!((p.message.as_str(), p.offset), ("empty `{{ }}` expression", 2));
    let p = f.error("ab{{ token cart }}");
    assert_eq!((p.message.as_str(), p.offset), ("unexpected `cart` after the expression", 11));
    let p = f.error("{{ token + 1 }}");
    assert_eq!(p.message, "unexpected character `+` in `{{ }}`");
    // A stray `}}` outside an expression is text (JSON bodies contain it).
    assert_eq!(f.compile(r#"{"a":{"b":1}}"#).unwrap().parts, vec![lit(r#"{"a":{"b":1}}"#)]);
}

#[test]
fn offsets_count_characters_not_bytes() {
    let p = Fixture::new().error("é/{{ nope }}");
    assert_eq!(p.offset, 5);
}

#[test]
fn missing_env_is_a_warning_or_a_strict_error() {
    let f = Fixture::new();
    let names = f.names();
    let mut env = Env::new(&f.opts);
    let mut problems = Vec::new();
    let t = compile(
        "{{ env.JD_TEST_NOT_SET_ANYWHERE }}x{{ env.JD_TEST_NOT_SET_ANYWHERE }}",
        &names,
        &mut env,
        &mut problems,
    );
    assert_eq!(t.unwrap().parts, vec![lit("x")]);
    assert_eq!(problems.len(), 1, "one warning per variable: {problems:?}");
    assert_eq!(problems[0].severity, Severity::Warning);
    assert_eq!(env.used.get("JD_TEST_NOT_SET_ANYWHERE"), Some(&None));

    let problems = f.compile_with("{{ env.JD_TEST_NOT_SET_ANYWHERE }}", &names, true).unwrap_err();
    assert_eq!(problems[0].severity, Severity::Error);
    assert_eq!(problems[0].message, "environment variable `JD_TEST_NOT_SET_ANYWHERE` is not set");
}

#[test]
fn vars_may_only_use_env() {
    let f = Fixture::new();
    let env_only = Names { env_only: true, ..f.names() };
    assert_eq!(
        f.compile_with("{{ env.JD_TEST_URL }}", &env_only, false).unwrap().parts,
        vec![lit("http://127.0.0.1:9")]
    );
    let problems = f.compile_with("{{ secrets.password }}", &env_only, false).unwrap_err();
    assert_eq!(problems[0].message, "`secrets.password` cannot be used in `vars`");
    assert_eq!(problems[0].hint.as_deref(), Some("vars may only use env.NAME"));
}

#[test]
fn every_error_in_a_template_is_reported() {
    let problems = Fixture::new().compile("{{ a }}/{{ b }}").unwrap_err();
    assert_eq!(problems.len(), 2);
    assert_eq!((problems[0].offset, problems[1].offset), (3, 11));
}

fn one_expr(f: &Fixture, text: &str) -> Expr {
    match f.compile(text).unwrap().parts.as_slice() {
        [Part::Expr(e)] => e.clone(),
        other => panic!("{other:?}"),
    }
}

#[test]
fn tilde_joins_values_and_literals_join_at_load() {
    let f = Fixture::new();
    assert_eq!(
        one_expr(&f, "{{ secrets.password ~ ':' ~ secrets.api_key }}"),
        Expr::Concat(vec![Expr::Secret(0), Expr::Lit(":".into()), Expr::Secret(1)])
    );
    assert_eq!(f.compile("{{ 'a' ~ vars.region ~ 1 }}").unwrap().parts, vec![lit("aeu1")]);
    let p = f.error("{{ token ~ }}");
    assert_eq!((p.offset, p.message.as_str()), (11, "expected a value after `~`"));
    assert_eq!(f.error("{{ token ~ ) }}").offset, 11);
}

#[test]
fn base64_of_a_literal_is_computed_at_load() {
    let f = Fixture::new();
    assert_eq!(f.compile("Basic {{ base64('user:' ~ vars.region) }}").unwrap().parts, vec![lit("Basic dXNlcjpldQ==")]);
    let e = one_expr(&f, "{{ base64(accounts.email ~ ':' ~ secrets.password) }}");
    let Expr::Base64(inner) = &e else { panic!("{e:?}") };
    assert!(matches!(inner.as_ref(), Expr::Concat(parts) if parts.len() == 3));
    let p = f.error("{{ base64(token, cart) }}");
    assert_eq!(p.message, "`base64` takes 1 argument, found 2");
}

#[test]
fn totp_takes_a_seed_and_named_parameters() {
    let f = Fixture::new();
    assert_eq!(
        one_expr(&f, "{{ totp(secrets.password) }}"),
        Expr::Totp { seed: TotpSeed::Expr(Box::new(Expr::Secret(0))), params: Params::default() }
    );
    let e = one_expr(&f, r#"{{ totp("jbsw y3dp ehpk 3pxp", digits=8, algorithm="SHA-256", period=60) }}"#);
    let params = Params { algorithm: Algorithm::Sha256, digits: 8, period_secs: 60 };
    assert_eq!(e, Expr::Totp { seed: TotpSeed::Key(b"Hello!\xde\xad\xbe\xef".to_vec()), params });
    assert!(f.compile("{{ totp(token) }}").unwrap().uses_secret(), "a code is a credential, whatever its seed");
}

#[test]
fn totp_mistakes_point_at_the_argument() {
    let f = Fixture::new();
    let p = f.error(r#"{{ totp("JBSW1") }}"#);
    assert_eq!(p.offset, 8);
    assert_eq!(p.message, "totp: the seed is not base32: character 5 is not one of A–Z and 2–7");
    let p = f.error("{{ totp(secrets.password, digits=9) }}");
    assert_eq!((p.offset, p.message.as_str()), (33, "`digits` is 6, 7 or 8, not 9"));
    let p = f.error("{{ totp(secrets.password, algoritm='sha1') }}");
    assert_eq!(p.message, "`totp` has no argument `algoritm`");
    assert!(p.hint.unwrap().starts_with("did you mean `algorithm`?"));
    assert_eq!(f.error("{{ totp(secrets.password, algorithm='md5') }}").message, "unknown TOTP algorithm \"md5\"");
    assert_eq!(
        f.error("{{ totp(secrets.password, period=0) }}").message.split(',').next(),
        Some("`period` is a whole number of seconds")
    );
    assert_eq!(f.error("{{ totp(digits=8) }}").message, "`totp` needs a seed");
    assert_eq!(f.error("{{ totp(secrets.password, digits=8, digits=6) }}").message, "`digits` is given twice");
    assert_eq!(f.error("{{ totp(secrets.password, digits=token) }}").message, "`digits` must be written in the file");
    assert_eq!(f.error("{{ urlencode(x=token) }}").message, "`urlencode` takes no named arguments, found `x=`");
}

#[test]
fn a_seed_from_a_secret_fails_at_render_with_its_name_never_its_value() {
    let f = Fixture::new();
    let t = f.compile("{{ totp(secrets.password) }}").unwrap();
    let secrets = [
        Secret { name: "password".into(), value: "not-base32-1890".into() },
        Secret { name: "api_key".into(), value: "k".into() },
    ];
    let scope = Scope { secrets: &secrets, rows: &[], captures: &[], tokens: &[] };
    let mut derived = Vec::new();
    let e = t.try_render(&scope, &mut derived).unwrap_err();
    assert_eq!(e.message, "totp(secrets.password): the seed is not base32: character 4 is not one of A–Z and 2–7");
    assert!(derived.is_empty());
    assert_eq!(t.render(&scope), "", "the infallible render leaves it out");

    let secrets = [
        Secret { name: "password".into(), value: "JBSWY3DPEHPK3PXP".into() },
        Secret { name: "api_key".into(), value: "key".into() },
    ];
    let scope = Scope { secrets: &secrets, rows: &[], captures: &[], tokens: &[] };
    let t =
        f.compile("{{ totp(secrets.password) }} {{ base64('u:' ~ secrets.api_key) }} {{ base64('plain') }}").unwrap();
    let text = t.try_render(&scope, &mut derived).unwrap();
    let code = &text[..6];
    assert!(code.bytes().all(|b| b.is_ascii_digit()), "{text}");
    assert_eq!(&text[6..], " dTprZXk= cGxhaW4=");
    // The code and the base64 of a secret are new credentials; base64 of a literal is not.
    assert_eq!(derived, vec![code.to_string(), "dTprZXk=".to_string()]);
}
