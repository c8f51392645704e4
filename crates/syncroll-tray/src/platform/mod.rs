//! The desktop side: drawing a [`TrayView`] and showing a [`Notice`].
//! Everything that knows D-Bus (or, later, a macOS menu bar) lives below
//! this module, behind [`Platform`]; the rest of the crate is plain data.

use crate::model::TrayView;
use crate::notices::Notice;

pub mod sni;

/// A desktop the tray can live on.
#[allow(
    async_fn_in_trait,
    reason = "used generically within this crate only; no caller needs Send bounds named"
)]
pub trait Platform {
    /// Shows `view` (icon, status, tooltip, menu).
    async fn show(&mut self, view: &TrayView);
    /// Shows a desktop notification; failures are logged, never fatal.
    async fn notify(&mut self, notice: &Notice);
    /// Removes the item.
    async fn shutdown(self);
}
