//! The server-function client: the browser fetch client plus id
//! propagation (see `flow`). Every `#[server]` in this crate names it.

use server_fn::client::browser::BrowserClient;
use server_fn::client::Client;
use server_fn::error::FromServerFnError;
use server_fn::request::browser::BrowserRequest;
use server_fn::response::browser::BrowserResponse;
use std::future::Future;

pub struct IdClient;

impl<E, IS, OS> Client<E, IS, OS> for IdClient
where
    E: FromServerFnError,
    IS: FromServerFnError,
    OS: FromServerFnError,
{
    type Request = BrowserRequest;
    type Response = BrowserResponse;

    fn send(req: Self::Request) -> impl Future<Output = Result<Self::Response, E>> + Send {
        #[cfg(feature = "hydrate")]
        {
            send_wrapper::SendWrapper::new(send_with_ids::<E, IS, OS>(req))
        }
        #[cfg(not(feature = "hydrate"))]
        {
            <BrowserClient as Client<E, IS, OS>>::send(req)
        }
    }

    #[allow(clippy::type_complexity)]
    fn open_websocket(
        path: &str,
    ) -> impl Future<
        Output = Result<
            (
                impl futures::Stream<Item = Result<bytes::Bytes, bytes::Bytes>> + Send + 'static,
                impl futures::Sink<bytes::Bytes> + Send + 'static,
            ),
            E,
        >,
    > + Send {
        <BrowserClient as Client<E, IS, OS>>::open_websocket(path)
    }

    fn spawn(future: impl Future<Output = ()> + Send + 'static) {
        <BrowserClient as Client<E, IS, OS>>::spawn(future)
    }
}

#[cfg(feature = "hydrate")]
async fn send_with_ids<E, IS, OS>(req: BrowserRequest) -> Result<BrowserResponse, E>
where
    E: FromServerFnError,
    IS: FromServerFnError,
    OS: FromServerFnError,
{
    use crate::support::flow::{current_flow, now_ms, random16, random8, record, RequestRecord};
    use model::{RequestId, SpanId, TraceId, TraceParent};
    use server_fn::response::ClientRes;

    let request_id = RequestId::from_random(random16()).to_string();
    let flow = current_flow();
    let path = req.url();
    {
        let headers = req.headers();
        headers.set("x-request-id", &request_id);
        // Proves same-origin script to the server's CSRF check.
        headers.set(model::rights::CSRF_HEADER, "1");
        if let Some(t) = crate::support::flow::TENANT.with(|t| t.borrow().clone()) {
            headers.set("x-tenant-id", &t);
        }
        if let Some((cor, trace)) = &flow {
            headers.set("x-correlation-id", cor);
            if let Ok(trace_id) = TraceId::parse(trace) {
                let tp = TraceParent {
                    trace_id,
                    parent_id: SpanId::from_random(random8()),
                    flags: 1,
                };
                headers.set("traceparent", &tp.to_string());
            }
        }
    }
    let background = crate::support::flow::IN_BACKGROUND.with(|b| b.get());
    let res = <BrowserClient as Client<E, IS, OS>>::send(req).await;
    let mut rec = RequestRecord {
        path,
        status: 0,
        request_id,
        correlation_id: flow.as_ref().map(|(c, _)| c.clone()),
        trace_id: flow.map(|(_, t)| t),
        at_ms: now_ms(),
    };
    if let Ok(r) = &res {
        let h = r.generate_headers();
        let get = |k: &str| h.get(k).and_then(|v| v.to_str().ok()).map(str::to_owned);
        rec.status = ClientRes::<E>::status(r);
        if let Some(id) = get("x-request-id") {
            rec.request_id = id;
        }
        rec.correlation_id = get("x-correlation-id").or(rec.correlation_id);
        rec.trace_id = get("traceparent")
            .and_then(|tp| TraceParent::parse(&tp).ok())
            .map(|tp| tp.trace_id.to_string())
            .or(rec.trace_id);
    }
    // An expired or revoked session: back to the login page, then here.
    if rec.status == 401 && !rec.path.contains("/api/auth/") {
        crate::support::dom::go_to_login();
    }
    if !background || !(200..300).contains(&rec.status) {
        record(rec);
    }
    res
}
