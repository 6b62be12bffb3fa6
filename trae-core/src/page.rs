//! Pagination: the request (limit and offset, validated once) and the page that answers it.

use serde::Serialize;

use crate::{Error, Result};

/// A validated window into a list: `limit` 1–500 (default 50) starting at `offset`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PageRequest {
    limit: u32,
    offset: u64,
}

impl PageRequest {
    /// The largest page a caller may ask for.
    pub const MAX_LIMIT: u32 = 500;
    /// The page size when the caller names none.
    pub const DEFAULT_LIMIT: u32 = 50;

    /// Validates an optional limit and offset as a caller gave them.
    pub fn new(limit: Option<i64>, offset: Option<i64>) -> Result<Self> {
        let limit = limit.unwrap_or(i64::from(Self::DEFAULT_LIMIT));
        if !(1..=i64::from(Self::MAX_LIMIT)).contains(&limit) {
            return Err(Error::validation(
                "limit",
                format!("must be between 1 and {}, got {limit}", Self::MAX_LIMIT),
            ));
        }
        let offset = offset.unwrap_or(0);
        if offset < 0 {
            return Err(Error::validation(
                "offset",
                format!("must not be negative, got {offset}"),
            ));
        }
        Ok(Self {
            limit: limit as u32,
            offset: offset as u64,
        })
    }

    /// The maximum number of items on the page.
    pub fn limit(&self) -> u32 {
        self.limit
    }

    /// How many items to skip.
    pub fn offset(&self) -> u64 {
        self.offset
    }
}

impl Default for PageRequest {
    fn default() -> Self {
        Self {
            limit: Self::DEFAULT_LIMIT,
            offset: 0,
        }
    }
}

/// One page of a list, with the total number of matching items.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Page<T> {
    /// The items on this page, in the list's stable order.
    pub items: Vec<T>,
    /// How many items match the filter in all.
    pub total: u64,
    /// The limit the page was asked with.
    pub limit: u32,
    /// The offset the page was asked with.
    pub offset: u64,
}

impl<T> Page<T> {
    /// The page `request` asks for of `all`, a whole list already in its order.
    pub fn of(all: Vec<T>, request: PageRequest) -> Self {
        let total = all.len() as u64;
        let items = all
            .into_iter()
            .skip(usize::try_from(request.offset()).unwrap_or(usize::MAX))
            .take(request.limit() as usize)
            .collect();
        Page {
            items,
            total,
            limit: request.limit(),
            offset: request.offset(),
        }
    }

    /// Maps every item, keeping the counts.
    pub fn map<U>(self, f: impl FnMut(T) -> U) -> Page<U> {
        Page {
            items: self.items.into_iter().map(f).collect(),
            total: self.total,
            limit: self.limit,
            offset: self.offset,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_page_of_a_whole_list_keeps_its_total() {
        let page = Page::of(
            (0..7).collect(),
            PageRequest::new(Some(3), Some(5)).unwrap(),
        );
        assert_eq!(
            (page.items, page.total, page.limit, page.offset),
            (vec![5, 6], 7, 3, 5)
        );
    }

    #[test]
    fn defaults_to_fifty_from_zero() {
        let page = PageRequest::new(None, None).unwrap();
        assert_eq!((page.limit(), page.offset()), (50, 0));
    }

    #[test]
    fn rejects_limits_outside_one_to_five_hundred() {
        for bad in [0, -1, 501] {
            let err = PageRequest::new(Some(bad), None).unwrap_err();
            assert!(matches!(err, Error::Validation { ref field, .. } if field == "limit"));
        }
        assert_eq!(PageRequest::new(Some(500), None).unwrap().limit(), 500);
        assert_eq!(PageRequest::new(Some(1), None).unwrap().limit(), 1);
    }

    #[test]
    fn rejects_negative_offset() {
        let err = PageRequest::new(None, Some(-5)).unwrap_err();
        assert!(matches!(err, Error::Validation { ref field, .. } if field == "offset"));
    }
}
