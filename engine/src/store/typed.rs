use super::{Key, Kv, Revision, StoreError};
use serde::de::DeserializeOwned;
use serde::Serialize;
use std::marker::PhantomData;
use std::sync::Arc;

/// JSON-typed access to a bucket; bad stored bytes are `Decode` errors.
pub struct TypedKv<T> {
    kv: Arc<dyn Kv>,
    _t: PhantomData<fn() -> T>,
}

impl<T: Serialize + DeserializeOwned> TypedKv<T> {
    pub fn new(kv: Arc<dyn Kv>) -> Self {
        Self {
            kv,
            _t: PhantomData,
        }
    }

    pub async fn get(&self, key: &Key) -> Result<Option<(T, Revision)>, StoreError> {
        match self.kv.get(key).await? {
            None => Ok(None),
            Some(e) => serde_json::from_slice(&e.value)
                .map(|v| Some((v, e.revision)))
                .map_err(|err| StoreError::Decode(format!("{}: {err}", key))),
        }
    }

    fn encode(value: &T) -> Result<bytes::Bytes, StoreError> {
        serde_json::to_vec(value)
            .map(bytes::Bytes::from)
            .map_err(|e| StoreError::Invalid(format!("cannot encode value: {e}")))
    }

    pub async fn create(&self, key: &Key, value: &T) -> Result<Revision, StoreError> {
        self.kv.create(key, Self::encode(value)?).await
    }

    pub async fn update(
        &self,
        key: &Key,
        value: &T,
        expected: Revision,
    ) -> Result<Revision, StoreError> {
        self.kv.update(key, Self::encode(value)?, expected).await
    }

    pub async fn put(&self, key: &Key, value: &T) -> Result<Revision, StoreError> {
        self.kv.put(key, Self::encode(value)?).await
    }
}
