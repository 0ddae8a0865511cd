//! Sending a batch as one HTTP call per message, several at once: for providers whose API
//! takes one message per request (a Web Push endpoint is one subscriber's; a voice call is one
//! number; HTTP SMS in `single` mode).
//!
//! A call's failure becomes a failure of the whole batch only when **no** message of it got an
//! answer of its own: then the provider as a whole is down or throttling, and the provider set
//! should fail over or wait. When some were answered, the failed ones are retried on their own
//! and the answered ones are kept, so no accepted message is sent again because of another's
//! failure.

use futures::StreamExt as _;

use super::{ProviderError, SendResult};

/// Most calls of one batch in flight at once (the provider's `concurrency` bounds the batches).
pub const PARALLEL_MAX: usize = 32;

/// What one message's call gave: its own result, or a failure of the provider as a whole.
pub type One = Result<SendResult, ProviderError>;

/// Runs the calls (one per message, in the batch's order), at most `parallel`
/// (≤ [`PARALLEL_MAX`]) at once, and settles the results (see the module doc). The calls are
/// made before (futures do nothing until polled), so no closure is held across awaits.
pub async fn send_each<Fut>(calls: Vec<Fut>, parallel: usize) -> Result<Vec<SendResult>, ProviderError>
where
    Fut: Future<Output = One>,
{
    let results: Vec<One> =
        futures::stream::iter(calls).buffered(parallel.clamp(1, PARALLEL_MAX)).collect().await;
    settle(results)
}

/// One result per message, or the whole call's failure when no message had its own answer.
pub fn settle(results: Vec<One>) -> Result<Vec<SendResult>, ProviderError> {
    if !results.is_empty() && results.iter().all(Result::is_err) {
        let errors = results.into_iter().filter_map(Result::err);
        return Err(worst(errors));
    }
    Ok(results
        .into_iter()
        .map(|r| match r {
            Ok(result) => result,
            Err(ProviderError::Rejected(why)) => SendResult::Permanent(why),
            Err(e) => SendResult::Retryable(e.to_string()),
        })
        .collect())
}

/// The failure that says most about the provider: throttling (wait the longest asked), then
/// no answer (fail over, and the messages may have been taken), then unavailability (fail
/// over), then a rejection.
fn worst(errors: impl Iterator<Item = ProviderError>) -> ProviderError {
    let mut out: Option<ProviderError> = None;
    for e in errors {
        out = Some(match (out, e) {
            (Some(ProviderError::Throttled(a)), ProviderError::Throttled(b)) => {
                ProviderError::Throttled(a.max(b))
            }
            (Some(t @ ProviderError::Throttled(_)), _) | (_, t @ ProviderError::Throttled(_)) => t,
            (Some(a @ ProviderError::Ambiguous(_)), _) | (_, a @ ProviderError::Ambiguous(_)) => a,
            (Some(u @ ProviderError::Unavailable(_)), _) | (_, u @ ProviderError::Unavailable(_)) => u,
            (Some(r), _) => r,
            (None, e) => e,
        });
    }
    out.unwrap_or_else(|| ProviderError::Unavailable("no result".into()))
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    /// Goal: a batch fails as a whole only when nothing in it got its own answer, and then
    /// with the most telling failure.
    #[test]
    fn settling() {
        use ProviderError::*;
        let ok = || Ok(SendResult::Accepted("id".into()));
        let down = || Err(Unavailable("down".into()));
        let slow = |s| Err(Throttled(Duration::from_secs(s)));
        assert_eq!(
            settle(vec![ok(), down()]),
            Ok(vec![SendResult::Accepted("id".into()), SendResult::Retryable("unavailable: down".into())])
        );
        assert_eq!(settle(vec![down(), slow(1), slow(3)]), Err(Throttled(Duration::from_secs(3))));
        assert_eq!(settle(vec![Err(Rejected("no".into())), down()]), Err(Unavailable("down".into())));
        assert_eq!(
            settle(vec![ok(), Err(Rejected("no".into()))]),
            Ok(vec![SendResult::Accepted("id".into()), SendResult::Permanent("no".into())])
        );
        assert_eq!(settle(vec![]), Ok(vec![]));
    }
}
