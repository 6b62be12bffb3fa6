//! One page of a list, the shape every list route answers with.

use poem_openapi::Object;
use poem_openapi::types::{ParseFromJSON, ToJSON};

/// One page of a list: its items and where the page sits in the whole list.
#[derive(Debug, Clone, Object)]
pub struct Page<T: ParseFromJSON + ToJSON + Send + Sync> {
    /// The items on this page, in the list's order.
    pub items: Vec<T>,
    /// How many items match in all.
    pub total: u64,
    /// The page size asked for.
    pub limit: u32,
    /// The offset asked for.
    pub offset: u64,
}

impl<T, U> From<trae_core::Page<U>> for Page<T>
where
    T: ParseFromJSON + ToJSON + Send + Sync + From<U>,
{
    fn from(page: trae_core::Page<U>) -> Self {
        Self {
            total: page.total,
            limit: page.limit,
            offset: page.offset,
            items: page.items.into_iter().map(T::from).collect(),
        }
    }
}
