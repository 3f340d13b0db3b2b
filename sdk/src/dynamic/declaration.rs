//! The declaration a plugin library exports, and the build facts the host compares.

// A declaration is plain C data read through raw pointers; each use states what makes it
// sound.
#![allow(unsafe_code)]

use std::any::TypeId;
use std::ffi::{CStr, c_char};
use std::fmt;
use std::hash::{Hash, Hasher};

use salvo::{Depot, FlowCtrl, Request, Response, Router};
use tokio::runtime::Handle;
use tracing::Dispatch;

use super::HostServices;
use crate::plugin::{Contribution, Plugin};

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

/// The declaration a plugin library exports under [`ENTRY_SYMBOL`].
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

    /// Reads the header. Each string is cut to [`MAX_HEADER_TEXT`] characters and has its
    /// control characters escaped, so that a damaged library cannot put a long or
    /// multi-line value into the host's error message.
    ///
    /// # Safety
    ///
    /// `self` must be a declaration that some SDK version laid out, so that each header
    /// pointer points to a NUL-terminated string.
    #[must_use]
    pub unsafe fn header(&self) -> BuildHeader {
        // SAFETY: the caller promises NUL-terminated strings behind the pointers.
        let text = |pointer: *const c_char| {
            printable(&unsafe { CStr::from_ptr(pointer) }.to_string_lossy())
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

/// Maximum length of a header string as the host reads it, in characters.
pub const MAX_HEADER_TEXT: usize = 200;

/// Returns `text` cut to [`MAX_HEADER_TEXT`] characters, with control characters escaped.
fn printable(text: &str) -> String {
    let mut printable = String::new();
    for (index, character) in text.chars().enumerate() {
        if index == MAX_HEADER_TEXT {
            printable.push_str("...");
            break;
        }
        if character.is_control() {
            printable.extend(character.escape_default());
        } else {
            printable.push(character);
        }
    }
    printable
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
    /// The differing fact, such as `SDK ABI version` or `compiler`.
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
    fn header_text_escaped_and_cut() {
        assert_eq!(printable("rustc 1.91.1"), "rustc 1.91.1");
        assert_eq!(printable("0\n1.0\u{1b}[2J"), "0\\n1.0\\u{1b}[2J");
        let long = "x".repeat(MAX_HEADER_TEXT + 50);
        let shown = printable(&long);
        assert_eq!(shown.len(), MAX_HEADER_TEXT + 3);
        assert!(shown.ends_with("..."), "{shown}");
    }

    #[test]
    fn salvo_version_matches_the_pinned_dependency() {
        let manifest = include_str!("../../../Cargo.toml");
        let pin = format!("salvo = {{ version = \"={SALVO_VERSION}\"");
        assert!(
            manifest.contains(&pin),
            "workspace Cargo.toml lacks `{pin}`"
        );
    }
}
