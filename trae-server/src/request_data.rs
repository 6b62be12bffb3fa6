//! A shared value put into every request's data, as poem's `AddData` does, but passing the
//! inner future on as it is: poem's is an `async fn` that holds copies of the request.

use poem::{Endpoint, Middleware, Request, Result};

/// Middleware putting a clone of `value` into each request's data.
#[derive(Debug, Clone)]
pub struct RequestData<T> {
    value: T,
}

impl<T> RequestData<T> {
    /// Every request gets a clone of `value` (share it in an `Arc`).
    pub fn new(value: T) -> Self {
        Self { value }
    }
}

impl<E: Endpoint, T: Clone + Send + Sync + 'static> Middleware<E> for RequestData<T> {
    type Output = RequestDataEndpoint<E, T>;

    fn transform(&self, inner: E) -> Self::Output {
        RequestDataEndpoint {
            inner,
            value: self.value.clone(),
        }
    }
}

/// The endpoint [`RequestData`] wraps.
#[derive(Debug)]
pub struct RequestDataEndpoint<E, T> {
    inner: E,
    value: T,
}

impl<E: Endpoint, T: Clone + Send + Sync + 'static> Endpoint for RequestDataEndpoint<E, T> {
    type Output = E::Output;

    fn call(&self, mut req: Request) -> impl Future<Output = Result<Self::Output>> + Send {
        req.set_data(self.value.clone());
        self.inner.call(req)
    }
}
