//! curl command lines → exchanges (requests without responses). The options a browser's "Copy as cURL"
//! and people use are understood; options that do not change the request are ignored (some with a
//! warning); any other option is an error naming it, so nothing is silently lost.

use super::words::split;
use super::{Exchange, ImportError, RequestBody};
use url::Url;

/// What the curl commands gave.
#[derive(Debug, Default)]
pub struct Parsed {
    pub exchanges: Vec<Exchange>,
    pub warnings: Vec<String>,
    /// `-k`: some command skipped certificate verification.
    pub insecure: bool,
}

/// Options that take a value and do not change the request: ignored, with the reason shown.
const IGNORED_WITH_VALUE: &[(&str, &str)] = &[
    ("-o", "output file"),
    ("--output", "output file"),
    ("-w", "output format"),
    ("--write-out", "output format"),
    ("-m", "set `timeout:` on the step instead"),
    ("--max-time", "set `timeout:` on the step instead"),
    ("--connect-timeout", "set `timeout:` on the step instead"),
    ("--retry", "journeyd does not retry; a failure is reported"),
    ("-c", "the journey keeps its own cookie jar"),
    ("--cookie-jar", "the journey keeps its own cookie jar"),
    ("-A", "journeyd sends its own User-Agent"),
    ("--user-agent", "journeyd sends its own User-Agent"),
    ("-e", "Referer is not replayed"),
    ("--referer", "Referer is not replayed"),
    ("-b", "cookies come from the journey's cookie jar, set by earlier steps"),
    ("--cookie", "cookies come from the journey's cookie jar, set by earlier steps"),
];

/// Flags that do not change what is sent, or that journeyd always does (`-L`: steps follow redirects).
const HARMLESS_FLAGS: &[&str] = &[
    "-s",
    "--silent",
    "-S",
    "--show-error",
    "-i",
    "--include",
    "-v",
    "--verbose",
    "-f",
    "--fail",
    "--fail-with-body",
    "-g",
    "--globoff",
    "-L",
    "--location",
    "--http1.1",
    "--http2",
    "--http2-prior-knowledge",
    "-N",
    "--no-buffer",
    "--no-progress-meter",
    "-#",
    "--progress-bar",
];

/// Options with a value that this reader understands.
const WITH_VALUE: &[&str] = &[
    "-X",
    "--request",
    "-H",
    "--header",
    "-d",
    "--data",
    "--data-ascii",
    "--data-binary",
    "--data-raw",
    "--data-urlencode",
    "--json",
    "-u",
    "--user",
    "--url",
];

/// One command being read.
#[derive(Default)]
struct Command {
    method: Option<String>,
    url: Option<String>,
    headers: Vec<(String, String)>,
    data: Vec<String>,
    json: bool,
    get: bool,
    head: bool,
    user: Option<String>,
}

pub fn parse(text: &str) -> Result<Parsed, ImportError> {
    let commands = split(text)?;
    let mut parsed = Parsed::default();
    for (i, words) in commands.iter().enumerate() {
        let n = i + 1;
        let err = |message: String| ImportError::Curl { command: n, message };
        let program = words[0].rsplit(['/', '\\']).next().unwrap_or("");
        if !matches!(program, "curl" | "curl.exe") {
            return Err(err(format!("`{}` is not curl", words[0])));
        }
        let cmd = read_options(&words[1..], &mut parsed, n).map_err(err)?;
        parsed.exchanges.push(exchange(cmd).map_err(err)?);
    }
    Ok(parsed)
}

/// Walks the words of one command (after `curl`).
fn read_options(words: &[String], parsed: &mut Parsed, n: usize) -> Result<Command, String> {
    let mut cmd = Command::default();
    let mut i = 0;
    while i < words.len() {
        let word = &words[i];
        i += 1;
        if !word.starts_with('-') || word == "-" {
            set_url(&mut cmd, word)?;
            continue;
        }
        // `--name=value`, `-XPOST`, `-sSL`: split into an option and an attached value.
        let (opt, attached) = match word.split_once('=') {
            Some((o, v)) if o.starts_with("--") => (o.to_string(), Some(v.to_string())),
            _ if !word.starts_with("--") && word.len() > 2 => {
                let first = &word[..2];
                if WITH_VALUE.contains(&first) || IGNORED_WITH_VALUE.iter().any(|(o, _)| *o == first) {
                    (first.to_string(), Some(word[2..].to_string()))
                } else {
                    for c in word[1..].chars() {
                        flag(&format!("-{c}"), &mut cmd, parsed)?;
                    }
                    continue;
                }
            }
            _ => (word.clone(), None),
        };
        let takes_value = WITH_VALUE.contains(&opt.as_str()) || IGNORED_WITH_VALUE.iter().any(|(o, _)| *o == opt);
        if !takes_value {
            if attached.is_some() {
                return Err(format!("option `{opt}` takes no value"));
            }
            flag(&opt, &mut cmd, parsed)?;
            continue;
        }
        let value = match attached {
            Some(v) => v,
            None => {
                let v = words.get(i).ok_or_else(|| format!("option `{opt}` needs a value"))?;
                i += 1;
                v.clone()
            }
        };
        if let Some((_, why)) = IGNORED_WITH_VALUE.iter().find(|(o, _)| *o == opt) {
            parsed.warnings.push(format!("curl command {n}: ignored `{opt}`: {why}"));
            continue;
        }
        if matches!(opt.as_str(), "-H" | "--header") && value.to_ascii_lowercase().starts_with("cookie:") {
            let why = "cookies come from the journey's cookie jar, set by earlier steps";
            parsed.warnings.push(format!("curl command {n}: ignored the Cookie header: {why}"));
            continue;
        }
        option(&opt, value, &mut cmd)?;
    }
    Ok(cmd)
}

fn flag(opt: &str, cmd: &mut Command, parsed: &mut Parsed) -> Result<(), String> {
    match opt {
        "-k" | "--insecure" => {
            parsed.insecure = true;
            let w = "`-k`: the journey skips TLS verification (`defaults: { tls_skip_verify: true }`); prefer `tls_ca`";
            if !parsed.warnings.iter().any(|x| x == w) {
                parsed.warnings.push(w.into());
            }
        }
        "--compressed" => {
            let w = "ignored `--compressed`: journeyd always accepts gzip and deflate";
            if !parsed.warnings.iter().any(|x| x == w) {
                parsed.warnings.push(w.into());
            }
        }
        "-G" | "--get" => cmd.get = true,
        "-I" | "--head" => cmd.head = true,
        o if HARMLESS_FLAGS.contains(&o) => {}
        "-F" | "--form" | "--form-string" => return Err(format!("`{opt}` (multipart form upload) is not supported")),
        o => return Err(format!("unknown curl option `{o}`")),
    }
    Ok(())
}

fn option(opt: &str, value: String, cmd: &mut Command) -> Result<(), String> {
    match opt {
        "-X" | "--request" => cmd.method = Some(value.to_ascii_uppercase()),
        "-H" | "--header" => match value.split_once(':') {
            Some((name, v)) if !name.trim().is_empty() => {
                cmd.headers.push((name.trim().to_string(), v.trim().to_string()));
            }
            _ if value.ends_with(';') => {
                cmd.headers.push((value.trim_end_matches(';').trim().to_string(), String::new()))
            }
            _ => return Err(format!("header `{value}` has no `Name: value` shape")),
        },
        "-d" | "--data" | "--data-ascii" | "--data-binary" if value.starts_with('@') => {
            return Err(format!("`{opt} {value}` reads the body from a file; paste the body itself (`--data-raw`)"));
        }
        "-d" | "--data" | "--data-ascii" => cmd.data.push(value.replace(['\r', '\n'], "")),
        "--data-binary" | "--data-raw" => cmd.data.push(value),
        "--json" => {
            cmd.json = true;
            cmd.data.push(value);
        }
        "--data-urlencode" => cmd.data.push(urlencode_data(&value)?),
        "-u" | "--user" => cmd.user = Some(value),
        "--url" => set_url(cmd, &value)?,
        _ => unreachable!("every option of WITH_VALUE is handled: {opt}"),
    }
    Ok(())
}

/// `--data-urlencode`: `content`, `=content`, `name=content` (the content encoded); `@file` forms are refused.
fn urlencode_data(value: &str) -> Result<String, String> {
    let enc = |s: &str| url::form_urlencoded::byte_serialize(s.as_bytes()).collect::<String>();
    if let Some(rest) = value.strip_prefix('=') {
        return Ok(enc(rest));
    }
    match (value.find('='), value.find('@')) {
        (_, Some(at)) if value[..at].chars().all(|c| c != '=') => {
            Err(format!("`--data-urlencode {value}` reads a file; paste the content itself"))
        }
        (Some(eq), _) => Ok(format!("{}={}", &value[..eq], enc(&value[eq + 1..]))),
        (None, _) => Ok(enc(value)),
    }
}

fn set_url(cmd: &mut Command, word: &str) -> Result<(), String> {
    if let Some(first) = &cmd.url {
        return Err(format!("a second URL `{word}` after `{first}`: write one curl command per request"));
    }
    cmd.url = Some(word.to_string());
    Ok(())
}

fn exchange(cmd: Command) -> Result<Exchange, String> {
    let raw = cmd.url.ok_or("no URL: curl needs the address to request (`curl https://shop.example/api/login …`)")?;
    let with_scheme = if raw.contains("://") { raw.clone() } else { format!("http://{raw}") };
    let mut url = Url::parse(&with_scheme).map_err(|e| format!("invalid URL `{raw}`: {e}"))?;
    if let Some(user) = &cmd.user {
        let (name, pass) = user.split_once(':').unwrap_or((user, ""));
        let ok = url.set_username(name).is_ok() && url.set_password(Some(pass)).is_ok();
        if !ok {
            return Err(format!("`-u` cannot be used with `{raw}`"));
        }
    }
    let mut headers = cmd.headers;
    let has = |h: &[(String, String)], n: &str| h.iter().any(|(k, _)| k.eq_ignore_ascii_case(n));
    if cmd.json {
        for (name, value) in [("Content-Type", "application/json"), ("Accept", "application/json")] {
            if !has(&headers, name) {
                headers.push((name.into(), value.into()));
            }
        }
    }
    let data = (!cmd.data.is_empty()).then(|| cmd.data.join(if cmd.json { "" } else { "&" }));
    let mut body = None;
    if let Some(data) = data {
        if cmd.get {
            let q = match url.query() {
                Some(q) if !q.is_empty() => format!("{q}&{data}"),
                _ => data,
            };
            url.set_query(Some(&q));
        } else {
            let mime = headers.iter().find(|(k, _)| k.eq_ignore_ascii_case("content-type")).map(|(_, v)| v.clone());
            body = Some(RequestBody {
                mime: mime.unwrap_or_else(|| "application/x-www-form-urlencoded".into()),
                text: data,
            });
        }
    }
    let method = match cmd.method {
        Some(m) => m,
        None if cmd.head => "HEAD".into(),
        None if body.is_some() => "POST".into(),
        None => "GET".into(),
    };
    Ok(Exchange { method, url, headers, body, response: None })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn one(text: &str) -> (Exchange, Vec<String>) {
        let mut p = parse(text).unwrap();
        assert_eq!(p.exchanges.len(), 1);
        (p.exchanges.remove(0), p.warnings)
    }

    #[test]
    fn chrome_copy_as_curl() {
        let text = r#"curl 'https://shop.test/api/login' \
  -H 'accept: application/json' \
  -H 'content-type: application/json' \
  -b 'session=abc' \
  -H 'Cookie: theme=dark' \
  --data-raw '{"email":"a@b.test","password":"pw"}' \
  --compressed"#;
        let (ex, warnings) = one(text);
        assert_eq!((ex.method.as_str(), ex.url.as_str()), ("POST", "https://shop.test/api/login"));
        assert_eq!(ex.body.as_ref().unwrap().mime, "application/json");
        assert_eq!(ex.headers.len(), 2);
        assert_eq!(warnings.len(), 3, "{warnings:?}");
    }

    #[test]
    fn short_options_attached_and_combined() {
        let (ex, _) = one("curl -sSL -XPUT -H'X-A: 1' -u ada:s3cret shop.test/x -d a=1 -d b=2");
        assert_eq!(ex.method, "PUT");
        assert_eq!(ex.url.as_str(), "http://ada:s3cret@shop.test/x");
        assert_eq!(ex.body.unwrap().text, "a=1&b=2");
        assert_eq!(ex.headers, vec![("X-A".to_string(), "1".to_string())]);
    }

    #[test]
    fn get_with_data_and_urlencode() {
        let (ex, _) = one("curl -G https://s.test/search --data-urlencode 'q=red shoes' --data-urlencode '=x&y'");
        assert_eq!(ex.url.as_str(), "https://s.test/search?q=red+shoes&x%26y");
        assert_eq!(ex.method, "GET");
    }

    #[test]
    fn json_option_sets_headers() {
        let (ex, _) = one(r#"curl --json '{"a":1}' https://s.test/api"#);
        assert_eq!(ex.method, "POST");
        assert!(ex.headers.iter().any(|(k, v)| k == "Accept" && v == "application/json"));
    }

    #[test]
    fn errors_name_the_problem() {
        let err = |t: &str| parse(t).unwrap_err().to_string();
        assert_eq!(
            err("curl -X POST"),
            "curl command 1: no URL: curl needs the address to request (`curl https://shop.example/api/login …`)"
        );
        assert_eq!(err("curl a.test\ncurl --frobnicate b.test"), "curl command 2: unknown curl option `--frobnicate`");
        assert_eq!(err("curl -Z a.test"), "curl command 1: unknown curl option `-Z`");
        assert_eq!(err("curl -H"), "curl command 1: option `-H` needs a value");
        assert_eq!(err("wget a.test"), "curl command 1: `wget` is not curl");
        assert!(err("curl -d @body.json a.test").contains("reads the body from a file"));
        assert!(err("curl a.test b.test").contains("a second URL"));
        assert!(err("curl 'a.test").contains("never closed"));
    }
}
