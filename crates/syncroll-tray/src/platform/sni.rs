//! Linux desktops: a StatusNotifierItem with a dbusmenu (through `ksni`),
//! and notifications through `org.freedesktop.Notifications`, both on the
//! session bus.
//!
//! The item keeps running while no StatusNotifierWatcher is there (a panel
//! restarting, a desktop still starting): `ksni` registers it again when
//! one appears.

use std::collections::HashMap;

use ksni::TrayMethods as _;
use ksni::menu::{CheckmarkItem, StandardItem, SubMenu};
use tokio::sync::mpsc::UnboundedSender;
use zbus::zvariant::Value;

use super::Platform;
use crate::model::{Action, ItemStatus, MenuEntry, TrayIcon, TrayView};
use crate::notices::Notice;

/// The item's id (`Id` property), and the notifications' app name.
pub const ITEM_ID: &str = "syncroll-tray";

/// Why the item could not be put on the bus.
#[derive(Debug, thiserror::Error)]
pub enum SniError {
    /// Its words already hold ksni's (the bus's address and why), so
    /// it names no source: the message is not said twice.
    #[error(
        "cannot put the tray item on the D-Bus session bus ({0}); is a desktop session \
         running, and DBUS_SESSION_BUS_ADDRESS set?"
    )]
    Item(ksni::Error),
}

/// The item on the session bus, and a connection for notifications.
pub struct Sni {
    handle: ksni::Handle<Item>,
    /// `None` when the session bus refused a second connection; the first
    /// notice retries.
    /// With whether the server reads markup in bodies (its
    /// `body-markup` capability), asked once per connection.
    notifications: Option<(zbus::Connection, bool)>,
}

impl std::fmt::Debug for Sni {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Sni").finish_non_exhaustive()
    }
}

impl Sni {
    /// Puts the item on the bus, showing `view`; menu activations are sent
    /// to `actions`.
    pub async fn start(view: TrayView, actions: UnboundedSender<Action>) -> Result<Self, SniError> {
        let item = Item { view, actions };
        let handle = item
            .assume_sni_available(true)
            .spawn()
            .await
            .map_err(SniError::Item)?;
        Ok(Self {
            handle,
            notifications: None,
        })
    }

    async fn send(&mut self, notice: &Notice) -> zbus::Result<u32> {
        let (connection, markup) = match &self.notifications {
            Some(known) => known.clone(),
            None => {
                let connection = zbus::Connection::session().await?;
                // A server that cannot say is sent the text as it is.
                let markup = reads_markup(&connection).await.unwrap_or(false);
                self.notifications = Some((connection.clone(), markup));
                (connection, markup)
            }
        };
        // A file name with `&` or `<`, or a server's XML error, would be
        // mangled or dropped by a server that reads markup.
        let body = if markup {
            escape_markup(&notice.body)
        } else {
            notice.body.clone()
        };
        let hints: HashMap<&str, Value<'_>> = HashMap::new();
        let reply = connection
            .call_method(
                Some("org.freedesktop.Notifications"),
                "/org/freedesktop/Notifications",
                Some("org.freedesktop.Notifications"),
                "Notify",
                &(
                    ITEM_ID,
                    0u32,
                    notice.icon,
                    notice.summary.as_str(),
                    body.as_str(),
                    Vec::<&str>::new(),
                    hints,
                    // The server's default timeout.
                    -1i32,
                ),
            )
            .await?;
        reply.body().deserialize::<u32>()
    }
}

/// Whether the notification server reads markup in bodies.
async fn reads_markup(connection: &zbus::Connection) -> zbus::Result<bool> {
    let reply = connection
        .call_method(
            Some("org.freedesktop.Notifications"),
            "/org/freedesktop/Notifications",
            Some("org.freedesktop.Notifications"),
            "GetCapabilities",
            &(),
        )
        .await?;
    let capabilities: Vec<String> = reply.body().deserialize()?;
    Ok(capabilities.iter().any(|c| c == "body-markup"))
}

/// `text` as the notification spec's markup shows it as written.
fn escape_markup(text: &str) -> String {
    let mut escaped = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => escaped.push_str("&amp;"),
            '<' => escaped.push_str("&lt;"),
            '>' => escaped.push_str("&gt;"),
            c => escaped.push(c),
        }
    }
    escaped
}

impl Platform for Sni {
    async fn show(&mut self, view: &TrayView) {
        let view = view.clone();
        if self.handle.update(|item| item.view = view).await.is_none() {
            tracing::warn!("the tray item's service stopped; the view is not shown");
        }
    }

    async fn notify(&mut self, notice: &Notice) {
        match self.send(notice).await {
            Ok(id) => tracing::info!(id, kind = ?notice.kind, "notification sent"),
            Err(error) => {
                // A dropped connection is opened again next time.
                self.notifications = None;
                tracing::warn!(%error, kind = ?notice.kind, "cannot show a notification");
            }
        }
    }

    async fn shutdown(self) {
        self.handle.shutdown().await;
    }
}

/// What `ksni` serves: the last view, and where menu activations go.
#[derive(Debug)]
pub struct Item {
    view: TrayView,
    actions: UnboundedSender<Action>,
}

impl ksni::Tray for Item {
    fn id(&self) -> String {
        ITEM_ID.to_owned()
    }

    fn title(&self) -> String {
        self.view.tooltip.title.clone()
    }

    fn category(&self) -> ksni::Category {
        ksni::Category::ApplicationStatus
    }

    fn status(&self) -> ksni::Status {
        match self.view.status {
            ItemStatus::Passive => ksni::Status::Passive,
            ItemStatus::Active => ksni::Status::Active,
            ItemStatus::NeedsAttention => ksni::Status::NeedsAttention,
        }
    }

    fn icon_name(&self) -> String {
        self.view.icon.icon_name().to_owned()
    }

    fn attention_icon_name(&self) -> String {
        self.view.icon.icon_name().to_owned()
    }

    /// While syncing, a bar along the icon's foot shows how far; hosts
    /// that draw overlays (KDE) show it over the theme's icon.
    fn overlay_icon_pixmap(&self) -> Vec<ksni::Icon> {
        match self.view.icon {
            TrayIcon::Syncing {
                percent: Some(percent),
            } => OVERLAY_SIZES
                .iter()
                .map(|&size| progress_bar(percent, size))
                .collect(),
            _ => Vec::new(),
        }
    }

    fn tool_tip(&self) -> ksni::ToolTip {
        ksni::ToolTip {
            icon_name: self.view.icon.icon_name().to_owned(),
            icon_pixmap: Vec::new(),
            title: self.view.tooltip.title.clone(),
            description: self.view.tooltip.body.clone(),
        }
    }

    fn menu(&self) -> Vec<ksni::MenuItem<Self>> {
        self.view.menu.iter().map(menu_item).collect()
    }
}

impl Item {
    fn act(&self, action: &Action) {
        // The receiver is gone only while the tray quits.
        let _ = self.actions.send(action.clone());
    }
}

fn menu_item(entry: &MenuEntry) -> ksni::MenuItem<Item> {
    match entry {
        MenuEntry::Item { label, action } => StandardItem {
            label: mnemonic_free(label),
            enabled: action.is_some(),
            activate: {
                let action = action.clone();
                Box::new(move |item: &mut Item| {
                    if let Some(action) = &action {
                        item.act(action);
                    }
                })
            },
            ..Default::default()
        }
        .into(),
        MenuEntry::Toggle {
            label,
            checked,
            action,
        } => CheckmarkItem {
            label: mnemonic_free(label),
            checked: *checked,
            activate: {
                let action = action.clone();
                Box::new(move |item: &mut Item| item.act(&action))
            },
            ..Default::default()
        }
        .into(),
        MenuEntry::Submenu { label, entries } => SubMenu {
            label: mnemonic_free(label),
            submenu: entries.iter().map(menu_item).collect(),
            ..Default::default()
        }
        .into(),
        MenuEntry::Separator => ksni::MenuItem::Separator,
    }
}

/// Square sizes of the progress overlay, for the host to pick from.
const OVERLAY_SIZES: [i32; 3] = [16, 22, 32];

/// A `size`-square ARGB32 (network byte order) picture: transparent, with
/// a bar along the bottom eighth, `percent` of it filled white over a dark
/// track, so it reads on light and dark panels.
fn progress_bar(percent: u8, size: i32) -> ksni::Icon {
    const FILLED: [u8; 4] = [0xff, 0xff, 0xff, 0xff];
    const TRACK: [u8; 4] = [0xc0, 0x20, 0x20, 0x20];
    const CLEAR: [u8; 4] = [0, 0, 0, 0];
    let bar_height = (size / 8).max(2);
    let filled_width = size * i32::from(percent.min(100)) / 100;
    let data = (0..size)
        .flat_map(|y| (0..size).map(move |x| (x, y)))
        .flat_map(|(x, y)| match (y >= size - bar_height, x < filled_width) {
            (false, _) => CLEAR,
            (true, true) => FILLED,
            (true, false) => TRACK,
        })
        .collect();
    ksni::Icon {
        width: size,
        height: size,
        data,
    }
}

/// dbusmenu reads `_` as an access-key mark; a collection named
/// `my_trip` must show as written.
fn mnemonic_free(label: &str) -> String {
    label.replace('_', "__")
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The pixels of `icon`'s bottom row that are filled white.
    fn filled_in_last_row(icon: &ksni::Icon) -> usize {
        let row = usize::try_from(icon.width * 4).unwrap();
        icon.data[icon.data.len() - row..]
            .chunks(4)
            .filter(|pixel| *pixel == [0xff; 4])
            .count()
    }

    #[test]
    fn the_progress_bar_fills_its_share_of_the_width() {
        let icon = progress_bar(50, 22);
        assert_eq!(icon.data.len(), 22 * 22 * 4);
        assert_eq!(filled_in_last_row(&icon), 11);
        assert_eq!(filled_in_last_row(&progress_bar(100, 16)), 16);
        assert_eq!(filled_in_last_row(&progress_bar(0, 16)), 0);
        // Above the bar, the theme's icon shows through.
        assert!(icon.data[..4 * 22 * 10].iter().all(|&byte| byte == 0));
    }

    #[test]
    fn underscores_show_as_written() {
        assert_eq!(mnemonic_free("my_trip"), "my__trip");
    }

    #[test]
    fn markup_characters_are_escaped_and_nothing_else() {
        assert_eq!(
            escape_markup("Tom & Jerry <2024>/IMG_1.NEF: 403 <Error>"),
            "Tom &amp; Jerry &lt;2024&gt;/IMG_1.NEF: 403 &lt;Error&gt;"
        );
        assert_eq!(escape_markup("plain é"), "plain é");
    }
}
