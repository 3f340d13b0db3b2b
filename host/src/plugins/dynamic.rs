//! Plugins loaded from shared libraries listed in `[[dynamic_plugins]]`.
//!
//! Loading reads the library's declaration header, plain C data, and rejects the library
//! unless its SDK ABI version, SDK, target, compiler, salvo and panic strategy equal the
//! host's, then compares build IDs, and only then calls into the library. See
//! `latchkey_sdk::dynamic` for what the library's side of the boundary does.
//!
//! A loaded library stays loaded until the process exits: its code backs the plugin's
//! handlers and the `'static` strings and tracing metadata the host holds.

// Opening a library and calling through its declaration are unsafe by nature; each use
// states what makes it sound.
#![allow(unsafe_code)]

use std::path::{Path, PathBuf};

use figment::Figment;
use latchkey_sdk::Plugin;
use latchkey_sdk::dynamic::{self, BuildHeader, BuildMismatch, HostServices, PluginDeclaration};
use libloading::Library;

use super::library_file::{self, FileProblem};
use crate::config::Settings;

/// A reason a plugin library cannot be loaded. Each names the file.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum LibraryError {
    /// The path names no library file, or one that cannot be read or is cut short.
    #[error("dynamic plugin {path} ({key}, from {origin}) {problem}")]
    File {
        /// The resolved path.
        path: PathBuf,
        /// `dynamic_plugins[<index>].path`.
        key: String,
        /// Source of the entry.
        origin: String,
        /// The problem with the file.
        #[source]
        problem: FileProblem,
    },
    /// The dynamic loader rejected the file.
    #[error("cannot load dynamic plugin {path}: {message}")]
    Open {
        /// The resolved path.
        path: PathBuf,
        /// The loader's message, with the reason it gives.
        message: String,
    },
    /// The file exports no declaration.
    #[error(
        "{path} is not a Latchkey plugin library: it does not export {symbol}; export the \
         plugin with latchkey_sdk::export_plugin! and build it with its `dynamic` feature"
    )]
    NoDeclaration {
        /// The resolved path.
        path: PathBuf,
        /// The entry symbol's name.
        symbol: &'static str,
    },
    /// The library was built differently from the host.
    #[error("dynamic plugin {path} was {mismatch}: rebuild it with the host's toolchain and SDK")]
    Mismatch {
        /// The resolved path.
        path: PathBuf,
        /// The differing fact, with both values.
        mismatch: BuildMismatch,
    },
    /// The crates the library shares with the host were built differently.
    #[error(
        "dynamic plugin {path} was built with other versions or features of the crates it \
         shares with the host (build ID {library:016x}, host {host:016x}): build it from the \
         host's Cargo.lock, in the same cargo invocation as the host"
    )]
    BuildId {
        /// The resolved path.
        path: PathBuf,
        /// The library's build ID.
        library: u64,
        /// The host's build ID.
        host: u64,
    },
    /// Creating the plugin failed.
    #[error("dynamic plugin {path} failed to load: {message}")]
    Load {
        /// The resolved path.
        path: PathBuf,
        /// The panic message.
        message: String,
    },
    /// Loading needs the host's runtime, and there is none.
    #[error("dynamic plugins are loaded inside the tokio runtime, and none is running")]
    NoRuntime,
}

/// A plugin created by a loaded library, with the entry's switches.
pub(super) struct LoadedPlugin {
    pub(super) plugin: Box<dyn Plugin>,
    pub(super) path: PathBuf,
    pub(super) enabled: Option<bool>,
    pub(super) order: Option<i32>,
}

/// Loads every library of `settings.dynamic_plugins`, in order.
///
/// # Errors
///
/// The first library that cannot be loaded.
pub(super) fn load_all(
    settings: &Settings,
    figment: &Figment,
) -> Result<Vec<LoadedPlugin>, LibraryError> {
    if settings.dynamic_plugins.is_empty() {
        return Ok(Vec::new());
    }
    let runtime = tokio::runtime::Handle::try_current().map_err(|_| LibraryError::NoRuntime)?;
    let services = HostServices::new(runtime);
    let base = config_dir(figment);
    settings
        .dynamic_plugins
        .iter()
        .enumerate()
        .map(|(index, entry)| {
            let path = base
                .as_deref()
                .map_or_else(|| entry.path.clone(), |dir| dir.join(&entry.path));
            if let Err(problem) = library_file::check(&path) {
                return Err(LibraryError::File {
                    path,
                    key: format!("dynamic_plugins[{index}].path"),
                    origin: latchkey_sdk::config::origin_of(figment, "dynamic_plugins"),
                    problem,
                });
            }
            let plugin = load(&path, &services)?;
            Ok(LoadedPlugin {
                plugin,
                path,
                enabled: entry.enabled,
                order: entry.order,
            })
        })
        .collect()
}

/// Opens the library at `path`, checks its declaration and creates its plugin.
///
/// # Errors
///
/// A file the loader rejects, one without a declaration, a build that differs from the
/// host's, or a plugin that panicked while being created.
pub fn load(path: &Path, services: &HostServices) -> Result<Box<dyn Plugin>, LibraryError> {
    // SAFETY: opening runs the library's initializers. A Latchkey plugin library has only
    // those of `inventory` and std, which touch nothing of the host. The library is
    // opened with RTLD_LOCAL, so its symbols do not replace the host's.
    let library = unsafe { Library::new(path) }.map_err(|error| LibraryError::Open {
        path: path.to_owned(),
        // libloading keeps the loader's reason, such as "file too short", in `source()`.
        message: latchkey_sdk::error_chain(&error),
    })?;
    // Never unloaded, not even after a rejection: once the library ran code, the host may
    // hold its strings and tracing metadata. A rejection ends the process anyway.
    let library: &'static Library = Box::leak(Box::new(library));
    // SAFETY: every SDK version exports a `PluginDeclaration` under this name. A foreign
    // library that exports the name with another type is outside what the host can
    // defend against.
    let declaration: &PluginDeclaration = unsafe {
        let symbol = library
            .get::<*const PluginDeclaration>(dynamic::ENTRY_SYMBOL.to_bytes_with_nul())
            .map_err(|_| LibraryError::NoDeclaration {
                path: path.to_owned(),
                symbol: "latchkey_plugin_declaration",
            })?;
        &**symbol
    };
    // SAFETY: every SDK version lays out the header the same way, with NUL-terminated
    // strings.
    let header = unsafe { declaration.header() };
    if let Some(mismatch) = header.mismatch(&BuildHeader::current()) {
        return Err(LibraryError::Mismatch {
            path: path.to_owned(),
            mismatch,
        });
    }
    // The header matched, so the library was built by this compiler for this target and
    // its function pointers share the host's calling convention.
    let library_id = (declaration.build_id)();
    let host_id = dynamic::build_id();
    if library_id != host_id {
        return Err(LibraryError::BuildId {
            path: path.to_owned(),
            library: library_id,
            host: host_id,
        });
    }
    (declaration.load)(services).map_err(|message| LibraryError::Load {
        path: path.to_owned(),
        message,
    })
}

/// Returns the directory of the config file that set `dynamic_plugins`, against which
/// relative library paths resolve. `None` when it was not a file, such as an environment
/// variable: the working directory then.
fn config_dir(figment: &Figment) -> Option<PathBuf> {
    let metadata = figment.find_metadata("dynamic_plugins")?;
    let file = metadata.source.as_ref()?.file_path()?;
    file.parent().map(Path::to_owned)
}
