//! Rejects request bodies over the configured size with 413, chunked bodies included.

use futures_util::future::Either;
use poem::http::{Method, StatusCode, header};
use poem::web::headers::HeaderMapExt;
use poem::{Body, Endpoint, Middleware, Request, Result};

use crate::ApiError;

/// Middleware limiting request bodies to `max_bytes`.
#[derive(Debug, Clone, Copy)]
pub struct BodyLimit {
    max_bytes: u64,
}

impl BodyLimit {
    /// A limit of `max_bytes`.
    pub fn new(max_bytes: u64) -> Self {
        Self { max_bytes }
    }
}

impl<E: Endpoint> Middleware<E> for BodyLimit {
    type Output = BodyLimitEndpoint<E>;

    fn transform(&self, inner: E) -> Self::Output {
        BodyLimitEndpoint {
            inner,
            max_bytes: self.max_bytes,
        }
    }
}

/// The endpoint [`BodyLimit`] wraps.
#[derive(Debug)]
pub struct BodyLimitEndpoint<E> {
    inner: E,
    max_bytes: u64,
}

fn too_large() -> poem::Error {
    ApiError::new(
        StatusCode::PAYLOAD_TOO_LARGE,
        "payload_too_large",
        "the request body exceeds the configured limit",
    )
    .into()
}

impl<E: Endpoint> Endpoint for BodyLimitEndpoint<E> {
    type Output = E::Output;

    // Not an `async fn`: on the usual paths the inner future is returned as it is, adding
    // nothing to the request's future; only a body without a declared length is read here,
    // in a future of its own.
    fn call(&self, mut req: Request) -> impl Future<Output = Result<Self::Output>> + Send {
        if let Some(length) = req
            .headers()
            .typed_get::<poem::web::headers::ContentLength>()
        {
            // hyper enforces that the body matches its declared length.
            if length.0 > self.max_bytes {
                return Either::Left(Either::Right(std::future::ready(Err(too_large()))));
            }
        } else if req.headers().contains_key(header::TRANSFER_ENCODING)
            || !matches!(*req.method(), Method::GET | Method::HEAD)
        {
            // No declared length (chunked, HTTP/2, or in-process): read at most the limit,
            // then hand the buffered body on. Bodyless GETs skip this on the hot path.
            let limit = usize::try_from(self.max_bytes).unwrap_or(usize::MAX);
            return Either::Right(Box::pin(async move {
                let bytes = req
                    .take_body()
                    .into_bytes_limit(limit)
                    .await
                    .map_err(|e| match e {
                        poem::error::ReadBodyError::PayloadTooLarge => too_large(),
                        other => poem::Error::from(other),
                    })?;
                req.set_body(Body::from_bytes(bytes));
                self.inner.call(req).await
            }));
        }
        Either::Left(Either::Left(self.inner.call(req)))
    }
}
