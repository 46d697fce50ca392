//! SDK errors to `StoreError`, keeping the cause as the source.

use aws_sdk_dynamodb::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError;

use crate::store::StoreError;

pub(super) fn backend(err: impl std::error::Error + Send + Sync + 'static) -> StoreError {
    StoreError::Backend(Box::new(err))
}

/// A failed DynamoDB call: what kind of failure, and the SDK's cause as the source.
///
/// The SDK error itself is not kept: its Debug prints the raw HTTP response, and a
/// response holds items (token envelopes, PKCE verifiers) that must never reach a log.
#[derive(Debug, thiserror::Error)]
#[error("{kind}")]
pub struct DynamoCallError {
    kind: &'static str,
    #[source]
    source: Box<dyn std::error::Error + Send + Sync + 'static>,
}

/// Any SDK failure as `Backend` (see [`DynamoCallError`]).
pub(super) fn sdk<E, R>(err: SdkError<E, R>) -> StoreError
where
    E: std::error::Error + Send + Sync + 'static,
{
    let kind = match &err {
        SdkError::ServiceError(_) => "DynamoDB refused the request",
        SdkError::TimeoutError(_) => "the DynamoDB request timed out",
        SdkError::DispatchFailure(_) => "DynamoDB could not be reached",
        SdkError::ResponseError(_) => "the DynamoDB response could not be read",
        SdkError::ConstructionFailure(_) => "the DynamoDB request could not be built",
        _ => "the DynamoDB call failed",
    };
    match err.into_source() {
        Ok(source) => backend(DynamoCallError { kind, source }),
        Err(_) => backend(DynamoCallError {
            kind,
            source: kind.into(),
        }),
    }
}

/// A conditional write's outcome: `Some` with the output when it was written, `None` when
/// its condition failed; any other failure is `Backend`.
pub(super) fn conditional<T, E, R>(
    result: Result<T, SdkError<E, R>>,
) -> Result<Option<T>, StoreError>
where
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
{
    match result {
        Ok(out) => Ok(Some(out)),
        Err(err)
            if err.as_service_error().and_then(ProvideErrorMetadata::code)
                == Some("ConditionalCheckFailedException") =>
        {
            Ok(None)
        }
        Err(err) => Err(sdk(err)),
    }
}

/// Why a transaction was cancelled, item by item (in request order).
pub(super) enum Cancelled {
    /// The condition of the item at this position failed.
    Condition(usize),
    /// Another transaction or write touched one of the items at the same time.
    Contention,
}

/// Reads a cancelled transaction's reasons; any other failure is `Backend`.
pub(super) fn cancelled<R>(
    err: SdkError<TransactWriteItemsError, R>,
) -> Result<Cancelled, StoreError> {
    let Some(TransactWriteItemsError::TransactionCanceledException(e)) = err.as_service_error()
    else {
        return Err(sdk(err));
    };
    let reasons = e.cancellation_reasons();
    if let Some(at) = reasons
        .iter()
        .position(|r| r.code() == Some("ConditionalCheckFailed"))
    {
        return Ok(Cancelled::Condition(at));
    }
    if reasons
        .iter()
        .any(|r| r.code() == Some("TransactionConflict"))
    {
        return Ok(Cancelled::Contention);
    }
    Err(sdk(err))
}

#[cfg(test)]
mod tests {
    use aws_sdk_dynamodb::operation::get_item::GetItemError;

    use super::*;

    #[test]
    fn a_backend_error_keeps_its_cause_but_not_the_raw_response() {
        let raw = r#"{"Item":{"access_token":{"S":"tw1.k1.canary-envelope"}}}"#.to_owned();
        let err: SdkError<GetItemError, String> =
            SdkError::response_error("expected a string at offset 12", raw);

        let mapped = sdk(err);

        let StoreError::Backend(inner) = &mapped else {
            panic!("{mapped:?}");
        };
        assert_eq!(inner.to_string(), "the DynamoDB response could not be read");
        assert_eq!(
            inner.source().map(ToString::to_string).as_deref(),
            Some("expected a string at offset 12")
        );
        assert!(!format!("{mapped:?} {mapped}").contains("canary"));
    }
}
