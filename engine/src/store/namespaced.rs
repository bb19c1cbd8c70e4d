//! A substrate whose bucket and log names carry a prefix, so several
//! control planes (or test runs) can share one NATS server without seeing
//! each other's state.

use super::{check_name, BucketOptions, EventLog, Kv, StoreError, Substrate};
use async_trait::async_trait;
use std::sync::Arc;

pub struct Namespaced {
    inner: Arc<dyn Substrate>,
    prefix: String,
}

impl Namespaced {
    /// `prefix` is `[A-Za-z0-9_-]`, joined to each name with `_`.
    pub fn new(inner: Arc<dyn Substrate>, prefix: &str) -> Result<Self, StoreError> {
        check_name("namespace", prefix)?;
        Ok(Self {
            inner,
            prefix: prefix.to_owned(),
        })
    }

    fn name(&self, n: &str) -> String {
        format!("{}_{n}", self.prefix)
    }
}

#[async_trait]
impl Substrate for Namespaced {
    fn backend(&self) -> &'static str {
        self.inner.backend()
    }
    async fn kv(&self, bucket: &str, opts: BucketOptions) -> Result<Arc<dyn Kv>, StoreError> {
        self.inner.kv(&self.name(bucket), opts).await
    }
    async fn log(&self, name: &str) -> Result<Arc<dyn EventLog>, StoreError> {
        self.inner.log(&self.name(name)).await
    }
    async fn ping(&self) -> Result<(), StoreError> {
        self.inner.ping().await
    }
}
