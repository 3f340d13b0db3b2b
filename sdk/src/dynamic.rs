//! Plugins built as shared libraries, loaded by the host at start-up.
//!
//! A plugin crate becomes loadable with [`export_plugin!`](crate::export_plugin): built as
//! a `cdylib` with its `dynamic` feature on, the library exports one symbol,
//! [`ENTRY_SYMBOL`], a [`PluginDeclaration`]. The host reads the declaration's header,
//! plain C data that every SDK version lays out the same way. It rejects the library
//! unless the SDK ABI version, SDK, target, rustc, salvo and panic strategy equal its own,
//! and then unless the [`build_id`]s are equal. Only then does it call into the library.
//!
//! Rust has no stable ABI, so the plugin trait objects, salvo requests and tokio handles
//! that cross the boundary are only compatible between builds of the same source by the
//! same compiler with the same features. The build ID catches what the header cannot: a
//! dependency resolved to another version, or built with other features.
//!
//! The library has its own copy of std, tokio and tracing, so:
//!
//! - the export macro makes the library's global allocator forward to the host's, and
//!   every allocation on either side comes from and returns to one allocator;
//! - [`load`] installs the host's tracing dispatcher in the library's copy of tracing;
//! - every call the host makes into the plugin runs inside a boundary that enters the
//!   host's tokio runtime, opens a `plugin` span naming the plugin, and catches a panic
//!   on the library's side. A panic must not unwind into the host's frames, which belong
//!   to another copy of std.

// Reading the declaration and forwarding allocations to the host are unsafe by nature;
// each use states what makes it sound.
#![allow(unsafe_code)]

use std::alloc::{GlobalAlloc, Layout, System};
use std::any::{Any, TypeId};
use std::ffi::{CStr, c_char};
use std::fmt;
use std::future::Future;
use std::hash::{Hash, Hasher};
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::pin::Pin;
use std::sync::{Arc, OnceLock};
use std::task::{Context, Poll};

use salvo::http::header::CONTENT_TYPE;
use salvo::{Depot, FlowCtrl, Handler, Request, Response, Router, async_trait};
use tokio::runtime::Handle;
use tracing::Dispatch;

use crate::config::{ConfigError, ConfigSection};
use crate::error::PluginError;
use crate::http::ApiError;
use crate::plugin::{
    BoxFuture, ConfiguredPlugin, Contribution, Hoop, HostSettings, Plugin, StartContext,
};

/// Version of the boundary between the host and a plugin library. It changes whenever a
/// type that crosses the boundary changes shape, and the host loads only its own version.
pub const ABI_VERSION: u32 = 1;

/// Name of the symbol, a [`PluginDeclaration`], that a plugin library exports.
pub const ENTRY_SYMBOL: &CStr = c"latchkey_plugin_declaration";

/// Version of this SDK crate.
pub const SDK_VERSION: &str = env!("CARGO_PKG_VERSION");

/// `rustc --version` of the compiler that built this copy of the SDK.
pub const RUSTC_VERSION: &str = env!("LATCHKEY_RUSTC_VERSION");

/// The version of salvo that the workspace `Cargo.toml` pins exactly.
macro_rules! salvo_version {
    () => {
        "1.1.0"
    };
}

/// Version of salvo this SDK is built on, which `Cargo.toml` pins exactly.
pub const SALVO_VERSION: &str = salvo_version!();

/// Target triple this copy of the SDK is built for.
pub const TARGET: &str = env!("LATCHKEY_TARGET");

/// Panic strategy of this build: `unwind` or `abort`.
pub const PANIC_STRATEGY: &str = if cfg!(panic = "unwind") {
    "unwind"
} else {
    "abort"
};

/// Creates the plugin of a library, once its declaration matched the host's build.
pub type LoadFn = fn(&HostServices) -> Result<Box<dyn Plugin>, String>;

/// What a plugin library exports under [`ENTRY_SYMBOL`].
///
/// The fields up to `panic_strategy` are the header: plain C data whose layout no SDK
/// version changes, so any host can read any library's header and say what differs. The
/// fields after it are Rust function pointers, called only once the header matched.
#[repr(C)]
#[derive(Debug)]
pub struct PluginDeclaration {
    /// [`ABI_VERSION`] of the SDK the library was built with.
    pub abi_version: u32,
    /// NUL-terminated [`SDK_VERSION`].
    pub sdk_version: *const c_char,
    /// NUL-terminated [`RUSTC_VERSION`].
    pub rustc_version: *const c_char,
    /// NUL-terminated [`SALVO_VERSION`].
    pub salvo_version: *const c_char,
    /// NUL-terminated [`TARGET`].
    pub target: *const c_char,
    /// NUL-terminated [`PANIC_STRATEGY`].
    pub panic_strategy: *const c_char,
    /// Returns the library's [`build_id`].
    pub build_id: fn() -> u64,
    /// Creates the library's plugin.
    pub load: LoadFn,
}

// SAFETY: the pointers point to string constants that are never written, and the
// function pointers are plain code addresses.
unsafe impl Sync for PluginDeclaration {}

/// Turns a string constant into a NUL-terminated one at compile time.
macro_rules! c_string {
    ($text:expr) => {
        concat!($text, "\0").as_ptr().cast::<c_char>()
    };
}

impl PluginDeclaration {
    /// Declares a plugin built by this copy of the SDK, created by `load`.
    ///
    /// Used by [`export_plugin!`](crate::export_plugin).
    #[must_use]
    pub const fn new(load: LoadFn) -> Self {
        Self {
            abi_version: ABI_VERSION,
            sdk_version: c_string!(env!("CARGO_PKG_VERSION")),
            rustc_version: c_string!(env!("LATCHKEY_RUSTC_VERSION")),
            salvo_version: c_string!(salvo_version!()),
            target: c_string!(env!("LATCHKEY_TARGET")),
            panic_strategy: if cfg!(panic = "unwind") {
                c_string!("unwind")
            } else {
                c_string!("abort")
            },
            build_id,
            load,
        }
    }

    /// Reads the header.
    ///
    /// # Safety
    ///
    /// `self` must be a declaration that some SDK version laid out, so that each header
    /// pointer points to a NUL-terminated string.
    #[must_use]
    pub unsafe fn header(&self) -> BuildHeader {
        // SAFETY: the caller promises NUL-terminated strings behind the pointers.
        let text = |pointer: *const c_char| {
            unsafe { CStr::from_ptr(pointer) }
                .to_string_lossy()
                .into_owned()
        };
        BuildHeader {
            abi_version: self.abi_version,
            sdk_version: text(self.sdk_version),
            rustc_version: text(self.rustc_version),
            salvo_version: text(self.salvo_version),
            target: text(self.target),
            panic_strategy: text(self.panic_strategy),
        }
    }
}

/// The build facts of a declaration's header, read into owned strings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BuildHeader {
    /// SDK ABI version.
    pub abi_version: u32,
    /// SDK version.
    pub sdk_version: String,
    /// `rustc --version`.
    pub rustc_version: String,
    /// salvo version.
    pub salvo_version: String,
    /// Target triple.
    pub target: String,
    /// `unwind` or `abort`.
    pub panic_strategy: String,
}

/// One fact in which a library's build differs from the host's.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BuildMismatch {
    /// What differs, such as `SDK ABI version` or `rustc`.
    pub fact: &'static str,
    /// The library's value.
    pub library: String,
    /// The host's value.
    pub host: String,
}

impl fmt::Display for BuildMismatch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "built with {} {}, but the host has {}",
            self.fact, self.library, self.host
        )
    }
}

impl BuildHeader {
    /// Returns the header of this copy of the SDK.
    #[must_use]
    pub fn current() -> Self {
        Self {
            abi_version: ABI_VERSION,
            sdk_version: SDK_VERSION.to_owned(),
            rustc_version: RUSTC_VERSION.to_owned(),
            salvo_version: SALVO_VERSION.to_owned(),
            target: TARGET.to_owned(),
            panic_strategy: PANIC_STRATEGY.to_owned(),
        }
    }

    /// Returns the first fact in which `self`, a library's header, differs from `host`.
    #[must_use]
    pub fn mismatch(&self, host: &Self) -> Option<BuildMismatch> {
        let facts = [
            (
                "SDK ABI version",
                self.abi_version.to_string(),
                host.abi_version.to_string(),
            ),
            (
                "latchkey-sdk",
                self.sdk_version.clone(),
                host.sdk_version.clone(),
            ),
            ("target", self.target.clone(), host.target.clone()),
            (
                "compiler",
                self.rustc_version.clone(),
                host.rustc_version.clone(),
            ),
            (
                "salvo",
                self.salvo_version.clone(),
                host.salvo_version.clone(),
            ),
            (
                "panic strategy",
                self.panic_strategy.clone(),
                host.panic_strategy.clone(),
            ),
        ];
        facts
            .into_iter()
            .find(|(_, library, host)| library != host)
            .map(|(fact, library, host)| BuildMismatch {
                fact,
                library,
                host,
            })
    }
}

/// Returns a hash of the identities of the types that cross the boundary.
///
/// A type's identity covers its crate's version, source, enabled features and
/// dependencies, so two builds agree only when every crate on the boundary was built the
/// same way. Comparable only between builds by the same compiler, which the header
/// checks first.
#[must_use]
pub fn build_id() -> u64 {
    let types = [
        TypeId::of::<dyn Plugin>(),
        TypeId::of::<dyn crate::capability::Store>(),
        TypeId::of::<Contribution>(),
        TypeId::of::<Request>(),
        TypeId::of::<Response>(),
        TypeId::of::<Depot>(),
        TypeId::of::<FlowCtrl>(),
        TypeId::of::<Router>(),
        TypeId::of::<Handle>(),
        TypeId::of::<Dispatch>(),
        TypeId::of::<figment::Figment>(),
        TypeId::of::<serde_json::Value>(),
    ];
    // `DefaultHasher::new` has fixed keys, so one compiler gives one hash.
    let mut hasher = std::hash::DefaultHasher::new();
    types.hash(&mut hasher);
    hasher.finish()
}

/// The host's allocation functions, which a library's global allocator calls.
#[derive(Debug, Clone, Copy)]
pub struct HostAllocator {
    alloc: unsafe fn(Layout) -> *mut u8,
    alloc_zeroed: unsafe fn(Layout) -> *mut u8,
    dealloc: unsafe fn(*mut u8, Layout),
    realloc: unsafe fn(*mut u8, Layout, usize) -> *mut u8,
}

impl HostAllocator {
    /// Returns the functions of the global allocator of the binary this runs in.
    #[must_use]
    pub fn of_this_binary() -> Self {
        Self {
            alloc: std::alloc::alloc,
            alloc_zeroed: std::alloc::alloc_zeroed,
            dealloc: std::alloc::dealloc,
            realloc: std::alloc::realloc,
        }
    }
}

/// The host's allocator, once [`load`] installed it in this copy of the SDK.
static HOST_ALLOCATOR: OnceLock<HostAllocator> = OnceLock::new();

/// The global allocator of a plugin library: the host's allocator once the library is
/// loaded, the system allocator before.
///
/// The host binary uses the system allocator too, so the few allocations made before
/// [`load`] (the dynamic loader runs no Rust code that allocates) are freed correctly
/// either way.
#[derive(Debug, Clone, Copy, Default)]
pub struct ForwardingAllocator;

// SAFETY: every method forwards to an allocator that upholds `GlobalAlloc`'s contract,
// and each block is freed by the allocator that made it: the host's, or before the host
// installed it, the system allocator that the host also uses.
unsafe impl GlobalAlloc for ForwardingAllocator {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        match HOST_ALLOCATOR.get() {
            // SAFETY: forwarded with the caller's guarantees.
            Some(host) => unsafe { (host.alloc)(layout) },
            // SAFETY: as above.
            None => unsafe { System.alloc(layout) },
        }
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        match HOST_ALLOCATOR.get() {
            // SAFETY: forwarded with the caller's guarantees.
            Some(host) => unsafe { (host.alloc_zeroed)(layout) },
            // SAFETY: as above.
            None => unsafe { System.alloc_zeroed(layout) },
        }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        match HOST_ALLOCATOR.get() {
            // SAFETY: forwarded with the caller's guarantees.
            Some(host) => unsafe { (host.dealloc)(ptr, layout) },
            // SAFETY: as above.
            None => unsafe { System.dealloc(ptr, layout) },
        }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        match HOST_ALLOCATOR.get() {
            // SAFETY: forwarded with the caller's guarantees.
            Some(host) => unsafe { (host.realloc)(ptr, layout, new_size) },
            // SAFETY: as above.
            None => unsafe { System.realloc(ptr, layout, new_size) },
        }
    }
}

/// What the host hands a library when it loads it.
#[derive(Debug, Clone)]
pub struct HostServices {
    dispatch: Dispatch,
    runtime: Handle,
    allocator: HostAllocator,
}

impl HostServices {
    /// Captures the current tracing dispatcher, the runtime `runtime`, and this binary's
    /// allocator.
    #[must_use]
    pub fn new(runtime: Handle) -> Self {
        Self {
            dispatch: tracing::dispatcher::get_default(Dispatch::clone),
            runtime,
            allocator: HostAllocator::of_this_binary(),
        }
    }
}

/// Creates plugin `P` inside a library: installs the host's allocator and tracing
/// dispatcher in this copy of the SDK, then wraps the plugin so that every call into it
/// runs inside the boundary.
///
/// Called through [`PluginDeclaration::load`]; plugin code does not call it.
///
/// # Errors
///
/// The panic message, when creating the plugin or reading its facts panicked.
pub fn load<P: Plugin + Default>(host: &HostServices) -> Result<Box<dyn Plugin>, String> {
    let _ = HOST_ALLOCATOR.set(host.allocator);
    // Fails only when the same library is loaded twice, which the host then rejects for
    // the duplicate name.
    let _ = tracing::dispatcher::set_global_default(host.dispatch.clone());
    // The host's dispatcher registered itself with the host's copy of tracing when it was
    // created. This copy learns of it, and of its maximum level, only by asking the
    // global default again.
    tracing::callsite::rebuild_interest_cache();
    let _runtime = host.runtime.enter();
    let runtime = host.runtime.clone();
    let plugin = catch_unwind(move || ContainedPlugin::new(Box::new(P::default()), &runtime))
        .map_err(|panic| panic_message(&*panic))?;
    Ok(Box::new(plugin))
}

/// A library's plugin, with its facts read once and every call inside the boundary.
struct ContainedPlugin {
    inner: Box<dyn Plugin>,
    boundary: Boundary,
    version: &'static str,
    default_order: i32,
    enabled_by_default: bool,
    provides: Vec<&'static str>,
    requires: Vec<&'static str>,
    uses: Vec<&'static str>,
}

impl ContainedPlugin {
    fn new(inner: Box<dyn Plugin>, runtime: &Handle) -> Self {
        Self {
            boundary: Boundary {
                plugin: inner.name(),
                runtime: runtime.clone(),
            },
            version: inner.version(),
            default_order: inner.default_order(),
            enabled_by_default: inner.enabled_by_default(),
            provides: inner.provides(),
            requires: inner.requires(),
            uses: inner.uses(),
            inner,
        }
    }
}

impl Plugin for ContainedPlugin {
    fn name(&self) -> &'static str {
        self.boundary.plugin
    }

    fn version(&self) -> &'static str {
        self.version
    }

    fn default_order(&self) -> i32 {
        self.default_order
    }

    fn enabled_by_default(&self) -> bool {
        self.enabled_by_default
    }

    fn provides(&self) -> Vec<&'static str> {
        self.provides.clone()
    }

    fn requires(&self) -> Vec<&'static str> {
        self.requires.clone()
    }

    fn uses(&self) -> Vec<&'static str> {
        self.uses.clone()
    }

    fn configure(
        &self,
        section: ConfigSection<'_>,
        host: &HostSettings,
    ) -> Result<Box<dyn ConfiguredPlugin>, ConfigError> {
        let configured = self
            .boundary
            .call(|| self.inner.configure(section, host))
            .map_err(|message| ConfigError::Panicked {
                plugin: self.boundary.plugin.to_owned(),
                message,
            })??;
        Ok(Box::new(ContainedConfigured {
            inner: configured,
            boundary: self.boundary.clone(),
        }))
    }
}

/// A library's configured plugin, started inside the boundary.
struct ContainedConfigured {
    inner: Box<dyn ConfiguredPlugin>,
    boundary: Boundary,
}

#[async_trait]
impl ConfiguredPlugin for ContainedConfigured {
    async fn start(
        self: Box<Self>,
        context: &mut StartContext,
    ) -> Result<Contribution, PluginError> {
        let boundary = self.boundary;
        let contribution = boundary
            .run(self.inner.start(context))
            .await
            .map_err(|message| {
                PluginError::start(format!("panicked while starting: {message}"))
            })??;
        Ok(boundary.contain(contribution))
    }
}

/// Where the host's calls into one library plugin cross into the library.
///
/// NOTE: capabilities cross outside it. A panic in a capability that a library provides,
/// or in a host capability that library code calls, unwinds into the other copy of std,
/// which aborts the process.
#[derive(Clone)]
struct Boundary {
    plugin: &'static str,
    runtime: Handle,
}

impl Boundary {
    /// Calls `f` inside the boundary, returning the panic message if it panicked.
    fn call<T>(&self, f: impl FnOnce() -> T) -> Result<T, String> {
        let _runtime = self.runtime.enter();
        let _span = tracing::error_span!("plugin", name = self.plugin).entered();
        catch_unwind(AssertUnwindSafe(f)).map_err(|panic| panic_message(&*panic))
    }

    /// Polls `future` inside the boundary.
    fn run<F: Future + Unpin>(&self, future: F) -> Contained<F> {
        Contained {
            future,
            runtime: self.runtime.clone(),
            span: tracing::error_span!("plugin", name = self.plugin),
        }
    }

    /// Wraps every handler, task and shutdown step of `contribution` in the boundary.
    fn contain(&self, contribution: Contribution) -> Contribution {
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
                tracing::error!(plugin, panic = %panic, "plugin {what} panicked");
            }
        })
    }
}

/// A handler of a library plugin: a panic in it answers 500 and is logged with the
/// plugin's name.
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
struct Contained<F> {
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

/// Returns the message a panic carried, when it was a string.
#[must_use]
pub fn panic_message(panic: &(dyn Any + Send)) -> String {
    panic
        .downcast_ref::<&str>()
        .map(|text| (*text).to_owned())
        .or_else(|| panic.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "a panic without a message".to_owned())
}

/// Exports a plugin type, which must implement [`Plugin`] and [`Default`], from a
/// `cdylib`, for the host to load through `[[dynamic_plugins]]`.
///
/// The items it adds exist only when the calling crate's `dynamic` feature is on, so the
/// same crate also links into a host as a plain library, registered with
/// [`register_plugin!`](crate::register_plugin), without two plugins clashing over the
/// entry symbol or the global allocator:
///
/// ```toml
/// [lib]
/// crate-type = ["rlib", "cdylib"]
///
/// [features]
/// dynamic = []
/// ```
///
/// ```
/// # use latchkey_sdk::prelude::*;
/// #[derive(Default)]
/// struct Hello;
/// # impl Plugin for Hello {
/// #     fn name(&self) -> &'static str { "hello" }
/// #     fn version(&self) -> &'static str { "0.1.0" }
/// #     fn default_order(&self) -> i32 { 500 }
/// #     fn configure(&self, _: ConfigSection<'_>, _: &HostSettings)
/// #         -> Result<Box<dyn ConfiguredPlugin>, ConfigError> { unreachable!() }
/// # }
/// latchkey_sdk::register_plugin!(Hello);
/// latchkey_sdk::export_plugin!(Hello);
/// ```
///
/// With the feature on, the library's global allocator becomes
/// [`ForwardingAllocator`], so the crate must not declare one of its own.
#[macro_export]
macro_rules! export_plugin {
    ($plugin:ty) => {
        #[cfg(feature = "dynamic")]
        #[global_allocator]
        static __LATCHKEY_ALLOCATOR: $crate::dynamic::ForwardingAllocator =
            $crate::dynamic::ForwardingAllocator;

        /// The declaration the Latchkey host reads before loading this library.
        #[cfg(feature = "dynamic")]
        #[doc(hidden)]
        #[allow(unsafe_code, non_upper_case_globals)]
        #[unsafe(no_mangle)]
        pub static latchkey_plugin_declaration: $crate::dynamic::PluginDeclaration =
            $crate::dynamic::PluginDeclaration::new($crate::dynamic::load::<$plugin>);
    };
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn declaration_header_reads_back_this_build() {
        let declaration = PluginDeclaration::new(|_| Err("not loaded in this test".into()));
        // SAFETY: `new` points every header field at a NUL-terminated constant.
        let header = unsafe { declaration.header() };
        assert_eq!(header, BuildHeader::current());
        assert_eq!((declaration.build_id)(), build_id());
    }

    #[test]
    fn first_differing_fact_named_with_both_values() {
        let host = BuildHeader::current();
        let mut library = host.clone();
        assert_eq!(library.mismatch(&host), None);
        library.rustc_version = "rustc 1.0.0 (a28077b28 2015-05-13)".to_owned();
        library.abi_version = ABI_VERSION + 1;
        let mismatch = library.mismatch(&host).expect("differs");
        assert_eq!(mismatch.fact, "SDK ABI version");
        assert_eq!(
            mismatch.to_string(),
            format!(
                "built with SDK ABI version {}, but the host has {ABI_VERSION}",
                ABI_VERSION + 1
            )
        );
        library.abi_version = ABI_VERSION;
        let mismatch = library.mismatch(&host).expect("differs");
        assert_eq!(mismatch.fact, "compiler");
        assert_eq!(mismatch.host, RUSTC_VERSION);
    }

    #[test]
    fn salvo_version_matches_the_pinned_dependency() {
        let manifest = include_str!("../../Cargo.toml");
        let pin = format!("salvo = {{ version = \"={SALVO_VERSION}\"");
        assert!(
            manifest.contains(&pin),
            "workspace Cargo.toml lacks `{pin}`"
        );
    }

    #[test]
    fn panic_message_reads_str_and_string() {
        let from_str = catch_unwind(|| panic!("plain")).unwrap_err();
        assert_eq!(panic_message(&*from_str), "plain");
        let value = 7;
        let from_string = catch_unwind(|| panic!("formatted {value}")).unwrap_err();
        assert_eq!(panic_message(&*from_string), "formatted 7");
    }
}
