//! Names the projector writes under and query-api reads from.
//!
//! A document has a *doc key* (`product:{id}`), the same in both stores: in PostgreSQL
//! it is `rm_docs.key` next to `rm_docs.rm_version`; in Redis it lives at
//! `{prefix}v{version}:{doc key}` as a hash with two fields, `rev` and `doc`, so one
//! `HMGET key rev doc` answers a read. `rev` comes from one PostgreSQL sequence and
//! only grows: writes in both stores are fenced by it ([`FENCED_SET_LUA`]), so a stale
//! writer can never replace a newer document. An empty `doc` (NULL in PostgreSQL) is a
//! tombstone: the document is gone. Rev 0 with an empty doc is a short-lived negative
//! cache entry: the document was never written.

use std::fmt;
use std::str::FromStr;

use uuid::Uuid;

/// Items on one list or search page.
pub const PAGE_SIZE: usize = 20;

/// The list-page sorts of docs/api.md.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Sort {
    Name,
    Price,
    PriceDesc,
    Newest,
}

impl Sort {
    pub const ALL: [Sort; 4] = [Sort::Name, Sort::Price, Sort::PriceDesc, Sort::Newest];

    pub fn as_str(self) -> &'static str {
        match self {
            Sort::Name => "name",
            Sort::Price => "price",
            Sort::PriceDesc => "-price",
            Sort::Newest => "newest",
        }
    }
}

impl fmt::Display for Sort {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[derive(Debug, thiserror::Error)]
#[error("unknown sort {0:?}: use name, price, -price or newest")]
pub struct UnknownSort(pub String);

impl FromStr for Sort {
    type Err = UnknownSort;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Sort::ALL
            .into_iter()
            .find(|sort| sort.as_str() == s)
            .ok_or_else(|| UnknownSort(s.to_owned()))
    }
}

/// The list pages of every product use this in place of a category slug.
pub const ALL_PRODUCTS: &str = "all";

/// Doc keys: the part of a key that does not depend on store or version.
pub mod doc_key {
    use super::*;

    pub fn product(id: Uuid) -> String {
        format!("product:{id}")
    }
    /// `category` is a category slug or [`ALL_PRODUCTS`]; pages count from 1.
    pub fn product_list(category: &str, sort: Sort, page: u32) -> String {
        format!("products:{category}:{sort}:{page}")
    }
    pub fn categories() -> String {
        "categories".to_owned()
    }
    pub fn cart(session_id: Uuid) -> String {
        format!("cart:{session_id}")
    }
    pub fn order(id: Uuid) -> String {
        format!("order:{id}")
    }
    pub fn orders(session_id: Uuid) -> String {
        format!("orders:{session_id}")
    }
    pub fn recommendations(product_id: Uuid) -> String {
        format!("recs:{product_id}")
    }
    /// Cached search results; `catalog_gen` changes whenever the catalog does, so a
    /// change makes every cached result unreachable without an extra lookup.
    pub fn search(catalog_gen: i64, normalized_query: &str, page: u32) -> String {
        format!("search:{catalog_gen}:{page}:{normalized_query}")
    }
}

/// The Redis side of one read-model version of one store.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RedisKeys {
    prefix: String,
    version: i32,
}

impl RedisKeys {
    /// `prefix` isolates stores sharing one Redis (tests use one prefix each).
    pub fn new(prefix: impl Into<String>, version: i32) -> Self {
        Self {
            prefix: prefix.into(),
            version,
        }
    }
    pub fn version(&self) -> i32 {
        self.version
    }
    pub fn prefix(&self) -> &str {
        &self.prefix
    }
    /// The Redis key of a doc key.
    pub fn key(&self, doc_key: &str) -> String {
        format!("{}v{}:{}", self.prefix, self.version, doc_key)
    }
    /// Pattern matching every key of this version (for `SCAN` when a version is dropped).
    pub fn pattern(&self) -> String {
        format!("{}v{}:*", self.prefix, self.version)
    }
    /// Pub/sub channel on which the projector publishes, after each batch, the doc keys
    /// it wrote (one message, keys separated by `\n`). query-api's `min_version` waits
    /// listen here instead of polling.
    pub fn updates_channel(&self) -> String {
        format!("{}v{}:updates", self.prefix, self.version)
    }
}

/// The key beside a store's read models that holds the store's id (`store_identity` in
/// PostgreSQL): it says which store a prefix belongs to, and its absence says the read
/// models in this Redis are missing (a Redis restarted empty) and must be refilled.
pub fn store_marker_key(prefix: &str) -> String {
    format!("{prefix}store")
}

/// Fenced write of a document: `KEYS[1]` the Redis key, `ARGV[1]` the rev, `ARGV[2]`
/// the document (empty for a tombstone), optional `ARGV[3]` a lifetime in seconds
/// ([`redis_ttl_secs`]; absent or 0: none). Writes only when the stored rev is lower;
/// answers 1 if it wrote, 0 if a newer document was already there.
pub const FENCED_SET_LUA: &str = r#"
local cur = redis.call('HGET', KEYS[1], 'rev')
if cur and tonumber(cur) >= tonumber(ARGV[1]) then return 0 end
redis.call('HSET', KEYS[1], 'rev', ARGV[1], 'doc', ARGV[2])
local ttl = tonumber(ARGV[3] or '0') or 0
if ttl > 0 then redis.call('EXPIRE', KEYS[1], ttl) else redis.call('PERSIST', KEYS[1]) end
return 1
"#;

/// How long a cart document stays in Redis after its last write: a cart is read and
/// written only with its session's token, valid 7 days from the session's start, so
/// 8 days after the last write nobody can read it any more. PostgreSQL keeps it.
pub const CART_TTL_SECS: u64 = 8 * 24 * 3600;

/// The Redis lifetime of a document (0: none; documents go only when replaced).
/// Keys with a lifetime are the ones Redis's `volatile-lru` policy may evict under
/// `maxmemory` (docs/security.md); everything else, and the store marker, stays.
pub fn redis_ttl_secs(doc_key: &str) -> u64 {
    if doc_key.starts_with("cart:") {
        CART_TTL_SECS
    } else {
        0
    }
}

/// Negative cache: remembers, for `ARGV[1]` seconds, that a document does not exist
/// (rev 0, empty doc), so repeated reads of it (a new session's cart) are hits. Written
/// only where no key is; any real document (rev ≥ 1) replaces it through
/// [`FENCED_SET_LUA`], which also removes the expiry.
pub const ABSENT_SET_LUA: &str = r#"
if redis.call('EXISTS', KEYS[1]) == 1 then return 0 end
redis.call('HSET', KEYS[1], 'rev', 0, 'doc', '')
redis.call('EXPIRE', KEYS[1], ARGV[1])
return 1
"#;

/// The `rev` of a negative-cache entry ([`ABSENT_SET_LUA`]): the document was never written.
pub const ABSENT_REV: i64 = 0;

/// Normalizes a search query for caching: lowercase words separated by one space.
pub fn normalize_query(q: &str) -> String {
    q.split_whitespace()
        .map(str::to_lowercase)
        .collect::<Vec<_>>()
        .join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_carts_have_a_redis_lifetime() {
        assert_eq!(redis_ttl_secs(&doc_key::cart(Uuid::nil())), CART_TTL_SECS);
        assert_eq!(redis_ttl_secs(&doc_key::product(Uuid::nil())), 0);
        assert_eq!(redis_ttl_secs(&doc_key::categories()), 0);
    }

    #[test]
    fn keys_carry_prefix_and_version() {
        let keys = RedisKeys::new("t1:", 3);
        assert_eq!(keys.key(&doc_key::categories()), "t1:v3:categories");
        assert_eq!(
            doc_key::product_list("all", Sort::PriceDesc, 2),
            "products:all:-price:2"
        );
    }

    #[test]
    fn sorts_parse_from_their_api_names_only() {
        assert_eq!("-price".parse::<Sort>().unwrap(), Sort::PriceDesc);
        assert!("cheapest".parse::<Sort>().is_err());
    }

    #[test]
    fn queries_normalize_case_and_spacing() {
        assert_eq!(normalize_query("  Travel   CAMERA "), "travel camera");
    }
}
