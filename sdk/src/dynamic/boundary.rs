//! The crossing of the host's calls into a library: the host's runtime is entered, the
//! plugin's span open, and panics are caught on the library's side.

use std::future::Future;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::pin::Pin;
use std::sync::{Arc, OnceLock};
use std::task::{Context, Poll};

use salvo::http::header::CONTENT_TYPE;
use salvo::{Depot, FlowCtrl, Handler, Request, Response, Router, async_trait};
use tokio::runtime::Handle;
use tokio::task::JoinHandle;

use crate::error::panic_message;
use crate::http::ApiError;
use crate::plugin::{BoxFuture, Contribution, Hoop};

/// The crossing of the host's calls into one library plugin.
///
/// The SDK's own capabilities that a library provides cross inside it too. NOTE: a
/// capability type that a library plugin defines itself, and a host capability that
/// library code calls, cross outside it, so a panic in one aborts the process.
#[derive(Clone)]
pub(super) struct Boundary {
    pub(super) plugin: &'static str,
    runtime: Handle,
}

/// The boundary of the plugin in this library, once the host loaded it. Never set in the
/// host, whose compiled-in plugins share its runtime and std.
static LIBRARY_BOUNDARY: OnceLock<Boundary> = OnceLock::new();

/// Makes `boundary` the one [`crate::spawn`] runs tasks in. Only the first call takes
/// effect, and a library contains one plugin.
pub(super) fn install(boundary: Boundary) {
    let _ = LIBRARY_BOUNDARY.set(boundary);
}

/// Spawns `task` inside the boundary of this library's plugin, or returns it when this
/// copy of the SDK is the host's.
pub(crate) fn spawn_in_library(task: BoxFuture) -> Result<JoinHandle<()>, BoxFuture> {
    match LIBRARY_BOUNDARY.get() {
        Some(boundary) => Ok(boundary
            .runtime
            .spawn(boundary.contain_task(task, "spawned task"))),
        None => Err(task),
    }
}

impl Boundary {
    pub(super) fn new(plugin: &'static str, runtime: Handle) -> Self {
        Self { plugin, runtime }
    }

    /// Calls `f` inside the boundary, returning the panic message if it panicked.
    pub(super) fn call<T>(&self, f: impl FnOnce() -> T) -> Result<T, String> {
        let _runtime = self.runtime.enter();
        let _span = tracing::error_span!("library", plugin = self.plugin).entered();
        catch_unwind(AssertUnwindSafe(f)).map_err(|panic| panic_message(&*panic))
    }

    /// Polls `future` inside the boundary.
    pub(super) fn run<F: Future + Unpin>(&self, future: F) -> Contained<F> {
        Contained {
            future,
            runtime: self.runtime.clone(),
            span: tracing::error_span!("library", plugin = self.plugin),
        }
    }

    /// Wraps every handler, task and shutdown step of `contribution` in the boundary.
    pub(super) fn contain(&self, contribution: Contribution) -> Contribution {
        Contribution {
            routes: contribution
                .routes
                .into_iter()
                .map(|router| self.contain_router(router))
                .collect(),
            hoops: contribution
                .hoops
                .iter()
                .map(|hoop| Hoop::new(hoop.path_prefix(), self.contain_handler(hoop.handler())))
                .collect(),
            tasks: contribution
                .tasks
                .into_iter()
                .map(|task| self.contain_task(task, "background task"))
                .collect(),
            shutdown: contribution
                .shutdown
                .into_iter()
                .map(|step| self.contain_task(step, "shutdown step"))
                .collect(),
        }
    }

    fn contain_router(&self, mut router: Router) -> Router {
        for hoop in router.hoops_mut() {
            *hoop = Arc::new(self.contain_handler(Arc::clone(hoop)));
        }
        if let Some(goal) = router.goal.take() {
            router.goal = Some(Arc::new(self.contain_handler(goal)));
        }
        let children = std::mem::take(router.routers_mut());
        *router.routers_mut() = children
            .into_iter()
            .map(|child| self.contain_router(child))
            .collect();
        router
    }

    fn contain_handler(&self, inner: Arc<dyn Handler>) -> ContainedHandler {
        ContainedHandler {
            inner,
            boundary: self.clone(),
        }
    }

    fn contain_task(&self, task: BoxFuture, what: &'static str) -> BoxFuture {
        let plugin = self.plugin;
        let contained = self.run(task);
        Box::pin(async move {
            if let Err(panic) = contained.await {
                tracing::error!(plugin, task = what, panic = %panic, "plugin task panicked");
            }
        })
    }
}

/// A handler of a library plugin. A panic in it becomes a 500 response and is logged with
/// the plugin's name.
struct ContainedHandler {
    inner: Arc<dyn Handler>,
    boundary: Boundary,
}

#[async_trait]
impl Handler for ContainedHandler {
    async fn handle(
        &self,
        req: &mut Request,
        depot: &mut Depot,
        res: &mut Response,
        ctrl: &mut FlowCtrl,
    ) {
        let outcome = self
            .boundary
            .run(self.inner.handle(req, depot, res, ctrl))
            .await;
        if let Err(panic) = outcome {
            tracing::error!(
                plugin = self.boundary.plugin,
                panic = %panic,
                path = req.uri().path(),
                "plugin handler panicked"
            );
            res.headers_mut().remove(CONTENT_TYPE);
            res.render(ApiError::internal());
            ctrl.skip_rest();
        }
    }
}

/// A future polled with the host's runtime entered and the plugin's span open, which
/// resolves to the panic message instead of unwinding.
pub(super) struct Contained<F> {
    future: F,
    runtime: Handle,
    span: tracing::Span,
}

impl<F: Future + Unpin> Future for Contained<F> {
    type Output = Result<F::Output, String>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.get_mut();
        let _runtime = this.runtime.enter();
        let _span = this.span.enter();
        match catch_unwind(AssertUnwindSafe(|| Pin::new(&mut this.future).poll(cx))) {
            Ok(Poll::Ready(output)) => Poll::Ready(Ok(output)),
            Ok(Poll::Pending) => Poll::Pending,
            Err(panic) => Poll::Ready(Err(panic_message(&*panic))),
        }
    }
}
