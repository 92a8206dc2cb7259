//! The per-source limit of the unauthenticated endpoints (enrolment,
//! epochs, the log): a token bucket per source address (GCRA, `governor`),
//! refilled at `anon_per_sec` up to `anon_burst`; an empty bucket answers
//! `429 rate-limited` with `Retry-After`. Signed requests are not limited
//! here: they cost a signature check before anything else, and a known
//! key answers for them.
//!
//! The source is the connection's peer: an IPv4 address, or an IPv6
//! address's /64 (one host is usually given a whole /64). Behind a
//! reverse proxy every request comes from the proxy, so the limit is then
//! the proxy's: raise it, and limit per client at the proxy.

use std::net::IpAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use axum::extract::{Request, State};
use axum::http::header;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use governor::clock::{Clock, DefaultClock};
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};
use obhut_api::ErrorKind;

use crate::error::ApiError;

/// Checks between two sweeps of buckets that have refilled (whose
/// sources have gone quiet), which bounds the map by the sources of the
/// last few seconds.
const SWEEP_EVERY: u64 = 4096;

/// The buckets of every source.
pub struct SourceLimits {
    limiter: DefaultKeyedRateLimiter<IpAddr>,
    clock: DefaultClock,
    checks: AtomicU64,
}

impl SourceLimits {
    /// `per_sec` requests per second per source after a burst of `burst`.
    pub fn new(per_sec: std::num::NonZeroU32, burst: std::num::NonZeroU32) -> Arc<Self> {
        let quota = Quota::per_second(per_sec).allow_burst(burst);
        Arc::new(SourceLimits {
            limiter: RateLimiter::keyed(quota),
            clock: DefaultClock::default(),
            checks: AtomicU64::new(0),
        })
    }

    /// Take one request of `source`'s bucket; `Err(seconds)` to wait.
    pub fn check(&self, source: IpAddr) -> Result<(), u64> {
        if self.checks.fetch_add(1, Ordering::Relaxed) % SWEEP_EVERY == SWEEP_EVERY - 1 {
            self.limiter.retain_recent();
            self.limiter.shrink_to_fit();
        }
        self.limiter
            .check_key(&bucket(source))
            .map_err(|not_until| {
                not_until
                    .wait_time_from(self.clock.now())
                    .as_secs()
                    .saturating_add(1)
            })
    }
}

/// The bucket of an address.
fn bucket(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V4(v4) => IpAddr::V4(v4),
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => {
                let mut o = v6.octets();
                o[8..].fill(0);
                IpAddr::V6(o.into())
            }
        },
    }
}

/// The middleware: limit the request by its peer (one without a peer, a
/// test's in-memory call, is not limited).
pub async fn limit(State(limits): State<Arc<SourceLimits>>, req: Request, next: Next) -> Response {
    if let Some(peer) = super::peer(&req)
        && let Err(wait) = limits.check(peer.ip())
    {
        return (
            [(header::RETRY_AFTER, wait.to_string())],
            ApiError::new(
                ErrorKind::RateLimited,
                format!("too many unauthenticated requests from your address; retry in {wait} s"),
            ),
        )
            .into_response();
    }
    next.run(req).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_bucket_per_v4_address_and_v6_slash_64() {
        let a: IpAddr = "2001:db8:1:2:aaaa::1".parse().unwrap();
        let b: IpAddr = "2001:db8:1:2:bbbb::2".parse().unwrap();
        let c: IpAddr = "2001:db8:1:3::1".parse().unwrap();
        assert_eq!(bucket(a), bucket(b));
        assert_ne!(bucket(a), bucket(c));
        let mapped: IpAddr = "::ffff:192.0.2.1".parse().unwrap();
        assert_eq!(bucket(mapped), "192.0.2.1".parse::<IpAddr>().unwrap());
    }

    #[test]
    fn a_source_past_its_burst_waits_and_others_do_not() {
        let l = SourceLimits::new(1.try_into().unwrap(), 3.try_into().unwrap());
        let a: IpAddr = "192.0.2.1".parse().unwrap();
        for _ in 0..3 {
            assert!(l.check(a).is_ok());
        }
        let wait = l.check(a).unwrap_err();
        assert!((1..=2).contains(&wait), "{wait}");
        assert!(l.check("192.0.2.2".parse().unwrap()).is_ok());
    }
}
