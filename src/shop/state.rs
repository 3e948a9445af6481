//! The shop's in-memory state: accounts, the catalogue, sessions with their carts, orders, CSRF tokens.
//!
//! Many virtual users hit the shop at once, so state is split into small locks held for a few map
//! operations each: sessions in shards by token, orders and session lists per account. No lock is ever
//! held across an `.await`, and no two locks are held at once.

use std::collections::hash_map::RandomState;
use std::collections::{HashMap, VecDeque};
use std::hash::BuildHasher;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;

/// How many demo accounts exist: `customer01@shop.test` … `customer32@shop.test` (journeys/accounts.csv).
pub(crate) const ACCOUNT_COUNT: usize = 32;
/// Sessions kept per account; the oldest is dropped beyond this so a login storm cannot grow memory.
const SESSIONS_PER_ACCOUNT: usize = 1024;
/// Sessions kept for anonymous visitors (created by the HTML add-to-cart form), all accounts together.
const GUEST_SESSIONS: usize = 4096;
/// Orders kept per account (newest last); older ones drop off the account page.
const ORDERS_PER_ACCOUNT: usize = 50;
/// Session map shards; a power of two so the shard is a mask of the token's first byte.
const SHARDS: usize = 16;
/// Most units of one product a cart line may hold.
pub(crate) const MAX_QTY: u32 = 999;

pub(crate) struct Product {
    pub sku: &'static str,
    pub name: &'static str,
    /// Euro cents; money never goes through floating point until it is printed.
    pub price_cents: u64,
    pub stock: u32,
}

pub(crate) const PRODUCTS: &[Product] = &[
    Product { sku: "SKU-1001", name: "Espresso beans 250 g", price_cents: 1299, stock: 42 },
    Product { sku: "SKU-1002", name: "Ceramic mug", price_cents: 850, stock: 120 },
    Product { sku: "SKU-1003", name: "Pour-over kettle", price_cents: 4900, stock: 7 },
    Product { sku: "SKU-1004", name: "Hand grinder", price_cents: 6490, stock: 15 },
    Product { sku: "SKU-1005", name: "Paper filters (100)", price_cents: 425, stock: 300 },
];

/// The catalogue index of `sku`.
pub(crate) fn product_index(sku: &str) -> Option<usize> {
    PRODUCTS.iter().position(|p| p.sku == sku)
}

/// Converts euro cents to US cents at the demo rate of 1.1, rounded half up to the cent.
pub(crate) fn usd_cents(eur_cents: u64) -> u64 {
    (eur_cents * 11 + 5) / 10
}

/// Cents as a JSON-friendly decimal (12.99); exact for every amount the shop can produce.
pub(crate) fn money(cents: u64) -> f64 {
    cents as f64 / 100.0
}

pub(crate) struct Account {
    pub email: String,
    pub name: String,
}

/// A session token: 16 random bytes, shown as 32 hex digits.
pub(crate) type Token = [u8; 16];

pub(crate) fn token_hex(t: &Token) -> String {
    use std::fmt::Write;
    t.iter().fold(String::with_capacity(32), |mut s, b| {
        let _ = write!(s, "{b:02x}");
        s
    })
}

pub(crate) fn parse_token(hex: &str) -> Option<Token> {
    if hex.len() != 32 {
        return None;
    }
    let mut t = [0u8; 16];
    for (i, byte) in t.iter_mut().enumerate() {
        *byte = u8::from_str_radix(hex.get(2 * i..2 * i + 2)?, 16).ok()?;
    }
    Some(t)
}

#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Order {
    pub id: u64,
    pub total_cents: u64,
}

impl Order {
    pub(crate) fn id_text(&self) -> String {
        format!("ORD-{:06}", self.id)
    }
}

/// A copy of a cart, taken under its lock and rendered afterwards.
#[derive(Debug, Clone, Default, PartialEq)]
pub(crate) struct Cart {
    pub id: u64,
    /// (index into [`PRODUCTS`], quantity), in the order items were first added.
    pub items: Vec<(usize, u32)>,
}

impl Cart {
    pub(crate) fn id_text(&self) -> String {
        format!("cart-{}", self.id)
    }

    pub(crate) fn total_cents(&self) -> u64 {
        self.items.iter().map(|&(p, q)| PRODUCTS[p].price_cents * u64::from(q)).sum()
    }
}

pub(crate) fn parse_cart_id(text: &str) -> Option<u64> {
    text.strip_prefix("cart-")?.parse().ok()
}

#[derive(Debug, PartialEq)]
pub(crate) enum CartError {
    /// The token names no live session.
    NoSession,
    /// The line would exceed [`MAX_QTY`].
    TooMany,
}

#[derive(Debug, PartialEq)]
pub(crate) enum CheckoutError {
    NoSession,
    /// Not this session's open cart (never existed, already checked out, or someone else's).
    NoSuchCart,
    Empty,
    /// Guests may fill a cart but must log in to pay.
    Guest,
}

struct Session {
    /// Index into `owners`: an account, or the guest slot.
    owner: usize,
    /// The one open cart; `None` until first used and again after checkout.
    cart: Option<Cart>,
}

#[derive(Default)]
struct Owner {
    /// Live session tokens, oldest first, so the oldest can be evicted.
    sessions: VecDeque<Token>,
    orders: VecDeque<Order>,
}

pub(crate) struct Shop {
    /// The password every account accepts.
    password: String,
    accounts: Vec<Account>,
    /// One per account plus the guest slot at index `ACCOUNT_COUNT`.
    owners: Vec<Mutex<Owner>>,
    /// Sessions by token, sharded to keep concurrent users off each other's locks.
    shards: Vec<Mutex<HashMap<Token, Session>>>,
    next_cart: AtomicU64,
    next_order: AtomicU64,
    /// Keys the CSRF tag (SipHash is a keyed PRF), fresh per process so forms from an old run fail.
    csrf_key: RandomState,
}

/// Every account's email and display name, generated to match journeys/accounts.csv.
pub(crate) fn demo_accounts() -> Vec<Account> {
    (1..=ACCOUNT_COUNT)
        .map(|i| Account { email: format!("customer{i:02}@shop.test"), name: format!("Test Customer {i:02}") })
        .collect()
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    // Every critical section leaves the data consistent before anything can panic, so poisoning
    // carries no information here.
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl Shop {
    pub(crate) fn new(password: String) -> Shop {
        Shop {
            password,
            accounts: demo_accounts(),
            owners: (0..=ACCOUNT_COUNT).map(|_| Mutex::default()).collect(),
            shards: (0..SHARDS).map(|_| Mutex::default()).collect(),
            next_cart: AtomicU64::new(1),
            next_order: AtomicU64::new(1),
            csrf_key: RandomState::new(),
        }
    }

    pub(crate) fn account(&self, owner: usize) -> Option<&Account> {
        self.accounts.get(owner)
    }

    /// A new session for a known email with the right password: (token, account index).
    pub(crate) fn login(&self, email: &str, password: &str) -> Option<(Token, usize)> {
        let idx = self.accounts.iter().position(|a| a.email.eq_ignore_ascii_case(email.trim()))?;
        if password != self.password {
            return None;
        }
        Some((self.new_session(idx), idx))
    }

    /// A session for an anonymous visitor.
    pub(crate) fn new_guest(&self) -> Token {
        self.new_session(ACCOUNT_COUNT)
    }

    fn shard(&self, t: &Token) -> &Mutex<HashMap<Token, Session>> {
        &self.shards[usize::from(t[0]) & (SHARDS - 1)]
    }

    fn new_session(&self, owner: usize) -> Token {
        let token: Token = rand::random();
        lock(self.shard(&token)).insert(token, Session { owner, cart: None });
        let cap = if owner == ACCOUNT_COUNT { GUEST_SESSIONS } else { SESSIONS_PER_ACCOUNT };
        let evicted = {
            let mut o = lock(&self.owners[owner]);
            o.sessions.push_back(token);
            if o.sessions.len() > cap {
                o.sessions.pop_front()
            } else {
                None
            }
        };
        if let Some(old) = evicted {
            lock(self.shard(&old)).remove(&old);
        }
        token
    }

    /// The account behind a token; `None` for unknown tokens and guests.
    pub(crate) fn account_of(&self, t: &Token) -> Option<usize> {
        lock(self.shard(t)).get(t).map(|s| s.owner).filter(|&o| o < ACCOUNT_COUNT)
    }

    pub(crate) fn is_session(&self, t: &Token) -> bool {
        lock(self.shard(t)).contains_key(t)
    }

    pub(crate) fn orders(&self, owner: usize) -> Vec<Order> {
        lock(&self.owners[owner]).orders.iter().cloned().collect()
    }

    /// The session's open cart, opened empty if it has none.
    pub(crate) fn cart(&self, t: &Token) -> Option<Cart> {
        let mut shard = lock(self.shard(t));
        let session = shard.get_mut(t)?;
        Some(self.open_cart(session).clone())
    }

    /// The session's open cart without opening one (for rendering the HTML cart page).
    pub(crate) fn peek_cart(&self, t: &Token) -> Option<Cart> {
        lock(self.shard(t)).get(t).and_then(|s| s.cart.clone())
    }

    fn open_cart<'s>(&self, session: &'s mut Session) -> &'s mut Cart {
        session
            .cart
            .get_or_insert_with(|| Cart { id: self.next_cart.fetch_add(1, Ordering::Relaxed), items: Vec::new() })
    }

    /// Adds `qty` (≥ 1) of a product to the session's open cart; returns the cart after the change.
    pub(crate) fn add_to_cart(&self, t: &Token, product: usize, qty: u32) -> Result<Cart, CartError> {
        let mut shard = lock(self.shard(t));
        let session = shard.get_mut(t).ok_or(CartError::NoSession)?;
        let cart = self.open_cart(session);
        match cart.items.iter_mut().find(|(p, _)| *p == product) {
            Some((_, have)) if *have + qty > MAX_QTY => return Err(CartError::TooMany),
            Some((_, have)) => *have += qty,
            None if qty > MAX_QTY => return Err(CartError::TooMany),
            None => cart.items.push((product, qty)),
        }
        Ok(cart.clone())
    }

    /// Closes the session's open cart `cart_id` and records the order on the account.
    pub(crate) fn checkout(&self, t: &Token, cart_id: u64) -> Result<Order, CheckoutError> {
        let (owner, cart) = {
            let mut shard = lock(self.shard(t));
            let session = shard.get_mut(t).ok_or(CheckoutError::NoSession)?;
            if session.owner >= ACCOUNT_COUNT {
                return Err(CheckoutError::Guest);
            }
            match &session.cart {
                Some(c) if c.id == cart_id && c.items.is_empty() => return Err(CheckoutError::Empty),
                Some(c) if c.id == cart_id => {}
                _ => return Err(CheckoutError::NoSuchCart),
            }
            (session.owner, session.cart.take().unwrap_or_default())
        };
        let order = Order { id: self.next_order.fetch_add(1, Ordering::Relaxed), total_cents: cart.total_cents() };
        let mut o = lock(&self.owners[owner]);
        o.orders.push_back(order.clone());
        if o.orders.len() > ORDERS_PER_ACCOUNT {
            o.orders.pop_front();
        }
        Ok(order)
    }

    /// A fresh CSRF token: a random nonce and its keyed tag, 32 hex digits; no server state.
    pub(crate) fn csrf_token(&self) -> String {
        let nonce: u64 = rand::random();
        format!("{nonce:016x}{:016x}", self.csrf_key.hash_one(nonce))
    }

    pub(crate) fn csrf_valid(&self, token: &str) -> bool {
        let (Some(n), Some(tag)) = (token.get(..16), token.get(16..)) else {
            return false;
        };
        match (u64::from_str_radix(n, 16), u64::from_str_radix(tag, 16)) {
            (Ok(n), Ok(tag)) => token.len() == 32 && self.csrf_key.hash_one(n) == tag,
            _ => false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accounts_match_the_bundled_csv() {
        let csv = include_str!("../../journeys/accounts.csv");
        let rows: Vec<String> = csv.lines().skip(1).map(str::to_string).collect();
        let ours: Vec<String> = demo_accounts().iter().map(|a| format!("{},{}", a.email, a.name)).collect();
        assert_eq!(rows, ours);
    }

    #[test]
    fn prices_convert_to_usd_in_cents() {
        assert_eq!(usd_cents(1299), 1429);
        assert_eq!(usd_cents(850), 935);
        assert_eq!(usd_cents(425), 468); // 467.5 rounds half up
        assert_eq!(money(1299), 12.99);
    }

    #[test]
    fn tokens_round_trip_as_hex() {
        let t: Token = rand::random();
        let hex = token_hex(&t);
        assert_eq!(hex.len(), 32);
        assert_eq!(parse_token(&hex), Some(t));
        assert_eq!(parse_token("zz"), None);
        assert_eq!(parse_token(&"g".repeat(32)), None);
    }

    #[test]
    fn cart_and_checkout_rules() {
        let shop = Shop::new("pw".into());
        assert!(shop.login("customer01@shop.test", "wrong").is_none());
        assert!(shop.login("nobody@shop.test", "pw").is_none());
        let (t, owner) = shop.login("Customer01@shop.test", "pw").unwrap();
        assert_eq!(shop.account_of(&t), Some(owner));
        let empty = shop.cart(&t).unwrap();
        assert_eq!(shop.checkout(&t, empty.id), Err(CheckoutError::Empty));
        assert_eq!(shop.checkout(&t, empty.id + 1000), Err(CheckoutError::NoSuchCart));
        shop.add_to_cart(&t, 0, 2).unwrap();
        let cart = shop.add_to_cart(&t, 0, 1).unwrap();
        assert_eq!((cart.id, cart.items.clone()), (empty.id, vec![(0, 3)]));
        assert_eq!(shop.add_to_cart(&t, 0, MAX_QTY), Err(CartError::TooMany));
        let order = shop.checkout(&t, cart.id).unwrap();
        assert_eq!(order.total_cents, 3 * 1299);
        assert_eq!(shop.checkout(&t, cart.id), Err(CheckoutError::NoSuchCart));
        assert_eq!(shop.orders(owner), vec![order]);
        assert_ne!(shop.cart(&t).unwrap().id, cart.id, "a new cart opens after checkout");

        let guest = shop.new_guest();
        let gcart = shop.add_to_cart(&guest, 1, 1).unwrap();
        assert_eq!(shop.account_of(&guest), None);
        assert_eq!(shop.checkout(&guest, gcart.id), Err(CheckoutError::Guest));
    }

    #[test]
    fn oldest_sessions_are_evicted() {
        let shop = Shop::new("pw".into());
        let (first, _) = shop.login("customer02@shop.test", "pw").unwrap();
        for _ in 0..SESSIONS_PER_ACCOUNT {
            shop.login("customer02@shop.test", "pw").unwrap();
        }
        assert!(!shop.is_session(&first));
        let (last, _) = shop.login("customer02@shop.test", "pw").unwrap();
        assert!(shop.is_session(&last));
    }

    #[test]
    fn csrf_tokens_verify_and_forgeries_do_not() {
        let shop = Shop::new("pw".into());
        let good = shop.csrf_token();
        assert!(shop.csrf_valid(&good));
        assert_ne!(good, shop.csrf_token());
        let mut forged = good.clone();
        forged.replace_range(31.., if good.ends_with('0') { "1" } else { "0" });
        assert!(!shop.csrf_valid(&forged));
        assert!(!shop.csrf_valid("short"));
        assert!(!Shop::new("pw".into()).csrf_valid(&good), "another process's key rejects it");
    }
}
