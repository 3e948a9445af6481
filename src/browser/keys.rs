//! The keys `press` knows: named keys with their DOM `key`/`code` and Windows virtual key code (which
//! Chromium needs to run default actions: Enter submits, Tab moves focus), and any single character.

/// A key to dispatch with `Input.dispatchKeyEvent`.
pub(crate) struct Key {
    pub key: String,
    pub code: String,
    pub key_code: u32,
    /// The text the key types (`\r` for Enter, the character itself), if any.
    pub text: Option<String>,
}

const NAMED: [(&str, u32, Option<&str>); 16] = [
    ("Enter", 13, Some("\r")),
    ("Tab", 9, None),
    ("Escape", 27, None),
    ("Backspace", 8, None),
    ("Delete", 46, None),
    ("Space", 32, Some(" ")),
    ("ArrowUp", 38, None),
    ("ArrowDown", 40, None),
    ("ArrowLeft", 37, None),
    ("ArrowRight", 39, None),
    ("Home", 36, None),
    ("End", 35, None),
    ("PageUp", 33, None),
    ("PageDown", 34, None),
    ("Insert", 45, None),
    ("F5", 116, None),
];

/// Whether `press` knows `name`: one of the named keys (`Enter`, `Tab`, `Escape`, `Backspace`, `Delete`,
/// `Space`, arrows, `Home`, `End`, `PageUp`, `PageDown`, `Insert`, `F5`) or a single character.
pub fn is_known_key(name: &str) -> bool {
    key(name).is_some()
}

pub(crate) fn key(name: &str) -> Option<Key> {
    if let Some((named, key_code, text)) = NAMED.iter().find(|(n, _, _)| *n == name) {
        let key = if *named == "Space" { " " } else { named };
        return Some(Key {
            key: key.to_string(),
            code: named.to_string(),
            key_code: *key_code,
            text: text.map(str::to_string),
        });
    }
    let mut chars = name.chars();
    let c = chars.next()?;
    if chars.next().is_some() {
        return None;
    }
    Some(char_key(c))
}

/// A printable character: `code` and the virtual key code of its key on a US layout where there is one.
pub(crate) fn char_key(c: char) -> Key {
    let (code, key_code) = if c.is_ascii_alphabetic() {
        (format!("Key{}", c.to_ascii_uppercase()), c.to_ascii_uppercase() as u32)
    } else if c.is_ascii_digit() {
        (format!("Digit{c}"), c as u32)
    } else if c == ' ' {
        ("Space".to_string(), 32)
    } else {
        (String::new(), 0)
    };
    Key { key: c.to_string(), code, key_code, text: Some(c.to_string()) }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn named_and_single_characters() {
        assert!(is_known_key("Enter") && is_known_key("a") && is_known_key("é") && is_known_key("Space"));
        assert!(!is_known_key("Enterr") && !is_known_key("") && !is_known_key("ab"));
        let enter = key("Enter").unwrap();
        assert_eq!((enter.key_code, enter.text.as_deref()), (13, Some("\r")));
        assert_eq!(key("a").unwrap().code, "KeyA");
    }
}
