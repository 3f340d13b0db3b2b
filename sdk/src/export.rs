//! Registration of compiled-in plugins, and the export of library plugins.

use crate::plugin::Plugin;

/// A compiled-in plugin, collected by the host through `inventory`.
///
/// Submitted by [`register_plugin!`](crate::register_plugin); plugin code does not build
/// it directly.
#[derive(Debug)]
pub struct PluginRegistration {
    make: fn() -> Box<dyn Plugin>,
}

impl PluginRegistration {
    #[doc(hidden)]
    #[must_use]
    pub const fn new(make: fn() -> Box<dyn Plugin>) -> Self {
        Self { make }
    }

    /// Creates the plugin value.
    #[must_use]
    pub fn make(&self) -> Box<dyn Plugin> {
        (self.make)()
    }
}

inventory::collect!(PluginRegistration);

/// Returns every plugin registered with [`register_plugin!`](crate::register_plugin) in
/// the crates linked into this binary.
pub fn registered_plugins() -> impl Iterator<Item = &'static PluginRegistration> {
    inventory::iter::<PluginRegistration>()
}

/// Registers a compiled-in plugin type, which must implement [`Plugin`] and [`Default`].
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
/// ```
#[macro_export]
macro_rules! register_plugin {
    ($plugin:ty) => {
        $crate::__private::inventory::submit! {
            $crate::PluginRegistration::new(|| {
                ::std::boxed::Box::new(<$plugin as ::std::default::Default>::default())
            })
        }
    };
}

/// Exports a plugin type, which must implement [`Plugin`] and [`Default`], from a
/// `cdylib`, for the host to load through `[[dynamic_plugins]]`.
///
/// The items it adds exist only when the calling crate's `dynamic` feature is on. So the
/// same crate also links into a host as a plain library, registered with
/// [`register_plugin!`](crate::register_plugin), and adds no entry symbol or global
/// allocator to that host:
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
/// [`ForwardingAllocator`](crate::dynamic::ForwardingAllocator), so the crate must not
/// declare one of its own.
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
