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
//!   host's tokio runtime, opens a `library` span naming the plugin, and catches a panic
//!   on the library's side. A panic must not unwind into the host's frames, which belong
//!   to another copy of std.
//!
//! The parts: [`PluginDeclaration`] and the build facts it carries, the
//! [`ForwardingAllocator`], and [`load`], which wraps the library's plugin in the
//! boundary.

mod allocator;
mod boundary;
mod capabilities;
mod declaration;
mod load;

pub use self::allocator::{ForwardingAllocator, HostAllocator};
pub(crate) use self::boundary::spawn_in_library;
pub use self::declaration::{
    ABI_VERSION, BuildHeader, BuildMismatch, ENTRY_SYMBOL, LoadFn, MAX_HEADER_TEXT, PANIC_STRATEGY,
    PluginDeclaration, RUSTC_VERSION, SALVO_VERSION, SDK_VERSION, TARGET, build_id,
};
pub use self::load::{HostServices, load};
